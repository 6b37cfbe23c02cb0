"""``/stats`` — 网格统计: the statistics table of one level, its parent's totals, downloads.

The figures are :func:`gisgrid.analysis.stats.grid_statistics`; the page sorts by any column
in the browser (``static/js/stats.js``, no page reload), draws a bar per cell (CSS classes,
no inline style: the CSP forbids it) and links each column to the map coloured by it.
``?format=xlsx|csv`` downloads the same table as :mod:`gisgrid.export.statistics` writes it.

Scope: an inspector sees the grids below their own (``?grid=`` outside it answers 404); an
inspector without a grid below theirs (a coordinator's community) sees their own grids with
the sum of them as totals. Employer counts come through the web role, so row-level security
counts only the employers of the user's scope whatever is asked.
"""

from __future__ import annotations

import io

from flask import Blueprint, current_app, g, render_template, send_file, url_for

from gisgrid import clock
from gisgrid.analysis.stats import STAT_COLUMNS, SUPERVISION_COLOURS, grid_statistics
from gisgrid.db.queries import active_generation
from gisgrid.errors import InputError, NotFound
from gisgrid.web.auth import require_grid_code
from gisgrid.web.db import get_session
from gisgrid.web.params import CODE_CHARS, arg_int, arg_text, shown

bp = Blueprint("stats", __name__)

#: Levels the city map can colour (gisgrid.web.maps.FILL_LEVELS).
MAP_LEVELS = (2, 3)
BAR_STEPS = 20


def _settings():
    return current_app.config["GISGRID_SETTINGS"]


@bp.get("/stats")
def stats_page():
    session = get_session()
    generation = active_generation(session)
    if generation is None:
        raise NotFound("还没有现行的网格版本；请先导入并启用网格")
    grid = arg_text("grid", "网格编码", CODE_CHARS)
    level = arg_int("level", "层级", 1, 6)
    fmt = arg_text("format", "格式", 4)
    if fmt not in (None, "csv", "xlsx"):
        raise InputError(f"格式（format）为 {shown(fmt)}；应为 csv 或 xlsx，或不填（网页）")
    require_grid_code(session, grid)
    keep = None
    if not g.scope.everything:
        keep = g.scope.grid_ids
        if grid is None:
            grid, level = _own_default(session, level)
    stats = grid_statistics(session, generation.id, level, within=grid, keep=keep,
                            stale_months=_settings().stale_months)
    from gisgrid.export.statistics import statistics_title

    title = statistics_title(stats, _settings().city_name)
    if fmt:
        return _download(stats, title, fmt)
    return render_template("stats.html", stats=stats, title=title, columns=_columns(stats), groups=_groups(),
                           with_parent=stats.rows["parent_code"].nunique() > 1,
                           rows=_rows(stats), total=_total_row(stats), levels=(levels := _levels(session, generation.id)),
                           finest=max(levels, default=stats.level),
                           grid=grid, issuer=_settings().issuer)


def _own_default(session, level: int | None) -> tuple[str | None, int | None]:
    """An inspector's default: the first grid they answer for, when it has grids below it."""
    import sqlalchemy as sa

    for code in g.scope.own_codes:
        has_children = session.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM grid c JOIN grid p ON p.id = c.parent_id "
            "WHERE p.code = :c AND p.generation_id = (SELECT id FROM generation WHERE status = 'active'))"),
            {"c": code}).scalar()
        if has_children:
            return code, level
    own_level = session.execute(sa.text(
        "SELECT min(level) FROM grid WHERE code = ANY(:c) "
        "AND generation_id = (SELECT id FROM generation WHERE status = 'active')"),
        {"c": list(g.scope.own_codes)}).scalar()
    if own_level is None:
        raise NotFound("您目前没有负责的网格，没有可统计的数据")
    return None, level or int(own_level)


def _levels(session, generation_id: int) -> list[int]:
    import sqlalchemy as sa

    return [int(v) for v in session.execute(sa.text(
        "SELECT DISTINCT level FROM grid WHERE generation_id = :g AND level > 1 ORDER BY level"),
        {"g": generation_id}).scalars()]


def _colour_url(stats, key: str | None) -> str | None:
    """The map coloured by this column: the city map, or a street's page for its communities."""
    if key is None or stats.level not in MAP_LEVELS:
        return None
    if key in SUPERVISION_COLOURS and not g.scope.may("cases.read"):
        return None  # the map offers the supervision figures to case readers only
    if g.scope.everything:
        return url_for("maps.index", colour=key, level=stats.level)
    parent = stats.parent
    if parent is not None and int(parent["level"]) == 2 and stats.level == 3 and g.scope.sees_grid(parent["id"]):
        return url_for("maps.grid_page", code=parent["code"], colour=key, level=3)
    return None


def _columns(stats) -> list[dict]:
    return [{"key": c.key, "label": c.label, "unit": "%" if c.is_share else c.unit, "group": c.group,
             "colour_url": _colour_url(stats, c.colour), "colour_label": _colour_label(c.colour),
             "share": c.is_share} for c in STAT_COLUMNS]


def _groups() -> list[tuple[str, int]]:
    """(group heading, columns under it), in column order."""
    groups: list[list] = []
    for c in STAT_COLUMNS:
        if groups and groups[-1][0] == c.group:
            groups[-1][1] += 1
        else:
            groups.append([c.group, 1])
    return [(name, span) for name, span in groups]


def _colour_label(key: str | None) -> str:
    from gisgrid.analysis.indicators import INDICATORS
    from gisgrid.analysis.progress import PROGRESS_INDICATORS

    return {**INDICATORS, **PROGRESS_INDICATORS}[key].label if key else ""


def _bar(value, top) -> int | None:
    """Bar length in 5 % steps: a rate of itself, a count of the column's largest."""
    if value is None or value != value or not top:
        return None
    return max(0, min(BAR_STEPS, round(BAR_STEPS * float(value) / top)))


def _rows(stats) -> list[dict]:
    tops = {c.key: (100.0 if c.is_share else float(stats.rows[c.key].max() or 0)) for c in STAT_COLUMNS}
    out = []
    for code, record in stats.rows.iterrows():
        cells = []
        for c in STAT_COLUMNS:
            value = record[c.key]
            missing = value is None or value != value
            cells.append({"text": c.format(value), "sort": "" if missing else f"{float(value):.4f}",
                          "bar": _bar(value, tops[c.key])})
        out.append({"code": code, "name": record["name"], "parent": record["parent_name"], "cells": cells})
    return out


def _total_row(stats) -> dict:
    return {"code": stats.total["code"], "name": stats.total["name"],
            "cells": [{"text": c.format(stats.total[c.key])} for c in STAT_COLUMNS]}


def _download(stats, title: str, fmt: str):
    from gisgrid.export.printing import open_workbook
    from gisgrid.export.statistics import statistics_csv, write_statistics_sheet

    buffer = io.BytesIO()
    if fmt == "csv":
        buffer.write(statistics_csv(stats))
        mimetype = "text/csv; charset=utf-8"
    else:
        with open_workbook(buffer) as book:
            write_statistics_sheet(book, stats, title, _settings().issuer)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    buffer.seek(0)
    scope = stats.parent["code"] if stats.parent is not None else "全部"
    name = f"网格统计表_{scope}_第{stats.level}级_{clock.today().strftime('%Y%m%d')}.{fmt}"
    return send_file(buffer, mimetype=mimetype, as_attachment=True, download_name=name)

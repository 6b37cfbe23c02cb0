"""Map pages: the whole city (``/``), one grid (``/grids/<code>``) and one employer's file
(``/employers/<key>``, 一企一档), plus the data behind their maps."""

from __future__ import annotations


import geopandas as gpd
import sqlalchemy as sa
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from gisgrid import clock
from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.analysis.indicators import INDICATORS, grid_indicators
from gisgrid.db.queries import (
    active_generation, employer_count, search, search_staff, employers_geojson, find_generation, grid_detail, grid_employers, grid_frame, list_grids,
)
from gisgrid.employers.queries import find_employer
from gisgrid.employers.visits import CHECKS as VISIT_CHECKS
from gisgrid.errors import InputError, NotFound
from gisgrid.maps import ColourBy, MapSelector, build_grid_map, classify_indicator, render_map_parts
from gisgrid.access.roles import may
from gisgrid.web.auth import current_user, require_employer, require_grid, require_grid_code, scope
from gisgrid.web.db import get_session
from gisgrid.web.params import CODE_CHARS, NAME_CHARS, arg_int, arg_text, check_text, shown
from gisgrid.labels import CREDIT_CODE_STATUS, GENERATION_STATUS, KIND_LABELS, LOCATED_BY_LABELS, ROLE_LABELS

bp = Blueprint("maps", __name__)

AREA_LEVEL, UNIT_LEVEL = 2, 3
EMPLOYER_ROWS = 300


@bp.app_context_processor
def _risk_classes() -> dict:
    """CSS classes ``risk-0`` … ``risk-3`` with the risk colours, for every page.

    Classes, not style attributes: the Content-Security-Policy allows no inline styles.
    """
    rules = "".join(f".risk-{level}{{background:{colour}}}" for level, (_, colour) in RISK_LEVELS.items())
    return {"risk_css": rules + ".risk-unrated{background:#78909c}"}


def _settings():
    return current_app.config["GISGRID_SETTINGS"]


def _render_map(fmap) -> dict[str, str]:
    """Folium's three parts, rendered once to strings for our own page (never to a file).

    The inline <style>/<script> elements folium generated in the header and body get this
    request's CSP nonce; the script part goes into the templates' own nonce-tagged <script>.
    """
    from gisgrid.web.csp import tag_inline_elements

    parts = render_map_parts(fmap)
    return {"header": tag_inline_elements(parts.header),
            "body": tag_inline_elements(parts.body), "script": parts.script}


def _map_parts(areas, units, employers_url, focus=None, title="", employer_count=None, *,
               colour_by=None, selector=None, problems_url=None, employers=True, highlight=None,
               place_url=None, understaffed=None):
    settings = _settings()
    tiles_url = url_for("tiles.employer_tile_view", z=0, x=0, y=0).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    # A popup links to the employer's file only for those who may open it (not planners).
    user = current_user()
    page_url = (url_for("maps.employer_page", key="KEY").replace("KEY", "{key}")
                if user is not None and may(user.role, "employers.personal") else None)
    local = None
    if settings.basemap == "mbtiles":
        from gisgrid.web.tiles import basemap_info

        info = basemap_info(settings)
        local = {"url": url_for("tiles.basemap_tile", z=0, x=0, y=0).replace("/0/0/0", "/{z}/{x}/{y}"),
                 "attribution": info.attribution, "min_zoom": info.min_zoom, "max_zoom": info.max_zoom}
    fmap = build_grid_map(areas, units, employers_url=employers_url if employers else None, focus=focus,
                          local_basemap=local,
                          title=title, employer_tiles_url=tiles_url if employers else None,
                          employer_count=employer_count, tiles_above=settings.map_tiles_above,
                          static_url=url_for("static", filename="vendor").rstrip("/"),
                          basemap=settings.basemap, tianditu_key=settings.tianditu_key,
                          colour_by=colour_by, selector=selector, problems_url=problems_url,
                          employer_page_url=page_url, highlight=highlight, place_url=place_url,
                          understaffed=understaffed)
    return _render_map(fmap)


def _staffing(session, generation) -> dict[str, dict]:
    """Each grid's standing against the 四定 staffing standard (GISGRID_STAFF_MINIMUMS), by code."""
    from gisgrid.access.staffing import staffing_check

    return {r["code"]: r for r in staffing_check(session, generation.id, rules=_settings().staff_minimums)}


def _understaffed(staffing: dict[str, dict], *frames: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The grids of ``frames`` (those drawn on the map) below the standard, with their text."""
    import pandas as pd

    under = {code for code, r in staffing.items() if r["status"] == "under"}
    drawn = gpd.GeoDataFrame(pd.concat([f[["code", "name", "geom"]] for f in frames], ignore_index=True),
                             geometry="geom", crs=frames[0].crs)
    picked = drawn[drawn["code"].isin(under)].drop_duplicates("code")
    return picked.assign(text=[staffing[code]["text"] for code in picked["code"]])


# What the map's selector offers: adjacency colours or one of the indicators, at the
# street/town or the community/village level.
ADJACENT = "adjacent"
FILL_LEVELS = {str(AREA_LEVEL): "街道/乡镇", str(UNIT_LEVEL): "社区/村"}


def _colouring(session, generation, choice: str | None, level: str | None, keep: tuple = (),
               levels: dict[str, str] = FILL_LEVELS):
    """(ColourBy or None, MapSelector) for the page's ``colour`` and ``level`` parameters.

    Classes are those of every grid of the level in the city, so a colour means the same
    range on the city map and on a street's page.
    """
    from gisgrid.access.roles import may
    from gisgrid.analysis.progress import PROGRESS_INDICATORS, grid_progress

    choice = choice or ADJACENT
    level = level or next(iter(levels))
    # The supervision figures (overdue work, on-time rate, …) for those who may read cases.
    progress = PROGRESS_INDICATORS if may(current_user().role, "cases.read") else {}
    choices = {**INDICATORS, **progress}
    if choice != ADJACENT and choice not in choices:
        raise InputError(f"着色（colour）为 {shown(choice)}；应为 {ADJACENT} 或 {'、'.join(choices)} 之一")
    if level not in levels:
        raise InputError(f"层级（level）为 {shown(level)}；应为 {'、'.join(levels)} 之一")
    fields = [("colour", "着色", ((ADJACENT, "相邻网格异色"),
                                 *((key, ind.label) for key, ind in choices.items())), choice)]
    if len(levels) > 1:
        fields.append(("level", "层级", tuple(levels.items()), level))
    selector = MapSelector(fields=tuple(fields), keep=keep)
    if choice == ADJACENT:
        return None, selector
    indicator = choices[choice]
    if choice in progress:
        frame = grid_progress(session, generation.id, int(level))
    else:
        frame = grid_indicators(session, generation.id, int(level), stale_months=_settings().stale_months)
    values = {code: float(v) for code, v in frame[choice].items()}
    return ColourBy(classify_indicator(frame[choice], indicator), values,
                    target="areas" if level == str(AREA_LEVEL) else "units",
                    level_label=FILL_LEVELS[level]), selector


def _generation_choices(session) -> list:
    """Every generation for the picker: in force first, then scheduled, drafts, retired; newest first."""
    import sqlalchemy as sa

    from gisgrid.db.models import Generation

    rank = {"active": 0, "scheduled": 1, "draft": 2, "retired": 3}
    rows = session.scalars(sa.select(Generation)).all()
    return sorted(rows, key=lambda g: (rank.get(g.status, 9), -g.id))


@bp.get("/")
def index():
    session = get_session()
    requested = arg_text("generation", "网格版本名称", NAME_CHARS)
    if not scope().everything and not requested:
        return redirect(url_for("maps.my_grids"))
    active = active_generation(session)
    if not scope().everything and (active is None or requested != active.name):
        # Plans not in force are for those who see every grid (as the plan picker).
        raise NotFound(f"generation {requested[:100]!r} is not shown to this account",
                       zh=f"网格版本“{requested[:100]}”不存在")
    generation = find_generation(session, requested)
    is_active = active is not None and generation.id == active.id
    grids = list_grids(session, generation=generation.name)
    areas = grid_frame(session, AREA_LEVEL, generation=generation.name)
    units = grid_frame(session, UNIT_LEVEL, generation=generation.name)
    if areas.empty:
        # A draft still being loaded: draw whatever level it has as the coloured grids.
        present = sorted({g["level"] for g in grids})
        areas = grid_frame(session, present[0], generation=generation.name) if present else areas
        units = units if not units.empty and present and present[0] != UNIT_LEVEL else units.iloc[0:0]
    top = next((g for g in grids if g["level"] == 1), None)
    by_risk = grid_detail(session, top["code"], generation=generation.name)["by_risk"] if top and is_active else {}
    colour_by, selector = (None, None)
    if is_active:
        colour_by, selector = _colouring(session, generation, arg_text("colour", "着色", 40),
                                         arg_text("level", "层级", 10))
    title = f"{_settings().city_name}劳动保障监察网格"
    if not is_active:
        title += f"（{generation.name}，{GENERATION_STATUS.get(generation.status, generation.status)}）"
    staffing = _staffing(session, generation) if is_active else {}
    understaffed = _understaffed(staffing, areas, units) if is_active else None
    parts = _map_parts(areas, units, url_for("maps.employers_data"), title=title,
                       employer_count=employer_count(session), colour_by=colour_by, selector=selector,
                       problems_url=url_for("boundaries_api.validation_geojson", generation=generation.name)
                       if scope().everything else None,
                       employers=is_active, understaffed=understaffed)
    column = None
    if colour_by is not None:
        # The street/town table gets the indicator too, whichever level the map fills.
        from gisgrid.analysis.progress import PROGRESS_INDICATORS, grid_progress

        indicator = colour_by.classes.indicator
        if indicator.key in PROGRESS_INDICATORS:
            street_values = grid_progress(session, generation.id, AREA_LEVEL)[indicator.key]
        else:
            street_values = grid_indicators(session, generation.id, AREA_LEVEL,
                                            stale_months=_settings().stale_months)[indicator.key]
        classes = classify_indicator(street_values, indicator)
        column = {"label": indicator.label,
                  "values": {code: classes.format_value(float(v)) for code, v in street_values.items()}}
    return render_template(
        "index.html", parts=parts, generation=generation, top=top, is_active=is_active, column=column,
        generations=_generation_choices(session) if scope().everything else [], status_labels=GENERATION_STATUS,
        areas=[g for g in grids if g["level"] == AREA_LEVEL],
        unit_count=sum(1 for g in grids if g["level"] == UNIT_LEVEL),
        by_risk=by_risk, risk_levels=RISK_LEVELS, kind_labels=KIND_LABELS,
        understaffed=[r for r in staffing.values() if r["status"] == "under"],
    )


def _grid_scene(session, detail: dict, generation: str | None = None):
    """(areas, units, focus) around one grid: its street/town and that one's communities."""
    code = detail["code"]
    area_code = detail["code"] if detail["level"] <= AREA_LEVEL else _ancestor_at(session, detail, AREA_LEVEL, generation)
    if detail["level"] == 1:
        areas, units = grid_frame(session, AREA_LEVEL, generation), grid_frame(session, UNIT_LEVEL, generation)
    else:
        areas = grid_frame(session, AREA_LEVEL, generation, within_code=area_code)
        units = grid_frame(session, UNIT_LEVEL, generation, within_code=area_code)
    focus = grid_frame(session, detail["level"], generation, within_code=code)
    return areas, units, focus[focus["code"] == code]


@bp.get("/my")
def my_grids():
    """我的网格: the grids the user answers for (四定), their employers by risk, the staff above."""
    session = get_session()
    own = scope().own_codes
    if scope().everything:
        return redirect(url_for("maps.index"))
    if len(own) == 1 and not request.args:
        return redirect(url_for("maps.grid_page", code=own[0]))
    from gisgrid.db.queries import employer_table

    grids = [grid_detail(session, code) for code in own]
    months = _settings().stale_months
    for detail in grids:  # 超期未调查 and 重点监管: "174 of 379"
        detail["stale_count"] = employer_table(session, grid=detail["code"], stale=True, limit=0,
                                               stale_months=months)[0]
        detail["key_count"] = employer_table(session, grid=detail["code"], key=True, limit=0)[0]
    chain = []
    for detail in grids:
        code, seen = detail["parent_code"], set()
        while code and code not in seen:
            seen.add(code)
            parent = grid_detail(session, code)
            chain.append(parent)
            code = parent["parent_code"]
    return render_template("my_grids.html", grids=grids, chain=chain, risk_levels=RISK_LEVELS,
                           role_labels=ROLE_LABELS, kind_labels=KIND_LABELS)


@bp.get("/grids/<code>")
def grid_page(code: str):
    session = get_session()
    code = check_text(code, "网格编码", CODE_CHARS)
    requested = arg_text("generation", "网格版本名称", NAME_CHARS)
    active = active_generation(session)
    if requested and (active is None or requested != active.name):
        return _plan_grid_page(session, code, requested, active)
    detail = grid_detail(session, code)
    require_grid(detail["id"], detail["code"], detail["generation"])
    areas, units, focus = _grid_scene(session, detail)
    colour_by = selector = None
    if detail["level"] <= AREA_LEVEL and not units.empty:
        # The city page offers both levels; a street/town page colours its communities/villages.
        levels = FILL_LEVELS if detail["level"] < AREA_LEVEL else {str(UNIT_LEVEL): FILL_LEVELS[str(UNIT_LEVEL)]}
        colour_by, selector = _colouring(session, active_generation(session), arg_text("colour", "着色", 40),
                                         arg_text("level", "层级", 10), levels=levels)
    staffing = _staffing(session, active_generation(session))
    parts = _map_parts(areas, units, url_for("maps.employers_data", grid=code), focus=focus,
                       title=f"{detail['code']} {detail['name']}", employer_count=detail["employers"],
                       colour_by=colour_by, selector=selector, understaffed=_understaffed(staffing, areas, units))
    employers = grid_employers(session, code, limit=EMPLOYER_ROWS, stale_months=_settings().stale_months)
    return render_template(
        "grid.html", parts=parts, grid=detail, employers=employers, employer_rows=EMPLOYER_ROWS,
        own_codes=scope().own_codes, staffing=staffing.get(detail["code"]),
        risk_levels=RISK_LEVELS, kind_labels=KIND_LABELS, role_labels=ROLE_LABELS,
    )


def _plan_grid_page(session, code: str, name: str, active):
    """One grid of a plan not in force (a draft, a scheduled or a retired plan), from the city
    page's plan picker: its boundary among its neighbours, its 四定 staff (by the grid's identity)
    and the employers inside it by this plan's own boundaries — counts only: employers are
    assigned to the plan in force. For users who see every grid (as the picker); others 404."""
    from gisgrid.analysis.balance import generation_balance

    generation = find_generation(session, name)
    if not scope().everything:
        raise NotFound(f"grid {code!r} of plan {name!r} is not shown to this account",
                       zh=f"网格“{code}”在网格版本“{generation.name}”中不存在")
    detail = grid_detail(session, code, generation=generation.name)
    areas, units, focus = _grid_scene(session, detail, generation.name)
    title = f"{detail['code']} {detail['name']}（{generation.name}，{GENERATION_STATUS.get(generation.status, generation.status)}）"
    parts = _map_parts(areas, units, None, focus=focus, title=title, employers=False,
                       problems_url=url_for("boundaries_api.validation_geojson", generation=generation.name))
    settings = _settings()
    load = next((row for row in generation_balance(
        session, generation.name, level=detail["level"], targets=settings.balance_targets,
        employers_per_coordinator=settings.employers_per_coordinator, rules=settings.staff_minimums)["grids"]
        if row["code"] == detail["code"]), None)
    in_force = None
    if active is not None:
        in_force = session.execute(sa.text(
            "SELECT code, name FROM grid WHERE generation_id = :g AND identity = :i"),
            {"g": active.id, "i": detail["identity"]}).mappings().first()
    return render_template("plan_grid.html", parts=parts, grid=detail, generation=generation, load=load,
                           in_force=in_force, status_labels=GENERATION_STATUS, kind_labels=KIND_LABELS,
                           role_labels=ROLE_LABELS)


@bp.get("/employers/<key>")
def employer_page(key: str):
    """一企一档: the record, its grid and 四定 staff, risk and its reasons, grades, surveys, a map."""
    from gisgrid.web.employers_api import employer_key

    session = get_session()
    record = find_employer(session, employer_key(key), _settings().stale_months)
    require_employer(session, record["id"], key)
    grid_code = record["grid_code"] or record["nearest_grid_code"]
    grid = grid_detail(session, grid_code) if grid_code else None
    # Placement through the JSON API (by credit code, or id without one).
    place_url = url_for("employers_api.employer_place", code=record["credit_code"] or str(record["id"]))
    if active_generation(session) is None:
        parts = None  # no grids to draw yet: the file without a map
    elif grid is not None and record["lon"] is not None:
        areas, units, focus = _grid_scene(session, grid)
        parts = _map_parts(areas, units, url_for("maps.employers_data", grid=grid["code"]), focus=focus,
                           title=record["name"], employer_count=grid["employers"],
                           highlight=(record["lat"], record["lon"], record["name"]), place_url=place_url)
    else:
        # 待定位: the whole city, to find the spot on.
        parts = _map_parts(grid_frame(session, AREA_LEVEL), grid_frame(session, UNIT_LEVEL), None,
                           title=f"{record['name']}（待定位）", employers=False, place_url=place_url)
    return render_template(
        "employer.html", parts=parts, e=record, grid=grid, risk_levels=RISK_LEVELS, timeline=_timeline(session, record),
        role_labels=ROLE_LABELS, located_labels=LOCATED_BY_LABELS, code_status=CREDIT_CODE_STATUS,
        stale_months=_settings().stale_months, visit_checks=VISIT_CHECKS, today=clock.today().isoformat(),
    )


def _timeline(session, record: dict) -> list[dict] | None:
    """一企一档's timeline (complaints, cases, inspections, orders, grades) with a link per entry,
    for a user who may read all of them; else None."""
    from gisgrid.supervision.inspections import employer_timeline

    user = current_user()
    if user is None or not all(may(user.role, c) for c in ("complaints.read", "cases.read", "inspections.read")):
        return None
    endpoints = {"complaint": ("complaints.complaint_page", "complaint_id"), "case": ("cases.case_page", "case_id"),
                 "inspection": ("inspections.inspection_page", "inspection_id")}
    entries = employer_timeline(session, record["id"])
    for entry in entries:
        if entry["link"]:
            endpoint, arg = endpoints[entry["link"][0]]
            entry["url"] = url_for(endpoint, **{arg: entry["link"][1]})
    return entries


SEARCH_LIMIT = 50


@bp.get("/search")
def search_page():
    """Find a grid or an employer by code, name or address (what an inspector types)."""
    text = (request.args.get("q") or "").strip()
    if len(text) > 100:
        raise InputError(f"搜索内容过长（{len(text)} 个字符）；最多 100 个字符")
    check_text(text, "搜索内容", 100)
    found = search(get_session(), text, limit=SEARCH_LIMIT)
    # Employers come through row-level security already; grids are filtered here.
    found["grids"] = [g for g in found["grids"] if scope().sees_grid(g["id"])]
    # Staff by name (→ the grids they answer for), within the scope too.
    found["staff"] = [s for s in search_staff(get_session(), text, limit=SEARCH_LIMIT) if scope().sees_grid(s["grid_id"])]
    # One exact hit: go straight to it.
    if len(found["grids"]) + len(found["employers"]) == 1 and not found["staff"]:
        if found["grids"]:
            return redirect(url_for("maps.grid_page", code=found["grids"][0]["code"]))
        e = found["employers"][0]
        if may(current_user().role, "employers.personal"):  # a planner sees the name, not the file
            return redirect(url_for("maps.employer_page", key=e["credit_code"] or e["id"]))
    return render_template("search.html", q=text, found=found, limit=SEARCH_LIMIT, risk_levels=RISK_LEVELS,
                           kind_labels=KIND_LABELS, role_labels=ROLE_LABELS)


def _ancestor_at(session, detail: dict, level: int, generation: str | None = None) -> str:
    code = detail["parent_code"]
    while code:
        parent = grid_detail(session, code, generation=generation)
        if parent["level"] == level:
            return parent["code"]
        code = parent["parent_code"]
    return detail["code"]


@bp.get("/api/employers.geojson")
def employers_data():
    grid = arg_text("grid", "网格编码", CODE_CHARS)
    require_grid_code(get_session(), grid)
    body = employers_geojson(get_session(), grid, within=None if scope().everything else scope().grid_ids)
    return Response(body, mimetype="application/geo+json")


@bp.get("/api/grids")
def grids_data():
    level = arg_int("level", "层级", 1, 6)
    return {"grids": list_grids(get_session(), level=level)}


LIST_ROWS = 50
#: The most rows a CSV/XLSX of a filtered list holds (a whole city's register is an export job).
LIST_DOWNLOAD_MAX = 100_000
_LIST_COLUMNS = (("name", "单位名称"), ("credit_code", "统一社会信用代码"), ("address", "地址"),
                 ("industry", "行业"), ("headcount", "职工人数"), ("risk", "风险等级"), ("grid", "所在网格"),
                 ("surveyed_on", "最近调查"))


def _list_filters() -> dict:
    from gisgrid.db.queries import RISK_FILTERS

    risk = arg_text("risk", "风险等级", 10)
    if risk is not None and risk not in RISK_FILTERS:
        raise InputError(f"风险等级（risk）为 {shown(risk)}；应为 0–3 或 unrated")
    flags = {}
    for name, what in (("key", "重点监管"), ("stale", "超期未调查"), ("unassigned", "未落入网格")):
        value = arg_text(name, what, 5)
        if value not in (None, "0", "1"):
            raise InputError(f"{what}（{name}）为 {shown(value)}；应为 1 或 0")
        flags[name] = value == "1"
    return {"grid": arg_text("grid", "网格编码", CODE_CHARS), "risk": risk, **flags,
            "industry": arg_text("industry", "行业", 60), "text": arg_text("q", "单位名称/代码/地址", 100)}


@bp.get("/employers")
def employer_list_page():
    """Employers of any number: filtered, sorted by any column, paged, the count shown; CSV/XLSX."""
    from gisgrid.db.queries import EMPLOYER_SORTS, employer_table

    session = get_session()
    filters = _list_filters()
    require_grid_code(session, filters["grid"])
    sort = arg_text("sort", "排序", 20) or "risk"
    if sort not in EMPLOYER_SORTS:
        raise InputError(f"排序（sort）为 {shown(sort)}；应为 {'、'.join(EMPLOYER_SORTS)} 之一")
    order = arg_text("order", "顺序", 4) or ("desc" if sort in ("risk", "headcount", "surveyed_on") else "asc")
    if order not in ("asc", "desc"):
        raise InputError(f"顺序（order）为 {shown(order)}；应为 asc 或 desc")
    fmt = arg_text("format", "格式", 4)
    if fmt not in (None, "csv", "xlsx"):
        raise InputError(f"格式（format）为 {shown(fmt)}；应为 csv 或 xlsx，或不填（网页）")
    common = {**filters, "sort": sort, "descending": order == "desc", "stale_months": _settings().stale_months}
    if fmt:
        total, rows = employer_table(session, **common, limit=LIST_DOWNLOAD_MAX)
        return _list_download(rows, fmt, filters)
    page = arg_int("page", "页码", 1, 1_000_000) or 1
    total, rows = employer_table(session, **common, limit=LIST_ROWS, offset=(page - 1) * LIST_ROWS)
    pages = max(1, -(-total // LIST_ROWS))
    kept = {k: v for k, v in {**filters, "q": filters["text"]}.items() if v and k != "text"}
    kept = {k: ("1" if v is True else v) for k, v in kept.items()}

    def link(**change) -> str:
        return url_for("maps.employer_list_page", **{**kept, "sort": sort, "order": order, **change})

    return render_template(
        "employers.html", rows=rows, total=total, page=page, pages=pages, filters=filters, sort=sort,
        order=order, columns=_LIST_COLUMNS, risk_levels=RISK_LEVELS, link=link, kept=kept,
        grid=grid_detail(session, filters["grid"]) if filters["grid"] else None)


def _list_download(rows: list[dict], fmt: str, filters: dict):
    import csv
    import io

    from flask import send_file

    header = [label for _, label in _LIST_COLUMNS] + ["重点监管", "超期未调查"]
    risk_names = {level: label for level, (label, _) in RISK_LEVELS.items()}
    table = [[r["name"], r["credit_code"] or "", r["address"] or "", r["industry"] or "",
              r["headcount"] if r["headcount"] is not None else "",
              risk_names.get(r["risk_level"], "未评级"), f"{r['grid_code']} {r['grid_name']}" if r["grid_code"] else "未落入网格",
              r["surveyed_on"].isoformat() if r["surveyed_on"] else "", r["key_flags"] or "", "是" if r["stale"] else ""]
             for r in rows]
    stamp = clock.today().strftime("%Y%m%d")
    name = f"用人单位名单_{filters['grid'] or '全部'}_{stamp}.{fmt}"
    buffer = io.BytesIO()
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        # A cell that a spreadsheet would read as a formula is written as text (CSV injection).
        writer.writerows([[("'" + v) if isinstance(v, str) and v[:1] in "=+-@\t\r" else v for v in row]
                          for row in table])
        buffer.write(text.getvalue().encode("utf-8-sig"))  # Excel opens UTF-8 with the BOM
        mimetype = "text/csv; charset=utf-8"
    else:
        import xlsxwriter

        book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False})
        sheet = book.add_worksheet("用人单位")
        bold = book.add_format({"bold": True})
        sheet.write_row(0, 0, header, bold)
        for i, row in enumerate(table, start=1):
            sheet.write_row(i, 0, row)
        sheet.freeze_panes(1, 0)
        sheet.set_column(0, 0, 30)
        sheet.set_column(1, 2, 22)
        book.close()
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    buffer.seek(0)
    return send_file(buffer, mimetype=mimetype, as_attachment=True, download_name=name)

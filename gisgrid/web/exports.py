"""Export pages: ``/exports`` lists the exports, each with a download button.

Every file is produced on request into memory (or a temporary directory for the zip)
and sent back; nothing is written into the source tree.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_file

from gisgrid.analysis.indicators import INDICATORS
from gisgrid.errors import InputError
from gisgrid.export.data import find_export_generation, grid_levels, list_grid_choices
from gisgrid.export.diagram import PAPERS
from gisgrid.web.db import get_session

bp = Blueprint("exports", __name__, url_prefix="/exports")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIMETYPES = {"png": "image/png", "pdf": "application/pdf", "xlsx": XLSX, "zip": "application/zip"}


def _settings():
    return current_app.config["GISGRID_SETTINGS"]


def _level(default: int | None) -> int | None:
    raw = request.args.get("level", "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 6:
        raise InputError(f"级别为 {raw[:10]!r}；应为 1–6 的整数")
    return int(raw)


def _paper(default: str) -> str:
    paper = request.args.get("paper", default)
    if paper not in PAPERS:
        raise InputError(f"纸张为 {paper[:10]!r}；应为 {'、'.join(PAPERS)}")
    return paper


def _grid() -> str | None:
    code = request.args.get("grid", "").strip() or None
    if code is not None and len(code) > 32:
        raise InputError(f"网格编码为 {code[:40]!r}…；最长 32 个字符")
    return code


def _send(buffer: io.BytesIO, name: str, ext: str):
    buffer.seek(0)
    stamp = dt.date.today().strftime("%Y%m%d")
    return send_file(buffer, mimetype=MIMETYPES[ext], as_attachment=True, download_name=f"{name}_{stamp}.{ext}")


@bp.get("")
def index():
    session = get_session()
    generation = find_export_generation(session)
    levels = grid_levels(session, generation)
    grids = [g for g in list_grid_choices(session, generation) if g["level"] >= 2]
    return render_template("exports.html", generation=generation, levels=levels, grids=grids, papers=list(PAPERS),
                           indicators=INDICATORS)


@bp.get("/diagram")
def diagram():
    from gisgrid.export.diagram import export_diagram

    fmt = request.args.get("format", "pdf")
    if fmt not in ("png", "pdf"):
        raise InputError(f"格式为 {fmt[:10]!r}；应为 png 或 pdf")
    atlas = request.args.get("atlas") == "1"
    if atlas:
        fmt = "pdf"
    grid = _grid()
    colour_by = request.args.get("colour") or None
    if colour_by is not None and colour_by not in INDICATORS:
        raise InputError(f"着色为 {colour_by[:20]!r}；应为 {'、'.join(INDICATORS)} 之一，或留空（相邻异色）")
    buffer = io.BytesIO()
    export_diagram(get_session(), buffer, level=_level(None), grid_code=grid, paper=_paper("A4"),
                   employers=request.args.get("employers") == "1", atlas=atlas, settings=_settings(), fmt=fmt,
                   colour_by=colour_by)
    kind = f"{INDICATORS[colour_by].label}分级图" if colour_by else "网格划分示意图"
    name = (f"{kind}集" if atlas and colour_by else "网格图集" if atlas else kind) + (f"_{grid}" if grid else "")
    return _send(buffer, name, fmt)


@bp.get("/register")
def register():
    from gisgrid.export.registers import export_registers

    grid = _grid()
    buffer = io.BytesIO()
    export_registers(get_session(), buffer, grid_code=grid, level=_level(None),
                     stale_months=current_app.config["GISGRID_SETTINGS"].stale_months)
    return _send(buffer, "用人单位登记册" + (f"_{grid}" if grid else ""), "xlsx")


@bp.get("/roster")
def roster():
    from gisgrid.export.registers import export_roster

    buffer = io.BytesIO()
    export_roster(get_session(), buffer, grid_code=_grid())
    return _send(buffer, "四定人员花名册", "xlsx")


@bp.get("/package")
def package():
    from gisgrid.export.package import export_package

    with tempfile.TemporaryDirectory(prefix="gisgrid-web-") as tmp:
        target = Path(tmp) / "package.zip"
        export_package(get_session(), target, level=_level(2), paper=_paper("A3"), settings=_settings())
        buffer = io.BytesIO(target.read_bytes())
    return _send(buffer, "网格上报材料", "zip")

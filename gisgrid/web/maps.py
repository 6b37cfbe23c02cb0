"""Map pages: the whole city (``/``) and one grid (``/grids/<code>``), plus their data."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request, url_for

from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.db.queries import (
    employer_count, employers_geojson, find_generation, grid_detail, grid_employers, grid_frame, list_grids,
)
from gisgrid.errors import InputError
from gisgrid.maps import build_grid_map
from gisgrid.web.db import get_session
from gisgrid.labels import KIND_LABELS, ROLE_LABELS

bp = Blueprint("maps", __name__)

AREA_LEVEL, UNIT_LEVEL = 2, 3
EMPLOYER_ROWS = 300


def _settings():
    return current_app.config["GISGRID_SETTINGS"]


def _render_map(fmap) -> dict[str, str]:
    """Folium's three parts, rendered to strings for our own page (never to a file)."""
    root = fmap.get_root()
    root.render()
    return {"header": root.header.render(), "body": root.html.render(), "script": root.script.render()}


def _map_parts(areas, units, employers_url, focus=None, title="", employer_count=None):
    settings = _settings()
    tiles_url = url_for("tiles.employer_tile_view", z=0, x=0, y=0).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    fmap = build_grid_map(areas, units, employers_url=employers_url, focus=focus, title=title,
                          employer_tiles_url=tiles_url, employer_count=employer_count,
                          tiles_above=settings.map_tiles_above,
                          static_url=url_for("static", filename="vendor").rstrip("/"),
                          basemap=settings.basemap, tianditu_key=settings.tianditu_key)
    return _render_map(fmap)


@bp.get("/")
def index():
    session = get_session()
    generation = find_generation(session)
    grids = list_grids(session)
    areas = grid_frame(session, AREA_LEVEL)
    units = grid_frame(session, UNIT_LEVEL)
    top = next((g for g in grids if g["level"] == 1), None)
    by_risk = grid_detail(session, top["code"])["by_risk"] if top else {}
    parts = _map_parts(areas, units, url_for("maps.employers_data"),
                       title=f"{_settings().city_name}劳动保障监察网格",
                       employer_count=employer_count(session))
    return render_template(
        "index.html", parts=parts, generation=generation, top=top,
        areas=[g for g in grids if g["level"] == AREA_LEVEL],
        unit_count=sum(1 for g in grids if g["level"] == UNIT_LEVEL),
        by_risk=by_risk, risk_levels=RISK_LEVELS, kind_labels=KIND_LABELS,
    )


@bp.get("/grids/<code>")
def grid_page(code: str):
    session = get_session()
    detail = grid_detail(session, code)
    area_code = detail["code"] if detail["level"] <= AREA_LEVEL else _ancestor_at(session, detail, AREA_LEVEL)
    if detail["level"] == 1:
        areas, units = grid_frame(session, AREA_LEVEL), grid_frame(session, UNIT_LEVEL)
    else:
        areas = grid_frame(session, AREA_LEVEL, within_code=area_code)
        units = grid_frame(session, UNIT_LEVEL, within_code=area_code)
    focus = grid_frame(session, detail["level"], within_code=code)
    focus = focus[focus["code"] == code]
    parts = _map_parts(areas, units, url_for("maps.employers_data", grid=code), focus=focus,
                       title=f"{detail['code']} {detail['name']}", employer_count=detail["employers"])
    employers = grid_employers(session, code, limit=EMPLOYER_ROWS)
    return render_template(
        "grid.html", parts=parts, grid=detail, employers=employers, employer_rows=EMPLOYER_ROWS,
        risk_levels=RISK_LEVELS, kind_labels=KIND_LABELS, role_labels=ROLE_LABELS,
    )


def _ancestor_at(session, detail: dict, level: int) -> str:
    code = detail["parent_code"]
    while code:
        parent = grid_detail(session, code)
        if parent["level"] == level:
            return parent["code"]
        code = parent["parent_code"]
    return detail["code"]


@bp.get("/api/employers.geojson")
def employers_data():
    grid = request.args.get("grid") or None
    if grid is not None and len(grid) > 32:
        raise InputError(f"grid code was {grid[:40]!r}…; expected at most 32 characters")
    body = employers_geojson(get_session(), grid)
    return Response(body, mimetype="application/geo+json")


@bp.get("/api/grids")
def grids_data():
    level = request.args.get("level", type=int)
    return {"grids": list_grids(get_session(), level=level)}

"""Employer JSON and manual placement: ``/api/employers/<code>`` and ``POST …/place``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gisgrid.crs import parse_crs
from gisgrid.employers.queries import find_employer, list_employers, place_employer
from gisgrid.errors import InputError
from gisgrid.web.auth import require_employer, require_grid_code
from gisgrid.web.db import get_session
from gisgrid.web.params import (
    CODE_CHARS, arg_text, check_number, check_text, field_text, json_object, shown,
)

bp = Blueprint("employers_api", __name__, url_prefix="/api/employers")
LIST_LIMIT = 5_000
#: An employer key: an 18-character credit code, or ``#ID`` / an id.
KEY_CHARS = 19
_FLAGS = {"": False, "0": False, "false": False, "no": False, "1": True, "true": True, "yes": True}
PLACE_BODY = ("请求体应为 JSON 对象：{\"lon\": 经度, \"lat\": 纬度, \"crs\": 可选（CGCS2000、WGS84、gcj02、bd09 "
              "或 EPSG 代码）}；标注人为当前登录用户")


def employer_key(key: str) -> str:
    """A credit code or ``#ID`` from the path, as :func:`find_employer` reads it."""
    key = check_text(key, "用人单位（统一社会信用代码或 #编号）", KEY_CHARS).strip()
    if not key.isascii():  # digits such as "²" pass isdigit() but not int()
        raise InputError(f"用人单位为 {shown(key)}；应为 18 位统一社会信用代码或 #编号（半角字母数字）")
    return key


@bp.get("")
def employer_list():
    """Employers with grid, risk and location: ``?grid=CODE``, ``?unassigned=1`` (待定位 and outside)."""
    flag = (arg_text("unassigned", "unassigned 参数", 10) or "").lower()
    if flag not in _FLAGS:
        raise InputError(f"unassigned 为 {shown(flag)}；应为 1 或 0（true/false）")
    grid = arg_text("grid", "网格编码", CODE_CHARS)
    require_grid_code(get_session(), grid)
    rows = list_employers(get_session(), grid, _FLAGS[flag], limit=LIST_LIMIT)
    return jsonify(rows)


@bp.get("/<code>")
def employer_file(code: str):
    """One employer's file: record, grid, grades and survey history."""
    session = get_session()
    record = find_employer(session, employer_key(code))
    require_employer(session, record["id"], code)
    return jsonify(record)


@bp.post("/<code>/place")
def employer_place(code: str):
    """Place an employer by hand: JSON ``{"lon": …, "lat": …, "crs": "gcj02"?}``, recorded as the logged-in user.

    ``crs`` is one of the supported systems only (:data:`gisgrid.crs.SUPPORTED_EPSG` and
    the CGCS2000/WGS84/gcj02/bd09 names): never a PROJ string, WKT or path.
    """
    key = employer_key(code)
    if not request.get_data(cache=True):
        raise InputError(PLACE_BODY)
    body = json_object()
    if "lon" not in body or "lat" not in body:
        raise InputError(PLACE_BODY)
    # Projected coordinates (Gauss–Krüger metres) reach millions; the China check follows.
    lon = check_number(body["lon"], "经度（\"lon\"）", -1e8, 1e8)
    lat = check_number(body["lat"], "纬度（\"lat\"）", -1e8, 1e8)
    crs = field_text(body, "crs", "坐标系", 40)
    if crs is not None:
        crs = parse_crs(crs, supported_only=True).name
    from gisgrid.web.auth import actor_label

    actor = actor_label()  # the logged-in user, never a name from the body
    session = get_session()
    require_employer(session, find_employer(session, key)["id"], key)
    try:
        result = place_employer(session, key, lon, lat, crs, actor)
    except Exception as exc:
        session.rollback()  # the error handler answers, so teardown would otherwise commit
        if "row-level security" in str(getattr(exc, "orig", "")):
            # The new spot lies in a grid outside the user's scope (migration 0007 refuses it).
            from gisgrid.errors import Forbidden

            raise Forbidden("该位置不在您负责的网格内，无法标注；如单位确已迁出，请联系上级网格人员处理") from None
        raise
    return jsonify(result)

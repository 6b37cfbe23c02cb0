"""Employer JSON and manual placement: ``/api/employers/<code>`` and ``POST …/place``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gisgrid.employers.queries import find_employer, list_employers, place_employer
from gisgrid.errors import InputError
from gisgrid.web.db import get_session

bp = Blueprint("employers_api", __name__, url_prefix="/api/employers")
LIST_LIMIT = 5_000


@bp.get("")
def employer_list():
    """Employers with grid, risk and location: ``?grid=CODE``, ``?unassigned=1`` (待定位 and outside)."""
    unassigned = request.args.get("unassigned", "").lower() in ("1", "true", "yes")
    rows = list_employers(get_session(), request.args.get("grid") or None, unassigned, limit=LIST_LIMIT)
    return jsonify(rows)


@bp.get("/<code>")
def employer_file(code: str):
    """One employer's file: record, grid, grades and survey history."""
    return jsonify(find_employer(get_session(), code))


@bp.post("/<code>/place")
def employer_place(code: str):
    """Place an employer by hand: JSON ``{"lon": …, "lat": …, "crs": "gcj02"?, "actor": "…"}``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "lon" not in body or "lat" not in body:
        raise InputError("请求体应为 JSON：{\"lon\": 经度, \"lat\": 纬度, \"crs\": 可选（CGCS2000/gcj02/bd09）, "
                         "\"actor\": 操作人}")
    actor = str(body.get("actor") or request.remote_user or "web").strip()[:100]
    session = get_session()
    try:
        result = place_employer(session, code, body["lon"], body["lat"], body.get("crs"), actor)
    except Exception:
        session.rollback()  # the error handler answers, so teardown would otherwise commit
        raise
    return jsonify(result)

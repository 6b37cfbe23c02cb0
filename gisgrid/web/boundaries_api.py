"""JSON API for the grid editor: split, merge, move a unit, replace a boundary.

Every endpoint edits a draft generation, takes the version(s) the editor saw and
answers with the result and the validation report, or an error (409 with the new
validation errors when the edit would break the coverage, or when someone else
changed the grid first). A refused edit is rolled back before the response.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import sqlalchemy as sa
from flask import Blueprint, Response, request

from gisgrid.boundaries.edit import merge_grids, move_unit, replace_geometry, split_grid
from gisgrid.boundaries.validate import public_report, report_geojson, validate_generation
from gisgrid.db.queries import find_generation
from gisgrid.errors import GisgridError, InputError
from gisgrid.web.db import get_session

bp = Blueprint("boundaries_api", __name__, url_prefix="/api/generations/<generation>")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    return body


def _run(edit):
    session = get_session()
    try:
        result = edit(session)
        session.commit()
        return result
    except GisgridError:
        session.rollback()
        raise


@bp.get("/validation")
def validation(generation: str):
    return public_report(validate_generation(get_session(), generation))


# Validating a city of 2,000 grids takes seconds and every map page asks for it: keep
# the last few reports, keyed by a digest of everything validation reads (a re-import
# may change a boundary without touching versions).
_REPORTS: OrderedDict = OrderedDict()
_REPORTS_LOCK = threading.Lock()
_REPORTS_KEPT = 8


@bp.get("/validation.geojson")
def validation_geojson(generation: str):
    """The validation report as GeoJSON for the map's "边界问题" layer."""
    session = get_session()
    gen = find_generation(session, generation)
    state = session.execute(sa.text(
        "SELECT count(*), md5(string_agg(concat_ws('|', id, code, name, level, kind, parent_id, "
        "md5(ST_AsBinary(geom))), ',' ORDER BY id)) FROM grid WHERE generation_id = :g"), {"g": gen.id}).one()
    key = (gen.id, *(str(v) for v in state))
    with _REPORTS_LOCK:
        body = _REPORTS.get(key)
    if body is None:
        body = json.dumps(report_geojson(validate_generation(session, gen.name)), ensure_ascii=False)
        with _REPORTS_LOCK:
            _REPORTS[key] = body
            while len(_REPORTS) > _REPORTS_KEPT:
                _REPORTS.popitem(last=False)
    return Response(body, mimetype="application/geo+json")


@bp.post("/grids/<code>/split")
def split(generation: str, code: str):
    body = _body()
    return _run(lambda s: split_grid(s, generation, code, body.get("line"), version=body.get("version"),
                                     new_codes=body.get("new_codes"), actor=body.get("actor") or "web"))


@bp.post("/merge")
def merge(generation: str):
    body = _body()
    return _run(lambda s: merge_grids(s, generation, list(body.get("codes") or []), versions=body.get("versions"),
                                      actor=body.get("actor") or "web"))


@bp.post("/grids/<code>/move")
def move(generation: str, code: str):
    body = _body()
    if not body.get("to"):
        raise InputError("'to' (the receiving grid's code) is required")
    return _run(lambda s: move_unit(s, generation, code, body["to"], versions=body.get("versions"),
                                    new_code=body.get("new_code"), actor=body.get("actor") or "web"))


@bp.put("/grids/<code>/geometry")
def geometry(generation: str, code: str):
    body = _body()
    return _run(lambda s: replace_geometry(s, generation, code, body.get("geometry"),
                                           snap_m=float(body.get("snap_m", 5.0)), version=body.get("version"),
                                           actor=body.get("actor") or "web"))

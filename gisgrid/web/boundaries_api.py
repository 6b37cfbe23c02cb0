"""JSON API for the grid editor: split, merge, move a unit, replace a boundary.

Every endpoint edits a draft generation, takes the version(s) the editor saw and
answers with the result and the validation report, or an error (409 with the new
validation errors when the edit would break the coverage, or when someone else
changed the grid first). A refused edit is rolled back before the response.
"""

from __future__ import annotations

from flask import Blueprint, request

from gisgrid.boundaries.edit import merge_grids, move_unit, replace_geometry, split_grid
from gisgrid.boundaries.validate import public_report, validate_generation
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

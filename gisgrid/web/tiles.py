"""Vector tiles for the map: ``/tiles/employers/<z>/<x>/<y>.pbf``.

Thin on purpose: the SQL lives in :mod:`gisgrid.maps.tiles`.  Errors here are JSON even
though the path is not under ``/api/``: a tile is data, never a page.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gisgrid.db.queries import active_generation
from gisgrid.errors import GisgridError, InputError
from gisgrid.maps.tiles import RAW_MIN_ZOOM, check_tile_address, employer_tile
from gisgrid.web.db import get_session

bp = Blueprint("tiles", __name__)

MVT_MIMETYPE = "application/vnd.mapbox-vector-tile"
# Employers move and assignments change with imports, placements and reassignments: a few
# minutes of staleness is fine, and panning back and forth should not re-query.
CACHE_CONTROL = "private, max-age=300"


@bp.errorhandler(GisgridError)
def _tile_error(exc: GisgridError):
    return jsonify(exc.as_dict()), exc.status


@bp.get("/tiles/employers/<z>/<x>/<y>.pbf")
def employer_tile_view(z: str, x: str, y: str):
    zi, xi, yi = _tile_address(z, x, y)
    session = get_session()
    # Only raw points carry grid names; the cells below RAW_MIN_ZOOM need no generation.
    generation = active_generation(session) if zi >= RAW_MIN_ZOOM else None
    tile = employer_tile(session, zi, xi, yi, generation.id if generation else None)
    if not tile:
        response = Response(status=204)
    else:
        response = Response(tile, mimetype=MVT_MIMETYPE)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _tile_address(z: str, x: str, y: str) -> tuple[int, int, int]:
    try:
        zi, xi, yi = int(z), int(x), int(y)
    except ValueError:
        raise InputError(f"tile address was {z}/{x}/{y}; expected three whole numbers z/x/y") from None
    problem = check_tile_address(zi, xi, yi)
    if problem:
        raise InputError(f"tile address {zi}/{xi}/{yi}: {problem}")
    return zi, xi, yi

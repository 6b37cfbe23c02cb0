"""Vector tiles for the map: ``/tiles/employers/<z>/<x>/<y>.pbf``.

Thin on purpose: the SQL lives in :mod:`gisgrid.maps.tiles`.  Errors here are JSON even
though the path is not under ``/api/`` (:mod:`gisgrid.web.errors`): a tile is data, never a
page.  Tiles carry employers' names, so they are never cached (:mod:`gisgrid.web.security`).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, g

from gisgrid.db.queries import active_generation
from gisgrid.errors import InputError
from gisgrid.maps.tiles import MAX_ZOOM, RAW_MIN_ZOOM, check_tile_address, employer_tile
from gisgrid.web.db import get_session

bp = Blueprint("tiles", __name__)

MVT_MIMETYPE = "application/vnd.mapbox-vector-tile"
# The points carry employers' names and risk levels: kept in no browser or proxy cache
# (a shared office PC), at the cost of re-querying when a user pans back.
CACHE_CONTROL = "no-store"


@bp.get("/tiles/employers/<z>/<x>/<y>.pbf")
def employer_tile_view(z: str, x: str, y: str):
    zi, xi, yi = _tile_address(z, x, y)
    session = get_session()
    # Only raw points carry grid names; the cells below RAW_MIN_ZOOM need no generation.
    generation = active_generation(session) if zi >= RAW_MIN_ZOOM else None
    # A scoped user's points and cells are only their grids' (and row-level security
    # leaves them nothing else).
    tile = employer_tile(session, zi, xi, yi, generation.id if generation else None,
                         grids=None if g.scope.everything else g.scope.grid_ids)
    if not tile:
        response = Response(status=204)
    else:
        response = Response(tile, mimetype=MVT_MIMETYPE)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


_WHOLE = re.compile(r"[0-9]{1,10}")


def _tile_address(z: str, x: str, y: str) -> tuple[int, int, int]:
    if not all(_WHOLE.fullmatch(part) for part in (z, x, y)):
        given = f"{z}/{x}/{y}"
        raise InputError(f"瓦片地址为 {given[:40]!r}{'…' if len(given) > 40 else ''}；"
                         "应为三个不带符号的整数 z/x/y")
    zi, xi, yi = int(z), int(x), int(y)
    if check_tile_address(zi, xi, yi):
        raise InputError(f"瓦片地址 {zi}/{xi}/{yi} 超出范围：{_range_problem(zi, xi, yi)}")
    return zi, xi, yi


def _range_problem(z: int, x: int, y: int) -> str:
    """What check_tile_address found, in Chinese for the error body."""
    if not 0 <= z <= MAX_ZOOM:
        return f"缩放级别 z 为 {z}，应为 0–{MAX_ZOOM}"
    top = 2**z - 1
    return f"{'x' if not 0 <= x <= top else 'y'} 为 {x if not 0 <= x <= top else y}，第 {z} 级应为 0–{top}"


@bp.get("/basemap/<z>/<x>/<y>")
def basemap_tile(z: str, x: str, y: str):
    """A tile of the local basemap (GISGRID_BASEMAP=mbtiles:PATH); 204 where the file has none.

    Not personal data: the browser may keep it for a day (gisgrid.web.security leaves this
    endpoint's Cache-Control alone)."""
    from flask import current_app

    from gisgrid.errors import NotFound
    from gisgrid.maps.mbtiles import read_tile

    info = basemap_info(current_app.config["GISGRID_SETTINGS"])
    if info is None:
        raise NotFound("未配置本地底图（GISGRID_BASEMAP=mbtiles:路径）")
    zi, xi, yi = _tile_address(z, x, y)
    data = read_tile(info, zi, xi, yi)
    response = Response(status=204) if data is None else Response(data, mimetype=info.media_type)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


_INFO: dict = {}


def basemap_info(settings):
    """The MBTiles file's format and zoom range, read once per file (None without one)."""
    if settings.basemap != "mbtiles" or settings.basemap_path is None:
        return None
    if settings.basemap_path not in _INFO:
        from gisgrid.maps.mbtiles import read_info

        _INFO[settings.basemap_path] = read_info(settings.basemap_path)
    return _INFO[settings.basemap_path]

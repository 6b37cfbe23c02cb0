"""Mapbox vector tiles of employers, built by PostGIS (``ST_AsMVT``).

A city of a million employers cannot be inlined in a page nor fetched as one GeoJSON: the
browser asks for 256-pixel tiles instead.  From zoom :data:`RAW_MIN_ZOOM` on a tile holds
the employers themselves; below it the employers are counted per ~4-pixel cell and per risk
level, so that a dense city-wide tile stays tens of kilobytes and tens of milliseconds.

Tiles are in web Mercator (EPSG:3857) as Leaflet draws them; the stored points stay in
CGCS2000 (EPSG:4490) and are selected with the tile envelope transformed to 4490, so the
GiST index on ``employer.geom`` does the selection (transforming the indexed column would
read every row).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

__all__ = [
    "MAX_TILE_BYTES",
    "MAX_ZOOM",
    "RAW_MIN_ZOOM",
    "TILE_LAYER",
    "check_tile_address",
    "employer_tile",
]

#: Name of the layer inside each tile.
TILE_LAYER = "employers"
#: From this zoom on, tiles carry one point per employer; below, counts per cell.
RAW_MIN_ZOOM = 13
#: Deepest zoom served (Leaflet maps stop at 18; a little headroom for overzoom).
MAX_ZOOM = 22
#: Raw tiles keep at most this many employers (the riskiest first): ~90 bytes each keeps a
#: tile under MAX_TILE_BYTES.
RAW_LIMIT = 5_000
#: Tiles above this size are a bug in the aggregation, not a normal tile.
MAX_TILE_BYTES = 500_000

_EXTENT = 4096
# Points within this many tile units outside the tile are kept, so a marker on the edge
# is drawn whole by both neighbouring tiles.
_BUFFER = 64
# Aggregation cells: 64 x 64 per tile, i.e. 4 screen pixels of a 256-pixel tile.
_CELLS = 64

# Common part: the tile envelope in 3857, slightly enlarged by the buffer, and the same
# in 4490 for the index.  Mercator tiles are lon/lat rectangles, so the transformed
# envelope is exact.
_BOUNDS = """
    bounds AS (
        SELECT env AS env3857,
               ST_Transform(ST_Expand(env, (ST_XMax(env) - ST_XMin(env)) * :margin), 4490)
                   AS env4490
        FROM (SELECT ST_TileEnvelope(:z, :x, :y) AS env) t
    )
"""

_RAW_SQL = f"""
    WITH {_BOUNDS},
    rows AS (
        SELECT e.id, e.name, e.credit_code, e.risk_level, g.code AS grid_code,
               g.name AS grid_name,
               ST_AsMVTGeom(ST_Transform(e.geom, 3857), b.env3857, {_EXTENT}, {_BUFFER}, true)
                   AS geom
        FROM bounds b
        JOIN employer e ON e.geom && b.env4490
        JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
        LEFT JOIN grid g ON g.id = a.grid_id
        ORDER BY e.risk_level DESC NULLS LAST, e.id
        LIMIT {RAW_LIMIT}
    )
    SELECT ST_AsMVT(rows, '{TILE_LAYER}', {_EXTENT}, 'geom', 'id') FROM rows
    WHERE geom IS NOT NULL
"""

_CELL_SQL = f"""
    WITH {_BOUNDS},
    points AS (
        SELECT ST_Transform(e.geom, 3857) AS p, e.risk_level AS r,
               (ST_XMax(b.env3857) - ST_XMin(b.env3857)) / {_CELLS} AS cell
        FROM bounds b
        JOIN employer e ON e.geom && b.env4490
        JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
    ),
    cells AS (
        SELECT count(*)::int AS count,
               count(*) FILTER (WHERE r = 3)::int AS r3,
               count(*) FILTER (WHERE r = 2)::int AS r2,
               count(*) FILTER (WHERE r = 1)::int AS r1,
               count(*) FILTER (WHERE r = 0)::int AS r0,
               count(*) FILTER (WHERE r IS NULL)::int AS unrated,
               -- Drawn at the mean position of its employers, not the cell corner, so
               -- a lone employer sits where it is.
               ST_AsMVTGeom(ST_MakePoint(avg(ST_X(p)), avg(ST_Y(p))), b.env3857,
                            {_EXTENT}, {_BUFFER}, true) AS geom
        FROM points, bounds b
        GROUP BY floor(ST_X(p) / cell), floor(ST_Y(p) / cell), b.env3857
    )
    SELECT ST_AsMVT(cells, '{TILE_LAYER}', {_EXTENT}, 'geom') FROM cells
    WHERE geom IS NOT NULL
"""


def check_tile_address(z: int, x: int, y: int) -> str | None:
    """Say what is wrong with a tile address, or None when it is valid.

    Examples
    --------
    >>> check_tile_address(10, 837, 410) is None
    True
    >>> check_tile_address(2, 4, 0)
    'x was 4; expected 0–3 at zoom 2'
    """
    if not 0 <= z <= MAX_ZOOM:
        return f"z was {z}; expected 0–{MAX_ZOOM}"
    top = 2**z - 1
    if not 0 <= x <= top:
        return f"x was {x}; expected 0–{top} at zoom {z}"
    if not 0 <= y <= top:
        return f"y was {y}; expected 0–{top} at zoom {z}"
    return None


def employer_tile(session: Session, z: int, x: int, y: int, generation_id: int | None) -> bytes:
    """Build the employer vector tile ``z/x/y`` (Mapbox Vector Tile, layer ``employers``).

    At zoom :data:`RAW_MIN_ZOOM` and deeper each employer assigned in the generation is a
    point with properties ``name``, ``credit_code``, ``risk_level`` (absent when unrated),
    ``grid_code`` and ``grid_name`` and the employer id as feature id (at most
    :data:`RAW_LIMIT`, riskiest first).  Below, the employers are counted per cell of 1/64
    of the tile (4 pixels on screen): a point at their mean position with ``count``,
    ``r3``, ``r2``, ``r1``, ``r0`` (per risk level) and ``unrated``.

    Runs with JIT and parallel workers off for this transaction: their start-up costs more
    than a whole tile.

    Parameters
    ----------
    session : Session
        An open session; the settings apply to its current transaction only.
    z, x, y : int
        Tile address (XYZ, as Leaflet asks); check it with :func:`check_tile_address`.
    generation_id : int or None
        The generation whose assignments place the employers; None gives an empty tile.

    Returns
    -------
    bytes
        The encoded tile; empty when no employer falls in it.

    Examples
    --------
    >>> tile = employer_tile(session, 14, 13366, 6568, active.id)  # doctest: +SKIP
    >>> import mapbox_vector_tile; mapbox_vector_tile.decode(tile)["employers"]  # doctest: +SKIP
    """
    problem = check_tile_address(z, x, y)
    if problem:
        raise ValueError(problem)
    if generation_id is None:
        return b""
    session.execute(sa.text("SET LOCAL jit = off"))
    session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    sql = _RAW_SQL if z >= RAW_MIN_ZOOM else _CELL_SQL
    tile = session.execute(
        sa.text(sql),
        {"z": z, "x": x, "y": y, "gen": generation_id, "margin": _BUFFER / _EXTENT},
    ).scalar()
    return bytes(tile or b"")

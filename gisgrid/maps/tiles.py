"""Mapbox vector tiles of employers, built by PostGIS (``ST_AsMVT``).

A city of a million employers cannot be inlined in a page nor fetched as one GeoJSON: the
browser asks for 256-pixel tiles instead.  From zoom :data:`RAW_MIN_ZOOM` on a tile holds
the employers themselves; below it the employers are counted per ~4-pixel cell and per risk
level, so that a dense city-wide tile stays tens of kilobytes and a few milliseconds.

Both draw the same employers: every employer with a location (``geom`` set), assigned to a
grid or not (an employer outside every grid, or not yet assigned, is still somewhere on the
map).  The generation only supplies the grid code and name of the raw points.

The counts are not made on request (a city-wide tile at 1M employers read every point:
p95 4.5 s) but kept in the table ``employer_cell`` for every zoom 0–12 by statement-level
triggers on ``employer`` (migration 0003), so every way of writing employers keeps them
right; a tile reads at most 66 × 66 rows of its own zoom by the primary key.
:func:`rebuild_employer_cells` counts everything again (a repair; the migration uses it).

A user who sees only some grids (an inspector) gets only the employers of those grids: the
raw points are filtered by ``employer.grid_id`` (their finest grid in the active generation,
kept from ``assignment`` by triggers, migration 0008) — in the query, and again by row-level
security — and the cells are summed from ``employer_grid_cell``, the same counts per grid,
kept from ``employer`` by triggers like ``employer_cell``.

Tiles are in web Mercator (EPSG:3857) as Leaflet draws them; the stored points stay in
CGCS2000 (EPSG:4490) and are selected with the tile envelope transformed to 4490, so the
GiST index on ``employer.geom`` does the selection (transforming the indexed column would
read every row).
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

__all__ = [
    "MAX_TILE_BYTES",
    "MAX_ZOOM",
    "RAW_MIN_ZOOM",
    "TILE_LAYER",
    "check_tile_address",
    "employer_tile",
    "rebuild_employer_cells",
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

# Raw tiles: the riskiest employers of the tile first, then their grid in the generation
# (looked up for the kept rows only; an employer without an assignment is still drawn).
_RAW_SQL = f"""
    WITH {_BOUNDS},
    picked AS (
        SELECT e.id, e.name, e.credit_code, e.risk_level, e.geom
        FROM bounds b
        JOIN employer e ON e.geom && b.env4490
        ORDER BY e.risk_level DESC NULLS LAST, e.id
        LIMIT {RAW_LIMIT}
    ),
    rows AS (
        SELECT p.id, p.name, p.credit_code, p.risk_level, g.code AS grid_code,
               g.name AS grid_name,
               ST_AsMVTGeom(ST_Transform(p.geom, 3857), b.env3857, {_EXTENT}, {_BUFFER}, true)
                   AS geom
        FROM picked p
        CROSS JOIN bounds b
        LEFT JOIN assignment a ON a.employer_id = p.id AND a.generation_id = :gen
        LEFT JOIN grid g ON g.id = a.grid_id
    )
    SELECT ST_AsMVT(rows, '{TILE_LAYER}', {_EXTENT}, 'geom', 'id') FROM rows
    WHERE geom IS NOT NULL
"""

# Cells: read from employer_cell (migration 0003), kept by triggers on employer. The
# cells of tile z/x/y are cx 64x .. 64x + 63 and cy 64y .. 64y + 63 at level z; one more
# ring of cells around it is the buffer (_BUFFER tile units = one cell), so a cell on the
# edge is drawn whole by both neighbouring tiles. At most 66 x 66 rows by the primary key.
_CELL_SQL = f"""
    WITH cells AS (
        SELECT c.count, c.r3, c.r2, c.r1, c.r0, c.unrated,
               -- Drawn at the mean position of its employers, not the cell corner, so
               -- a lone employer sits where it is.
               ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(c.sx / c.count, c.sy / c.count), 3857),
                            ST_TileEnvelope(:z, :x, :y), {_EXTENT}, {_BUFFER}, true) AS geom
        FROM employer_cell c
        WHERE c.z = :z AND c.cx BETWEEN :x * {_CELLS} - 1 AND :x * {_CELLS} + {_CELLS}
          AND c.cy BETWEEN :y * {_CELLS} - 1 AND :y * {_CELLS} + {_CELLS} AND c.count > 0
    )
    SELECT ST_AsMVT(cells, '{TILE_LAYER}', {_EXTENT}, 'geom') FROM cells
    WHERE geom IS NOT NULL
"""


# Cells of a user who sees only some grids (an inspector): the same counts per grid, kept in
# employer_grid_cell by triggers on employer (migration 0008), summed over the user's grids
# cell by cell. One index descent per grid of the scope, at most 66 x 66 rows each; the
# grids are those of employer.grid_id, which row-level security tests for the raw points,
# so both levels draw the same employers. (Counting them on request from the employers
# cost ~250 ms a tile for a street of 40,000: benchmarks/maps.py --scoped.)
_SCOPED_CELL_SQL = f"""
    WITH cells AS (
        SELECT sum(c.count) AS count, sum(c.r3) AS r3, sum(c.r2) AS r2, sum(c.r1) AS r1,
               sum(c.r0) AS r0, sum(c.unrated) AS unrated,
               ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(sum(c.sx) / sum(c.count), sum(c.sy) / sum(c.count)), 3857),
                            ST_TileEnvelope(:z, :x, :y), {_EXTENT}, {_BUFFER}, true) AS geom
        FROM employer_grid_cell c
        WHERE c.z = :z AND c.grid_id = ANY(CAST(:grids AS integer[]))
          AND c.cx BETWEEN :x * {_CELLS} - 1 AND :x * {_CELLS} + {_CELLS}
          AND c.cy BETWEEN :y * {_CELLS} - 1 AND :y * {_CELLS} + {_CELLS} AND c.count > 0
        GROUP BY c.cx, c.cy
    )
    SELECT ST_AsMVT(cells, '{TILE_LAYER}', {_EXTENT}, 'geom') FROM cells
    WHERE geom IS NOT NULL
"""

# Raw points of a scoped user: only employers of their grids, stated in the query as well as
# enforced by row-level security (the owner, which RLS does not restrict, gets the same tile).
_SCOPED_RAW_SQL = _RAW_SQL.replace(
    "JOIN employer e ON e.geom && b.env4490",
    "JOIN employer e ON e.geom && b.env4490 AND e.grid_id = ANY(CAST(:grids AS integer[]))")


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


def employer_tile(session: Session, z: int, x: int, y: int, generation_id: int | None, *,
                  grids: Collection[int] | None = None) -> bytes:
    """Build the employer vector tile ``z/x/y`` (Mapbox Vector Tile, layer ``employers``).

    At zoom :data:`RAW_MIN_ZOOM` and deeper each located employer is a point with
    properties ``name``, ``credit_code``, ``risk_level`` (absent when unrated),
    ``grid_code`` and ``grid_name`` (absent when not assigned in the generation) and the
    employer id as feature id (at most :data:`RAW_LIMIT`, riskiest first).  Below, the
    same employers are counted per cell of 1/64 of the tile (4 pixels on screen), read
    from ``employer_cell``: a point at their mean position with ``count``, ``r3``,
    ``r2``, ``r1``, ``r0`` (per risk level) and ``unrated``.

    Runs with JIT and parallel workers off for this transaction: their start-up costs more
    than a whole tile.

    Parameters
    ----------
    session : Session
        An open session; the settings apply to its current transaction only.
    z, x, y : int
        Tile address (XYZ, as Leaflet asks); check it with :func:`check_tile_address`.
    generation_id : int or None
        The generation whose grids name the raw points' ``grid_code``/``grid_name``; with
        None the points have no grid properties.
    grids : collection of int, optional
        The user sees only these grids (their scope): the tile holds only the employers
        whose ``employer.grid_id`` (their finest grid in the active generation) is one of
        them, and its cells are summed from ``employer_grid_cell`` instead of read from the
        city-wide ``employer_cell``. None: every employer. An empty collection: none.

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
    session.execute(sa.text("SELECT set_config('jit', 'off', true), "
                            "set_config('max_parallel_workers_per_gather', '0', true)"))
    scope = None if grids is None else {"grids": sorted(int(i) for i in grids)}
    if z >= RAW_MIN_ZOOM:
        params = {"z": z, "x": x, "y": y, "gen": generation_id, "margin": _BUFFER / _EXTENT}
        sql = _RAW_SQL if scope is None else _SCOPED_RAW_SQL
        tile = session.execute(sa.text(sql), {**params, **(scope or {})}).scalar()
    elif scope is not None:
        tile = session.execute(sa.text(_SCOPED_CELL_SQL), {"z": z, "x": x, "y": y, **scope}).scalar()
    else:
        tile = session.execute(sa.text(_CELL_SQL), {"z": z, "x": x, "y": y}).scalar()
    return bytes(tile or b"")


def rebuild_employer_cells(session: Session) -> int:
    """Count the located employers per map cell (city-wide and per grid) again; return how many.

    The triggers of migrations 0003 and 0008 keep ``employer_cell`` and
    ``employer_grid_cell`` right through every insert, update, delete, ``COPY`` and
    ``TRUNCATE``; this is the repair for a table that got out
    of step anyway (a restore of ``employer`` alone, triggers disabled by hand).  Locks
    ``employer`` against writes until the transaction ends; 1–3 s per million employers.

    Parameters
    ----------
    session : Session
        An open session; the caller commits.

    Returns
    -------
    int
        The number of employers with a location, all of them now counted.

    Examples
    --------
    >>> rebuild_employer_cells(session)  # doctest: +SKIP
    20000
    """
    located = int(session.execute(sa.text("SELECT employer_cells_rebuild()")).scalar())
    session.execute(sa.text("SELECT employer_grid_cells_rebuild()"))  # the per-grid cells (migration 0008)
    return located

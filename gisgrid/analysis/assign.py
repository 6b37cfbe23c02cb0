"""Assign employers to their finest grid, set-based in PostGIS.

The rule (DESIGN.md): the finest grid that *covers* the point (``ST_Covers``, so
a point on an edge counts for both sides); on a shared edge or vertex the lowest
grid code wins and the case is counted as a tie; a point outside every grid is
unassigned and gets the nearest grid with the distance in metres.
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.db.models import Generation
from gisgrid.db.queries import find_generation

# Finest grids = grids with no children in the generation. Kept in a temporary
# table so that the grid side is the small outer side of the point-in-polygon
# join and every probe is an index scan on employer.geom (ECOSYSTEM.md join trap:
# employers as the outer side runs 3.6× slower). Its own GiST index, for the
# nearest-grid search, is built only after the join so the planner cannot flip it.
_LEAVES = """
CREATE TEMP TABLE _leaf ON COMMIT DROP AS
SELECT g.id, g.code, g.geom FROM grid g
WHERE g.generation_id = :gen
  AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = g.id)
"""

_HITS = """
INSERT INTO {target} (employer_id, generation_id, grid_id, tie)
SELECT e.id, :gen, l.id, false
FROM _leaf l JOIN employer e ON ST_Covers(l.geom, e.geom)
WHERE {employer_filter}
"""

# A point covered by several finest grids lies on their shared edge or vertex:
# keep the lowest grid code and mark the row as a tie. Rare, so found with one
# hash aggregate instead of sorting every row.
_TIES = """
CREATE TEMP TABLE _tie ON COMMIT DROP AS
SELECT t.employer_id, t.grid_id, l.code
FROM {target} t JOIN _leaf l ON l.id = t.grid_id
WHERE t.employer_id IN (SELECT employer_id FROM {target} GROUP BY employer_id HAVING count(*) > 1)
"""

_RESOLVE_TIES = """
DELETE FROM {target} t USING _tie x WHERE t.employer_id = x.employer_id;
INSERT INTO {target} (employer_id, generation_id, grid_id, tie)
SELECT DISTINCT ON (employer_id) employer_id, :gen, grid_id, true FROM _tie ORDER BY employer_id, code;
"""

# Nearest grid of a point outside every grid: the 8 nearest by planar distance in
# degrees (GiST k-NN), then the truly nearest by geodesic metres, since a degree
# of longitude is shorter than a degree of latitude here. The metres are measured
# point to point, from the employer to the closest point of each candidate: a
# geography distance to a whole polygon costs ~0.1 ms per candidate and made
# 12k outside points take 10 s. The closest point is found with longitudes scaled
# by cos(latitude) (a local equirectangular plane, see _CLOSEST_M): found in plain
# degrees it lies elsewhere on a slanting edge, and the distance came out 1–7 %
# too long.
# Metres from point {p} to the closest point of polygon {g}: the closest point taken in
# a plane where a degree of longitude is as long as it is at {p}, then measured on the
# spheroid. {k} is that scale, cos(latitude of {p}).
_CLOSEST_M = ("ST_Distance(ST_Scale(ST_ClosestPoint(ST_Scale({g}, {k}, 1), ST_Scale({p}, {k}, 1)), 1 / {k}, 1)"
              "::geography, {p}::geography)")

_OUTSIDE = """
CREATE TEMP TABLE _out ON COMMIT DROP AS
SELECT e.id, e.geom FROM employer e
WHERE {employer_filter}
  AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.employer_id = e.id AND t.generation_id = :gen)
"""

# Run over the few employers in _out only: written as one statement with the
# anti-join, the planner may run the k-NN lateral for every employer first.
_UNASSIGNED = """
INSERT INTO {target} (employer_id, generation_id, grid_id, nearest_grid_id, distance_m)
SELECT o.id, :gen, NULL, near.id, near.distance_m
FROM _out o
LEFT JOIN LATERAL (
    SELECT c.id, """ + _CLOSEST_M.format(g="c.geom", p="o.geom", k="cos(radians(ST_Y(o.geom)))") + """ AS distance_m
    FROM (SELECT id, geom FROM _leaf ORDER BY geom <-> o.geom LIMIT 8) c
    ORDER BY 2, c.id LIMIT 1
) near ON o.geom IS NOT NULL
"""

# A few employers (an insert, a move, a small import): the set-based path's temporary
# tables of every finest grid, their ANALYZE and GiST index cost ~30 ms whatever the
# number of employers, six times DESIGN.md's 5 ms for a single move.  Here each employer
# probes grid's own GiST index instead, with the same rules: lowest code among the
# covering finest grids (a tie when more than one), else the nearest of the 8 nearest by
# planar distance, measured in metres to its closest point.
FEW = 1_000

# Written in place (an upsert), not deleted and inserted again: between a DELETE and the
# INSERT an inspector's employer had no assignment in their grids, so row-level security
# (which shows an employer by its assignment) hid it from the INSERT's own read of
# employer, and an inspector's placement by hand inside their own grids found the employer
# gone (404, rolled back).
_ASSIGN_FEW = """
INSERT INTO assignment (employer_id, generation_id, grid_id, tie, nearest_grid_id, distance_m)
SELECT e.id, :gen, hit.id, coalesce(hit.n > 1, false), near.id, near.distance_m
FROM employer e
LEFT JOIN LATERAL (
    SELECT g.id, count(*) OVER () AS n
    FROM grid g
    WHERE e.geom IS NOT NULL AND g.generation_id = :gen AND ST_Covers(g.geom, e.geom)
      AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = g.id)
    ORDER BY g.code LIMIT 1
) hit ON true
LEFT JOIN LATERAL (
    SELECT c.id, """ + _CLOSEST_M.format(g="c.geom", p="e.geom", k="cos(radians(ST_Y(e.geom)))") + """ AS distance_m
    FROM (SELECT g.id, g.geom FROM grid g
          WHERE hit.id IS NULL AND e.geom IS NOT NULL AND g.generation_id = :gen
            AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = g.id)
          ORDER BY g.geom <-> e.geom LIMIT 8) c
    ORDER BY 2, c.id LIMIT 1
) near ON true
WHERE e.id = ANY(:ids)
ON CONFLICT (employer_id, generation_id) DO UPDATE SET
    grid_id = excluded.grid_id, tie = excluded.tie, nearest_grid_id = excluded.nearest_grid_id,
    distance_m = excluded.distance_m, assigned_at = now();
"""

_SUMMARY = """
SELECT count(*) AS total,
       count(grid_id) AS assigned,
       count(*) FILTER (WHERE grid_id IS NULL) AS unassigned,
       count(*) FILTER (WHERE grid_id IS NULL AND nearest_grid_id IS NULL) AS unlocated,
       count(*) FILTER (WHERE tie) AS ties
FROM assignment a WHERE a.generation_id = :gen {assignment_filter}
"""


_FOLLOW_ACTIVE = """
SELECT employer_grids_follow(NULL) FROM generation WHERE id = :gen AND status = 'active'
"""


def assign_employers(session: Session, generation: str | Generation | None = None,
                     employer_ids: Sequence[int] | None = None) -> dict:
    """Assign employers to the finest grids of a generation and write the result.

    Parameters
    ----------
    session
        Open session; the caller commits (``--commit``) or rolls back (dry run).
    generation
        Generation name (or the Generation itself, already looked up); the active
        generation when omitted.
    employer_ids
        Only these employers (after an insert or a move); all when omitted.

    Returns
    -------
    dict
        ``generation``, ``total``, ``assigned``, ``unassigned`` (outside every grid
        or without a location), ``unlocated`` (no coordinates), ``ties``.

    Examples
    --------
    A point on the edge shared by grids 001 and 002 goes to 001 and counts as a tie:

    >>> assign_employers(session)  # doctest: +SKIP
    {'generation': '2026', 'total': 3, 'assigned': 3, 'unassigned': 0, 'unlocated': 0, 'ties': 1}
    """
    gen = generation if isinstance(generation, Generation) else find_generation(session, generation)
    params: dict = {"gen": gen.id}
    run = lambda sql: session.execute(sa.text(sql), params)  # noqa: E731
    if employer_ids is not None and len(employer_ids) <= FEW:
        params["ids"] = list(employer_ids)
        _ensure_partition(run, gen.id)
        run(_ASSIGN_FEW)
        summary = run(_SUMMARY.format(assignment_filter="AND a.employer_id = ANY(:ids)")).mappings().one()
        return {"generation": gen.name, **{key: int(value) for key, value in summary.items()}}
    run("DROP TABLE IF EXISTS _leaf, _tie")
    run(_LEAVES)
    run("ANALYZE _leaf")
    if employer_ids is None:
        _replace_partition(session, run, gen.id)
        # A swapped-in partition fires no trigger: the employers' copy of their active grid
        # (employer.grid_id, which row-level security tests; migration 0008) follows here.
        run(_FOLLOW_ACTIVE)
        assignment_filter = ""
    else:
        params["ids"] = list(employer_ids)
        _ensure_partition(run, gen.id)
        run("CREATE TEMP TABLE _new (LIKE assignment INCLUDING DEFAULTS) ON COMMIT DROP")
        _fill(run, "_new", "e.id = ANY(:ids)")
        run("DELETE FROM assignment a WHERE a.generation_id = :gen AND a.employer_id = ANY(:ids)")
        run("INSERT INTO assignment SELECT * FROM _new")
        run("DROP TABLE _new")
        assignment_filter = "AND a.employer_id = ANY(:ids)"
    summary = run(_SUMMARY.format(assignment_filter=assignment_filter)).mappings().one()
    run("DROP TABLE IF EXISTS _leaf, _tie")
    return {"generation": gen.name, **{key: int(value) for key, value in summary.items()}}


def _fill(run, target: str, employer_filter: str) -> None:
    run(_HITS.format(target=target, employer_filter=employer_filter))
    run(_TIES.format(target=target))
    if run("SELECT EXISTS (SELECT 1 FROM _tie)").scalar():
        run(_RESOLVE_TIES.format(target=target))
    run("CREATE INDEX ON _leaf USING gist (geom)")
    _write_outside(run, target, employer_filter)


# The join of a whole generation, as CREATE TABLE AS so that PostgreSQL may run
# it in parallel (it does not parallelise INSERT … SELECT). Parallel workers
# cannot read temporary tables, so this reads grid directly; the plan keeps the
# grids as the outer side (a Parallel Seq Scan over them).
_HITS_TABLE = """
CREATE TABLE {table} AS
SELECT e.id AS employer_id, CAST(:gen AS integer) AS generation_id, l.id AS grid_id,
       false AS tie, CAST(NULL AS integer) AS nearest_grid_id,
       CAST(NULL AS double precision) AS distance_m, now() AS assigned_at
FROM grid l JOIN employer e ON ST_Covers(l.geom, e.geom)
WHERE l.generation_id = :gen AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = l.id)
"""
_PARALLEL = {"max_parallel_workers_per_gather": "2", "parallel_setup_cost": "0",
             "parallel_tuple_cost": "0", "min_parallel_table_scan_size": "0"}


def _write_outside(run, target: str, employer_filter: str) -> None:
    run("DROP TABLE IF EXISTS _out")
    run(_OUTSIDE.format(target=target, employer_filter=employer_filter))
    run("ANALYZE _out")
    run(_UNASSIGNED.format(target=target))
    run("DROP TABLE _out")


def _replace_partition(session: Session, run, generation_id: int) -> None:
    """Build the generation's assignments in a new table and swap it in.

    Bulk index builds are several times cheaper than maintaining the indexes row
    by row, and the old rows go with a DROP instead of a DELETE. All of it is DDL
    inside the caller's transaction, so a dry run rolls back.
    """
    part = _partition_name(generation_id)
    run(f"DROP TABLE IF EXISTS {part}_next")
    previous = {name: run(f"SELECT current_setting('{name}')").scalar() for name in _PARALLEL}
    for name, value in _PARALLEL.items():
        run(f"SET LOCAL {name} = {value}")
    run(_HITS_TABLE.format(table=f"{part}_next"))
    for name, value in previous.items():
        run(f"SELECT set_config('{name}', '{value}', true)")
    run(f"ALTER TABLE {part}_next ALTER employer_id SET NOT NULL, ALTER generation_id SET NOT NULL, "
        "ALTER tie SET NOT NULL, ALTER assigned_at SET NOT NULL, "
        "ALTER tie SET DEFAULT false, ALTER assigned_at SET DEFAULT now()")
    if not _add_primary_key(session, f"{part}_next"):
        run(_TIES.format(target=f"{part}_next"))
        run(_RESOLVE_TIES.format(target=f"{part}_next"))
        _add_primary_key(session, f"{part}_next", must=True)
    run("CREATE INDEX ON _leaf USING gist (geom)")
    _write_outside(run, f"{part}_next", "TRUE")
    run(f"DROP TABLE IF EXISTS {part}")
    run(f"ALTER TABLE {part}_next RENAME TO {part}")
    run(f"ALTER TABLE assignment ATTACH PARTITION {part} FOR VALUES IN ({int(generation_id)})")


def _add_primary_key(session: Session, table: str, must: bool = False) -> bool:
    """Add the primary key; False if two rows share an employer (an edge tie).

    The key has to be built anyway, and building it is the cheapest test for
    ties: most runs have none, and a GROUP BY over every row costs as much again.
    """
    if must:
        session.execute(sa.text(f"ALTER TABLE {table} ADD PRIMARY KEY (employer_id, generation_id)"))
        return True
    try:
        with session.begin_nested():
            session.execute(sa.text(f"ALTER TABLE {table} ADD PRIMARY KEY (employer_id, generation_id)"))
        return True
    except sa.exc.IntegrityError:
        return False


def _ensure_partition(run, generation_id: int) -> None:
    part = _partition_name(generation_id)
    # Looked up first: CREATE TABLE … PARTITION OF locks the parent table even when the
    # partition exists, and a single move must not wait for (or block) map readers.
    if run(f"SELECT to_regclass('{part}') IS NULL").scalar():
        run(f"CREATE TABLE IF NOT EXISTS {part} PARTITION OF assignment FOR VALUES IN ({int(generation_id)})")


def _partition_name(generation_id: int) -> str:
    # Identifiers come from an integer id only, never from user text.
    return f"assignment_g{int(generation_id)}"


def assignment_summary(session: Session, generation: str | None = None) -> dict:
    """The counts of :func:`assign_employers` as they stand, without reassigning."""
    gen = find_generation(session, generation)
    summary = session.execute(sa.text(_SUMMARY.format(assignment_filter="")), {"gen": gen.id}).mappings().one()
    return {"generation": gen.name, **{key: int(value) for key, value in summary.items()}}

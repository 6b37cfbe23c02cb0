"""Compare two generations: grids added, removed, changed, and employers that move.

Shown before an activation (``gisgrid grids diff 2026版 2027版``). Employers are
assigned to both generations in temporary tables with the same rule as
:mod:`gisgrid.analysis.assign` (the finest grid that covers the point, lowest code
on a shared edge), so the real assignments are never touched.
"""

from __future__ import annotations

import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.boundaries.validate import generation_frame

# Geometries closer than this (degrees, ≈ 1 cm) are the same boundary: a file
# re-exported through another format or CRS differs in the last bits only.
SAME_GEOMETRY_DEG = 1e-7
MOVED_LIMIT = 1000


def same_geometry(a, b) -> bool:
    """Same boundary up to ≈ 1 cm (vertex order and start point do not matter)."""
    if a.equals_exact(b, tolerance=0):
        return True
    return shapely.hausdorff_distance(shapely.normalize(a), shapely.normalize(b)) < SAME_GEOMETRY_DEG


def diff_generations(session: Session, old: str, new: str, *, moved_limit: int = MOVED_LIMIT) -> dict:
    """Grids added, removed and changed from generation ``old`` to ``new``, and moved employers.

    Grids are matched by code. A changed grid lists what changed (``geometry``,
    ``name``, ``parent``, ``kind``) and its area before and after in m².

    Returns
    -------
    dict
        ``old``, ``new``, ``added``, ``removed``, ``changed``, ``unchanged`` (count),
        ``lineage`` (new code → old codes with ``split``/``merge``/``reshape``),
        ``employers_moved`` (count) and ``moved`` (up to ``moved_limit`` rows:
        employer id, name, credit code, from code, to code).

    Examples
    --------
    Village 419901001002 split in two:

    >>> diff_generations(session, "2026版", "2027版")["lineage"]  # doctest: +SKIP
    {'419901001002': [...], '419901001021': [{'code': '419901001002', 'relation': 'split'}]}
    """
    from gisgrid.db.queries import find_generation

    gen_old, gen_new = find_generation(session, old), find_generation(session, new)
    a, b = generation_frame(session, gen_old.id), generation_frame(session, gen_new.id)
    areas = _areas(session, gen_old.id) | _areas(session, gen_new.id)
    before = {row.code: row for row in a.itertuples()}
    after = {row.code: row for row in b.itertuples()}
    added = [_grid(after[c], areas[(gen_new.id, c)]) for c in sorted(after.keys() - before.keys())]
    removed = [_grid(before[c], areas[(gen_old.id, c)]) for c in sorted(before.keys() - after.keys())]
    changed, unchanged = [], 0
    for code in sorted(before.keys() & after.keys()):
        x, y = before[code], after[code]
        what = [label for label, differs in (
            ("geometry", not same_geometry(x.geometry, y.geometry)), ("name", x.name != y.name),
            ("parent", _text(x.parent_code) != _text(y.parent_code)), ("kind", x.kind != y.kind)) if differs]
        if not what:
            unchanged += 1
            continue
        area_a, area_b = areas[(gen_old.id, code)], areas[(gen_new.id, code)]
        changed.append({"code": code, "name": y.name, "level": int(y.level), "changes": what,
                        "area_m2_before": area_a, "area_m2_after": area_b,
                        "area_change_m2": round(area_b - area_a, 1)})
    moved_count, moved = _moved_employers(session, gen_old.id, gen_new.id, moved_limit)
    return {"old": gen_old.name, "new": gen_new.name, "added": added, "removed": removed,
            "changed": changed, "unchanged": unchanged,
            "lineage": lineage_codes(session, gen_old.id, gen_new.id),
            "employers_moved": moved_count, "moved": moved}


def _text(value) -> str | None:
    return value if isinstance(value, str) else None  # NaN/None: no parent


def _grid(row, area: float) -> dict:
    return {"code": row.code, "name": row.name, "level": int(row.level), "parent_code": _text(row.parent_code),
            "area_m2": area}


def _areas(session: Session, generation_id: int) -> dict[tuple[int, str], float]:
    rows = session.execute(sa.text(
        "SELECT code, round(ST_Area(geom::geography)::numeric, 1)::float FROM grid WHERE generation_id = :g"
    ), {"g": generation_id}).all()
    return {(generation_id, code): area for code, area in rows}


# Finest grid covering each employer in one generation; lowest code on a shared edge.
_ASSIGN = """
CREATE TEMP TABLE {table} ON COMMIT DROP AS
SELECT DISTINCT ON (e.id) e.id AS employer_id, l.code
FROM grid l JOIN employer e ON ST_Covers(l.geom, e.geom)
WHERE l.generation_id = :gen AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = l.id)
ORDER BY e.id, l.code
"""


def _moved_employers(session: Session, old_id: int, new_id: int, limit: int) -> tuple[int, list[dict]]:
    for table, gen in (("_diff_old", old_id), ("_diff_new", new_id)):
        session.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(sa.text(_ASSIGN.format(table=table)), {"gen": gen})
    moved = """
        FROM employer e LEFT JOIN _diff_old o ON o.employer_id = e.id LEFT JOIN _diff_new n ON n.employer_id = e.id
        WHERE e.geom IS NOT NULL AND o.code IS DISTINCT FROM n.code
    """
    count = session.execute(sa.text(f"SELECT count(*) {moved}")).scalar()
    rows = session.execute(sa.text(
        f"SELECT e.id, e.name, e.credit_code, o.code AS from_code, n.code AS to_code {moved} "
        "ORDER BY e.id LIMIT :limit"), {"limit": limit}).mappings().all()
    session.execute(sa.text("DROP TABLE IF EXISTS _diff_old, _diff_new"))
    return int(count), [dict(r) for r in rows]


# Pairs of same-level grids of two generations that share at least 1 % of the
# smaller one's area: the raw material of splits and merges.
_OVERLAPS = """
SELECT n.id AS new_id, n.code AS new_code, o.code AS old_code, o.identity AS old_identity,
       ST_Area(ST_Intersection(n.geom, o.geom)::geography) / NULLIF(ST_Area(o.geom::geography), 0) AS of_old,
       ST_Area(ST_Intersection(n.geom, o.geom)::geography) / NULLIF(ST_Area(n.geom::geography), 0) AS of_new
FROM grid n JOIN grid o ON o.level = n.level AND ST_Intersects(n.geom, o.geom)
WHERE n.generation_id = :new AND o.generation_id = :old AND n.identity <> o.identity
  AND NOT EXISTS (SELECT 1 FROM grid k WHERE k.generation_id = :new AND k.identity = o.identity)
"""
SHARE = 0.01


def lineage_pairs(session: Session, old_id: int, new_id: int) -> list[dict]:
    """(new grid, old identity, relation) for grids of ``new`` that did not keep an identity.

    ``split``: one old grid shared among several new ones; ``merge``: several old
    grids within one new one; ``reshape``: one to one (the boundary moved).
    """
    rows = [dict(r) for r in session.execute(sa.text(_OVERLAPS), {"new": new_id, "old": old_id}).mappings()
            if max(r["of_old"] or 0, r["of_new"] or 0) >= SHARE]
    news_per_old: dict[str, int] = {}
    olds_per_new: dict[int, int] = {}
    for r in rows:
        news_per_old[r["old_code"]] = news_per_old.get(r["old_code"], 0) + 1
        olds_per_new[r["new_id"]] = olds_per_new.get(r["new_id"], 0) + 1
    for r in rows:
        r["relation"] = ("merge" if olds_per_new[r["new_id"]] > 1 else
                         "split" if news_per_old[r["old_code"]] > 1 else "reshape")
    return rows


def lineage_codes(session: Session, old_id: int, new_id: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in lineage_pairs(session, old_id, new_id):
        out.setdefault(r["new_code"], []).append({"code": r["old_code"], "relation": r["relation"]})
    return out


def record_lineage(session: Session, old_id: int, new_id: int) -> int:
    """Write ``grid_lineage`` rows for generation ``new`` against ``old``; returns how many."""
    pairs = lineage_pairs(session, old_id, new_id)
    session.execute(sa.text("DELETE FROM grid_lineage WHERE grid_id IN "
                            "(SELECT id FROM grid WHERE generation_id = :g)"), {"g": new_id})
    for r in pairs:
        session.execute(sa.text("INSERT INTO grid_lineage (grid_id, source_identity, relation) "
                                "VALUES (:g, :i, :r) ON CONFLICT DO NOTHING"),
                        {"g": r["new_id"], "i": r["old_identity"], "r": r["relation"]})
    return len(pairs)

"""Benchmark: one grid edit, validated and committed, on a 2,000-grid draft (DESIGN.md budget ≤ 1 s).

    python benchmarks/edit.py [--grids 2000] [--vertices 100] [--edits 15] [--full 5] [--employers 20000]

Generates the synthetic county of ``benchmarks/validate.py`` (Voronoi communities of ~100
vertices tiling ~49 streets and the county: three levels, ~2,050 grids), loads it into a
throwaway PostGIS cluster (or GISGRID_DATABASE_URL) as the draft ``bench``, then times, each
in its own committed transaction through :mod:`gisgrid.boundaries.edit`:

* move-unit — a community given to the neighbouring street it borders longest;
* split — a community cut in two by a north–south line through its middle;
* merge — two neighbouring communities of one street;
* reshape — a community's boundary grown by 20 m (its neighbours give way, clipped to the street).

Each edit validates only what it touched (its grids, their neighbours and parents). The same
run measures two baselines: the floor of a committed write (one UPDATE of one grid's name,
committed) and — for ``--full`` edits of each kind — the same edit validating the whole
generation before and after, as every edit did before; ratios are against those. Then the
balance of the draft (``GET /api/generations/<name>/balance``'s computation,
:func:`gisgrid.analysis.balance.generation_balance`) with ``--employers`` employers.

Prints median and 95th percentile per kind in milliseconds. Budget: ≤ 1 s per edit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from assign import close_database, database, make_points  # noqa: E402
from validate import make_county  # noqa: E402
from gisgrid.db.engine import session_scope  # noqa: E402

BUDGET_MS = 1000.0
DRAFT = "bench"
_DEG_PER_M = 1 / 92_000  # near 34°N, for the benchmark's own geometry only


def load_county(engine, county, points: np.ndarray) -> dict[str, int]:
    """The county as draft ``bench`` (parents linked), the employers; returns code → grid id."""
    ids: dict[str, int] = {}
    with session_scope(engine) as session:
        session.execute(sa.text("TRUNCATE assignment, employer, grid, generation RESTART IDENTITY CASCADE"))
        gen = session.execute(sa.text(
            "INSERT INTO generation (name, status) VALUES (:n, 'draft') RETURNING id"), {"n": DRAFT}).scalar()
        for row in county.sort_values(["level", "code"]).itertuples():
            ids[row.code] = session.execute(sa.text(
                "INSERT INTO grid (generation_id, identity, level, kind, code, name, parent_id, geom, source_crs) "
                "VALUES (:g, gen_random_uuid(), :level, :kind, :code, :name, :parent, "
                "ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4490)), 'EPSG:4490') RETURNING id"),
                {"g": gen, "level": int(row.level), "kind": row.kind, "code": row.code, "name": row.name,
                 "parent": ids.get(row.parent_code) if isinstance(row.parent_code, str) else None,
                 "wkb": shapely.to_wkb(row.geometry, hex=True)}).scalar()
        session.execute(sa.text(
            "INSERT INTO employer (name, headcount, geom) SELECT 'e' || i, 10 + i % 90, "
            "ST_SetSRID(ST_MakePoint(x, y), 4490) FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) "
            "WITH ORDINALITY AS p(x, y, i)"), {"x": points[:, 0].tolist(), "y": points[:, 1].tolist()})
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return ids


class Picker:
    """Edit cases drawn from the draft as it is now (earlier edits changed it)."""

    def __init__(self, engine, rng: np.random.Generator):
        self.engine, self.rng = engine, rng

    def _rows(self, sql: str, **params):
        with engine_connect(self.engine) as conn:
            return conn.execute(sa.text(sql), params).mappings().all()

    def community(self) -> dict:
        rows = self._rows("SELECT g.code, ST_AsBinary(g.geom) AS wkb, p.code AS parent FROM grid g "
                          "JOIN grid p ON p.id = g.parent_id WHERE g.level = 3 ORDER BY random() LIMIT 1")
        row = dict(rows[0])
        row["geom"] = shapely.from_wkb(bytes(row.pop("wkb")))
        return row

    def move_case(self) -> tuple[str, str]:
        """A community on its street's edge and another street it shares an edge with."""
        while True:
            unit = self.community()
            rows = self._rows("""
                SELECT t.code FROM grid t JOIN grid s ON s.code = :street
                WHERE t.level = s.level AND t.id <> s.id AND t.parent_id = s.parent_id
                  AND ST_Intersects(t.geom, ST_GeomFromWKB(:wkb, 4490))
                  AND ST_Length(ST_Intersection(ST_Boundary(t.geom), ST_Boundary(ST_GeomFromWKB(:wkb, 4490))))
                      > 0.002
                  AND (SELECT count(*) FROM grid c WHERE c.parent_id = s.id) > 3
                LIMIT 1""", street=unit["parent"], wkb=shapely.to_wkb(unit["geom"]))
            if rows:
                return unit["code"], rows[0]["code"]

    def merge_case(self) -> list[str]:
        """A community and a sibling it shares an edge with."""
        while True:
            a = self.community()
            rows = self._rows("""
                SELECT b.code FROM grid b JOIN grid p ON p.id = b.parent_id
                WHERE p.code = :parent AND b.code <> :code AND ST_Intersects(b.geom, ST_GeomFromWKB(:wkb, 4490))
                  AND ST_Length(ST_Intersection(ST_Boundary(b.geom), ST_Boundary(ST_GeomFromWKB(:wkb, 4490))))
                      > 0.001
                LIMIT 1""", parent=a["parent"], code=a["code"], wkb=shapely.to_wkb(a["geom"]))
            if rows:
                return [a["code"], rows[0]["code"]]


def engine_connect(engine):
    return engine.connect()


def split_line(geom):
    x = shapely.centroid(geom).x
    _, y0, _, y1 = geom.bounds
    return shapely.LineString([(x, y0 - 0.001), (x, y1 + 0.001)])


def grown(geom, metres: float = 20.0):
    return shapely.buffer(geom, metres * _DEG_PER_M, join_style="mitre")


def timed_edit(engine, work) -> float:
    start = time.perf_counter()
    with session_scope(engine) as session:
        work(session)
    return (time.perf_counter() - start) * 1000


def run_kind(engine, picker: Picker, kind: str, n: int, validation: str) -> list[float]:
    from gisgrid.boundaries.edit import merge_grids, move_unit, replace_geometry, split_grid

    times = []
    for _ in range(n):
        if kind == "move-unit":
            unit, target = picker.move_case()
            work = lambda s, u=unit, t=target: move_unit(s, DRAFT, u, t, actor="bench", validation=validation)
        elif kind == "split":
            grid = picker.community()
            work = lambda s, g=grid: split_grid(s, DRAFT, g["code"], split_line(g["geom"]), actor="bench",
                                                validation=validation)
        elif kind == "merge":
            codes = picker.merge_case()
            work = lambda s, c=codes: merge_grids(s, DRAFT, c, actor="bench", validation=validation)
        else:
            grid = picker.community()
            work = lambda s, g=grid: replace_geometry(s, DRAFT, g["code"], grown(g["geom"]), actor="bench",
                                                      validation=validation)
        times.append(timed_edit(engine, work))
    return times


def summary(name: str, times: list[float], base: float | None = None, full: float | None = None) -> str:
    median, p95 = statistics.median(times), float(np.percentile(times, 95))
    text = f"{name:22s} median {median:8.1f} ms, p95 {p95:8.1f} ms (n={len(times)})"
    if base:
        text += f", {median / base:6.1f}× the write floor"
    if full:
        text += f", {median / full:5.2f}× the whole-generation check"
    if base is not None:
        text += " — within budget" if p95 <= BUDGET_MS else " — OVER budget"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--vertices", type=int, default=100)
    parser.add_argument("--edits", type=int, default=15, help="edits of each kind, validated locally")
    parser.add_argument("--full", type=int, default=5, help="edits of each kind validating everything (0: skip)")
    parser.add_argument("--employers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    county = make_county(args.grids, args.vertices)
    points = make_points(args.employers, rng)
    engine, cluster = database()
    try:
        start = time.perf_counter()
        load_county(engine, county, points)
        print(f"draft {DRAFT!r}: {len(county)} grids ({int((county['level'] == 3).sum())} communities, "
              f"{int((county['level'] == 2).sum())} streets), {args.employers:,} employers; "
              f"loaded in {time.perf_counter() - start:.1f} s")
        picker = Picker(engine, rng)
        floor = [timed_edit(engine, lambda s, i=i: s.execute(sa.text(
            "UPDATE grid SET name = name WHERE code = (SELECT code FROM grid WHERE level = 3 "
            "ORDER BY id OFFSET :i LIMIT 1)"), {"i": i})) for i in range(30)]
        base = statistics.median(floor)
        print(summary("floor (one UPDATE)", floor))
        worst = 0.0
        for kind in ("move-unit", "split", "merge", "reshape"):
            full = run_kind(engine, picker, kind, args.full, "full") if args.full else []
            local = run_kind(engine, picker, kind, args.edits, "touched")
            if full:
                print(summary(f"{kind} (whole check)", full))
            print(summary(kind, local, base, statistics.median(full) if full else None))
            worst = max(worst, float(np.percentile(local, 95)))
        from gisgrid.analysis.balance import generation_balance

        with session_scope(engine, commit=False) as session:
            times = []
            for _ in range(5):
                start = time.perf_counter()
                report = generation_balance(session, DRAFT)
                times.append((time.perf_counter() - start) * 1000)
        print(summary(f"balance ({len(report['grids'])} grids)", times))
        print(f"budget: ≤ {BUDGET_MS:g} ms per edit (validated and committed); worst p95 {worst:.0f} ms")
        return 0 if worst <= BUDGET_MS else 1
    finally:
        close_database(cluster)


if __name__ == "__main__":
    sys.exit(main())

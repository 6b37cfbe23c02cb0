"""Benchmark: one employer inserted or moved, and assigned, in the same transaction.

    python benchmarks/place.py [--employers 1000000] [--grids 2000] [--moves 300]

Loads the synthetic county of benchmarks/assign.py (irregular grids of ~100 vertices,
clustered employers) into a throwaway PostGIS cluster (or GISGRID_DATABASE_URL), assigns
everyone once, then times transactions one by one, each committed:

* baseline — an UPDATE of one employer's phone number: the floor of a committed write;
* insert — a new employer row and :func:`gisgrid.analysis.assign.assign_employers` for it;
* move — a new point for an existing employer and its assignment;
* place — the whole user action :func:`gisgrid.employers.queries.place_employer` (what
  ``gisgrid employers place`` and the map's 标注位置 do): the move, the audit record and
  the employer's file read before and after (for information: the budget is the move).

Prints median and 95th percentile in milliseconds and the ratio of the medians to the
baseline (DESIGN.md budget: insert/move assigned in the same transaction ≤ 5 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from assign import SPAN, X0, Y0, close_database, database, load, make_grids, make_points  # noqa: E402
from gisgrid.analysis.assign import assign_employers  # noqa: E402
from gisgrid.db.engine import session_scope  # noqa: E402
from gisgrid.employers.queries import place_employer  # noqa: E402

BUDGET_MS = 5.0


def timed(engine, work, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        with session_scope(engine) as session:
            work(session, i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(name: str, times: list[float], base: float | None = None) -> str:
    median = statistics.median(times)
    p95 = float(np.percentile(times, 95))
    ratio = f", {median / base:.1f}× baseline" if base else ""
    verdict = "" if base is None else (" — within budget" if median <= BUDGET_MS else " — OVER budget")
    return f"{name:9s} median {median:6.2f} ms, p95 {p95:6.2f} ms{ratio}{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employers", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=2_000)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    grids = make_grids(args.grids, 100, rng)
    points = make_points(args.employers, rng)
    engine, cluster = database()
    try:
        print(f"load {len(grids)} grids, {len(points):,} employers: {load(engine, grids, points):.1f} s")
        with session_scope(engine) as session:
            start = time.perf_counter()
            assign_employers(session)
        print(f"first full assignment: {time.perf_counter() - start:.1f} s")
        with engine.connect() as conn:
            ids = conn.execute(sa.text("SELECT id FROM employer ORDER BY random() LIMIT :n"),
                               {"n": args.moves}).scalars().all()
        targets = rng.uniform(0, SPAN, size=(args.moves, 2)) + (X0, Y0)

        def baseline(session, i):
            session.execute(sa.text("UPDATE employer SET phone = :p WHERE id = :id"),
                            {"p": f"0371{i:07d}", "id": ids[i]})

        def move(session, i):
            session.execute(sa.text("UPDATE employer SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4490), "
                                    "located_by = 'manual' WHERE id = :id"),
                            {"x": float(targets[i, 0]), "y": float(targets[i, 1]), "id": ids[i]})
            assign_employers(session, employer_ids=[ids[i]])

        def place(session, i):
            j = args.moves - 1 - i
            place_employer(session, str(ids[i]), float(targets[j, 0]), float(targets[j, 1]), actor="bench")

        def insert(session, i):
            new_id = session.execute(sa.text(
                "INSERT INTO employer (name, geom, located_by) VALUES (:n, "
                "ST_SetSRID(ST_MakePoint(:x, :y), 4490), 'manual') RETURNING id"),
                {"n": f"新单位{i}", "x": float(targets[i, 1] - Y0 + X0), "y": float(targets[i, 0] - X0 + Y0)}
            ).scalar()
            assign_employers(session, employer_ids=[new_id])

        timed(engine, baseline, min(20, args.moves))          # warm the caches
        base = timed(engine, baseline, args.moves)
        inserts = timed(engine, insert, args.moves)
        moves = timed(engine, move, args.moves)
        places = timed(engine, place, args.moves)
        b = statistics.median(base)
        print(summary("baseline", base))
        print(summary("insert", inserts, b))
        print(summary("move", moves, b))
        print(f"{'place':9s} median {statistics.median(places):6.2f} ms, p95 {np.percentile(places, 95):6.2f} ms "
              f"(the whole user action: move + audit + the file read before and after; information)")
        print(f"budget: ≤ {BUDGET_MS:g} ms per insert/move, assigned in the same transaction")
    finally:
        close_database(cluster)


if __name__ == "__main__":
    main()

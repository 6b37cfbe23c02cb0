"""Benchmark the web map: initial HTML size at 1,000 vs 1,000,000 employers, and vector tiles.

Loads the demonstration city (grids from data/shapes through the normal import functions,
1,000 employers) into a throwaway PostGIS cluster (or GISGRID_DATABASE_URL when set — it is
then modified), measures the size of ``/``, then adds employers up to --employers (copies
of the demo employers jittered by up to ~300 m, written with one INSERT, reassigned by
:func:`gisgrid.analysis.assign.assign_employers`) and measures ``/`` again and the time of
--tiles employer tiles per zoom at city zoom (z10–z12 unless --zooms) through the Flask endpoint,
printing p50/p95/max per zoom.  Budget: tile p95 ≤ 100 ms.

    python benchmarks/maps.py [--employers 1000000] [--tiles 50] [--zooms 10 11 12 13]
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from assign import close_database, database  # noqa: E402  (throwaway cluster, same as benchmarks/assign.py)

from gisgrid.analysis.assign import assign_employers  # noqa: E402
from gisgrid.config import Settings  # noqa: E402
from gisgrid.db.engine import session_scope  # noqa: E402
from gisgrid.demo.load import load_demo  # noqa: E402
from gisgrid.web import create_app  # noqa: E402


def page_size(engine, home: Path) -> tuple[int, float, bool]:
    settings = Settings(home=home, database_url=engine.url.render_as_string(hide_password=False))
    client = create_app({"TESTING": True}, settings=settings).test_client()
    start = time.perf_counter()
    body = client.get("/").get_data()
    return len(body), time.perf_counter() - start, b"/tiles/employers/" in body


def grow(engine, total: int) -> float:
    start = time.perf_counter()
    with session_scope(engine) as session:
        have = session.execute(sa.text("SELECT count(*) FROM employer")).scalar()
        session.execute(sa.text("""
            INSERT INTO employer (name, geom, risk_level)
            SELECT '基准单位' || i,
                   ST_SetSRID(ST_MakePoint(ST_X(e.geom) + (random() - 0.5) * 0.006,
                                           ST_Y(e.geom) + (random() - 0.5) * 0.006), 4490),
                   e.risk_level
            FROM generate_series(1, :n) i
            JOIN (SELECT row_number() OVER () - 1 AS k, geom, risk_level FROM employer
                  WHERE geom IS NOT NULL) e ON e.k = i % :have
        """), {"n": total - have, "have": have})
        assign_employers(session)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - start


def time_tiles(engine, home: Path, n: int, zooms=(10, 11, 12)) -> dict[int, list[float]]:
    """Seconds per tile request, ``n`` requests per zoom over the tiles covering the employers."""
    settings = Settings(home=home, database_url=engine.url.render_as_string(hide_password=False))
    client = create_app({"TESTING": True}, settings=settings).test_client()
    with engine.connect() as conn:
        minx, miny, maxx, maxy = conn.execute(sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM employer) t")).one()
    times: dict[int, list[float]] = {}
    for z in zooms:
        n_ = 2**z
        x0, x1 = int((minx + 180) / 360 * n_), int((maxx + 180) / 360 * n_)
        ys = [int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n_) for lat in (maxy, miny)]
        addresses = [(z, x, y) for x in range(x0, x1 + 1) for y in range(ys[0], ys[1] + 1)]
        addresses = (addresses * (n // len(addresses) + 1))[:n]
        client.get("/tiles/employers/%d/%d/%d.pbf" % addresses[0])  # warm the connection
        times[z] = []
        for z_, x, y in addresses:
            start = time.perf_counter()
            response = client.get(f"/tiles/employers/{z_}/{x}/{y}.pbf")
            times[z].append(time.perf_counter() - start)
            assert response.status_code in (200, 204) and len(response.data) <= 500_000, (z_, x, y)
    return times


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def cell_check(engine) -> str:
    """Employers counted by the cell table (every level) against a direct count."""
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass('employer_cell')")).scalar() is None:
            return "no employer_cell table"
        located = conn.execute(sa.text("SELECT count(*) FROM employer WHERE geom IS NOT NULL")).scalar()
        per_level = conn.execute(sa.text(
            "SELECT z, sum(count), count(*) FROM employer_cell GROUP BY z ORDER BY z")).all()
    wrong = [z for z, total, _ in per_level if total != located]
    rows = ", ".join(f"z{z} {cells:,}" for z, _, cells in per_level if z in (0, 10, 11, 12))
    return (f"cells: {located:,} located employers, every level sums to it: {'yes' if not wrong else wrong}; "
            f"rows {rows}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employers", type=int, default=1_000_000)
    parser.add_argument("--tiles", type=int, default=50, help="tile requests per zoom")
    parser.add_argument("--zooms", type=int, nargs="+", default=[10, 11, 12])
    args = parser.parse_args()
    engine, cluster = database(args)
    home = Path(tempfile.mkdtemp(prefix="gisgrid-bench-maps-"))
    try:
        load_demo(engine, home, employers=1_000)
        small, t_small, tiled_small = page_size(engine, home)
        print(f"/ with 1,000 employers: {small:,} bytes ({t_small:.2f} s, "
              f"{'vector tiles' if tiled_small else 'clustered GeoJSON'})")
        print(f"adding employers up to {args.employers:,} and reassigning: {grow(engine, args.employers):.1f} s")
        large, t_large, tiled_large = page_size(engine, home)
        print(f"/ with {args.employers:,} employers: {large:,} bytes ({t_large:.2f} s, "
              f"{'vector tiles' if tiled_large else 'clustered GeoJSON'}); ratio {large / small:.3f}")
        print(cell_check(engine))
        # The page builds above leave garbage behind: collected now, a full collection
        # does not land inside one tile request.
        gc.collect()
        for z, times in time_tiles(engine, home, args.tiles, zooms=args.zooms).items():
            print(f"employer tiles z{z} ({len(times)}): p50 {statistics.median(times) * 1000:.1f} ms, "
                  f"p95 {percentile(times, 0.95) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
                  f"(request {times.index(max(times)) + 1})"
                  + (" (budget p95 ≤ 100 ms)" if z < 13 else ""))
    finally:
        close_database(cluster)


if __name__ == "__main__":
    main()

"""Benchmark: bulk assignment in PostGIS vs an in-memory geopandas.sjoin, same data, same run.

    python benchmarks/assign.py [--employers 1000000] [--grids 2000] [--repeat 3]

Generates a synthetic county of irregular grids (Voronoi cells densified to about
100 vertices each, tiling exactly) and clustered employers, loads them into a
throwaway PostGIS cluster (or GISGRID_DATABASE_URL when set, into a scratch
schema-free database you do not mind filling), then times

* baseline: ``geopandas.sjoin(points, grids, predicate="within")`` in memory;
* gisgrid: :func:`gisgrid.analysis.assign.assign_employers` over every employer,
  written back to the ``assignment`` table and committed.

Prints both, and their ratio (DESIGN.md budget: ≤ 3× at 1M employers, 2,000 grids).
Loading is reported for information and not part of the ratio.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gisgrid.analysis.assign import assign_employers  # noqa: E402
from gisgrid.config import Settings, load_settings  # noqa: E402
from gisgrid.db.cluster import LocalCluster  # noqa: E402
from gisgrid.db.engine import prepare_database, session_scope  # noqa: E402

X0, Y0 = 113.55, 34.20   # south-west corner, lon/lat
SPAN = 0.35              # degrees: ~32 km × 39 km


def make_grids(n: int, vertices: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """``n`` Voronoi cells tiling the square, each densified to ~``vertices`` vertices."""
    seeds = shapely.points(rng.uniform(0, SPAN, size=(n, 2)) + (X0, Y0))
    frame = shapely.box(X0, Y0, X0 + SPAN, Y0 + SPAN)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = cells[~shapely.is_empty(cells)]
    perimeter = np.median(shapely.length(cells))
    cells = shapely.segmentize(cells, perimeter / vertices)
    codes = [f"419988{i:06d}" for i in range(len(cells))]
    return gpd.GeoDataFrame({"code": codes}, geometry=cells, crs="EPSG:4490")


def make_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """Clustered employers: 80 % around 40 town centres, 20 % spread evenly."""
    centres = rng.uniform(0.05 * SPAN, 0.95 * SPAN, size=(40, 2)) + (X0, Y0)
    clustered = int(n * 0.8)
    pick = rng.integers(0, len(centres), size=clustered)
    spread = rng.gamma(2.0, 0.01, size=(clustered, 1))
    angle = rng.uniform(0, 2 * np.pi, size=clustered)
    around = centres[pick] + spread * np.column_stack([np.cos(angle), np.sin(angle)])
    even = rng.uniform(0, SPAN, size=(n - clustered, 2)) + (X0, Y0)
    points = np.vstack([around, even])
    rng.shuffle(points)
    return np.round(points, 6)


def load(engine, grids: gpd.GeoDataFrame, points: np.ndarray) -> float:
    start = time.perf_counter()
    with session_scope(engine) as session:
        session.execute(sa.text("TRUNCATE assignment, employer, grid, generation RESTART IDENTITY CASCADE"))
        gen = session.execute(sa.text(
            "INSERT INTO generation (name, status, effective_from) VALUES ('bench', 'active', '2026-01-01') "
            "RETURNING id")).scalar()
        session.execute(sa.text(
            "INSERT INTO grid (generation_id, identity, level, kind, code, name, geom) "
            "VALUES (:g, gen_random_uuid(), 1, 'grid', :code, :code, "
            "ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4490)))"),
            [{"g": gen, "code": c, "wkb": shapely.to_wkb(geom, hex=True)}
             for c, geom in zip(grids["code"], grids.geometry)])
        buffer = io.StringIO()
        np.savetxt(buffer, points, fmt="%.6f", delimiter=",")
        buffer.seek(0)
        session.execute(sa.text("CREATE TEMP TABLE _pts (lon float8, lat float8) ON COMMIT DROP"))
        raw = session.connection().connection.dbapi_connection
        with raw.cursor() as cur:
            cur.copy_expert("COPY _pts FROM STDIN WITH (FORMAT csv)", buffer)
        session.execute(sa.text(
            "INSERT INTO employer (name, geom) SELECT 'e' || row_number() OVER (), geom FROM "
            "(SELECT ST_SetSRID(ST_MakePoint(lon, lat), 4490) AS geom FROM _pts) p "
            # the order the register import writes new employers in (see employers/register.py)
            "ORDER BY ST_GeoHash(geom, 10)"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - start


def time_sjoin(grids: gpd.GeoDataFrame, points: np.ndarray) -> tuple[float, int]:
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(points[:, 0], points[:, 1]), crs="EPSG:4490")
    start = time.perf_counter()
    joined = gpd.sjoin(pts, grids, predicate="within", how="inner")
    return time.perf_counter() - start, joined.index.nunique()


def time_postgis(engine) -> tuple[float, dict]:
    start = time.perf_counter()
    with session_scope(engine) as session:
        summary = assign_employers(session)
    return time.perf_counter() - start, summary


def database(args=None) -> tuple[object, LocalCluster | None]:
    """GISGRID_DATABASE_URL when set, else a throwaway cluster with the product's own settings."""
    settings = load_settings()
    if settings.database_url:
        return prepare_database(settings), None
    home = Path(tempfile.mkdtemp(prefix="gisgrid-bench-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cluster = LocalCluster(Settings(home=home, db_port=port))
    cluster.up()
    return prepare_database(Settings(home=home, db_port=port)), cluster


def close_database(cluster: LocalCluster | None, keep: bool = False) -> None:
    """Dispose of the engines; stop and delete a throwaway cluster unless ``keep``."""
    from gisgrid.db.engine import dispose_engines

    dispose_engines()
    if cluster is not None and not keep:
        cluster.down()
        shutil.rmtree(cluster.home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employers", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=2_000)
    parser.add_argument("--vertices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    grids = make_grids(args.grids, args.vertices, rng)
    points = make_points(args.employers, rng)
    nverts = shapely.get_num_coordinates(grids.geometry.values)
    print(f"data: {len(grids)} grids (median {int(np.median(nverts))} vertices, {nverts.sum()} in all), "
          f"{len(points):,} employers; {os.cpu_count()} cores")
    engine, cluster = database(args)
    try:
        print(f"load into PostGIS (COPY + GiST + VACUUM ANALYZE): {load(engine, grids, points):.2f} s")
        base, pg = [], []
        for i in range(args.repeat):
            t_sjoin, matched = time_sjoin(grids, points)
            t_pg, summary = time_postgis(engine)
            base.append(t_sjoin)
            pg.append(t_pg)
            print(f"run {i + 1}: sjoin {t_sjoin:.2f} s ({matched:,} matched) | PostGIS assign+write "
                  f"{t_pg:.2f} s ({summary['assigned']:,} assigned, {summary['unassigned']:,} unassigned, "
                  f"{summary['ties']:,} ties)")
        b, p = statistics.median(base), statistics.median(pg)
        print(f"median: sjoin {b:.2f} s, PostGIS {p:.2f} s, ratio {p / b:.2f}× (budget ≤ 3×)")
    finally:
        close_database(cluster)


if __name__ == "__main__":
    main()

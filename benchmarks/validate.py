"""Benchmark: validating 2,000 grids of ~100 vertices (DESIGN.md budget ≤ 10 s).

    python benchmarks/validate.py [--grids 2000] [--vertices 100] [--repeat 3]

Generates the same synthetic county as ``benchmarks/assign.py`` (Voronoi cells
densified to ~100 vertices, tiling exactly), groups the cells into streets by
dissolving them on a coarse block of their representative point (so every
street is exactly covered by its cells), adds the county as level 1, and times
:func:`gisgrid.boundaries.validate.validate_grids` over all three levels:
geometry validity, codes, nesting, gaps, overlaps, slivers and the offset check.
Then it shifts one cell by 30 m and checks the validation finds the overlap and
the gap, so the time is for a validation that works.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from assign import SPAN, X0, Y0, make_grids  # noqa: E402
from gisgrid.boundaries.validate import validate_grids  # noqa: E402

BLOCKS = 7   # 7 × 7 blocks → up to 49 streets


def make_county(n: int, vertices: int, seed: int = 7) -> gpd.GeoDataFrame:
    cells = make_grids(n, vertices, np.random.default_rng(seed))
    points = cells.geometry.representative_point()
    bx = np.minimum(((points.x - X0) / SPAN * BLOCKS).astype(int), BLOCKS - 1)
    by = np.minimum(((points.y - Y0) / SPAN * BLOCKS).astype(int), BLOCKS - 1)
    # Town numbers start at 001: 000 is the county itself in the 12-digit division pattern.
    street_codes = [f"419988{b + 1:03d}" for b in (by * BLOCKS + bx)]
    cells["parent_code"] = street_codes
    cells = cells.sort_values(["parent_code", "code"]).reset_index(drop=True)
    counters: dict[str, int] = {}
    codes = []
    for parent in cells["parent_code"]:
        counters[parent] = counters.get(parent, 0) + 1
        codes.append(f"{parent}{counters[parent]:03d}")
    cells["code"] = codes
    cells["level"], cells["kind"], cells["name"] = 3, "community", [f"社区{c[-3:]}" for c in codes]
    streets = cells.dissolve(by="parent_code").reset_index()[["parent_code", "geometry"]]
    streets = streets.rename(columns={"parent_code": "code"})
    streets["parent_code"], streets["level"], streets["kind"] = "419988", 2, "street"
    streets["name"] = [f"街道{c[-3:]}" for c in streets["code"]]
    county = gpd.GeoDataFrame({"code": ["419988"], "parent_code": [None], "level": [1], "kind": ["city"],
                               "name": ["基准县"]}, geometry=[shapely.union_all(streets.geometry.values)],
                              crs="EPSG:4490")
    frame = pd.concat([county, streets, cells], ignore_index=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4490")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=2000)
    parser.add_argument("--vertices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    county = make_county(args.grids, args.vertices)
    leaves = county[county["level"] == 3]
    vertices = shapely.get_num_coordinates(leaves.geometry.values)
    print(f"county: {len(leaves)} grids (median {int(np.median(vertices))} vertices), "
          f"{int((county['level'] == 2).sum())} streets")

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = validate_grids(county)
        times.append(time.perf_counter() - start)
    assert not report["errors"], report["errors"][:3]
    print(f"validate clean county: median {statistics.median(times):.2f} s over {args.repeat} runs "
          f"({len(report['warnings'])} warnings) — budget 10 s: "
          f"{'OK' if statistics.median(times) <= 10 else 'OVER BUDGET'}")

    broken = county.copy()
    victim = broken.index[broken["level"] == 3][len(leaves) // 2]
    broken.loc[victim, "geometry"] = affinity.translate(broken.loc[victim, "geometry"], xoff=30 / 92_000)
    start = time.perf_counter()
    report = validate_grids(broken)
    elapsed = time.perf_counter() - start
    kinds = sorted({item["kind"] for item in report["errors"]})
    print(f"validate county with one grid moved 30 m: {elapsed:.2f} s, error kinds {kinds}")
    assert {"gap", "overlap"} <= set(kinds), kinds


if __name__ == "__main__":
    main()

"""Benchmark: snapping a drawn boundary onto its neighbours (gisgrid.boundaries.edit).

    python benchmarks/edit_snap.py [--vertices 100000] [--neighbours 8] [--neighbour-vertices 2000]
                                   [--skip-all-pairs]

The middle grid of a 3 × 3 block (~1 km grids in lon/lat near 113.7°E 34.3°N) is redrawn
by hand: its boundary with ``--vertices`` vertices, each ~2 m off the true edge. It is
snapped with a 5 m tolerance onto the boundaries of its ``--neighbours`` neighbours and
their parent, each of ``--neighbour-vertices`` vertices.
Times the indexed snapping (:func:`gisgrid.boundaries.edit._snap_vertices`, STRtree)
against the all-pairs version it replaced (tests/boundaries/snap_oracle.py, the tests'
oracle) in the same run, and checks both give the same
coordinates. The all-pairs run at 100,000 vertices takes minutes: ``--skip-all-pairs``
leaves it out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gisgrid.boundaries.edit import _DEGREE_PER_M, _snap_vertices  # noqa: E402
from tests.boundaries.snap_oracle import snap_all_pairs  # noqa: E402  (the tests' oracle)

X0, Y0, CELL = 113.70, 34.30, 0.01  # a grid ~0.9 km × 1.1 km in degrees
JITTER_M = 2.0  # how far a hand-drawn vertex strays from the true edge (σ, metres)


def cell(col: int, row: int):
    return shapely.box(X0 + col * CELL, Y0 + row * CELL, X0 + (col + 1) * CELL, Y0 + (row + 1) * CELL)


def densified(polygon, vertices: int):
    """``polygon``'s ring with about ``vertices`` vertices spread evenly along it."""
    return shapely.segmentize(polygon, polygon.length / vertices)


def make_case(vertices: int, neighbours: int, neighbour_vertices: int, seed: int = 1):
    """The middle grid of a 3 × 3 block redrawn by hand, its neighbours and their parent."""
    rng = np.random.default_rng(seed)
    true = densified(cell(0, 0), vertices)
    xy = shapely.get_coordinates(true)
    xy[:-1] += rng.normal(0, JITTER_M * _DEGREE_PER_M, (len(xy) - 1, 2))
    xy[-1] = xy[0]
    drawn = shapely.Polygon(xy)
    around = [(c, r) for r in (-1, 0, 1) for c in (-1, 0, 1) if (c, r) != (0, 0)][:neighbours]
    edges = [densified(cell(c, r), neighbour_vertices).boundary for c, r in around]
    edges.append(densified(shapely.box(X0 - CELL, Y0 - CELL, X0 + 2 * CELL, Y0 + 2 * CELL),
                           neighbour_vertices).boundary)
    return drawn, shapely.union_all(edges)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vertices", type=int, default=100_000)
    parser.add_argument("--neighbours", type=int, default=8)
    parser.add_argument("--neighbour-vertices", type=int, default=2_000)
    parser.add_argument("--skip-all-pairs", action="store_true")
    args = parser.parse_args(argv)

    drawn, reference = make_case(args.vertices, args.neighbours, args.neighbour_vertices)
    tolerance = 5 * _DEGREE_PER_M
    n, m = int(shapely.get_num_coordinates(drawn)), int(shapely.get_num_coordinates(reference))
    print(f"drawn boundary: {n:,} vertices; reference (neighbours + parent): {m:,} vertices; tolerance 5 m")
    indexed, t_indexed = timed(_snap_vertices, drawn, reference, tolerance)
    moved = int((shapely.get_coordinates(indexed) != shapely.get_coordinates(drawn)).any(axis=1).sum())
    print(f"indexed (STRtree): {t_indexed:8.2f} s   ({moved:,} vertices moved)")
    if args.skip_all_pairs:
        return 0
    old, t_old = timed(snap_all_pairs, drawn, reference, tolerance)
    same = np.array_equal(shapely.get_coordinates(old), shapely.get_coordinates(indexed))
    print(f"all-pairs (before): {t_old:8.2f} s")
    print(f"speed-up: {t_old / t_indexed:,.0f}x; same coordinates: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

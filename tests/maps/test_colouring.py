"""Adjacent grids never share a colour (相邻异色), on hand-made squares."""

from __future__ import annotations

import itertools

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from gisgrid.maps.colouring import PASTEL_PALETTE, colour_adjacent

X0, Y0, D = 113.70, 34.36, 0.01  # lon/lat of the lower-left corner, 0.01° squares (~1 km)


def square(i: float, j: float, w: float = 1, h: float = 1) -> Polygon:
    return box(X0 + i * D, Y0 + j * D, X0 + (i + w) * D, Y0 + (j + h) * D)


def frame(geoms, index=None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms), crs="EPSG:4490", index=index)


def assert_neighbours_differ(gdf: gpd.GeoDataFrame, colours) -> None:
    geoms = dict(zip(gdf.index, gdf.geometry))
    for a, b in itertools.combinations(gdf.index, 2):
        if geoms[a] is not None and geoms[b] is not None and geoms[a].intersects(geoms[b]):
            assert colours[a] != colours[b], f"neighbours {a} and {b} share {colours[a]}"


def test_checkerboard_neighbours_by_edge_and_corner_differ():
    grid = frame(square(i, j) for j in range(3) for i in range(3))
    colours = colour_adjacent(grid)
    assert_neighbours_differ(grid, colours)
    # The centre square touches all eight others, corners included.
    assert colours[4] not in set(colours.drop(4))


def test_squares_touching_at_one_point_differ():
    corner = frame([square(0, 0), square(1, 1)])
    assert corner.geometry[0].touches(corner.geometry[1])
    colours = colour_adjacent(corner)
    assert colours[0] != colours[1]


def test_small_grid_against_the_middle_of_a_long_edge_differs():
    # None of the small square's vertices is a vertex of the big one: contiguity built
    # from shared vertices (libpysal Queen, mapclassify's default) misses this pair.
    t_junction = frame([square(0, 0, 3, 3), square(3, 1), square(3, 2), square(3, 0)])
    colours = colour_adjacent(t_junction)
    assert_neighbours_differ(t_junction, colours)
    assert colours[0] not in {colours[1], colours[2], colours[3]}


def test_sliver_gap_below_a_metre_still_counts_as_neighbours():
    gap = 0.3 / 111_000  # ~0.3 m in degrees of latitude
    sliver = frame([square(0, 0), box(X0, Y0 + D + gap, X0 + D, Y0 + 2 * D)])
    colours = colour_adjacent(sliver)
    assert colours[0] != colours[1]


def test_same_input_same_colours_and_index_kept():
    index = ["c", "a", "i", "e", "b", "g", "d", "h", "f"]  # deliberately unsorted labels
    grid = frame((square(i, j) for j in range(3) for i in range(3)), index=index)
    first, second = colour_adjacent(grid), colour_adjacent(grid.copy())
    assert first.equals(second)
    assert list(first.index) == index
    assert_neighbours_differ(grid, first)


def test_palette_is_used_and_defaults_to_pastels():
    grid = frame(square(i, j) for j in range(3) for i in range(3))
    assert set(colour_adjacent(grid)) <= set(PASTEL_PALETTE)
    mine = ["#111111", "#222222", "#333333", "#444444"]
    colours = colour_adjacent(grid, palette=mine)
    assert set(colours) <= set(mine)
    assert_neighbours_differ(grid, colours)


def test_too_small_palette_is_extended_not_repeated():
    trio = frame([square(0, 0), square(1, 0), square(0.5, 1)])  # all three touch
    colours = colour_adjacent(trio, palette=["#aaaaaa", "#bbbbbb"])
    assert colours.nunique() == 3


def test_empty_and_missing_geometries():
    assert colour_adjacent(frame([])).empty
    with_gaps = frame([square(0, 0), None, Polygon(), square(1, 0)])
    colours = colour_adjacent(with_gaps)
    assert len(colours) == 4 and colours[0] != colours[3]


@pytest.mark.parametrize(
    "gdf, error, message",
    [
        (gpd.GeoDataFrame(geometry=[square(0, 0)]), ValueError, "no CRS"),
        (gpd.GeoSeries([square(0, 0)], crs="EPSG:4490"), TypeError, "GeoDataFrame"),
    ],
)
def test_bad_input_is_refused(gdf, error, message):
    with pytest.raises(error, match=message):
        colour_adjacent(gdf)


def test_empty_palette_is_refused():
    with pytest.raises(ValueError, match="palette was empty"):
        colour_adjacent(frame([square(0, 0)]), palette=[])

"""The distance to the nearest grid of a point outside every grid is the geodesic one."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Polygon

from gisgrid.employers.identifiers import make_credit_code

# A grid with a long edge slanting at ~35° (at 34.3° N a degree of longitude is ~17 % shorter
# than one of latitude: the closest point found in plain degrees lies elsewhere on it).
SLANT = Polygon([(113.70, 34.30), (113.76, 34.34), (113.76, 34.30)])


def _geodesic_to_edges(lon: float, lat: float, polygon: Polygon) -> float:
    """Brute force: the shortest geodesic distance to 20,000 points along each edge."""
    geod, best = Geod(ellps="GRS80"), np.inf
    coords = list(polygon.exterior.coords)
    for (x0, y0), (x1, y1) in zip(coords, coords[1:]):
        t = np.linspace(0, 1, 20_000)
        _, _, dist = geod.inv(np.full(t.size, lon), np.full(t.size, lat), x0 + t * (x1 - x0), y0 + t * (y1 - y0))
        best = min(best, dist.min())
    return best


@pytest.mark.parametrize("few", [True, False])
def test_distance_to_a_slanting_edge_is_geodesic(run_cli, tmp_path, engine, monkeypatch, few):
    from gisgrid.analysis import assign

    if not few:  # the set-based path (the bulk import's)
        monkeypatch.setattr(assign, "FEW", 0)
    grid = tmp_path / "city.geojson"
    gpd.GeoDataFrame({"代码": ["419999"], "名称": ["测试市"]}, geometry=[SLANT], crs="EPSG:4490").to_file(
        grid, driver="GeoJSON")
    run_cli("grids", "import", grid, "--level", "1", "--generation", "2026", "--commit")
    run_cli("grids", "activate", "2026", "--effective-from", "2026-01-01", "--commit")
    points = [(113.725, 34.322), (113.74, 34.333), (113.70, 34.305)]  # above the slanting edge
    rows = [f"企业{i},{make_credit_code('419999', 60 + i)},{lon},{lat}" for i, (lon, lat) in enumerate(points)]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(["单位名称,统一社会信用代码,经度,纬度", *rows]) + "\n", encoding="utf-8")
    run_cli("employers", "import", path, "--commit")
    listed = json.loads(run_cli("employers", "list", "--unassigned", "--json").output)
    by_name = {e["name"]: e for e in listed}
    for i, (lon, lat) in enumerate(points):
        expected = _geodesic_to_edges(lon, lat, SLANT)
        got = by_name[f"企业{i}"]
        assert got["grid_code"] is None and got["nearest_grid_code"] == "419999"
        assert got["distance_m"] == pytest.approx(expected, rel=0.002), (lon, lat, expected)

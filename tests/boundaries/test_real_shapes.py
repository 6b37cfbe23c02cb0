"""Cases found by importing real-shaped files by hand: GB/T 2260 codes, KML's empty Name field."""

from __future__ import annotations

import json

import geopandas as gpd
from shapely.geometry import box

from gisgrid.boundaries.codes import code_extends, significant_code


def _counties() -> gpd.GeoDataFrame:
    """A prefecture city 410100 with two counties, coded as GB/T 2260 publishes them."""
    return gpd.GeoDataFrame({"adcode": ["410102", "410103"], "name": ["中原区", "二七区"],
                             "parent_adcode": ["410100", "410100"]},
                            geometry=[box(113.5, 34.7, 113.6, 34.8), box(113.6, 34.7, 113.7, 34.8)],
                            crs="EPSG:4490")


def test_zero_padded_division_codes_extend_their_parent():
    assert code_extends("410102", "410100") and code_extends("410100", "410000")
    assert code_extends("410102001", "410102") and code_extends("410102001001", "410102001000")
    assert not code_extends("410201", "410100") and not code_extends("410100000000", "410100")
    assert significant_code("410102001000") == "410102001"


def test_counties_under_a_city_code_import_clean(run_cli, tmp_path):
    _counties().to_file(tmp_path / "counties.geojson")
    out = run_cli("grids", "import", tmp_path / "counties.geojson", "--level", "2", "--build-parents",
                  "--parent-field", "parent_adcode", "--json").output
    report = json.loads(out)
    assert report["refused"] is False and report["validation"]["errors"] == []


def test_kml_with_empty_name_field_uses_the_real_name_field(run_cli, tmp_path):
    frame = _counties().rename(columns={"adcode": "XZQDM", "name": "XZQMC", "parent_adcode": "SJDM"})
    frame.to_file(tmp_path / "c.kml", driver="KML")  # KML adds an empty Name field
    result = run_cli("grids", "import", tmp_path / "c.kml", "--level", "2", "--build-parents",
                     "--parent-field", "SJDM", "--json")
    assert json.loads(result.output)["fields"]["name"] == "XZQMC"
    refused = run_cli("grids", "import", tmp_path / "c.kml", "--level", "2", "--build-parents",
                      "--parent-field", "SJDM", "--name-field", "Name", expect=1)
    assert "have no name in field 'Name'" in refused.output and "XZQMC" in refused.output

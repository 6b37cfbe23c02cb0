"""Importing grid files through the CLI: CRS, bad polygons, codes, dry runs, idempotence."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import Polygon, box

from tests.fixtures.handdrawn import grid_layers, write_grid_files


def _count(engine, sql="SELECT count(*) FROM grid") -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


def test_dry_run_by_default_then_commit_then_unchanged(run_cli, tmp_path, engine):
    paths = write_grid_files(tmp_path)
    out = run_cli("grids", "import", paths[1], "--level", "1", "--json").output
    assert json.loads(out)["created"] == 1 and json.loads(out)["committed"] is False
    assert _count(engine) == 0
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    again = json.loads(run_cli("grids", "import", paths[1], "--level", "1", "--commit", "--json").output)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)
    assert _count(engine) == 1


def test_parents_found_by_representative_point_without_parent_field(run_cli, tmp_path, engine):
    layers = grid_layers()
    layers[1].to_file(tmp_path / "city.geojson")
    layers[2].drop(columns="上级代码").to_file(tmp_path / "streets.geojson")
    run_cli("grids", "import", tmp_path / "city.geojson", "--level", "1", "--commit")
    run_cli("grids", "import", tmp_path / "streets.geojson", "--level", "2", "--commit")
    assert _count(engine, "SELECT count(*) FROM grid c JOIN grid p ON p.id = c.parent_id "
                          "WHERE p.code = '419999'") == 2


def test_file_without_crs_is_refused_with_how_to_declare(run_cli, tmp_path, engine):
    path = tmp_path / "nocrs.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"代码": "419999", "名称": "测试市"},
        "geometry": {"type": "Polygon", "coordinates": [[[500000, 3800000], [501000, 3800000],
                                                          [501000, 3801000], [500000, 3800000]]]}}]}))
    # GeoJSON without a crs member means WGS84 by the RFC; a shapefile without .prj has none
    frame = gpd.read_file(path).set_crs(None, allow_override=True)
    frame.to_file(tmp_path / "nocrs.shp", encoding="GBK")
    (tmp_path / "nocrs.prj").unlink(missing_ok=True)
    result = run_cli("grids", "import", tmp_path / "nocrs.shp", "--level", "1", expect=1)
    assert "declares no coordinate system" in result.output and "--crs" in result.output
    ok = run_cli("grids", "import", tmp_path / "nocrs.shp", "--level", "1", "--crs", "EPSG:4547", "--json")
    bounds = json.loads(ok.output)
    assert bounds["source_crs"] == "EPSG:4547"


def test_gauss_kruger_input_is_stored_in_cgcs2000(run_cli, tmp_path, engine):
    city = grid_layers()[1].to_crs("EPSG:4547")
    city.to_file(tmp_path / "city_gk.shp", encoding="GBK")  # as Chinese desktop GIS writes it
    run_cli("grids", "import", tmp_path / "city_gk.shp", "--level", "1", "--commit")
    with engine.connect() as conn:
        srid, xmin, ymin, source = conn.execute(sa.text(
            "SELECT ST_SRID(geom), ST_XMin(geom), ST_YMin(geom), source_crs FROM grid")).one()
    assert srid == 4490 and source == "EPSG:4547"
    assert xmin == pytest.approx(113.70, abs=1e-6) and ymin == pytest.approx(34.30, abs=1e-6)


@pytest.mark.parametrize("case, message", [
    ("self_intersection", r"feature 2: Self-intersection"),
    ("duplicate_code", r"code 419999001 is used by features \[1, 2\]"),
    ("missing_code", r"feature 2 has no code"),
])
def test_bad_features_refuse_the_whole_file(run_cli, tmp_path, engine, case, message):
    paths = write_grid_files(tmp_path)
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    streets = grid_layers()[2]
    if case == "self_intersection":
        streets.loc[1, "geometry"] = Polygon([(113.715, 34.30), (113.73, 34.32), (113.73, 34.30),
                                              (113.715, 34.32)])
    elif case == "duplicate_code":
        streets.loc[1, "代码"] = "419999001"
    else:
        streets.loc[1, "代码"] = None
    streets.to_file(tmp_path / "bad.geojson")
    result = run_cli("grids", "import", tmp_path / "bad.geojson", "--level", "2", "--commit", expect=1)
    assert result.output.startswith("error: bad.geojson: ")
    assert "nothing was imported" in result.output
    import re
    assert re.search(message, result.output), result.output
    assert _count(engine, "SELECT count(*) FROM grid WHERE level = 2") == 0


def test_unknown_parent_code_is_refused(run_cli, tmp_path, engine):
    paths = write_grid_files(tmp_path)
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    streets = grid_layers()[2]
    streets.loc[0, "上级代码"] = "410000"
    streets.to_file(tmp_path / "orphan.geojson")
    result = run_cli("grids", "import", tmp_path / "orphan.geojson", "--level", "2", "--commit", expect=1)
    assert "names parent code 410000" in result.output
    assert _count(engine, "SELECT count(*) FROM grid WHERE level = 2") == 0


def test_children_before_parents_is_refused(run_cli, tmp_path):
    paths = write_grid_files(tmp_path)
    result = run_cli("grids", "import", paths[2], "--level", "2", expect=1)
    assert "import level 1 first" in result.output


def test_active_generation_is_not_edited_in_place(run_cli, tmp_path):
    paths = write_grid_files(tmp_path)
    run_cli("grids", "import", paths[1], "--level", "1", "--generation", "g1", "--commit")
    run_cli("grids", "activate", "g1", "--commit")
    result = run_cli("grids", "import", paths[1], "--level", "1", "--generation", "g1", expect=1)
    assert "generation 'g1' is active" in result.output


def test_missing_file_and_unknown_field(run_cli, tmp_path):
    assert "does not exist" in run_cli("grids", "import", tmp_path / "none.geojson", "--level", "1",
                                       expect=1).output
    paths = write_grid_files(tmp_path)
    result = run_cli("grids", "import", paths[1], "--level", "1", "--code-field", "BM", expect=1)
    assert "has no field 'BM'" in result.output and "代码" in result.output

"""Reading real-shaped files: formats × CRSs × encodings, each imported and compared."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely
import sqlalchemy as sa

from gisgrid.crs import wgs84_to_shifted
from tests.boundaries.defects import layers, frame

# CGCS2000, WGS84 geographic; CGCS2000, Xian 1980 and Beijing 1954 Gauss–Krüger,
# 3° and 6° zones, with and without the zone prefix — all for the area at 113.7°E.
CRSS = {
    "EPSG:4490": "CGCS2000 geographic",
    "EPSG:4326": "WGS84 geographic",
    "EPSG:4547": "CGCS2000 3° CM 114E",
    "EPSG:4526": "CGCS2000 3° zone 38 (prefixed)",
    "EPSG:4508": "CGCS2000 6° CM 111E",
    "EPSG:4497": "CGCS2000 6° zone 19 (prefixed)",
    "EPSG:2383": "Xian 1980 3° CM 114E",
    "EPSG:2362": "Xian 1980 3° zone 38 (prefixed)",
    "EPSG:2344": "Xian 1980 6° CM 111E",
    "EPSG:2435": "Beijing 1954 3° CM 114E",
    "EPSG:2414": "Beijing 1954 3° zone 38 (prefixed)",
    "EPSG:21419": "Beijing 1954 6° zone 19 (prefixed)",
}
FORMATS = ["shp", "zip", "gpkg", "geojson"]


def _streets() -> gpd.GeoDataFrame:
    return frame(layers()[2])


def _write(frame_: gpd.GeoDataFrame, directory, fmt: str, encoding: str = "UTF-8", cpg: bool = True):
    directory.mkdir(parents=True, exist_ok=True)
    if fmt in ("shp", "zip"):
        path = directory / "街道.shp"
        if encoding.upper() == "UTF-8":
            # dBase field names hold 10 bytes: 上级代码 is 12 in UTF-8 (8 in GBK)
            frame_ = frame_.rename(columns={"上级代码": "sjdm"})
        frame_.to_file(path, encoding=encoding)
        if not cpg:
            path.with_suffix(".cpg").unlink()
        if fmt == "zip":
            archive = directory / "streets.zip"
            with zipfile.ZipFile(archive, "w") as z:
                for part in directory.glob("街道.*"):
                    z.write(part, f"边界/{part.name}")
            return archive
        return path
    if fmt == "gpkg":
        path = directory / "grids.gpkg"
        frame_.to_file(path, layer="streets", driver="GPKG")
        return path
    if fmt == "kml":
        path = directory / "streets.kml"
        frame_.to_file(path, driver="KML")
        return path
    path = directory / "streets.geojson"
    frame_.to_file(path, driver="GeoJSON")
    return path


def _stored(engine, level=2) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT code, name, source_crs, ST_AsBinary(geom) FROM grid "
                                    "WHERE level = :l ORDER BY code"), {"l": level}).all()
    return {code: (name, crs, shapely.from_wkb(bytes(wkb))) for code, name, crs, wkb in rows}


def _assert_same_grids(engine, expected_crs: str | None = None, tolerance=1e-7):
    stored = _stored(engine)
    original = _streets()
    assert sorted(stored) == sorted(original["代码"])
    for _, row in original.iterrows():
        name, crs, geom = stored[row["代码"]]
        assert name == row["名称"]
        assert shapely.hausdorff_distance(geom, row.geometry) < tolerance, (geom.wkt, row.geometry.wkt)
        if expected_crs:
            assert crs == expected_crs


def _import_city(run_cli, tmp_path):
    path = tmp_path / "city.geojson"
    frame(layers()[1]).to_file(path, driver="GeoJSON")
    run_cli("grids", "import", path, "--level", "1", "--commit")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("epsg", list(CRSS))
def test_formats_and_crss_round_trip(run_cli, tmp_path, engine, fmt, epsg):
    _import_city(run_cli, tmp_path)
    path = _write(_streets().to_crs(epsg), tmp_path / "in", fmt, encoding="GBK")
    out = json.loads(run_cli("grids", "import", path, "--level", "2", "--commit", "--json").output)
    assert out["created"] == 2 and out["source_crs"] == epsg
    assert out["validation"]["errors"] == []
    _assert_same_grids(engine, epsg)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
@pytest.mark.parametrize("fmt", ["geojson", "kml", "shp"])
def test_shifted_coordinates_are_undone_with_crs(run_cli, tmp_path, engine, system, fmt):
    _import_city(run_cli, tmp_path)
    shifted = _streets()
    shifted.geometry = shapely.transform(
        shifted.geometry.values, lambda xy: np.column_stack(wgs84_to_shifted(xy[:, 0], xy[:, 1], system)))
    path = _write(shifted.set_crs("EPSG:4326", allow_override=True), tmp_path / "in", fmt)
    refused = run_cli("grids", "import", path, "--level", "2", expect=1)
    assert f"--crs {system}" in refused.output
    out = json.loads(run_cli("grids", "import", path, "--level", "2", "--crs", system, "--commit",
                             "--json").output)
    assert out["source_crs"] == system
    _assert_same_grids(engine, system, tolerance=1e-8)


def test_kml_round_trip(run_cli, tmp_path, engine):
    _import_city(run_cli, tmp_path)
    path = _write(_streets(), tmp_path / "in", "kml")
    out = json.loads(run_cli("grids", "import", path, "--level", "2", "--commit", "--json").output)
    assert out["created"] == 2 and out["fields"]["name"] == "名称"
    _assert_same_grids(engine)


@pytest.mark.parametrize("encoding, cpg, option", [
    ("UTF-8", True, None),
    ("GBK", True, None),
    ("GBK", False, "gbk"),
    ("GB18030", False, "gb18030"),
    ("UTF-8", False, "utf-8"),
])
@pytest.mark.parametrize("fmt", ["shp", "zip"])
def test_shapefile_encodings(run_cli, tmp_path, engine, fmt, encoding, cpg, option):
    _import_city(run_cli, tmp_path)
    path = _write(_streets(), tmp_path / "in", fmt, encoding=encoding, cpg=cpg)
    args = ["--encoding", option] if option else []
    run_cli("grids", "import", path, "--level", "2", "--commit", *args)
    _assert_same_grids(engine)


@pytest.mark.parametrize("encoding, option, suggestion, readable", [
    ("GBK", None, "--encoding gbk", "东风街道"),        # no .cpg: read as Latin-1
    ("UTF-8", None, "--encoding utf-8", "东风街道"),    # no .cpg: read as Latin-1
    ("UTF-8", "gbk", "--encoding utf-8", None),        # wrong --encoding
])
def test_garbled_names_are_refused_with_the_encoding_to_use(run_cli, tmp_path, encoding, option,
                                                            suggestion, readable):
    path = _write(_streets(), tmp_path / "in", "shp", encoding=encoding, cpg=False)
    args = ["--encoding", option] if option else []
    result = run_cli("grids", "import", path, "--level", "1", *args, expect=1)
    assert "look garbled" in result.output and suggestion in result.output, result.output
    if readable:
        assert readable in result.output


def test_geopackage_with_several_layers_needs_layer(run_cli, tmp_path, engine):
    _import_city(run_cli, tmp_path)
    path = tmp_path / "all.gpkg"
    frame(layers()[3]).to_file(path, layer="villages", driver="GPKG")
    _streets().to_file(path, layer="streets", driver="GPKG")
    result = run_cli("grids", "import", path, "--level", "2", expect=1)
    assert "has 2 layers (villages, streets)" in result.output and "--layer" in result.output
    assert "has no layer 'towns'" in run_cli("grids", "import", path, "--level", "2", "--layer", "towns",
                                             expect=1).output
    run_cli("grids", "import", path, "--level", "2", "--layer", "streets", "--commit")
    _assert_same_grids(engine)


def test_zip_with_several_shapefiles_needs_layer(run_cli, tmp_path, engine):
    _import_city(run_cli, tmp_path)
    _streets().to_file(tmp_path / "streets.shp", encoding="GBK")
    frame(layers()[3]).to_file(tmp_path / "villages.shp", encoding="GBK")
    archive = tmp_path / "both.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in list(tmp_path.glob("streets.*")) + list(tmp_path.glob("villages.*")):
            z.write(part, part.name)
    assert "choose one with --layer" in run_cli("grids", "import", archive, "--level", "2", expect=1).output
    run_cli("grids", "import", archive, "--level", "2", "--layer", "streets", "--commit")
    _assert_same_grids(engine)


@pytest.mark.parametrize("written, declared, hint", [
    ("EPSG:4526", "EPSG:4547", "--crs EPSG:4526"),   # zone prefix present, .prj says none
    ("EPSG:4547", "EPSG:4490", "without a zone prefix"),
])
def test_coordinates_that_do_not_fit_the_crs_are_refused_with_a_hint(run_cli, tmp_path, written, declared,
                                                                     hint):
    path = _write(_streets().to_crs(written).set_crs(declared, allow_override=True), tmp_path / "in", "shp")
    result = run_cli("grids", "import", path, "--level", "1", expect=1)
    assert "fall outside China" in result.output and hint in result.output, result.output


def test_no_crs_hint_from_the_coordinates(run_cli, tmp_path):
    path = _write(_streets().to_crs("EPSG:4526"), tmp_path / "in", "shp")
    path.with_suffix(".prj").unlink()
    result = run_cli("grids", "import", path, "--level", "1", expect=1)
    assert "declares no coordinate system" in result.output and "--crs EPSG:4526" in result.output


LOCAL_TM = ('PROJCS["示范市独立坐标系",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",'
            'SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],'
            'PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],'
            'PARAMETER["Central_Meridian",113.5],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],'
            'UNIT["Meter",1.0]]')


def test_local_projection_without_epsg_code(run_cli, tmp_path, engine):
    """A city's own Gauss–Krüger (central meridian 113.5°E) as an ESRI .prj: converted by its definition."""
    _import_city(run_cli, tmp_path)
    path = _write(_streets().to_crs(LOCAL_TM), tmp_path / "in", "shp", encoding="GBK")
    path.with_suffix(".prj").write_text(LOCAL_TM, encoding="utf-8")
    out = json.loads(run_cli("grids", "import", path, "--level", "2", "--commit", "--json").output)
    assert out["source_crs"] == "示范市独立坐标系"
    _assert_same_grids(engine, "示范市独立坐标系")


@pytest.mark.parametrize("cpg", ["GBK", "936", "CP936", "ANSI 936"])
def test_cpg_spellings_of_gbk(run_cli, tmp_path, engine, cpg):
    """As ArcGIS, QGIS and Chinese desktop GIS write the code page of a GBK shapefile."""
    _import_city(run_cli, tmp_path)
    path = _write(_streets(), tmp_path / "in", "shp", encoding="GBK")
    path.with_suffix(".cpg").write_text(cpg, encoding="ascii")
    run_cli("grids", "import", path, "--level", "2", "--commit")
    _assert_same_grids(engine)


@pytest.mark.parametrize("fmt", ["kml", "shp"])
def test_polygons_with_z_are_flattened(run_cli, tmp_path, engine, fmt):
    """Google Earth KML and CAD-exported shapefiles carry a Z on every vertex."""
    _import_city(run_cli, tmp_path)
    streets = _streets()
    streets.geometry = shapely.force_3d(streets.geometry.values, z=120.0)
    path = _write(streets, tmp_path / "in", fmt, encoding="GBK")
    run_cli("grids", "import", path, "--level", "2", "--commit")
    _assert_same_grids(engine)

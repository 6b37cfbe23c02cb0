"""Export → import gives back the same grids, in every format, encoding and some CRSs."""

from __future__ import annotations

import json

import pyogrio
import pytest
import shapely

from gisgrid.boundaries.validate import generation_frame
from gisgrid.db.engine import session_scope
from gisgrid.db.queries import find_generation
from tests.boundaries.defects import write_layers


def _load(run_cli, tmp_path, generation="g1"):
    paths = write_layers(tmp_path / "src")
    for level, path in paths.items():
        run_cli("grids", "import", path, "--level", level, "--generation", generation, "--commit")


def _grids(engine, generation):
    with session_scope(engine) as session:
        frame = generation_frame(session, find_generation(session, generation).id)
    return {row.code: (row.name, row.level, row.kind, row.parent_code, row.geometry) for row in frame.itertuples()}


def _assert_same(engine, tolerance):
    before, after = _grids(engine, "g1"), _grids(engine, "g2")
    assert sorted(before) == sorted(after)
    for code, (name, level, kind, parent, geom) in before.items():
        assert after[code][:4] == (name, level, kind, parent)
        assert shapely.hausdorff_distance(geom, after[code][4]) < tolerance


@pytest.mark.parametrize("fmt, suffix, options", [
    ("gpkg", ".gpkg", []),
    ("shp", ".shp", []),
    ("shp", ".shp", ["--encoding", "utf-8"]),
    ("shp", ".zip", []),
    ("geojson", ".geojson", []),
    ("kml", ".kml", []),
    ("gpkg", ".gpkg", ["--crs", "EPSG:4547"]),
    ("shp", ".shp", ["--crs", "EPSG:2383"]),
    ("geojson", ".geojson", ["--crs", "gcj02"]),
])
def test_export_then_import_gives_the_same_grids(run_cli, tmp_path, engine, fmt, suffix, options):
    _load(run_cli, tmp_path)
    out = tmp_path / "out" / f"grids{suffix}"
    report = json.loads(run_cli("grids", "export", "--format", fmt, "-o", out, "--generation", "g1",
                                *options, "--json").output)
    assert report["grids"] == {"1": 1, "2": 2, "3": 4}
    crs = options[1] if options and options[0] == "--crs" else None
    for level in (1, 2, 3):
        if fmt == "gpkg":
            args = [out, "--layer", f"level_{level}"]
        else:
            args = [out.with_name(f"grids_level{level}{suffix}")]
        if crs == "gcj02":
            args += ["--crs", "gcj02"]
        run_cli("grids", "import", *args, "--level", level, "--generation", "g2", "--commit")
    _assert_same(engine, tolerance=1e-9 if crs is None else 1e-8)


def test_shapefile_is_gbk_with_cpg_by_default(run_cli, tmp_path):
    _load(run_cli, tmp_path)
    out = tmp_path / "out" / "streets.shp"
    run_cli("grids", "export", "--format", "shp", "-o", out, "--level", "2", "--generation", "g1")
    assert out.with_suffix(".cpg").read_text() == "GBK"
    dbf = out.with_suffix(".dbf").read_bytes()
    assert "东风街道".encode("gbk") in dbf and "上级代码".encode("gbk") in dbf
    assert [name for name, _ in pyogrio.list_layers(out)] == ["streets"]


def test_kml_refuses_a_projected_crs(run_cli, tmp_path):
    _load(run_cli, tmp_path)
    result = run_cli("grids", "export", "--format", "kml", "-o", tmp_path / "x.kml", "--crs", "EPSG:4547",
                     "--generation", "g1", expect=1)
    assert "KML holds WGS84" in result.output

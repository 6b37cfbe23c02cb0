"""Every sample and fixture file the repository ships goes through its CLI read command.

The demonstration city in data/shapes/ and the files the test fixture builders write
(tests/fixtures/, tests/boundaries/defects.py and multi_defects.py) are dry-run imported,
as text and as ``--json``: never a traceback or an entry in the CLI's crash log, exit
status 0 (read), 1 (refused with a reason) or 2 (usage), one ``error:`` line on stderr
when refused, and a ``--json`` answer that parses. A clean file must read with exit 0.
Parents are committed before their children's dry run, so every level is really checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.boundaries import defects, multi_defects
from tests.fixtures import handdrawn, hostile

SHAPES = Path(__file__).resolve().parents[1] / "data" / "shapes"
DEMO_LEVELS = {1: "demo_city.geojson", 2: "demo_streets.geojson", 3: "demo_communities.geojson"}


def _read(run_cli, cli_env, *args) -> tuple[dict, int]:
    """Dry-run ``args`` as text and as --json; check the contract; the JSON answer and exit status."""
    text = run_cli(*args, expect=None)
    as_json = run_cli(*args, "--json", expect=None)
    for result in (text, as_json):
        assert result.exit_code in (0, 1, 2), result.output
        assert "Traceback" not in result.output and "failed unexpectedly" not in result.output, result.output
    assert text.exit_code == as_json.exit_code
    if text.exit_code:
        assert len(text.stderr.splitlines()) == 1 and text.stderr.startswith("error: "), text.stderr
    assert as_json.stderr == ""
    log = Path(cli_env["GISGRID_HOME"]) / "log" / "gisgrid-cli.log"
    assert not log.exists(), log.read_text(encoding="utf-8")
    return json.loads(as_json.stdout), text.exit_code


def _sweep_grid_files(run_cli, cli_env, paths: dict[int, Path], clean: bool = True) -> list[int]:
    codes = []
    for level, path in sorted(paths.items()):
        report, code = _read(run_cli, cli_env, "grids", "import", path, "--level", level)
        codes.append(code)
        if clean:
            assert code == 0 and report["validation"]["errors"] == [], (path, report)
        # commit the parents (as far as they import) so the next level is validated against them
        run_cli("grids", "import", path, "--level", level, "--on-invalid", "report", "--commit", expect=None)
    return codes


def test_demo_city_shapes_read_clean(run_cli, cli_env):
    _sweep_grid_files(run_cli, cli_env, {lv: SHAPES / name for lv, name in DEMO_LEVELS.items()})


def test_demo_employer_register_reads(run_cli, cli_env):
    _sweep_grid_files(run_cli, cli_env, {lv: SHAPES / name for lv, name in DEMO_LEVELS.items()})
    run_cli("grids", "activate", "draft", "--commit")
    report, code = _read(run_cli, cli_env, "employers", "import", SHAPES / "demo_employers.csv")
    assert code == 0 and report["committed"] is False
    assert report["rows"] == 20_000 and report["rejected_rows"] == 0


def test_every_shipped_sample_file_is_swept():
    """A new file in data/shapes/ must be added to this sweep."""
    assert sorted(p.name for p in SHAPES.iterdir() if p.suffix != ".md") == sorted(
        [*DEMO_LEVELS.values(), "demo_employers.csv"])


@pytest.mark.parametrize("builder", ["handdrawn", "hostile"])
def test_fixture_grid_and_register_files_read(run_cli, cli_env, tmp_path, builder):
    module = {"handdrawn": handdrawn, "hostile": hostile}[builder]
    _sweep_grid_files(run_cli, cli_env, module.write_grid_files(tmp_path))
    run_cli("grids", "activate", "draft", "--commit")
    register = tmp_path / f"{builder}.csv"
    module.write_employers(register)
    _, code = _read(run_cli, cli_env, "employers", "import", register)
    assert code == 0


DEFECT_LAYERS = {
    "clean": defects.layers()[3],
    "bowtie": defects.villages_with(defects.V2, geom=defects.BOWTIE),
    "empty": defects.villages_with(defects.V2, geom=defects.Polygon()),
    "no code": defects.villages_with(defects.V2, code=None),
    "unknown parent": defects.villages_with(defects.V2, parent="419999009"),
    "all at once": multi_defects.inject(multi_defects.village_rows(), multi_defects.ALL_AT_ONCE),
}


@pytest.mark.parametrize("name", list(DEFECT_LAYERS))
@pytest.mark.parametrize("shift", [None, "gcj02", "bd09"])
def test_defect_fixture_files_read_or_are_refused(run_cli, cli_env, tmp_path, name, shift):
    paths = defects.write_layers(tmp_path, DEFECT_LAYERS[name], shift)
    codes = _sweep_grid_files(run_cli, cli_env, {1: paths[1], 2: paths[2]})
    report, code = _read(run_cli, cli_env, "grids", "import", paths[3], "--level", 3)
    assert codes == [0, 0]
    assert code == (0 if name == "clean" and shift is None else 1), report


POLYGON = '[[[113.70, 34.30], [113.71, 34.30], [113.71, 34.31], [113.70, 34.30]]]'
JUNK = {   # file name → content: what a planner's folder may hold besides good layers
    "empty.geojson": b"",
    "truncated.geojson": b'{"type": "FeatureCollection", "features": [',
    "table.geojson": b"a,b\n1,2\n",
    "random.shp": bytes(range(256)) * 12,
    "bad.zip": b"PK\x03\x04garbage",
    "no features.geojson": b'{"type": "FeatureCollection", "features": []}',
    "null geometry.geojson": ('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                              '"properties": {"代码": "419999", "名称": "测试市"}, "geometry": null}]}').encode(),
    "point.geojson": ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                      '{"代码": "419999", "名称": "测试市"}, "geometry": {"type": "Point", '
                      '"coordinates": [113.7, 34.3]}}]}').encode(),
    "two points ring.geojson": ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                                '{"代码": "419999", "名称": "测试市"}, "geometry": {"type": "Polygon", '
                                '"coordinates": [[[113.7, 34.3], [113.8, 34.3], [113.7, 34.3]]]}}]}').encode(),
    "out of range.geojson": ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                             '{"代码": "419999", "名称": "测试市"}, "geometry": {"type": "Polygon", '
                             '"coordinates": [[[200, 95], [201, 95], [201, 96], [200, 95]]]}}]}').encode(),
    "no name field.geojson": ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                              '{"代码": "419999"}, "geometry": {"type": "Polygon", "coordinates": '
                              + POLYGON + '}}]}').encode(),
}


@pytest.mark.parametrize("name", list(JUNK))
def test_junk_files_are_refused_in_one_line(run_cli, cli_env, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(JUNK[name])
    report, code = _read(run_cli, cli_env, "grids", "import", path, "--level", 1)
    assert code == 1 and report["error"]["message"], report


HEADER = "单位名称,统一社会信用代码,地址,职工人数,经度,纬度,坐标系\n"
REGISTER_JUNK = {
    "empty.csv": b"",
    "header only.csv": HEADER.encode("utf-8-sig"),
    "unknown columns.csv": b"a,b\n1,2\n",
    "random.xlsx": bytes(range(256)) * 12,
    "zip not xlsx.xlsx": b"PK\x03\x04garbage",
    "garbage cells.csv": (HEADER + "测试公司,not-a-code,某路,-3,abc,1e999,火星坐标\n"
                          + "\"未闭合,引号\n").encode("utf-8"),
    "gbk.csv": (HEADER + "测试公司,,某路,10,113.7,34.3,CGCS2000\n").encode("gbk"),
}


@pytest.mark.parametrize("name", list(REGISTER_JUNK))
def test_junk_registers_read_or_are_refused_in_one_line(run_cli, cli_env, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(REGISTER_JUNK[name])
    _, code = _read(run_cli, cli_env, "employers", "import", path)
    assert code in (0, 1)

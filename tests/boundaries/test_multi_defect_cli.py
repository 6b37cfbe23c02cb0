"""`gisgrid grids import` on a village layer with many defects at once, in every mode.

Each layer (tests/boundaries/multi_defects.py) goes through a dry run, ``--on-invalid
report`` and ``--on-invalid fix``, as text and as ``--json``. What a planner must see:
no traceback (and nothing in the CLI's crash log), exit 1 with one ``error:`` line on
stderr when the file is refused and 0 when it is imported, every defect in one report
with the feature it is in, and no row written by a refused import or a dry run.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.boundaries.defects import layers, write_layers
from tests.boundaries.multi_defects import ALL_AT_ONCE, inject, village_rows

STORABLE = {k: v for k, v in ALL_AT_ONCE.items() if k != "duplicate_code"}
# What --on-invalid fix turns a defect into: a listed repair instead of a report item.
REPAIRED_AS = {"invalid_geometry": "make_valid", "sliver": "remove_overlap"}
MODES = {"dry run": [], "report": ["--on-invalid", "report"], "fix": ["--on-invalid", "fix"]}


@pytest.fixture
def parents(run_cli, tmp_path):
    """City and streets committed; returns a function writing a village layer and its path."""
    paths = write_layers(tmp_path / "parents")
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    run_cli("grids", "import", paths[2], "--level", "2", "--commit")

    def villages(targets: dict[str, int] | None = None, shift: str | None = None, name="villages"):
        rows = inject(village_rows(), targets) if targets is not None else layers()[3]
        return write_layers(tmp_path / name, rows, shift)[3]

    return villages


def _grid_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT level, code FROM grid ORDER BY level, code")).all()


def _import(run_cli, path, mode: str, *extra: str):
    result = run_cli("grids", "import", path, "--level", "3", *MODES[mode], *extra, expect=None)
    assert "Traceback" not in result.output, result.output
    return result


def _no_crash_logged(cli_env) -> None:
    from pathlib import Path

    log = Path(cli_env["GISGRID_HOME"]) / "log" / "gisgrid-cli.log"
    assert not log.exists(), log.read_text(encoding="utf-8")


def _assert_named(report: dict, targets: dict[str, int], mode: str) -> None:
    """Every injected defect is in the report (or a repair) and names its feature."""
    items = report["validation"]["errors"] + report["validation"]["warnings"]
    for defect, row in targets.items():
        feature = row + 1
        found = [i for i in items if i["kind"] == defect]
        if mode == "fix" and defect in REPAIRED_AS:
            # a sliver is snapped only once the file is storable; until then it stays a warning
            found += [r for r in report["repairs"] if r["kind"] == REPAIRED_AS[defect]]
        assert found, f"{defect} not reported: {[i['kind'] for i in items]}, repairs {report['repairs']}"
        assert any(feature in (i.get("features") or [i.get("feature")]) for i in found), (defect, feature, found)


@pytest.mark.parametrize("mode", list(MODES))
def test_every_defect_at_once_is_refused_in_every_mode(run_cli, parents, engine, cli_env, mode):
    path = parents(ALL_AT_ONCE)
    before = _grid_rows(engine)
    result = _import(run_cli, path, mode, "--commit")
    assert result.exit_code == 1
    stderr = result.stderr.splitlines()
    assert len(stderr) == 1
    assert stderr[0].startswith("error: level3.geojson: ") and "nothing was imported" in stderr[0]
    assert "cannot be stored in any --on-invalid mode" in stderr[0]   # the duplicate code
    for defect in ALL_AT_ONCE:
        if not (mode == "fix" and defect in REPAIRED_AS):
            assert f"{'WARNING' if defect == 'sliver' else 'ERROR'} {defect} [" in result.stdout, defect
    invalid = ("REPAIRED make_valid: feature 2 " if mode == "fix"
               else "ERROR invalid_geometry [419999001002] at 113.707500, 34.310000 (feature 2)")
    assert invalid in result.stdout
    assert "(features 1, 4): code 419999001001 is used by features [1, 4]" in result.stdout
    assert _grid_rows(engine) == before
    _no_crash_logged(cli_env)


@pytest.mark.parametrize("mode", list(MODES))
def test_every_defect_at_once_as_json(run_cli, parents, engine, cli_env, mode):
    path = parents(ALL_AT_ONCE)
    before = _grid_rows(engine)
    result = _import(run_cli, path, mode, "--commit", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    report = json.loads(result.stdout)
    assert report["refused"] is True and report["committed"] is False
    assert report["error"]["kind"] == "invalid_grids" and "nothing was imported" in report["error"]["message"]
    assert {d["kind"] for d in report["error"]["details"]} >= set(ALL_AT_ONCE) - {"sliver"} - (
        {"invalid_geometry"} if mode == "fix" else set())
    _assert_named(report, ALL_AT_ONCE, mode)
    assert _grid_rows(engine) == before
    _no_crash_logged(cli_env)


def test_storable_defects_dry_run_refuses_and_writes_nothing(run_cli, parents, engine, cli_env):
    path = parents(STORABLE)
    before = _grid_rows(engine)
    result = _import(run_cli, path, "dry run", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    _assert_named(report, STORABLE, "dry run")
    assert "--on-invalid report imports anyway" in report["error"]["message"]
    assert _grid_rows(engine) == before
    _no_crash_logged(cli_env)


def test_storable_defects_report_mode_imports_and_lists_them(run_cli, parents, engine, cli_env):
    path = parents(STORABLE)
    before = _grid_rows(engine)
    dry = _import(run_cli, path, "report", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["committed"] is False
    assert _grid_rows(engine) == before
    result = _import(run_cli, path, "report", "--commit", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["committed"] is True and report["created"] == 8
    _assert_named(report, STORABLE, "report")
    after = _grid_rows(engine)
    assert len(after) == len(before) + 8 and sum(1 for lv, _ in after if lv == 3) == 8
    # the errors stay: activation is refused, with one line
    blocked = run_cli("grids", "activate", "draft", "--commit", expect=1)
    assert len(blocked.stderr.splitlines()) == 1 and "cannot be activated" in blocked.stderr
    _no_crash_logged(cli_env)


def test_storable_defects_fix_repairs_what_it_can_then_refuses(run_cli, parents, engine, cli_env):
    path = parents(STORABLE)
    before = _grid_rows(engine)
    result = _import(run_cli, path, "fix", "--commit", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    report = json.loads(result.stdout)
    assert report["refused"] is True
    assert {r["kind"] for r in report["repairs"]} >= {"make_valid", "remove_overlap"}
    make_valid = next(r for r in report["repairs"] if r["kind"] == "make_valid")
    assert make_valid["feature"] == STORABLE["invalid_geometry"] + 1
    snapped = next(r for r in report["repairs"] if r["kind"] == "remove_overlap")
    assert sorted(snapped["features"]) == [7, 8]   # the sliver's two villages, as numbered in the file
    _assert_named(report, STORABLE, "fix")
    assert "they remain after the repairs" in report["error"]["message"]
    assert _grid_rows(engine) == before
    text = _import(run_cli, path, "fix", "--commit")
    assert text.exit_code == 1 and len(text.stderr.splitlines()) == 1
    assert "REPAIRED make_valid: feature 2" in text.stdout
    _no_crash_logged(cli_env)


@pytest.mark.parametrize("mode", list(MODES))
def test_gcj02_shifted_layer_names_the_fix_in_every_mode(run_cli, parents, engine, cli_env, mode):
    path = parents(shift="gcj02")
    before = _grid_rows(engine)
    result = _import(run_cli, path, mode, "--json")
    report = json.loads(result.stdout)
    offset = [i for i in report["validation"]["errors"] if i["kind"] == "suspected_offset"]
    assert len(offset) == 1 and "--crs gcj02" in offset[0]["message"]
    assert sorted(offset[0]["features"]) == [1, 2, 3, 4]
    assert not [i for i in report["validation"]["errors"] if i["kind"] in ("gap", "outside_parent")]
    # a shifted layer can be stored (report) but never passes as it is
    assert result.exit_code == (0 if mode == "report" else 1)
    assert _grid_rows(engine) == before
    _no_crash_logged(cli_env)


def test_gcj02_shifted_layer_imports_cleanly_with_the_named_crs(run_cli, parents, engine):
    path = parents(shift="gcj02")
    result = run_cli("grids", "import", path, "--level", "3", "--crs", "gcj02", "--commit", "--json")
    report = json.loads(result.stdout)
    assert report["validation"]["errors"] == [] and report["created"] == 4
    assert sum(1 for lv, _ in _grid_rows(engine) if lv == 3) == 4


@pytest.mark.parametrize("mode", list(MODES))
def test_gcj02_shifted_layer_with_every_defect(run_cli, parents, engine, cli_env, mode):
    path = parents(ALL_AT_ONCE, shift="gcj02")
    before = _grid_rows(engine)
    result = _import(run_cli, path, mode, "--commit", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    report = json.loads(result.stdout)
    assert any(i["kind"] == "suspected_offset" for i in report["validation"]["errors"])
    _assert_named(report, ALL_AT_ONCE, mode)
    assert _grid_rows(engine) == before
    _no_crash_logged(cli_env)

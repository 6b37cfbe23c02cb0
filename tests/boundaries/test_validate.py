"""Validation: one hand-made fixture per defect kind, each with its grids and location."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from gisgrid.boundaries.validate import validate_grids
from tests.boundaries.defects import BOWTIE, S1, S2, V1, V2, V3, V4, lonlat, villages_with, write_layers


def _load(run_cli, tmp_path, villages=None, shift=None, on_invalid="report"):
    paths = write_layers(tmp_path, villages, shift)
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    run_cli("grids", "import", paths[2], "--level", "2", "--commit")
    return run_cli("grids", "import", paths[3], "--level", "3", "--on-invalid", on_invalid, "--commit",
                   "--json", expect=None)


def _validate(run_cli, expect=1) -> dict:
    result = run_cli("grids", "validate", "--generation", "draft", "--json", expect=expect)
    return json.loads(result.output)


def _json(result) -> dict:
    """The JSON report printed before a refusal's one-line error."""
    return json.loads(result.output[:result.output.rindex("}") + 1])


def _one(items, kind) -> dict:
    found = [i for i in items if i["kind"] == kind]
    assert found, f"no {kind} in {items}"
    return found[0]


def _near(location, x, y, tolerance=0.05) -> bool:
    lon, lat = lonlat(x, y)
    return abs(location[0] - lon) <= tolerance * 0.01 and abs(location[1] - lat) <= tolerance * 0.01


def _inside(location, x0, y0, x1, y1) -> bool:
    (lon0, lat0), (lon1, lat1) = lonlat(x0, y0), lonlat(x1, y1)
    return lon0 <= location[0] <= lon1 and lat0 <= location[1] <= lat1


def test_clean_set_has_no_errors_or_warnings(run_cli, tmp_path):
    _load(run_cli, tmp_path)
    report = _validate(run_cli, expect=0)
    assert report["errors"] == [] and report["warnings"] == []
    assert report["grids"] == 7


def test_invalid_geometry_names_the_reason_and_the_crossing(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V2, geom=BOWTIE))
    item = _one(_validate(run_cli)["errors"], "invalid_geometry")
    assert item["codes"] == [V2] and "Self-intersection" in item["message"]
    assert _near(item["location"], 1.5, 1.0, tolerance=0.001)


def test_bad_code_not_extending_its_parent(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V2, code="419998001002"))
    item = _one(_validate(run_cli)["errors"], "bad_code")
    assert item["codes"] == ["419998001002", S1] and "does not extend" in item["message"]
    assert _inside(item["location"], 1, 0, 2, 2)


def test_bad_code_village_not_twelve_digits(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V3, code="4199990020011"))
    item = _one(_validate(run_cli)["errors"], "bad_code")
    assert item["codes"] == ["4199990020011"] and "12-digit" in item["message"]
    assert _inside(item["location"], 2, 0, 3, 2)


def test_outside_parent_with_area(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V4, geom=box(3, 0, 4.5, 2)))
    item = _one(_validate(run_cli)["errors"], "outside_parent")
    assert item["codes"] == [V4, S2] and item["level"] == 3
    assert _inside(item["location"], 4, 0, 4.5, 2)
    # 0.005° × 0.02° at 34.3°N ≈ 460 m × 2,220 m
    assert item["area_m2"] == pytest.approx(1.02e6, rel=0.03)


def test_gap_names_the_parent_and_its_neighbours(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V3, geom=box(2, 0, 2.8, 2)))
    item = _one(_validate(run_cli)["errors"], "gap")
    assert item["codes"][0] == S2 and set(item["codes"][1:]) == {V3, V4}
    assert _inside(item["location"], 2.8, 0, 3, 2)
    assert item["area_m2"] == pytest.approx(0.2 * 2 * 0.01 ** 2 * 92_000 * 111_000, rel=0.03)


def test_overlap_between_siblings(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V3, geom=box(2, 0, 3.3, 2)))
    report = _validate(run_cli)
    item = _one(report["errors"], "overlap")
    assert item["codes"] == [V3, V4] and _inside(item["location"], 3, 0, 3.3, 2)
    assert not [i for i in report["errors"] if i["kind"] == "gap"]


def test_sliver_overlap_is_a_warning_and_fix_snaps_it(run_cli, tmp_path):
    sliver = villages_with(V3, geom=box(2, 0, 3.002, 2))   # ≈ 1.8 m over V4
    out = json.loads(_load(run_cli, tmp_path, sliver).output)
    item = _one(out["validation"]["warnings"], "sliver")
    assert item["codes"] == [V3, V4] and _inside(item["location"], 3, 0, 3.002, 2)
    assert "1.8" in item["message"] and out["validation"]["errors"] == []


def test_sliver_gap_is_filled_by_fix_and_every_repair_listed(run_cli, tmp_path):
    sliver = villages_with(V3, geom=box(2, 0, 2.998, 2))   # ≈ 1.8 m gap inside S2
    out = json.loads(_load(run_cli, tmp_path, sliver, on_invalid="fix").output)
    assert out["committed"] is True
    repair = _one(out["repairs"], "fill_gap")
    assert repair["codes"] in ([V3], [V4]) and _inside(repair["location"], 2.998, 0, 3, 2)
    assert out["validation"]["errors"] == [] and out["validation"]["warnings"] == []
    assert _validate(run_cli, expect=0)["warnings"] == []


def test_fix_repairs_a_bowtie_with_make_valid_and_lists_it(run_cli, tmp_path):
    out = _load(run_cli, tmp_path, villages_with(V2, geom=BOWTIE), on_invalid="fix")
    report = _json(out)
    assert _one(report["repairs"], "make_valid")["codes"] == [V2]
    # make_valid leaves two triangles; the rest of V2's place is a real gap: still refused
    assert report["refused"] is True and _one(report["validation"]["errors"], "gap")


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_suspected_offset_says_which_crs_fixes_it(run_cli, tmp_path, system):
    _load(run_cli, tmp_path, shift=system)
    report = _validate(run_cli)
    item = report["errors"][0]
    assert item["kind"] == "suspected_offset" and item["level"] == 3
    assert f"--crs {system}" in item["message"] and "level 3" in item["message"]
    assert set(item["codes"]) == {V1, V2, V3, V4}
    assert _inside(item["location"], 1, 0, 3.5, 2)
    assert not [i for i in report["errors"] if i["kind"] in ("gap", "outside_parent")]


def test_import_refuses_errors_with_the_report(run_cli, tmp_path):
    result = _load(run_cli, tmp_path, villages_with(V3, geom=box(2, 0, 2.8, 2)), on_invalid="raise")
    assert result.exit_code == 1
    report = _json(result)
    assert report["refused"] is True and _one(report["validation"]["errors"], "gap")
    assert "nothing was imported" in result.output
    assert run_cli("grids", "list", "--generation", "draft", "--level", "3", "--json").output.strip() == "[]"


def test_activation_is_blocked_by_errors(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V4, geom=box(3, 0, 4.5, 2)))
    result = run_cli("grids", "activate", "draft", "--commit", expect=1)
    assert "cannot be activated" in result.output and "extends beyond its parent" in result.output


def test_problem_locations_as_geojson(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V3, geom=box(2, 0, 3.3, 2)))
    run_cli("grids", "validate", "--generation", "draft", "--geojson", tmp_path / "p.geojson", expect=1)
    problems = gpd.read_file(tmp_path / "p.geojson")
    overlap = problems[problems["kind"] == "overlap"].iloc[0]
    assert overlap.geometry.geom_type == "Polygon" and overlap["severity"] == "error"
    assert overlap.geometry.bounds[0] == pytest.approx(lonlat(3, 0)[0], abs=1e-6)


def test_text_report_lists_kind_codes_and_location(run_cli, tmp_path):
    _load(run_cli, tmp_path, villages_with(V3, geom=box(2, 0, 3.3, 2)))
    out = run_cli("grids", "validate", "--generation", "draft", expect=1).output
    assert f"ERROR overlap [{V3}, {V4}] at 113.73" in out and "validation: 1 errors" in out


# -- kinds that an import refuses before storing: checked in memory and at import ----------

def _memory_frame(rows):
    return gpd.GeoDataFrame({
        "code": [r[0] for r in rows], "name": [r[1] for r in rows], "level": [r[2] for r in rows],
        "kind": ["village"] * len(rows), "parent_code": [None] * len(rows)},
        geometry=[r[3] for r in rows], crs="EPSG:4490")


def test_empty_missing_and_duplicate_in_memory():
    from tests.boundaries.defects import deg
    frame = _memory_frame([
        (V1, "东风社区", 3, deg(box(0, 0, 1, 2))),
        (V1, "重复社区", 3, deg(box(1, 0, 2, 2))),
        (None, "无码村", 3, deg(box(2, 0, 3, 2))),
        (V4, "空村", 3, Polygon()),
    ])
    errors = validate_grids(frame)["errors"]
    empty = _one(errors, "empty_geometry")
    assert empty["codes"] == [V4] and empty["location"] is None
    missing = _one(errors, "missing_code")
    assert missing["codes"] == [] and "无码村" in missing["message"] and _inside(missing["location"], 2, 0, 3, 2)
    duplicate = _one(errors, "duplicate_code")
    assert duplicate["codes"] == [V1] and _inside(duplicate["location"], 0, 0, 1, 2)
    overlap = [i for i in errors if i["kind"] == "overlap"]
    assert overlap == []  # the duplicates are neighbours, not overlapping


@pytest.mark.parametrize("change, message", [
    (dict(code=V1), r"code 419999001001 is used by features [1, 2]"),
    (dict(code=S2), "already used by the level-2 grid 西河镇"),
    (dict(geom=Polygon()), "feature 2 (code 419999001002, 向阳社区) has an empty geometry"),
])
def test_unstorable_features_are_refused_even_with_report(run_cli, tmp_path, change, message):
    result = _load(run_cli, tmp_path, villages_with(V2, **change), on_invalid="report")
    assert result.exit_code == 1 and message in result.output, result.output


@pytest.mark.parametrize("geom, repair", [
    (box(2, 0, 3.002, 2), "remove_overlap"),      # ≈ 1.8 m over V4
    (box(2, 0, 3, 2.002), "clip_to_parent"),      # ≈ 2.2 m beyond S2's north edge
])
def test_fix_snaps_sliver_overlaps_and_overhangs(run_cli, tmp_path, geom, repair):
    out = _json(_load(run_cli, tmp_path, villages_with(V3, geom=geom), on_invalid="fix"))
    done = _one(out["repairs"], repair)
    assert V3 in done["codes"] and done["area_m2"] > 0
    assert out["validation"]["errors"] == [] and out["validation"]["warnings"] == []
    assert _validate(run_cli, expect=0)["warnings"] == []

"""Grid codes: their form on every path that gives a grid one (hostile codes: issue 10, F1),
and `gisgrid grids code`: codes for uncoded grids, in reading order, never renumbering."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import LineString, box

from gisgrid.boundaries.codes import CODE_FORM, check_code, code_form_problem
from gisgrid.boundaries.edit import move_unit, split_grid
from gisgrid.boundaries.validate import check_features, validate_grids
from gisgrid.errors import InputError

from tests.boundaries.defects import S1, S2, V3, V4, deg, frame, layers, write_layers

# S1's four uncoded quarters, written in a shuffled order
QUARTERS = {"西南社区": box(0, 0, 1, 1), "东北社区": box(1, 1, 2, 2), "西北社区": box(0, 1, 1, 2),
            "东南社区": box(1, 0, 2, 1)}


def _villages() -> list[dict]:
    rows = {r["code"]: r for r in layers()[3]}
    quarters = [dict(code=None, name=name, parent=S1, geom=geom) for name, geom in QUARTERS.items()]
    return quarters + [rows[V3], dict(rows[V4], code=None)]


def _load(run_cli, tmp_path):
    paths = write_layers(tmp_path, _villages())
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    run_cli("grids", "import", paths[2], "--level", "2", "--commit")
    refused = run_cli("grids", "import", paths[3], "--level", "3", expect=1)
    assert "has no code" in refused.output and "grids code" in refused.output
    out = run_cli("grids", "import", paths[3], "--level", "3", "--on-invalid", "report", "--commit", "--json")
    return json.loads(out.output)


def test_uncoded_grids_are_stored_provisionally_and_block_activation(run_cli, tmp_path):
    report = _load(run_cli, tmp_path)
    missing = [i for i in report["validation"]["errors"] if i["kind"] == "missing_code"]
    assert sorted(i["codes"][0] for i in missing) == ["未编码-L3-1", "未编码-L3-2", "未编码-L3-3",
                                                      "未编码-L3-4", "未编码-L3-6"]
    assert "provisional code" in run_cli("grids", "activate", "draft", expect=1).output


def test_codes_follow_reading_order_after_existing_ones(run_cli, tmp_path, engine):
    _load(run_cli, tmp_path)
    dry = json.loads(run_cli("grids", "code", "--generation", "draft", "--json").output)
    assert dry["committed"] is False
    by_name = {p["name"]: p["code"] for p in dry["proposed"]}
    assert by_name == {"西北社区": f"{S1}001", "东北社区": f"{S1}002", "西南社区": f"{S1}003",
                       "东南社区": f"{S1}004", "东河村": f"{S2}002"}   # V3 keeps 001
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM grid WHERE code LIKE '未编码%'")).scalar() == 5
    run_cli("grids", "code", "--generation", "draft", "--commit")
    with engine.connect() as conn:
        codes = dict(conn.execute(sa.text("SELECT name, code FROM grid WHERE level = 3")).all())
        audit = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'grid.code'")).scalar()
    assert codes["西北社区"] == f"{S1}001" and codes["西河村"] == V3 and audit == 5
    report = json.loads(run_cli("grids", "validate", "--generation", "draft", "--json").output)
    assert report["errors"] == []
    again = json.loads(run_cli("grids", "code", "--generation", "draft", "--json").output)
    assert again["proposed"] == []   # nothing left to code, nothing renumbered


# -- the form of a code: hostile codes on every path that gives a grid one ----------------

HOSTILE = {
    "markup": "419999<i>x",
    "template": "{{7*7}}",
    "inner space": "419999 001",
    "NUL": "419999001\x00",
    "over-long": "4" * 33,
    "full-width digits": "４１９９９９００１",
    "lower case": "a01-03",
    "dangling hyphen": "A01-",
    "provisional look-alike": "未编码-<b>",
}


def _frame(code, kind, level=2, parent=None):
    return gpd.GeoDataFrame({"code": [code], "name": ["第一网格"], "level": [level], "kind": [kind],
                             "parent_code": [parent], "feature": [7]}, geometry=[deg(box(0, 0, 1, 2))],
                            crs="EPSG:4490")


@pytest.mark.parametrize("kind", ["grid", "street", "village"])
@pytest.mark.parametrize("name", HOSTILE)
def test_a_code_of_another_form_is_a_bad_code_naming_feature_code_and_form(name, kind):
    code = HOSTILE[name]
    for errors in (check_features(_frame(code, kind)), validate_grids(_frame(code, kind, 3, S1))["errors"]):
        bad = [i for i in errors if i["kind"] == "bad_code"]
        assert len(bad) == 1, errors
        message = bad[0]["message"]
        assert bad[0]["codes"] == [code] and bad[0]["feature"] == 7
        assert message.startswith("feature 7 (code ") and repr(code)[:30] in message and CODE_FORM in message
        assert "\x00" not in message and "missing_code" not in {i["kind"] for i in errors}


@pytest.mark.parametrize("code", ["419999", "419999001", "419999001001", "4199990010010203", "A01-03", "XZ01"])
def test_codes_of_the_allowed_form_pass(code):
    assert code_form_problem(code) is None and check_code(code) == code


def _hostile_layer(tmp_path):
    """Level 2 of the hand-drawn city without a parent field, its grids of kind 网格 (grid):
    one good code, four of another form, and a gap at the east end."""
    rows = [("419999001", box(0, 0, 1, 2)), (HOSTILE["markup"], box(1, 0, 2, 2)),
            (HOSTILE["template"], box(2, 0, 3, 2)), (HOSTILE["full-width digits"], box(3, 0, 3.5, 2)),
            (HOSTILE["over-long"], box(3.5, 0, 3.9, 2))]
    city = tmp_path / "city.geojson"
    frame(layers()[1]).to_file(city, driver="GeoJSON")
    streets = tmp_path / "grids.geojson"
    gpd.GeoDataFrame({"代码": [c for c, _ in rows], "名称": [f"第{n}网格" for n in range(1, 6)]},
                     geometry=[deg(g) for _, g in rows], crs="EPSG:4490").to_file(streets, driver="GeoJSON")
    return city, streets


@pytest.mark.parametrize("on_invalid", ["raise", "report", "fix"])
def test_import_refuses_codes_of_another_form_in_every_mode_with_the_other_problems(run_cli, tmp_path,
                                                                                    on_invalid):
    city, grids = _hostile_layer(tmp_path)
    run_cli("grids", "import", city, "--level", "1", "--commit")
    result = run_cli("grids", "import", grids, "--level", "2", "--on-invalid", on_invalid, "--commit", "--json",
                     expect=1)
    report = json.loads(result.output[:result.output.rindex("}") + 1])
    errors = report["validation"]["errors"]
    bad = {i["feature"]: i["message"] for i in errors if i["kind"] == "bad_code"}
    assert sorted(bad) == [2, 3, 4, 5]
    for feature, code in zip([2, 3, 4, 5], ["markup", "template", "full-width digits", "over-long"]):
        message = bad[feature]
        assert message.startswith(f"grids.geojson: feature {feature} (code {repr(HOSTILE[code])[:20]}")
        assert CODE_FORM in message
    assert "has characters outside the allowed form: '<', 'i', '>', 'x'" in bad[2]
    assert "is 33 characters long" in bad[5]
    assert any(i["kind"] == "gap" for i in errors)  # reported together, in one run
    assert "nothing was imported" in result.output and "cannot be stored in any --on-invalid mode" in result.output
    listed = run_cli("grids", "list", "--generation", "draft", "--level", "2", "--json").output
    assert json.loads(listed) == []


def test_a_parent_code_of_another_form_is_quoted(run_cli, tmp_path):
    rows = [dict(code=V3, name="西河村", parent="419999<b>", geom=box(2, 0, 3, 2))]
    paths = write_layers(tmp_path, rows)
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    run_cli("grids", "import", paths[2], "--level", "2", "--commit")
    result = run_cli("grids", "import", paths[3], "--level", "3", "--on-invalid", "report", expect=1)
    assert "names parent code '419999<b>', which is not a level-2 grid" in result.output


@pytest.mark.parametrize("name", ["markup", "NUL", "over-long", "full-width digits", "inner space"])
def test_edits_refuse_new_codes_of_another_form_before_changing_anything(draft, name):
    code = HOSTILE[name]
    before = draft.execute(sa.text("SELECT code, version FROM grid ORDER BY code")).all()
    with pytest.raises(InputError, match="a grid code is") as split:
        split_grid(draft, "draft", V3, deg(LineString([(2.5, -0.5), (2.5, 2.5)])), new_codes=[code])
    with pytest.raises(InputError, match="a grid code is") as move:
        move_unit(draft, "draft", V3, S1, new_code=code)
    for refused in (split.value, move.value):
        assert str(refused).startswith(f"new code {repr(code)[:20]}") and "\x00" not in str(refused)
    draft.rollback()
    assert draft.execute(sa.text("SELECT code, version FROM grid ORDER BY code")).all() == before


def test_parents_built_from_a_hostile_parent_field_are_refused(run_cli, tmp_path):
    rows = [dict(code=V3, name="西河村", parent="419999{{7*7}}", geom=box(2, 0, 3, 2))]
    paths = write_layers(tmp_path, rows)
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    result = run_cli("grids", "import", paths[3], "--level", "3", "--build-parents", "--on-invalid", "report",
                     "--commit", expect=1)
    assert "code '419999{{7*7}}'" in result.output and CODE_FORM in result.output
    assert "nothing was imported" in result.output


def test_no_code_is_proposed_under_a_stored_parent_code_of_another_form(run_cli, tmp_path, engine):
    from gisgrid.boundaries.codes import propose_codes
    from sqlalchemy.orm import Session

    _load(run_cli, tmp_path)
    with engine.begin() as conn:  # stored before codes were checked
        conn.execute(sa.text("UPDATE grid SET code = '419999<b>' WHERE code = :c"), {"c": S1})
    with Session(engine) as session:
        skipped = propose_codes(session, "draft")["skipped"]
    reasons = {s["reason"] for s in skipped}
    assert reasons == {"its parent's code '419999<b>' has characters outside the allowed form: '<', 'b', '>'"}

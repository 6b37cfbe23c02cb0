"""An edit validates what it touched: the same problems as the whole validation, there.

A draft of 4 streets of 3 × 3 communities (units of 0.01°) with problems of its own — a gap
in street 1, an overlap in street 4, a sliver in street 2 — is edited near and far from them;
after every edit the problems the edit reports are exactly those of the whole validation
in the area it touched: naming a changed grid, or an unchanged parent with its own children
(gisgrid.boundaries.neighbourhood.touched_area, applied here to the whole report).
"""

from __future__ import annotations

import json

import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import LineString, box
from sqlalchemy.orm import Session

from gisgrid.boundaries.edit import EditRefused, merge_grids, move_unit, replace_geometry, split_grid
from gisgrid.boundaries.neighbourhood import load_state, touched_area, validate_touched
from gisgrid.boundaries.validate import public_report, validate_generation
from tests.boundaries.defects import deg

CITY = "419999"
DRAFT = "局部校验"


def street(s: int) -> str:
    return f"{CITY}{s:03d}"


def community(s: int, k: int) -> str:
    return f"{street(s)}{k:03d}"


def _cells() -> list[dict]:
    """City → 4 streets (2 × 2 blocks of 3 units) → 9 communities each, with three defects."""
    rows = [dict(code=CITY, level=1, kind="city", name="测试市", parent=None, geom=box(0, 0, 6, 6))]
    for s in range(1, 5):
        sx, sy = 3 * ((s - 1) % 2), 3 * ((s - 1) // 2)
        rows.append(dict(code=street(s), level=2, kind="street", name=f"街道{s}", parent=CITY,
                         geom=box(sx, sy, sx + 3, sy + 3)))
        for k in range(1, 10):
            c, r = (k - 1) % 3, (k - 1) // 3
            rows.append(dict(code=community(s, k), level=3, kind="community", name=f"社区{s}-{k}",
                             parent=street(s), geom=box(sx + c, sy + r, sx + c + 1, sy + r + 1)))
    by_code = {r["code"]: r for r in rows}
    by_code[community(1, 5)]["geom"] = box(1, 1, 1.9, 2)              # a gap of ~90 m × 1.1 km
    by_code[community(4, 1)]["geom"] = box(3, 3, 4.05, 4)             # overlaps 4-2 by ~46 m
    by_code[community(2, 9)]["geom"] = box(5, 2, 6.0002, 3)           # a sliver beyond street 2
    return rows


@pytest.fixture
def county(engine):
    with Session(engine) as session:
        gen = session.execute(sa.text("INSERT INTO generation (name, status) VALUES (:n, 'draft') RETURNING id"),
                              {"n": DRAFT}).scalar()
        ids: dict[str, int] = {}
        for row in _cells():
            ids[row["code"]] = session.execute(sa.text(
                "INSERT INTO grid (generation_id, identity, level, kind, code, name, parent_id, geom) VALUES "
                "(:g, gen_random_uuid(), :level, :kind, :code, :name, :parent, "
                "ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4490))) RETURNING id"),
                {"g": gen, **{k: row[k] for k in ("level", "kind", "code", "name")},
                 "parent": ids.get(row["parent"]), "wkb": shapely.to_wkb(deg(row["geom"]), hex=True)}).scalar()
        session.commit()
        yield session


def _canonical(items: list[dict]) -> list[str]:
    return sorted(json.dumps(i, sort_keys=True, ensure_ascii=False) for i in items)


def _whole_there(session, scope: dict) -> dict:
    """The whole validation's problems in the touched area of ``scope`` (a layer shift aside)."""
    report = public_report(validate_generation(session, DRAFT))
    state = load_state(session, session.execute(sa.text("SELECT id FROM generation WHERE name = :n"),
                                                {"n": DRAFT}).scalar())
    ids = {row["code"]: i for i, row in state.rows.items()}
    touched = touched_area(state, {ids[c] for c in scope["changed"]}, {ids[c] for c in scope["parents"]})
    keep = lambda i: i["kind"] != "suspected_offset" and touched(i)  # noqa: E731
    # and, whatever the rule, every problem naming a changed grid is in
    named = [i for i in report["errors"] if set(scope["changed"]) & set(i["codes"])]
    assert all(keep(i) for i in named)
    return {key: _canonical([i for i in report[key] if keep(i)]) for key in ("errors", "warnings")}


def _local(result: dict) -> dict:
    return {key: _canonical(result["validation"][key]) for key in ("errors", "warnings")}


EDITS = {
    # street 3's corner unit goes to street 4, whose overlap stays
    "move a unit": lambda s: move_unit(s, DRAFT, community(3, 3), street(4)),
    # street 2, beside the sliver
    "split": lambda s: split_grid(s, DRAFT, community(2, 6), deg(LineString([(5.5, 0.9), (5.5, 2.1)]))),
    # the overlapping pair of street 4 becomes one grid
    "merge": lambda s: merge_grids(s, DRAFT, [community(4, 1), community(4, 2)]),
    # street 3, far from every problem: 3-9 takes a strip of 3-8
    "reshape": lambda s: replace_geometry(s, DRAFT, community(3, 9), deg(box(1.8, 5, 3, 6))),
    # a street cut along its communities' edges: its children follow their part, renumbered
    "split a street": lambda s: split_grid(s, DRAFT, street(2), deg(LineString([(4, -0.1), (4, 3.1)])),
                                           new_codes=["419999005"]),
    # into the gap: 1-6 grows west over it
    "reshape into the gap": lambda s: replace_geometry(s, DRAFT, community(1, 6), deg(box(1.9, 1, 3, 2))),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edit_reports_the_whole_validations_problems_of_what_it_touched(county, edit):
    result = EDITS[edit](county)
    scope = result["validation"]["scope"]
    assert result["validation"]["checked"] < 41  # fewer grids read than the draft has
    assert _local(result) == _whole_there(county, scope)


def test_the_scope_is_the_changed_grids_and_their_parents(county):
    result = move_unit(county, DRAFT, community(3, 3), street(4))
    unit = result["unit"]
    assert result["validation"]["scope"] == {"changed": sorted([unit, street(3), street(4)]), "parents": [CITY]}
    # the overlap of 4-1 and 4-2 inside street 4 names neither the unit nor a parent: not this edit's
    assert result["validation"]["errors"] == []


def test_a_series_of_edits_keeps_agreeing(county):
    for edit in ("move a unit", "split", "merge", "reshape"):
        result = EDITS[edit](county)
        assert _local(result) == _whole_there(county, result["validation"]["scope"]), edit
    # the edits added no error, and the merge took the overlap away: street 1's gap is left
    assert {e["kind"] for e in validate_generation(county, DRAFT)["errors"]} == {"gap"}


def test_a_refused_edit_names_the_same_new_problems_either_way(county):
    shrink = lambda s, how: replace_geometry(s, DRAFT, community(3, 7), deg(box(0, 5, 0.6, 6)),  # noqa: E731
                                             validation=how)
    found = {}
    for how in ("touched", "full"):
        with pytest.raises(EditRefused) as refused:
            shrink(county, how)
        county.rollback()
        found[how] = _canonical(refused.value.details)
    assert found["touched"] == found["full"] and any('"gap"' in d for d in found["touched"])


def test_local_check_of_the_unchanged_draft_matches_too(county):
    state = load_state(county, county.execute(sa.text("SELECT id FROM generation WHERE name = :n"),
                                              {"n": DRAFT}).scalar())
    ids = {i for i, row in state.rows.items() if row["code"] in (community(4, 1), community(2, 9))}
    parent = {i for i, row in state.rows.items() if row["code"] == street(1)}
    report = public_report(validate_touched(state, ids, parent))
    assert {k: _canonical(report[k]) for k in ("errors", "warnings")} == _whole_there(county, report["scope"])
    assert {e["kind"] for e in report["errors"]} == {"gap", "overlap"}
    assert [w["kind"] for w in report["warnings"]] == ["sliver"]

"""Workload balance of a draft by its own boundaries (no assignment rows), with 四定 staff and flags."""

from __future__ import annotations

import json

import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import MultiPolygon, box
from sqlalchemy.orm import Session

from gisgrid.analysis.balance import generation_balance
from gisgrid.errors import InputError, NotFound
from tests.boundaries.defects import CITY, S1, S2, V1, V2, V3, V4, deg, lonlat, write_layers

# V1 three employers (one key, headcounts 10 + 20 + none), V2 none, one on the V3|V4 edge
# (the lowest code, V3, takes it), V4 two, and one outside the city.
POINTS = [((0.5, 0.5), 10, "欠薪2个月"), ((0.5, 1.5), 20, None), ((0.2, 0.2), None, None),
          ((3.0, 1.0), 5, None), ((3.5, 0.5), 7, None), ((3.5, 1.5), 0, None), ((5.0, 1.0), 9, None)]


@pytest.fixture
def plan(run_cli, tmp_path, engine):
    for level, path in write_layers(tmp_path).items():
        run_cli("grids", "import", path, "--level", level, "--generation", "草稿", "--commit")
    with engine.begin() as conn:
        for (x, y), headcount, key in POINTS:
            conn.execute(sa.text("INSERT INTO employer (name, headcount, key_flags, geom) "
                                 "VALUES ('单位', :h, :k, ST_SetSRID(ST_MakePoint(:x, :y), 4490))"),
                         {"h": headcount, "k": key, "x": lonlat(x, y)[0], "y": lonlat(x, y)[1]})
        for code, role in ((V1, "coordinator"), (S1, "part_time"), (S1, "full_time"), (S2, "part_time")):
            staff = conn.execute(sa.text("INSERT INTO staff (name, role) VALUES ('某人', :r) RETURNING id"),
                                 {"r": role}).scalar()
            conn.execute(sa.text("INSERT INTO staff_grid (staff_id, grid_identity, duty) "
                                 "SELECT :s, identity, '巡查' FROM grid WHERE code = :c"), {"s": staff, "c": code})
        # V4 in two pieces (a planner's reshape left an island)
        conn.execute(sa.text("UPDATE grid SET geom = ST_GeomFromWKB(decode(:w, 'hex'), 4490) WHERE code = :c"),
                     {"c": V4, "w": shapely.to_wkb(deg(MultiPolygon([box(3, 0, 4, 0.9), box(3, 1.1, 4, 2)])),
                                                   hex=True)})
    with Session(engine) as session:
        yield session


def _by_code(report: dict) -> dict[str, dict]:
    return {r["code"]: r for r in report["grids"]}


def test_employers_are_counted_by_the_drafts_geometry_and_rolled_up(plan):
    report = generation_balance(plan, "草稿")
    rows = _by_code(report)
    assert {c: rows[c]["employers"] for c in rows} == {CITY: 6, S1: 3, S2: 3, V1: 3, V2: 0, V3: 1, V4: 2}
    # (3, 1) is on V3's edge and in the strip V4 lost: V3's alone; V4 keeps one point on each piece
    assert report["outside"] == 1 and report["employers"] == 6
    assert (rows[V1]["headcount"], rows[V1]["key_supervision"]) == (30, 1)
    assert (rows[S1]["headcount"], rows[CITY]["key_supervision"]) == (30, 1)
    assert rows[V3]["parent_code"] == S2 and rows[CITY]["parent_code"] is None


def test_staff_targets_deviation_and_flags(plan):
    rows = _by_code(generation_balance(plan, "草稿", employers_per_coordinator=2))
    assert rows[V1]["staff"] == {"full_time": 0, "part_time": 0, "coordinator": 1}
    assert rows[S1]["staff"] == {"full_time": 1, "part_time": 1, "coordinator": 0}
    # siblings' mean: V1 and V2 → 1.5; S1 and S2 → 3; the city alone → itself
    assert (rows[V1]["target"], rows[V1]["deviation"], rows[V1]["target_from"]) == (1.5, 1.0, "siblings")
    assert (rows[V2]["deviation"], rows[S2]["deviation"], rows[CITY]["deviation"]) == (-1.0, 0.0, 0.0)
    flags = {code: {f for f, on in r["flags"].items() if on} for code, r in rows.items()}
    assert flags[V1] == {"over_capacity"}                      # 3 employers > 2 per coordinator × 1
    assert flags[V2] == {"understaffed", "empty"}              # a village needs a coordinator (default standard)
    assert flags[V4] == {"understaffed", "not_contiguous"} and rows[V4]["parts"] == 2
    assert flags[S2] == {"understaffed", "over_capacity"}     # one inspector (wants 2); 3 > 2 × (no one → 1)
    assert flags[S1] == {"over_capacity"}                      # 3 > 2 × its one coordinator (in V1)


def test_a_target_setting_and_a_level(plan):
    report = generation_balance(plan, "草稿", level=3, targets={3: 2})
    assert [r["code"] for r in report["grids"]] == [V1, V2, V3, V4]
    assert {(r["target"], r["target_from"]) for r in report["grids"]} == {(2, "setting")}
    assert _by_code(report)[V1]["deviation"] == 0.5


def test_bad_level_and_unknown_generation(plan):
    with pytest.raises(InputError, match="层级"):
        generation_balance(plan, "草稿", level=9)
    with pytest.raises(NotFound):
        generation_balance(plan, "没有")


def test_cli_balance(plan, run_cli):
    data = json.loads(run_cli("grids", "balance", "草稿", "--level", "3", "--json").output)
    assert [r["code"] for r in data["grids"]] == [V1, V2, V3, V4] and data["grids"][0]["employers"] == 3
    text = run_cli("grids", "balance", "草稿").output
    assert "无用人单位" in text and "人员配备不足" in text and "不在任何网格内" in text
    missing = run_cli("grids", "balance", "没有", expect=1)
    assert "没有" in missing.output and "Traceback" not in missing.output

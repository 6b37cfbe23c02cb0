"""Placing employers on the hand-drawn grids: territory, suspected shifts, gazetteer, manual placement, lists."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import sqlalchemy as sa

from gisgrid.crs import wgs84_to_shifted
from gisgrid.employers.identifiers import make_credit_code
from tests.fixtures.handdrawn import UNIT, X0, Y0

HEADER = ["单位名称", "统一社会信用代码", "地址", "职工人数", "调查日期", "经度", "纬度", "坐标系"]


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _xy(x, y):
    return f"{X0 + x * UNIT:.6f}", f"{Y0 + y * UNIT:.6f}"


def _import(run_cli, path, *args):
    return json.loads(run_cli("employers", "import", path, *args, "--json").output)


ADDRESS_ROWS = [
    ["向阳社区的店", make_credit_code("419999", 1), "测试市东风街道向阳社区和平路1号", 5, "2026-10-01", "", "", ""],
    ["西河镇的厂", make_credit_code("419999", 2), "测试市西河镇振兴路8号", 5, "2026-10-01", "", "", ""],
    ["无处可寻", make_credit_code("419999", 3), "外地某路9号", 5, "2025-01-01", "", "", ""],
    ["城外的厂", make_credit_code("419999", 4), "测试市城外", 5, "2026-10-01", *_xy(3.5, 1.0), "CGCS2000"],
]


def test_gazetteer_places_addresses_and_the_rest_are_pending(grids, run_cli, tmp_path, engine):
    report = _import(run_cli, _write(tmp_path / "r.csv", ADDRESS_ROWS), "--commit")
    assert report["rejected"] == []
    assert [(w["row"], w["reason"]) for w in report["warnings"]] == [(5, "outside_territory")]
    assert report["unlocated"] == 1 and report["unlocated_rows"][0]["name"] == "无处可寻"
    assert report["located_by"] == {"gazetteer": 2, "given": 1, "none": 1}
    rows = {r["name"]: r for r in json.loads(run_cli("employers", "list", "--json").output)}
    assert (rows["向阳社区的店"]["grid_code"], rows["向阳社区的店"]["located_by"],
            rows["向阳社区的店"]["location_precision"]) == ("419999001002", "gazetteer", "村/社区级")
    assert (rows["西河镇的厂"]["grid_code"], rows["西河镇的厂"]["location_precision"]) == ("419999002201", "街道/乡镇级")
    assert rows["无处可寻"]["grid_code"] is None and rows["无处可寻"]["located_by"] == "none"
    assert rows["无处可寻"]["stale"] is True and rows["向阳社区的店"]["stale"] is False
    pending = json.loads(run_cli("employers", "list", "--unassigned", "--json").output)
    assert {r["name"] for r in pending} == {"无处可寻", "城外的厂"}
    assert next(r for r in pending if r["name"] == "城外的厂")["nearest_grid_code"] == "419999002201"
    in_street = json.loads(run_cli("employers", "list", "--grid", "419999001", "--json").output)
    assert [r["name"] for r in in_street] == ["向阳社区的店"]
    assert "待定位" in run_cli("employers", "list", "--unassigned").output


def test_manual_placement_is_recorded_assigned_and_survives_reimport(grids, run_cli, tmp_path, engine):
    path = _write(tmp_path / "r.csv", ADDRESS_ROWS)
    run_cli("employers", "import", path, "--commit")
    code = make_credit_code("419999", 3)
    lon, lat = _xy(2.0, 0.5)
    dry = json.loads(run_cli("employers", "place", code, lon, lat, "--json").output)
    assert dry["employer"]["grid_code"] == "419999002201" and dry["committed"] is False
    placed = json.loads(run_cli("employers", "place", code, lon, lat, "--actor", "李协管员", "--commit",
                                "--json").output)["employer"]
    assert (placed["grid_code"], placed["located_by"], placed["placed_by"]) == ("419999002201", "manual", "李协管员")
    assert placed["located_at"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT actor, action FROM audit_log WHERE action = 'place_employer'")).one() \
            == ("李协管员", "place_employer")
    again = _import(run_cli, path, "--commit")
    assert again["imported"] == 0 and again["updated"] == 0
    shown = json.loads(run_cli("employers", "show", code, "--json").output)
    assert (shown["located_by"], shown["grid_code"]) == ("manual", "419999002201")
    assert "manual" in run_cli("employers", "show", code).output


def test_place_in_gcj02_is_converted(grids, run_cli, tmp_path, engine):
    run_cli("employers", "import", _write(tmp_path / "r.csv", ADDRESS_ROWS), "--commit")
    x, y = (float(v) for v in _xy(0.5, 0.5))
    gx, gy = wgs84_to_shifted(np.array([x]), np.array([y]), "gcj02")
    placed = json.loads(run_cli("employers", "place", make_credit_code("419999", 3), float(gx[0]), float(gy[0]),
                                "--crs", "gcj02", "--commit", "--json").output)["employer"]
    assert abs(placed["lon"] - x) < 1e-7 and abs(placed["lat"] - y) < 1e-7
    assert placed["grid_code"] == "419999001001" and placed["source_crs"] == "gcj02"
    assert "not in China" in run_cli("employers", "place", make_credit_code("419999", 3), "34.3", "113.7",
                                     expect=1).output
    assert "not found" in run_cli("employers", "place", make_credit_code("419999", 9), "113.7", "34.3",
                                  expect=1).output


def _shift_rows(system, crs=""):
    """Points inside the hand-drawn towns, shifted into ``system`` (None: true), declared ``crs``."""
    rows = []
    for i, (x, y) in enumerate([(x, y) for x in np.arange(0.1, 3.0, 0.2) for y in (0.3, 1.7)]):
        town = "东风街道" if x < 1.5 else "西河镇"
        lon, lat = np.array([X0 + x * UNIT]), np.array([Y0 + y * UNIT])
        if system:
            lon, lat = wgs84_to_shifted(lon, lat, system)
        rows.append([f"单位{i}", make_credit_code("419999", 100 + i), f"测试市{town}某路{i}号", 5, "2026-10-01",
                     f"{lon[0]:.6f}", f"{lat[0]:.6f}", crs])
    return rows


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_suspected_shift_says_which_crs_fixes_it(grids, run_cli, tmp_path, engine, system):
    path = _write(tmp_path / "r.csv", _shift_rows(system))
    report = _import(run_cli, path)
    shift = [w for w in report["warnings"] if w["reason"] == "suspected_shift"]
    assert len(shift) == 1 and f"--crs {system}" in shift[0]["message"] and shift[0]["row"] is None
    # Committed as they are, the shifted points would land in wrong grids: refused, nothing written.
    refused = run_cli("employers", "import", path, "--commit", expect=1)
    assert "nothing imported" in refused.output and f"--crs {system}" in refused.output \
        and "--crs CGCS2000" in refused.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 0
    assert "--commit will refuse" in run_cli("employers", "import", path).output
    fixed = _import(run_cli, path, "--crs", system, "--commit")
    assert fixed["warnings"] == [] and fixed["assignment"]["unassigned"] == 0
    assert fixed["located_by"] == {system: len(_shift_rows(system))}


def test_declaring_the_coordinates_cgcs2000_imports_them_as_they_are(grids, run_cli, tmp_path, engine):
    path = _write(tmp_path / "r.csv", _shift_rows("gcj02"))
    report = _import(run_cli, path, "--crs", "CGCS2000", "--commit")  # the person's own word: a warning only
    assert report["imported"] == len(_shift_rows("gcj02"))
    assert {w["reason"] for w in report["warnings"]} == {"suspected_shift", "outside_territory"}


def test_no_shift_suspected_for_true_coordinates(grids, run_cli, tmp_path, engine):
    report = _import(run_cli, _write(tmp_path / "r.csv", _shift_rows(None)))
    assert report["warnings"] == [] and report["rejected"] == []


def test_show_gives_record_grid_grades_and_history(grids, run_cli, tmp_path, engine):
    code = make_credit_code("419999", 1)
    first = tmp_path / "a.csv"
    first.write_text("单位名称,统一社会信用代码,地址,职工人数,参保人数,诚信等级,评价年度,调查日期,经度,纬度\n"
                     f"甲公司,{code},测试市东风街道东风社区,10,10,B,2025,2026-04-01,{','.join(_xy(0.5, 0.5))}\n",
                     encoding="utf-8")
    second = tmp_path / "b.csv"
    second.write_text("单位名称,统一社会信用代码,地址,职工人数,参保人数,诚信等级,评价年度,调查日期,经度,纬度\n"
                      f"甲公司,{code},测试市东风街道东风社区,12,6,C,2026,2026-10-01,{','.join(_xy(0.5, 0.5))}\n",
                      encoding="utf-8")
    run_cli("employers", "import", first, "--commit")
    run_cli("employers", "import", second, "--commit")
    shown = json.loads(run_cli("employers", "show", code, "--json").output)
    assert shown["grid_code"] == "419999001001" and shown["risk_level"] == 3
    assert shown["grades"] == [{"year": 2025, "grade": "B", "source": "a.csv"},
                               {"year": 2026, "grade": "C", "source": "b.csv"}]
    assert [h["surveyed_on"] for h in shown["history"]] == ["2026-04-01", "2026-10-01"]
    assert shown["history"][0]["data"]["headcount"] == 10
    text = run_cli("employers", "show", code).output
    assert "诚信等级C级" in text and "2025 B, 2026 C" in text
    assert "not found" in run_cli("employers", "show", "X", expect=1).output

"""Red-team findings on placing register rows: 坐标系 spellings, coordinate formats, declared
systems that look shifted, addresses in another city, town-only addresses."""

from __future__ import annotations

import csv
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from gisgrid.crs import parse_crs, wgs84_to_shifted
from gisgrid.employers.geocode import GazetteerEntry, GazetteerGeocoder
from gisgrid.employers.identifiers import make_credit_code
from gisgrid.employers.place import parse_coordinate
from gisgrid.employers.register import validate_register
from tests.employers.test_place import _shift_rows

HEADER = ["单位名称", "统一社会信用代码", "地址", "职工人数", "调查日期", "经度", "纬度", "坐标系"]
TODAY = dt.date(2026, 11, 1)


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _import(run_cli, path, *args):
    return json.loads(run_cli("employers", "import", path, *args, "--json").output)


def _validate(lon, lat, crs=None, address=None):
    n = len(lon)
    frame = pd.DataFrame({"name": [f"单位{i}" for i in range(n)],
                          "credit_code": [make_credit_code("419901", 500 + i) for i in range(n)],
                          "address": address or [None] * n, "lon": lon, "lat": lat, "crs": crs or [None] * n},
                         index=pd.Index(range(2, n + 2), name="row"), dtype="string")
    return validate_register(frame, TODAY)


# 1. 坐标系 spellings (report #2)

@pytest.mark.parametrize("spelling, expected", [
    *[(s, "gcj02") for s in ("国测局", "国测局坐标", "国测局坐标系", "火星坐标", "火星坐标系", "GCJ-02坐标",
                             "GCJ02坐标系", "gcj 02", "高德", "腾讯", "ＧＣＪ－０２")],
    *[(s, "bd09") for s in ("百度", "百度坐标", "百度坐标系", "bd09ll", "BD09LL", "bd-09", "BD-09坐标系")],
    *[(s, "EPSG:4490") for s in ("2000国家大地坐标系", "国家2000坐标系", "CGCS2000坐标系", "CGCS 2000",
                                 "cgcs2000", "大地2000", "天地图", "ＣＧＣＳ２０００")],
    *[(s, "EPSG:4326") for s in ("GPS", "WGS-84", "WGS84坐标系", "WGS 84", "wgs84")],
    ("EPSG:4547", "EPSG:4547"), ("4547", "EPSG:4547"),
])
def test_usual_crs_spellings_are_recognised(spelling, expected):
    assert parse_crs(spelling).name == expected


def test_crs_spellings_convert_the_point_and_unknown_ones_warn():
    lon, lat = 113.727026, 34.391248
    gx, gy = (float(v[0]) for v in wgs84_to_shifted(np.array([lon]), np.array([lat]), "gcj02"))
    bx, by = (float(v[0]) for v in wgs84_to_shifted(np.array([lon]), np.array([lat]), "bd09"))
    good, rejected, warnings = _validate([str(gx), str(bx), str(lon), "113.7"], [str(gy), str(by), str(lat), "34.3"],
                                         ["国测局坐标", "百度坐标系", "2000国家大地坐标系", "北京54"])
    assert good["source_crs"].tolist()[:3] == ["gcj02", "bd09", "EPSG:4490"]
    for i in range(3):
        assert abs(good["lon"].iloc[i] - lon) < 1e-5 and abs(good["lat"].iloc[i] - lat) < 1e-5
    [unknown] = [w for w in warnings if w["reason"] == "unsupported_crs"]
    assert unknown["row"] == 5 and "北京54" in unknown["message"]
    assert all(word in unknown["message"] for word in ("CGCS2000", "WGS84", "GCJ02", "BD09", "EPSG"))
    assert "待定位" in unknown["message"]


# 2. Coordinate formats (report #7)

@pytest.mark.parametrize("text, expected", [
    ("113°43′37.29″", 113 + 43 / 60 + 37.29 / 3600), ("113°43'37.29\"", 113 + 43 / 60 + 37.29 / 3600),
    ("113度43分37.29秒", 113 + 43 / 60 + 37.29 / 3600), ("113度43分", 113 + 43 / 60), ("113°43.5′", 113.725),
    ("１１３．７２７０２６", 113.727026), ("113.727026E", 113.727026), ("E113.727026", 113.727026),
    ("东经113.727026", 113.727026), ("北纬34.391248", 34.391248), ("N34.3", 34.3), (" 113.7 ", 113.7),
    ("113,727026", 113.727026), ("113.727026°", 113.727026), ("abc", None), ("113°70′", None),
])
def test_coordinate_cells_in_everyday_formats_parse(text, expected):
    value = parse_coordinate(text)
    assert (value is None) if expected is None else abs(value - expected) < 1e-9


def test_everyday_formats_are_placed_and_bad_cells_always_warn():
    lon = ["113°43′37.29″", "113度43分37.29秒", "１１３．７２７０２６", "113.727026E", "E113.727026", "东经113.727026",
           "113,727026", "abc", None, "113.727026,34.391248", "113.727026，34.391248"]
    lat = ["34°23′28.49″", "34度23分28.49秒", "３４．３９１２４８", "34.391248N", "N34.391248", "北纬34.391248",
           "34,391248", "34.391248", "34.391248", None, None]
    good, rejected, warnings = _validate(lon, lat)
    assert rejected == []
    placed = good["lon"].notna()
    assert placed.tolist() == [True] * 7 + [False, False, True, True]
    assert np.allclose(good.loc[placed, "lon"], 113.727026, atol=1e-5)
    assert np.allclose(good.loc[placed, "lat"], 34.391248, atol=1e-5)
    by_row = {w["row"]: w for w in warnings}
    assert set(by_row) == {9, 10}
    assert (by_row[9]["reason"], by_row[9]["column"]) == ("bad_coordinates", "经度/纬度")
    assert "经度 'abc'" in by_row[9]["message"]
    assert "'abc'" in by_row[9]["message"] and "待定位" in by_row[9]["message"]
    assert by_row[10]["reason"] == "incomplete_coordinates" and "34.391248" in by_row[10]["message"]
    assert "待定位" in by_row[10]["message"]


def test_dropped_coordinates_say_the_row_was_placed_from_its_address(grids, run_cli, tmp_path, engine):
    rows = [["坏坐标的店", make_credit_code("419999", 1), "测试市东风街道向阳社区和平路1号", 5, "2026-10-01",
             "abc", "34.31", ""]]
    report = _import(run_cli, _write(tmp_path / "r.csv", rows))
    [warning] = report["warnings"]
    assert (warning["row"], warning["reason"], warning["column"]) == (2, "bad_coordinates", "经度/纬度")
    assert "'abc'" in warning["message"] and "已按地址定位" in warning["message"]
    assert report["located_by"] == {"gazetteer": 1}


# 3. Declared CGCS2000/WGS84 that looks shifted (report #4)

@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_declared_cgcs2000_that_looks_shifted_is_warned(grids, run_cli, tmp_path, engine, system):
    report = _import(run_cli, _write(tmp_path / "r.csv", _shift_rows(system, "CGCS2000")))
    [shift] = [w for w in report["warnings"] if w["reason"] == "suspected_shift"]
    assert system.upper() in shift["message"] and "CGCS2000" in shift["message"] and "未自动转换" in shift["message"]
    assert report["located_by"] == {"given": len(_shift_rows(system, ""))}   # never converted on a guess
    by_option = _import(run_cli, _write(tmp_path / "o.csv", _shift_rows(system, "")), "--crs", "WGS84")
    [shift] = [w for w in by_option["warnings"] if w["reason"] == "suspected_shift"]
    assert f"--crs {system}" in shift["message"]


def test_true_declared_coordinates_are_not_suspected(grids, run_cli, tmp_path, engine):
    report = _import(run_cli, _write(tmp_path / "r.csv", _shift_rows(None, "2000国家大地坐标系")))
    assert report["warnings"] == [] and report["rejected"] == []


def test_part_of_a_declared_file_shifted_is_warned(grids, run_cli, tmp_path, engine):
    rows = [r if i % 2 else _shift_rows("gcj02", "CGCS2000")[i] for i, r in enumerate(_shift_rows(None, "CGCS2000"))]
    report = _import(run_cli, _write(tmp_path / "r.csv", rows))
    [shift] = [w for w in report["warnings"] if w["reason"] == "suspected_shift"]
    assert "GCJ02" in shift["message"]


# 4. Addresses in another city, community under another town (report #9)

GAZETTEER = [
    GazetteerEntry("419901001", "北城街道", 2, "419901", 113.70, 34.30),
    GazetteerEntry("419901001001", "碧水社区", 3, "419901001", 113.701, 34.301),
    GazetteerEntry("419901001002", "朝阳社区", 3, "419901001", 113.702, 34.302),
    GazetteerEntry("419901002", "新华街道", 2, "419901", 113.80, 34.40),
    GazetteerEntry("419901002001", "东苑社区", 3, "419901002", 113.801, 34.401),
    GazetteerEntry("419901002002", "西苑社区", 3, "419901002", 113.802, 34.402),
]


@pytest.mark.parametrize("roots", [(), ("示范市",)])
def test_an_address_in_another_province_is_not_placed(roots):
    hit, notes = GazetteerGeocoder(GAZETTEER, roots).diagnose("北京市朝阳区朝阳路1号")
    assert hit is None and "北京市" in notes["address_outside_city"]
    assert GazetteerGeocoder(GAZETTEER, roots).geocode("北京市朝阳区朝阳社区1号") is None


def test_an_address_in_another_city_is_not_placed_when_the_city_is_known():
    g = GazetteerGeocoder(GAZETTEER, ["示范市"])
    hit, notes = g.diagnose("河南省郑州市北城街道碧水社区1号")
    assert hit is None and "郑州市" in notes["address_outside_city"]
    for own in ("河南省示范市北城街道碧水社区1号", "示范市北城街道碧水社区1号", "北城街道碧水社区1号", "碧水社区1号"):
        assert g.geocode(own).grid_code == "419901001001", own


def test_a_community_under_another_town_is_warned():
    hit, notes = GazetteerGeocoder(GAZETTEER, ["示范市"]).diagnose("示范市北城街道东苑社区和平路5号")
    assert "新华街道" in notes["community_town_mismatch"] and "北城街道" in notes["community_town_mismatch"]
    assert hit.level == 2 and "town_only_address" in notes


# 5. Town-only addresses (report #10)

def test_a_town_only_address_is_left_unlocated_with_a_warning(grids, run_cli, tmp_path, engine):
    rows = [["街道级的店", make_credit_code("419999", 1), "测试市东风街道振兴路8号", 5, "2026-10-01", "", "", ""],
            ["单一网格镇的厂", make_credit_code("419999", 2), "测试市西河镇振兴路8号", 5, "2026-10-01", "", "", ""],
            ["北京的店", make_credit_code("419999", 3), "北京市朝阳区东风路1号", 5, "2026-10-01", "", "", ""]]
    report = _import(run_cli, _write(tmp_path / "r.csv", rows), "--commit")
    warned = {w["row"]: w for w in report["warnings"]}
    assert set(warned) == {2, 4}
    assert warned[2]["reason"] == "town_only_address" and "东风街道" in warned[2]["message"]
    assert "gisgrid employers place" in warned[2]["message"]
    assert warned[4]["reason"] == "address_outside_city"
    assert {r["row"] for r in report["unlocated_rows"]} == {2, 4}
    listed = {r["name"]: r for r in json.loads(run_cli("employers", "list", "--json").output)}
    assert listed["街道级的店"]["grid_code"] is None and listed["街道级的店"]["located_by"] == "none"
    assert listed["单一网格镇的厂"]["grid_code"] == "419999002201"


def test_another_city_is_recognised_by_learning_our_own_from_the_register(grids, run_cli, tmp_path, engine):
    rows = [[f"本市的店{i}", make_credit_code("419999", 10 + i), f"河南省测试市东风街道向阳社区和平路{i}号", 5,
             "2026-10-01", "", "", ""] for i in range(3)]
    rows.append(["外市的店", make_credit_code("419999", 20), "郑州市东风街道向阳社区和平路1号", 5, "2026-10-01", "", "", ""])
    report = _import(run_cli, _write(tmp_path / "r.csv", rows))
    assert [(w["row"], w["reason"]) for w in report["warnings"]] == [(5, "address_outside_city")]
    assert "郑州市" in report["warnings"][0]["message"] and report["located_by"] == {"gazetteer": 3, "none": 1}


def test_only_cells_that_are_not_plain_numbers_go_through_the_slow_parser(monkeypatch):
    import gisgrid.employers.place as place

    seen = []
    real = place.parse_coordinate
    monkeypatch.setattr(place, "parse_coordinate", lambda text: seen.append(text) or real(text))
    lon = ["113.7", "113.71", 113.72, "113°43′37″", "", None]
    lat = ["34.3", "34.31", 34.32, "34.3", "", None]
    good, _, _ = _validate(lon, lat)
    assert seen == ["113°43′37″"] and good["lon"].notna().tolist() == [True] * 4 + [False] * 2

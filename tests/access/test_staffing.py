"""The 四定 staffing standard: grids under or over it, in staffing_check and in the roster export."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.access.staffing import rule_for, staffing_check
from gisgrid.config import load_settings, parse_staff_minimums
from gisgrid.db.engine import dispose_engines, get_engine
from gisgrid.errors import ConfigError
from gisgrid.export.registers import export_roster

TODAY = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def city_url(demo_copy_app):
    app = demo_copy_app("staffing_city")
    url = app.config["GISGRID_SETTINGS"].database_url
    # Street 419901002 loses its part-time inspector on 2026-11-19; community 419901002001
    # gets two more coordinators (4 > 3) from 2026-11-01; 419901002002 loses both from 2026-12-01.
    with Session(get_engine(url)) as session:
        session.execute(sa.text("""
            UPDATE staff_grid sg SET valid_to = '2026-11-18' FROM staff s, grid g
            WHERE s.id = sg.staff_id AND g.identity = sg.grid_identity AND g.code = '419901002'
              AND s.role = 'part_time'"""))
        for name in ("多甲", "多乙"):
            session.execute(sa.text("""
                WITH s AS (INSERT INTO staff (name, role) VALUES (:n, 'coordinator') RETURNING id)
                INSERT INTO staff_grid (staff_id, grid_identity, valid_from)
                SELECT s.id, g.identity, '2026-11-01' FROM s, grid g JOIN generation n ON n.id = g.generation_id
                WHERE n.status = 'active' AND g.code = '419901002001'"""), {"n": name})
        session.execute(sa.text("""
            UPDATE staff_grid sg SET valid_to = '2026-11-30' FROM grid g
            WHERE g.identity = sg.grid_identity AND g.code = '419901002002'"""))
        session.commit()
    yield url
    dispose_engines()


@pytest.fixture
def session(city_url):
    with Session(get_engine(city_url)) as session:
        yield session
        session.rollback()


def test_grids_under_and_over_the_standard(session):
    rows = {r["code"]: r for r in staffing_check(session, on=TODAY)}
    street = rows["419901002"]
    assert street["counts"] == {"full_time": 1, "part_time": 0, "coordinator": 0}
    assert (street["status"], street["minimum"], street["counted"], street["text"]) == ("under", 2, 1, "不足（应≥2，现1）")
    crowded = rows["419901002001"]
    assert (crowded["status"], crowded["maximum"], crowded["text"]) == ("over", 3, "超编（应≤3，现4）")
    assert rows["419901002002"]["status"] == "ok"  # still two until 2026-11-30
    assert rows["419901"]["rule"] is None and rows["419901"]["text"] == "—"  # the city: no standard
    assert {r["status"] for c, r in rows.items() if c not in ("419901002", "419901002001")} == {"ok"}
    later = {r["code"]: r for r in staffing_check(session, on=dt.date(2026, 12, 1))}
    assert later["419901002002"]["text"] == "不足（应≥1，现0）"
    before = {r["code"]: r for r in staffing_check(session, on=dt.date(2026, 11, 18))}
    assert before["419901002"]["status"] == "ok"  # the last day in force counts


def test_rules_from_the_setting(session):
    rules = parse_staff_minimums("level2:3,village:2-2:coordinator")
    rows = {r["code"]: r for r in staffing_check(session, on=TODAY, rules=rules)}
    assert rows["419901001"]["text"] == "不足（应≥3，现2）"  # full- and part-time both count by default
    assert all(r["rule"] is None for r in rows.values() if r["kind"] == "community")
    kinds = {r["kind"] for r in rows.values() if r["level"] == 3 and r["rule"] is not None}
    assert kinds == {"village"}
    assert rule_for("town", 2, rules).minimum == 3 and rule_for("village", 3, rules).maximum == 2
    assert staffing_check(session, on=TODAY, rules=())[0]["status"] == "ok"


def test_the_setting_and_its_errors():
    default = load_settings({"GISGRID_HOME": "/tmp/g"}).staff_minimums
    assert rule_for("street", 2, default).minimum == 2 and rule_for("street", 2, default).maximum is None
    assert rule_for("community", 3, default).roles == ("coordinator",)
    assert load_settings({"GISGRID_HOME": "/tmp/g", "GISGRID_STAFF_MINIMUMS": "none"}).staff_minimums == ()
    for raw, message in (("street", "expected rules WHERE:MIN"), ("street:two", "number of staff"),
                         ("lane:2", "grid kind 'lane'"), ("street:3-1", "maximum is below"),
                         ("street:2:boss", "role 'boss'"), ("street:2,street:1", "twice")):
        with pytest.raises(ConfigError, match=message):
            load_settings({"GISGRID_HOME": "/tmp/g", "GISGRID_STAFF_MINIMUMS": raw})


def test_roster_marks_the_grids_below_the_standard(session, tmp_path):
    path = tmp_path / "roster.xlsx"
    report = export_roster(session, path, today=TODAY)
    assert (report["understaffed"], report["overstaffed"]) == (1, 1)
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert [c.value for c in sheet[4]][-2:] == ["起始日期", "配备情况"]
    assert "人员配备不足的网格 1 个，超编 1 个" in sheet["A2"].value and "协管员 1–3 人" in sheet["A2"].value
    standing = {}
    for row in sheet.iter_rows(min_row=5):
        standing.setdefault(row[0].value, set()).add((row[11].value, row[11].fill.fgColor.rgb, row[11].font.b))
    assert standing["419901002"] == {("不足（应≥2，现1）", "FFFDE0DC", True)}
    assert standing["419901002001"] == {("超编（应≤3，现4）", "FFFFF3E0", False)}
    assert {v for v, _, _ in standing["419901001"]} == {"达标"} and {v for v, _, _ in standing["419901"]} == {"—"}
    one = export_roster(session, tmp_path / "one.xlsx", grid_code="419901001", today=TODAY)
    assert one["understaffed"] == 0  # only the grids of the export are counted

"""Grades and key-supervision flags from a constructed record: cases handled in the previous year
(three → C, one → B, none → A), serious acts (C, or D in the A–D scheme), a refused order (C);
complaints of the last 12 months counted from the complaints, a refused one not counted."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.analysis.risk import RiskRules
from gisgrid.db.engine import session_scope
from gisgrid.supervision.cases import advance_case, close_case, file_case
from gisgrid.supervision.complaints import add_complaint, decide_complaint
from gisgrid.supervision.inspections import add_inspection, settle_rectification
from gisgrid.supervision.record import grade_from_record, refresh_flags
from tests.fixtures import handdrawn

D = dt.date
TODAY = D(2026, 12, 1)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture
def city(run_cli, tmp_path, engine):
    codes = handdrawn.load_city(run_cli, tmp_path)
    staff = list(handdrawn.add_staff(engine, (("甲", "full_time"), ("乙", "full_time"))).values())
    return {"codes": codes, "staff": staff}


def _closed_case(session, city, label, conclusion, closed_on, serious=()):
    made = file_case(session, actor="t", summary="案情", employer=city["codes"][label], filed_on=closed_on - dt.timedelta(days=20),
                     inspectors=city["staff"])
    advance_case(session, made["id"], actor="t", on=closed_on - dt.timedelta(days=10))
    advance_case(session, made["id"], actor="t", on=closed_on - dt.timedelta(days=5))
    close_case(session, made["id"], conclusion, actor="t", serious=serious, on=closed_on)
    return made["number"]


def _employer(session, code):
    return session.execute(sa.text(
        "SELECT id, integrity_grade, grade_year, complaints_12m, risk_level, risk_rule, key_flags FROM employer "
        "WHERE credit_code = :c"), {"c": code}).mappings().one()


def test_grades_from_the_previous_years_record(city, engine, run_cli):
    codes = city["codes"]
    with session_scope(engine) as session:
        three = [_closed_case(session, city, "inside", "corrected", D(2025, m, 10)) for m in (3, 6, 9)]
        one = _closed_case(session, city, "edge", "penalty", D(2025, 4, 15))
        _closed_case(session, city, "edge", "no_violation", D(2025, 5, 15))       # not handled: no violation
        _closed_case(session, city, "outside", "corrected", D(2026, 2, 10))       # this year: next year's grade
        serious = _closed_case(session, city, "vertex", "decision", D(2025, 7, 1), serious=["child_labour"])
        made = add_inspection(session, actor="t", employer=codes["hole"], kind="patrol", inspected_on=D(2025, 5, 5),
                              items={"wages": "violation"}, inspectors=city["staff"][:1],
                              orders=[{"item": "wages", "text": "补发工资", "due_on": "2025-05-20"}])
        settle_rectification(session, made["rectifications"][0], "refused", actor="t", on=D(2025, 6, 1))
        abcd = grade_from_record(session, 2026, rules=RiskRules(grades="ABCD"), actor="t", write=False)
    changes = {c["name"]: c for c in abcd["changes"]}
    assert changes["测试vertex有限公司"]["after"] == "D" and changes["测试inside有限公司"]["after"] == "C"

    dry = json.loads(run_cli("grades", "record", "2026", "--json").output)
    assert dry["committed"] is False and dry["basis_year"] == 2025
    assert dry["counts"] == {"A": 2, "B": 1, "C": 3}  # outside, nowhere; edge; inside, vertex, hole
    with session_scope(engine) as session:
        assert session.execute(sa.text("SELECT count(*) FROM employer_grade")).scalar() == 0  # a dry run
    run_cli("grades", "record", "2026", "--commit")
    with session_scope(engine) as session:
        grades = dict(session.execute(sa.text(
            "SELECT e.credit_code, g.grade || ' ' || g.source FROM employer_grade g JOIN employer e "
            "ON e.id = g.employer_id WHERE g.year = 2026")).all())
        inside = _employer(session, codes["inside"])
    assert grades[codes["inside"]].startswith("C ") and all(n in grades[codes["inside"]] for n in three)
    assert "被查处 3 次" in grades[codes["inside"]]
    assert grades[codes["edge"]].startswith("B ") and one in grades[codes["edge"]] and "被查处 1 次" in grades[codes["edge"]]
    assert grades[codes["vertex"]].startswith("C ") and "使用童工" in grades[codes["vertex"]] and serious in grades[codes["vertex"]]
    assert grades[codes["hole"]].startswith("C ") and "拒不履行责令改正指令" in grades[codes["hole"]]
    assert grades[codes["outside"]].startswith("A ") and "2025 年未因劳动保障违法行为被查处" in grades[codes["outside"]]
    assert (inside["integrity_grade"], inside["grade_year"], inside["risk_level"]) == ("C", 2026, 3)
    assert "诚信等级C级" in inside["risk_rule"] and "诚信等级C级及以下" in inside["key_flags"]
    again = json.loads(run_cli("grades", "record", "2026", "--json").output)
    assert again["changed"] == 0  # the same record, the same grades
    bad = run_cli("grades", "record", "2016", expect=1)
    assert "应在 2017" in bad.output


def test_complaints_of_twelve_months_come_from_the_record(city, engine, run_cli):
    code = city["codes"]["edge"]
    with session_scope(engine) as session:
        add_complaint(session, received_on=D(2025, 11, 20), summary="一年多以前", actor="t", employer=code)
        first = add_complaint(session, received_on=D(2026, 6, 1), summary="欠薪", actor="t", employer=code)
        before = _employer(session, code)
        assert before["complaints_12m"] == 1 and before["risk_level"] == 2 and before["key_flags"] is None
        second = add_complaint(session, received_on=D(2026, 11, 2), summary="又欠薪", actor="t", employer=code)
        now = _employer(session, code)
        assert now["complaints_12m"] == 2 and now["risk_level"] == 3  # a second complaint: key supervision at once
        assert "12个月内投诉2次及以上" in now["key_flags"]
        decide_complaint(session, second["id"], "refuse", actor="t", reason="不属于劳动保障监察范围",
                         on=D(2026, 11, 3))
        assert _employer(session, code)["complaints_12m"] == 1
        assert first["id"]
    # the window moves: by 2027-06-01 the complaint of 2026-06-01 has left it
    dry = json.loads(run_cli("employers", "flags", "--on", "2027-06-01", "--json").output)
    assert dry["changed"] == 1 and dry["committed"] is False
    with session_scope(engine) as session:
        assert _employer(session, code)["complaints_12m"] == 1
    run_cli("employers", "flags", "--on", "2027-06-01", "--commit")
    with session_scope(engine) as session:
        after = _employer(session, code)
        assert after["complaints_12m"] == 0 and after["risk_level"] == 0 and after["risk_rule"] == "无异常"
        # a typed count without a complaint on record is replaced by the record's count
        session.execute(sa.text("UPDATE employer SET complaints_12m = 5 WHERE credit_code = :c"),
                        {"c": city["codes"]["inside"]})
        report = refresh_flags(session, rules=RiskRules(), on=TODAY)
        assert report["changed"] == 2  # inside 5 → 0, edge back to 1 on today
        assert _employer(session, city["codes"]["inside"])["complaints_12m"] == 0


def test_the_inspection_plan_follows_the_grade(city, engine, run_cli):
    from gisgrid.supervision.inspections import due_inspections

    codes = city["codes"]
    with session_scope(engine) as session:
        session.execute(sa.text("UPDATE employer SET integrity_grade = 'D' WHERE credit_code = :c"), {"c": codes["inside"]})
        session.execute(sa.text("UPDATE employer SET integrity_grade = 'A' WHERE credit_code = :c"), {"c": codes["edge"]})
        for label, on in (("inside", D(2026, 10, 20)), ("edge", D(2026, 1, 5))):
            add_inspection(session, actor="t", employer=codes[label], kind="patrol", inspected_on=on,
                           inspectors=city["staff"][:1])
        due = due_inspections(session, scheme="ABCD", on=TODAY)
        by_code = {r["credit_code"]: r for r in due["rows"]}
        # D monthly: inspected 10-20, due again 11-20 → due; A yearly: inspected 01-05 → not yet
        assert by_code[codes["inside"]]["due_on"] == D(2026, 11, 20) and codes["edge"] not in by_code
        assert due["rows"][0]["credit_code"] == codes["inside"]  # the most watched grade first
        assert all(by_code[codes[x]]["last_on"] is None for x in ("vertex", "hole", "nowhere"))  # never inspected
        assert by_code[codes["nowhere"]]["grid_code"] is None  # in no grid: still on the plan
        assert due_inspections(session, scheme="ABCD", on=D(2026, 11, 19))["rows"][0]["credit_code"] != codes["inside"]
    text = run_cli("inspections", "due", "--grid", "419999001").output
    assert "应检查" in text and "D 每 1 个月" not in text  # the ABC scheme of the settings

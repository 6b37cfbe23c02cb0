"""Inspections and written reviews of an employer, their rectification orders (met, refused, overdue),
the one review per year, and the employer's timeline (一企一档)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.db.engine import session_scope
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.supervision.cases import file_case
from gisgrid.supervision.complaints import add_complaint
from gisgrid.supervision.inspections import (
    add_inspection, employer_timeline, inspection_detail, list_inspections, list_rectifications,
    settle_rectification,
)
from tests.fixtures import handdrawn

D = dt.date
TODAY = D(2026, 12, 1)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture
def city(run_cli, tmp_path, engine):
    codes = handdrawn.load_city(run_cli, tmp_path)
    staff = handdrawn.add_staff(engine, (("甲监察员", "full_time"), ("丙协管员", "coordinator")))
    return {"codes": codes, "staff": staff}


def test_an_inspection_with_orders_met_refused_and_overdue(city, engine):
    inside = city["codes"]["inside"]
    with session_scope(engine) as session:
        made = add_inspection(
            session, actor="巡查员", employer=inside, kind="patrol", inspected_on=D(2026, 11, 2),
            items={"contracts": {"result": "violation", "note": "3人未签合同"}, "wages": "ok",
                   "hours": {"result": "violation"}},
            findings="现场检查", inspectors=[city["staff"]["丙协管员"]],
            orders=[{"item": "contracts", "text": "补签劳动合同", "due_on": "2026-11-20"},
                    {"item": "hours", "text": "调整排班", "due_on": D(2026, 12, 15)}])
        assert made["grid_code"] == "419999001001" and made["violations"] == ["contracts", "hours"]
        detail = inspection_detail(session, made["id"])
        assert detail["items"]["contracts"] == {"result": "violation", "note": "3人未签合同"}
        assert detail["items"]["rules"] == {"result": "na"}  # every one of the 9 items has a result
        assert [s["name"] for s in detail["inspector_list"]] == ["丙协管员"]
        first, second = made["rectifications"]
        assert [r["id"] for r in list_rectifications(session, overdue=True)] == [first]  # past 11-20, open
        with pytest.raises(Conflict, match="期限 2026-12-15 未到"):
            settle_rectification(session, second, "refused", actor="t")
        settle_rectification(session, first, "refused", actor="t", on=D(2026, 11, 25))
        settle_rectification(session, second, "done", actor="t")
        with pytest.raises(Conflict, match="已是“已整改”"):
            settle_rectification(session, second, "refused", actor="t")
        assert {r["id"]: r["status"] for r in list_rectifications(session, grid="419999001")} == {
            first: "refused", second: "done"}
        assert list_rectifications(session, overdue=True) == []
        # a case filed from the inspection
        case = file_case(session, actor="t", summary="未签合同", inspection_id=made["id"])
        assert inspection_detail(session, made["id"])["case"]["number"] == case["number"]
        assert [i["id"] for i in list_inspections(session, grid="419999001")] == [made["id"]]
        assert list_inspections(session, grid="419999002") == []
        audit = session.execute(sa.text("SELECT action, actor FROM audit_log WHERE entity = 'rectification' "
                                         "ORDER BY id")).all()
        assert [tuple(a) for a in audit] == [("rectification.settle", "t"), ("rectification.settle", "t")]


def test_bad_inspections_are_refused_with_what_was_wrong(city, engine):
    inside, staff = city["codes"]["inside"], city["staff"]
    cases = [
        (dict(kind="walk"), InputError, "检查类型为 'walk'"),
        (dict(items={"salary": "ok"}), InputError, "检查项目 'salary' 不在 9 项之中"),
        (dict(items={"wages": "bad"}), InputError, "检查结果为 'bad'"),
        (dict(inspectors=[]), InputError, "请填写检查人员"),
        (dict(inspectors=[999999]), NotFound, "人员编号 999999 不存在"),
        (dict(inspectors=["甲"]), InputError, "人员编号 '甲' 不是数字"),
        (dict(inspected_on=D(2026, 12, 2)), InputError, "不能晚于今天"),
        (dict(orders=[{"item": "wages", "text": "x", "due_on": "2026-12-31"}]), InputError, "不是“存在违法行为”"),
        (dict(items={"wages": "violation"}, orders=[{"item": "wages", "text": "x", "due_on": "2026-10-01"}]),
         InputError, "应在检查日期 2026-11-02 之后"),
        (dict(items={"wages": "violation"}, orders=[{"item": "wages", "text": "x", "due_on": "31/12"}]),
         InputError, "不是日期"),
        (dict(items={"wages": "violation"}, orders=[{"item": "wages", "text": " ", "due_on": "2026-12-31"}]),
         InputError, "请填写第 1 条整改要求"),
        (dict(employer="91419999MA00000000"), NotFound, "不存在"),
        (dict(kind="review", inspectors=[staff["丙协管员"]]), InputError, "书面审查须有一名以上劳动保障监察员"),
        (dict(findings="\x00"), InputError, "NUL"),
    ]
    for change, error, message in cases:
        args = dict(actor="t", employer=inside, kind="patrol", inspected_on=D(2026, 11, 2),
                    inspectors=[staff["甲监察员"]]) | change
        with session_scope(engine) as session, pytest.raises(error, match=message):
            add_inspection(session, **args)
    with session_scope(engine) as session:
        assert session.execute(sa.text("SELECT count(*) FROM inspection")).scalar() == 0
        assert session.execute(sa.text("SELECT count(*) FROM rectification")).scalar() == 0


def test_one_written_review_a_year_and_the_timeline(city, engine, run_cli):
    inside, staff = city["codes"]["inside"], city["staff"]
    result = run_cli("inspections", "add", "--employer", inside, "--kind", "review", "--on", "2026-03-02",
                     "--item", "social_insurance=violation:少缴2人", "--item", "contracts=ok",
                     "--order", "social_insurance:2026-04-30:补缴社会保险费",
                     "--inspector", str(staff["甲监察员"]), "--json")
    dry = json.loads(result.output)
    assert dry["committed"] is False and dry["review_year"] == 2025
    with session_scope(engine) as session:
        assert session.execute(sa.text("SELECT count(*) FROM inspection")).scalar() == 0  # a dry run
    args = ["inspections", "add", "--employer", inside, "--kind", "review", "--on", "2026-03-02",
            "--item", "social_insurance=violation", "--order", "social_insurance:2026-04-30:补缴",
            "--inspector", str(staff["甲监察员"]), "--commit", "--json"]
    made = json.loads(run_cli(*args).output)
    assert made["committed"] and made["id"] and len(made["rectifications"]) == 1
    again = run_cli(*args, expect=1)
    assert "2025 年度书面审查已经录入" in again.output
    bad = run_cli("inspections", "add", "--employer", inside, "--kind", "patrol", "--item", "wages",
                  "--inspector", "1", expect=1)
    assert "应写作 项目=结果" in bad.output
    listed = json.loads(run_cli("rectifications", "list", "--overdue", "--json").output)
    assert [r["id"] for r in listed] == made["rectifications"]
    settle = run_cli("rectifications", "settle", str(made["rectifications"][0]), "done", "--on", "2026-04-28",
                     "--commit", "--json")
    assert settle.exit_code == 0 and json.loads(settle.output)["status"] == "done"
    with session_scope(engine) as session:
        add_complaint(session, received_on=D(2026, 5, 6), summary="加班无工资", actor="t", employer=inside)
        employer_id = session.execute(sa.text("SELECT id FROM employer WHERE credit_code = :c"),
                                      {"c": inside}).scalar()
        timeline = employer_timeline(session, employer_id)
    assert [(e["on"], e["kind"]) for e in timeline] == [
        (D(2026, 5, 6), "投诉举报"), (D(2026, 3, 2), "书面审查（2025 年度）"), (D(2026, 3, 2), "责令改正")]
    assert timeline[2]["status"] == "已整改" and timeline[1]["status"] == "1 项存在违法行为"
    text = run_cli("inspections", "list", "--employer", str(employer_id))
    assert "书面审查" in text.output and "违法 1 项" in text.output

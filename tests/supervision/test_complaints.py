"""Complaints: placed, routed to the finest grid by the employers' rule, on the 5-working-day clock."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.db.engine import session_scope
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.supervision.complaints import add_complaint, complaint_progress, decide_complaint, list_complaints
from tests.fixtures import handdrawn

D = dt.date


@pytest.fixture
def city(run_cli, tmp_path, engine):
    return handdrawn.load_city(run_cli, tmp_path)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: D(2026, 10, 20))


def _point(label: str) -> tuple[float, float]:
    x, y = handdrawn.POINTS[label]
    return round(handdrawn.X0 + x * handdrawn.UNIT, 6), round(handdrawn.Y0 + y * handdrawn.UNIT, 6)  # as the register


def test_routing_by_point_follows_the_employers_rule(city, engine):
    with session_scope(engine) as session:
        routed = {label: add_complaint(session, received_on=D(2026, 9, 28), summary="拖欠工资", actor="t",
                                       lon=_point(label)[0], lat=_point(label)[1])
                  for label in ("inside", "edge", "vertex", "hole", "outside")}
        employers = dict(session.execute(sa.text(
            "SELECT e.credit_code, g.code FROM employer e JOIN assignment a ON a.employer_id = e.id "
            "JOIN grid g ON g.id = a.grid_id")).all())
    assert routed["inside"]["grid_code"] == "419999001001"
    # A shared edge and a vertex: the lowest code, a tie — as the employers at those points.
    assert (routed["edge"]["grid_code"], routed["edge"]["tie"]) == ("419999001001", True)
    assert routed["vertex"]["grid_code"] == employers[city["vertex"]] == "419999001001"
    assert routed["hole"]["grid_code"] is None and routed["outside"]["grid_code"] is None
    # Received on the Monday before National Day 2026: the 5th working day is Saturday 10-10.
    assert routed["inside"]["accept_by"] == "2026-10-10"
    assert "调休上班日" in routed["inside"]["accept_by_explanation"]


def test_by_employer_and_by_address(city, engine):
    with session_scope(engine) as session:
        by_employer = add_complaint(session, received_on=D(2026, 10, 12), summary="未签合同", actor="t",
                                    employer=city["inside"])
        assert by_employer["grid_code"] == "419999001001" and by_employer["located_by"] == "employer"
        by_address = add_complaint(session, received_on=D(2026, 10, 12), summary="欠薪", actor="t",
                                   address="测试市东风街道向阳社区幸福路 3 号")
        assert (by_address["grid_code"], by_address["located_by"]) == ("419999001002", "gazetteer")
        unknown = add_complaint(session, received_on=D(2026, 10, 12), summary="欠薪", actor="t", address="某地某路")
        assert unknown["grid_code"] is None and unknown["located_by"] == "none"
        with pytest.raises(NotFound, match="不存在"):
            add_complaint(session, received_on=D(2026, 10, 12), summary="x", actor="t", employer="91000000000000000X")


def test_bad_input_is_refused_in_chinese(city, engine):
    with session_scope(engine, commit=False) as session:
        for kwargs, message in (({"summary": ""}, "请填写投诉内容"), ({"received_on": D(2026, 10, 21)}, "至今天"),
                                ({"lon": 113.7}, "同时给出"), ({"lon": 34.3, "lat": 113.7}, "经纬度顺序"),
                                ({"phone": "call me"}, "只能包含数字"), ({"summary": "x" * 2001}, "最多 2000")):
            args = {"received_on": D(2026, 10, 12), "summary": "欠薪", "actor": "t", **kwargs}
            with pytest.raises(InputError, match=message):
                add_complaint(session, **args)


def test_accept_refuse_and_overdue(city, engine):
    with session_scope(engine) as session:
        late = add_complaint(session, received_on=D(2026, 10, 9), summary="a", actor="t", lon=_point("inside")[0],
                             lat=_point("inside")[1])
        fresh = add_complaint(session, received_on=D(2026, 10, 19), summary="b", actor="t", lon=_point("inside")[0],
                              lat=_point("inside")[1])
        assert late["accept_by"] == "2026-10-15"  # Saturday 10-10 is a make-up workday
        overdue = list_complaints(session, overdue=True)
        assert [r["id"] for r in overdue] == [late["id"]]
        assert [r["id"] for r in list_complaints(session, grid="419999001")] == [late["id"], fresh["id"]]
        assert list_complaints(session, grid="419999002") == []
        with pytest.raises(InputError, match="理由"):
            decide_complaint(session, fresh["id"], "refuse", actor="t")
        decide_complaint(session, fresh["id"], "refuse", actor="t", reason="不属于劳动保障监察范围，已告知向法院起诉")
        with pytest.raises(Conflict, match="不予受理"):
            decide_complaint(session, fresh["id"], "accept", actor="t")
        decide_complaint(session, late["id"], "accept", actor="t")
        assert list_complaints(session, overdue=True) == []
        closed = session.execute(sa.text("SELECT count(*) FROM deadline WHERE closed_on IS NOT NULL")).scalar()
        assert closed == 2
        progress = complaint_progress(session, fresh["receipt"].lower())
        assert progress["status"] == "refused" and "法院" in progress["refusal_reason"]
        assert set(progress) == {"receipt", "received_on", "status", "accept_by", "decided_on", "refusal_reason",
                                 "grid_name"}  # no complainant, phone, employer or summary
        assert complaint_progress(session, "TS20261019-AAAAAAAA") is None


def test_cli_add_list_decide(city, run_cli, engine):
    x, y = _point("inside")
    dry = json.loads(run_cli("complaints", "add", "--lon", x, "--lat", y, "--received", "2026-10-12",
                             "--summary", "拖欠工资", "--json").output)
    assert dry["committed"] is False and dry["grid_code"] == "419999001001" and dry["accept_by"] == "2026-10-19"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM complaint")).scalar() == 0
    made = json.loads(run_cli("complaints", "add", "--employer", city["inside"], "--received", "2026-10-12",
                              "--summary", "拖欠工资", "--commit", "--json").output)
    assert made["id"] and made["receipt"].startswith("TS20261012-") and made["grid_code"] == "419999001001"
    listed = json.loads(run_cli("complaints", "list", "--overdue", "--on", "2026-10-20", "--json").output)
    assert [r["id"] for r in listed] == [made["id"]]
    run_cli("complaints", "decide", made["id"], "accept", "--commit")
    assert json.loads(run_cli("complaints", "list", "--overdue", "--on", "2026-10-20", "--json").output) == []
    bad = run_cli("complaints", "add", "--received", "yesterday", "--summary", "x", expect=1)
    assert "应为 YYYY-MM-DD" in bad.output and "Traceback" not in bad.output

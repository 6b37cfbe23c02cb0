"""Working-day deadlines: the State Council calendar, its make-up workdays, unknown years, overrides."""

from __future__ import annotations

import datetime as dt
import json
import random

import chinese_calendar
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.db.engine import get_engine
from gisgrid.supervision.workdays import (
    UnknownYear, WorkCalendar, enter_year, load_calendar, recompute_open_deadlines, set_deadline, set_override,
)

D = dt.date


def _oracle(start: dt.date, days: int) -> dt.date:
    """Count with chinesecalendar's own is_workday, one day at a time."""
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        counted += chinese_calendar.is_workday(day)
    return day


def test_agrees_with_chinesecalendar_on_its_published_years():
    rng = random.Random(20261202)
    calendar = WorkCalendar()
    for _ in range(400):
        start = D(2004, 1, 1) + dt.timedelta(days=rng.randrange((D(2026, 8, 1) - D(2004, 1, 1)).days))
        days = rng.choice([0, 1, 5, 5, 20, 60, 90])
        assert calendar.add(start, days).due == _oracle(start, days), (start, days)


@pytest.mark.parametrize(("start", "days", "due", "skipped", "counted"), [
    # Spring Festival 2026: 02-15..02-23 off, Saturday 02-14 worked (and 02-28).
    (D(2026, 2, 13), 5, D(2026, 2, 27), 9, [D(2026, 2, 14)]),
    # National Day 2026: 10-01..10-07 off; Sunday 09-20 and Saturday 10-10 worked.
    (D(2026, 9, 28), 5, D(2026, 10, 10), 7, [D(2026, 10, 10)]),
    (D(2026, 9, 18), 1, D(2026, 9, 20), 0, [D(2026, 9, 20)]),
    # Year end: New Year's Day 2026 01-01..01-03 off, Sunday 01-04 worked.
    (D(2025, 12, 26), 5, D(2026, 1, 5), 3, [D(2026, 1, 4)]),
    # Day 0 is the start itself.
    (D(2026, 5, 1), 0, D(2026, 5, 1), 0, []),
])
def test_hand_checked_deadlines(start, days, due, skipped, counted):
    deadline = WorkCalendar().add(start, days)
    assert deadline.due == due
    assert len(deadline.holidays) == skipped
    assert [d for d, _ in deadline.makeup_days] == counted
    text = deadline.explain()
    assert f"第 {days} 个工作日为 {due.isoformat()}" in text
    if counted:
        assert "调休上班日" in text


def test_a_deadline_into_an_unknown_year_is_refused_naming_the_year():
    with pytest.raises(UnknownYear) as caught:
        WorkCalendar().add(D(2026, 12, 2), 60)
    assert "2027 年的放假安排尚未录入" in caught.value.message
    assert "gisgrid workdays set" in caught.value.message and "gisgrid workdays year 2027" in caught.value.message
    # A short one that stays in 2026 is fine.
    assert WorkCalendar().add(D(2026, 12, 2), 20).due == D(2026, 12, 30)


def test_bad_numbers_are_refused():
    for days in (-1, 401, 2.5, True):
        with pytest.raises(Exception, match="工作日天数"):
            WorkCalendar().add(D(2026, 1, 5), days)


@pytest.fixture
def session(db_url):
    with Session(get_engine(db_url)) as s:
        yield s
        s.rollback()


def test_an_override_moves_an_open_deadline_and_says_why(session):
    deadline = set_deadline(session, "complaint", 1, "accept", D(2026, 12, 2), 20)
    assert deadline["due"] == D(2026, 12, 30)
    closed = set_deadline(session, "complaint", 2, "accept", D(2026, 12, 2), 20)
    session.execute(sa.text("UPDATE deadline SET closed_on = '2026-12-10' WHERE subject_id = 2"))
    report = set_override(session, D(2026, 12, 15), "holiday", "本市冰雪天气停工通知", actor="test")
    assert report["before"] == "工作日" and report["after"] == "休息日（本市冰雪天气停工通知）"
    assert report["moved"] == [{"id": report["moved"][0]["id"], "subject": "complaint", "subject_id": 1,
                                "kind": "accept", "before": "2026-12-30", "after": "2026-12-31"}]
    row = session.execute(sa.text("SELECT due, computation FROM deadline WHERE subject_id = 1")).one()
    assert row.due == D(2026, 12, 31)
    assert row.computation["overrides_used"] == [{"date": "2026-12-15", "kind": "holiday",
                                                   "reason": "本市冰雪天气停工通知"}]
    assert "2026-12-15 放假（本市冰雪天气停工通知）" in row.computation["explanation"]
    # A closed clock does not move.
    assert session.execute(sa.text("SELECT due FROM deadline WHERE subject_id = 2")).scalar() == closed["due"]
    audit = session.execute(sa.text("SELECT actor, action FROM audit_log ORDER BY id DESC LIMIT 1")).one()
    assert tuple(audit) == ("test", "calendar.set")
    # Back to the calendar's own: the deadline returns.
    set_override(session, D(2026, 12, 15), "default", "", actor="test")
    assert recompute_open_deadlines(session) == []
    assert session.execute(sa.text("SELECT due FROM deadline WHERE subject_id = 1")).scalar() == D(2026, 12, 30)


def test_a_year_entered_by_hand_counts_only_once_declared(session):
    for day in (D(2027, 1, 1), D(2027, 1, 2), D(2027, 1, 3)):
        set_override(session, day, "holiday", "示例：2027 年元旦放假通知", actor="test")
    set_override(session, D(2027, 1, 9), "workday", "示例：元旦调休上班", actor="test")
    with pytest.raises(UnknownYear):
        load_calendar(session).add(D(2026, 12, 2), 60)
    # A stored clock into 2027 waits without a date, and gets one when the year is entered.
    pending = set_deadline(session, "complaint", 9, "accept", D(2026, 12, 28), 5)
    assert pending["due"] is None and pending["unknown_year"] == 2027 and "2027 年" in pending["explanation"]
    report = enter_year(session, 2027, "示例通知〔2026〕1号", actor="test")
    assert [(m["before"], m["after"]) for m in report["moved"]] == [(None, "2027-01-05")]
    assert (report["holidays"], report["workdays"]) == (3, 1)
    deadline = load_calendar(session).add(D(2026, 12, 28), 5)
    # 12-29, 12-30, 12-31, (01-01..01-03 off), 01-04, 01-05
    assert deadline.due == D(2027, 1, 5)
    assert [d for d, _ in deadline.holidays] == [D(2027, 1, 1), D(2027, 1, 2), D(2027, 1, 3)]
    assert any("2027 年按 示例通知〔2026〕1号 录入" in s for s in deadline.sources)
    saturday = load_calendar(session).add(D(2027, 1, 8), 1)
    assert saturday.due == D(2027, 1, 9) and saturday.makeup_days  # the entered make-up Saturday
    with pytest.raises(Exception, match="已含 2026 年"):
        enter_year(session, 2026, "x", actor="test")
    with pytest.raises(Exception, match="尚未录入任何放假日期"):
        enter_year(session, 2028, "x", actor="test")


def test_cli_add_set_and_year(run_cli, db_url):
    out = json.loads(run_cli("workdays", "add", "2026-09-28", "5", "--json").output)
    assert out["date"] == "2026-10-10" and out["makeup_workdays_counted"][0]["date"] == "2026-10-10"
    assert "调休上班日" in run_cli("workdays", "add", "2026-09-28", "5").output
    refused = run_cli("workdays", "add", "2026-12-02", "60", expect=1)
    assert "2027 年的放假安排尚未录入" in refused.output and "Traceback" not in refused.output
    bad = run_cli("workdays", "add", "2026-13-01", "5", expect=1)
    assert "应为 YYYY-MM-DD" in bad.output
    dry = run_cli("workdays", "set", "2026-12-15", "holiday", "--reason", "停工通知")
    assert "试运行" in dry.output
    count = "SELECT count(*) FROM calendar_override"
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.text(count)).scalar() == 0
    run_cli("workdays", "set", "2026-12-15", "holiday", "--reason", "停工通知", "--commit")
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.text(count)).scalar() == 1
        assert conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'calendar.set'")).scalar().startswith("cli:")
    assert json.loads(run_cli("workdays", "add", "2026-12-02", "20", "--json").output)["date"] == "2026-12-31"
    assert "请写明依据" in run_cli("workdays", "set", "2026-12-16", "holiday", expect=1).output
    assert "停工通知" in run_cli("workdays", "list").output

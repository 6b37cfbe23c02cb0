"""One "today" for the whole of gisgrid: China's date (gisgrid.clock), in Python and in SQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

import gisgrid
from gisgrid import clock
from gisgrid.access.scope import user_scope
from gisgrid.access.staff import staff_detail
from gisgrid.db.engine import get_engine
from gisgrid.db.queries import grid_detail, search_staff


def test_today_is_china_date_whatever_the_process_zone(monkeypatch):
    # 2026-12-02 20:30 UTC is already 12-03 in Beijing; a server in UTC must say 12-03.
    class Fixed(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 12, 2, 20, 30, tzinfo=dt.timezone.utc).astimezone(tz)

    monkeypatch.setattr(clock.dt, "datetime", Fixed)
    assert clock.today() == dt.date(2026, 12, 3)
    assert clock.now().utcoffset() == dt.timedelta(hours=8)


def test_the_private_cluster_agrees(demo_url):
    with get_engine(demo_url).connect() as conn:
        assert conn.execute(sa.text("SELECT current_date")).scalar() == clock.today()


def test_no_other_today_in_the_code():
    """Neither the process's local date nor the database's: a second today is how a staff
    assignment starting today was in force on one page and not on the next."""
    found = []
    for path in Path(gisgrid.__file__).parent.rglob("*.py"):
        if path.name == "clock.py" or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"date\.today\(\)|\bcurrent_date\b|datetime\.now\(\)\.date", line, re.IGNORECASE):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert not found, found


def test_an_assignment_starting_today_is_in_force_on_every_path(demo_url, monkeypatch):
    """The staff page, the grid page, staff search and the inspector's scope use one date."""
    start = dt.date(2031, 3, 1)
    with Session(get_engine(demo_url)) as session:
        grid = session.execute(sa.text(
            "SELECT g.id, g.code, g.identity FROM grid g JOIN generation n ON n.id = g.generation_id "
            "WHERE n.status = 'active' ORDER BY g.level DESC, g.code LIMIT 1")).mappings().one()
        staff_id = session.execute(sa.text(
            "INSERT INTO staff (name, role) VALUES ('时钟测试员', 'coordinator') RETURNING id")).scalar_one()
        session.execute(sa.text("INSERT INTO staff_grid (staff_id, grid_identity, valid_from) VALUES (:s, :g, :f)"),
                        {"s": staff_id, "g": grid["identity"], "f": start})

        def paths() -> tuple[bool, bool, bool, bool]:
            return (staff_detail(session, staff_id)["assignments"][0]["current"],
                    any(s["staff_id"] == staff_id for s in grid_detail(session, grid["code"])["staff"]),
                    any(r["id"] == staff_id for r in search_staff(session, "时钟测试员")),
                    grid["id"] in (user_scope(session, "inspector", staff_id).grid_ids or ()))

        try:
            monkeypatch.setattr(clock, "today", lambda: start - dt.timedelta(days=1))
            before = paths()
            monkeypatch.setattr(clock, "today", lambda: start)
            assert paths() == (True, True, True, True)
            # The grid page lists staff who start later too (planned); the others do not.
            assert before == (False, True, False, False)
        finally:
            session.rollback()

"""The demo's sample supervision record: written through the domain rules, once."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from gisgrid import clock
from gisgrid.db.engine import session_scope
from gisgrid.demo.supervision import add_demo_supervision
from tests.fixtures import handdrawn


def test_the_sample_record_is_added_once(run_cli, tmp_path, engine, monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 12, 1))
    handdrawn.load_city(run_cli, tmp_path)
    with engine.begin() as conn:
        for name, role in (("甲", "full_time"), ("乙", "part_time")):
            staff = conn.execute(sa.text("INSERT INTO staff (name, role) VALUES (:n, :r) RETURNING id"),
                                 {"n": name, "r": role}).scalar()
            conn.execute(sa.text("INSERT INTO staff_grid (staff_id, grid_identity, duty) "
                                 "SELECT :s, identity, '巡查' FROM grid WHERE code = '419999001'"), {"s": staff})
    with session_scope(engine) as session:
        added = add_demo_supervision(session)
        assert added["complaints"] > 0 and added["cases"] > 0 and added["incidents"] == 1
        assert add_demo_supervision(session) == {"complaints": 0, "cases": 0, "inspections": 0, "incidents": 0}
        statuses = set(session.execute(sa.text("SELECT status FROM complaint")).scalars())
        assert {"received", "accepted"} <= statuses
        assert session.execute(sa.text("SELECT count(*) FROM audit_log WHERE actor LIKE 'demo%'")).scalar() > 0

"""The statistics table: every figure rolled up the grid chain, checked against independent counts
(the 四定 roster's rows, the employer rows, the complaint and case lists)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.analysis.stats import STAT_COLUMNS, grid_statistics
from gisgrid.db.engine import get_engine, session_scope
from gisgrid.db.queries import active_generation
from gisgrid.errors import InputError, NotFound
from gisgrid.export.registers import export_roster
from gisgrid.supervision.cases import file_case, list_cases
from gisgrid.supervision.complaints import add_complaint, decide_complaint, list_complaints
from tests.fixtures import handdrawn

TODAY = dt.date(2026, 11, 20)
ROLE_KEYS = {"专职监察员": "staff_full_time", "兼职监察员": "staff_part_time", "协管员": "staff_coordinator"}


@pytest.fixture(scope="module")
def demo(demo_url):
    with Session(get_engine(demo_url)) as session:
        yield session, active_generation(session)
        session.rollback()


def _roster_people(session, tmp_path) -> dict[str, set]:
    """Grid code → {(name, phone, role)} from the exported 四定 roster, read back as a person would."""
    path = tmp_path / "roster.xlsx"
    export_roster(session, path, today=TODAY)
    people = defaultdict(set)
    for row in openpyxl.load_workbook(path).worksheets[0].iter_rows(min_row=5, values_only=True):
        if row[4] and row[4] != "未配备":
            people[row[0]].add((row[4], row[6], row[5]))
    return people


def test_staff_roll_up_matches_the_roster(demo, tmp_path):
    session, gen = demo
    people = _roster_people(session, tmp_path)
    for level, within in ((2, None), (3, "419901001"), (3, "419901100")):
        stats = grid_statistics(session, gen.id, level, within=within, today=TODAY)
        grids = list(stats.rows.index) + [stats.total["code"]]
        for code in grids:
            # Codes are hierarchical in the demo: a grid holds every code that starts with its own.
            mine = set().union(*(p for c, p in people.items() if c.startswith(code)))
            record = stats.rows.loc[code] if code in stats.rows.index else stats.total
            assert record["staff_total"] == len({(n, ph) for n, ph, _ in mine}), code
            for label, key in ROLE_KEYS.items():
                assert record[key] == len({(n, ph) for n, ph, role in mine if role == label}), (code, key)
    city = grid_statistics(session, gen.id, 2, today=TODAY).total
    assert city["staff_total"] == 530 and city["staff_coordinator"] == 500  # nobody counted twice


def test_employer_counts_add_up_to_the_parent(demo):
    session, gen = demo
    assigned = session.execute(sa.text(
        "SELECT count(*), sum(headcount) FILTER (WHERE headcount > 0), "
        "count(*) FILTER (WHERE coalesce(key_flags, '') <> '') "
        "FROM assignment a JOIN employer e ON e.id = a.employer_id "
        "WHERE a.generation_id = :g AND a.grid_id IS NOT NULL"), {"g": gen.id}).one()
    for level in (2, 3):
        stats = grid_statistics(session, gen.id, level, today=TODAY)
        assert stats.parent["code"] == "419901"
        for key in ("employers", "headcount", "key", "risk0", "risk1", "risk2", "risk3", "stale"):
            assert stats.rows[key].sum() == stats.total[key], (level, key)
        assert (stats.rows[["risk0", "risk1", "risk2", "risk3"]].sum(axis=1) == stats.rows["employers"]).all()
        assert (stats.total["employers"], stats.total["headcount"], stats.total["key"]) == tuple(assigned)
    street = grid_statistics(session, gen.id, within="419901001", today=TODAY)
    assert street.level == 3 and street.rows["employers"].sum() == street.total["employers"]
    assert {c.key for c in STAT_COLUMNS} <= set(street.rows.columns)


def test_keep_limits_rows_to_a_scope(demo):
    session, gen = demo
    ids = session.execute(sa.text("SELECT id FROM grid WHERE generation_id = :g AND code LIKE '419901001%'"),
                          {"g": gen.id}).scalars().all()
    stats = grid_statistics(session, gen.id, 3, keep=set(ids), today=TODAY)
    assert len(stats.rows) == 20 and stats.parent is None  # the city is outside the scope
    assert stats.total["name"] == "合计" and stats.total["employers"] == stats.rows["employers"].sum()


@pytest.mark.parametrize("kwargs, error, words", [
    ({"level": 7}, InputError, "本网格版本有第 1、2、3 级"),
    ({"within": "419901001", "level": 2}, InputError, "应为 3–3 之一"),
    ({"within": "419901001001"}, InputError, "最细一级"),
    ({"within": "nope"}, NotFound, "不存在"),
])
def test_bad_requests(demo, kwargs, error, words):
    session, gen = demo
    with pytest.raises(error, match=words):
        grid_statistics(session, gen.id, **kwargs)


def test_open_and_overdue_complaints_and_cases_as_their_lists_count(run_cli, tmp_path, engine, monkeypatch):
    today = dt.date(2026, 12, 1)
    monkeypatch.setattr(clock, "today", lambda: today)
    codes = handdrawn.load_city(run_cli, tmp_path)
    inside = codes["inside"]
    with session_scope(engine) as session:
        old = add_complaint(session, received_on=dt.date(2026, 11, 2), summary="欠薪", actor="t", employer=inside)
        add_complaint(session, received_on=dt.date(2026, 11, 30), summary="加班", actor="t", employer=inside)
        done = add_complaint(session, received_on=dt.date(2026, 11, 3), summary="社保", actor="t", employer=inside)
        decide_complaint(session, done["id"], "accept", actor="t", on=dt.date(2026, 11, 4))
        file_case(session, actor="t", summary="旧案", employer=inside, filed_on=dt.date(2026, 6, 1))
        file_case(session, actor="t", summary="新案", employer=inside, filed_on=dt.date(2026, 11, 30))
        file_case(session, actor="t", complaint_id=done["id"], summary="社保案")
        gen = active_generation(session)
        street_code = session.execute(sa.text(
            "SELECT g.code FROM complaint c JOIN grid g ON g.id = c.grid_id WHERE c.id = :i"), {"i": old["id"]}).scalar()
        for level in (1, 2, 3):
            stats = grid_statistics(session, gen.id, level)
            for code, record in stats.rows.iterrows():
                complaints = list_complaints(session, grid=code)
                cases = list_cases(session, grid=code)
                assert record["complaints_open"] == sum(c["status"] == "received" for c in complaints), code
                assert record["complaints_overdue"] == len(list_complaints(session, grid=code, overdue=True)), code
                assert record["cases_open"] == sum(c["status"] != "closed" for c in cases), code
                assert record["cases_overdue"] == len(list_cases(session, grid=code, overdue=True)), code
        city = grid_statistics(session, gen.id, 2).total
        assert (city["complaints_open"], city["complaints_overdue"], city["cases_open"], city["cases_overdue"]) \
            == (2, 1, 3, 1)
        assert street_code.startswith("419999")

"""The employer list of any size: filters, every column's sort, pages, the count, CSV/XLSX; scoped."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
import sqlalchemy as sa

from gisgrid.db.engine import get_engine

STREET = "419901001"
KEY = "coalesce(e.key_flags, '') <> ''"


def _count(demo_url, where: str = "TRUE", params: dict | None = None) -> int:
    with get_engine(demo_url).connect() as conn:
        return conn.execute(sa.text(f"""
            WITH RECURSIVE t AS (SELECT g.id FROM grid g JOIN generation n ON n.id = g.generation_id
                                 AND n.status = 'active' WHERE g.code = :street
                                 UNION SELECT c.id FROM grid c JOIN t ON c.parent_id = t.id)
            SELECT count(*) FROM employer e JOIN assignment a ON a.employer_id = e.id
            JOIN generation n ON n.id = a.generation_id AND n.status = 'active'
            WHERE a.grid_id IN (SELECT id FROM t) AND {where}"""), {"street": STREET, **(params or {})}).scalar()


def _names(page: str) -> list[str]:
    return re.findall(r'<tr title="[^"]*"><td><a href="/employers/[^"]+">([^<]+)</a>', page)


def test_a_street_list_counts_pages_and_filters(client, demo_url):
    total = _count(demo_url)
    page = client.get(f"/employers?grid={STREET}").get_data(as_text=True)
    assert f"符合条件 {total} 家" in page and len(_names(page)) == 50
    last = -(-total // 50)
    assert f"第 1/{last} 页" in page
    tail = client.get(f"/employers?grid={STREET}&page={last}").get_data(as_text=True)
    assert len(_names(tail)) == total - 50 * (last - 1)
    high = client.get(f"/employers?grid={STREET}&risk=3").get_data(as_text=True)
    assert f"符合条件 {_count(demo_url, 'e.risk_level = 3')} 家" in high
    key = client.get(f"/employers?grid={STREET}&key=1").get_data(as_text=True)
    assert f"符合条件 {_count(demo_url, KEY)} 家" in key


@pytest.mark.parametrize("sort", ["name", "credit_code", "address", "industry", "headcount", "risk", "grid",
                                  "surveyed_on"])
def test_every_column_sorts_both_ways(client, sort):
    up = client.get(f"/employers?grid={STREET}&sort={sort}&order=asc")
    down = client.get(f"/employers?grid={STREET}&sort={sort}&order=desc")
    assert up.status_code == down.status_code == 200
    assert _names(up.get_data(as_text=True)) != _names(down.get_data(as_text=True)) or sort == "grid"


def test_csv_and_xlsx_hold_the_whole_filtered_list(client, demo_url):
    total = _count(demo_url, "e.risk_level >= 2")
    rows = []
    for risk in ("2", "3"):
        answer = client.get(f"/employers?grid={STREET}&risk={risk}&format=csv")
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        text = answer.data.decode("utf-8-sig")
        rows += list(csv.reader(io.StringIO(text)))[1:]
    assert len(rows) == total
    book = client.get(f"/employers?grid={STREET}&format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(book.data), read_only=True).worksheets[0]
    assert sheet.max_row - 1 == _count(demo_url)


@pytest.mark.parametrize("query", ["risk=9", "sort=password", "order=up", "key=yes", "format=pdf", "page=0"])
def test_bad_list_parameters_are_400_in_chinese(client, query):
    answer = client.get(f"/employers?grid={STREET}&{query}")
    assert answer.status_code == 400 and "应为" in answer.get_data(as_text=True)


def test_an_inspector_lists_only_their_employers(demo_app, demo_url):
    inspector = demo_app.test_client(user="jc419901001-1")
    page = inspector.get("/employers").get_data(as_text=True)
    assert f"符合条件 {_count(demo_url)} 家" in page
    assert inspector.get("/employers?grid=419901002").status_code == 404
    assert "符合条件 0 家" in inspector.get("/employers?unassigned=1").get_data(as_text=True)
    csv_rows = inspector.get("/employers?format=csv").data.decode("utf-8-sig").splitlines()
    assert len(csv_rows) - 1 == _count(demo_url)
    planner = demo_app.test_client(user="planner")
    assert planner.get("/employers").status_code == 403  # no personal fields for planners


def test_my_grids_counts_key_supervision_and_stale(demo_app, demo_url):
    inspector = demo_app.test_client(user="jc419901001-1")
    page = inspector.get("/my?all=1").get_data(as_text=True)
    total = _count(demo_url)
    # The app's today is China's date (gisgrid.clock), whatever the test machine's zone.
    from gisgrid import clock

    stale = _count(demo_url, "(e.surveyed_on IS NULL OR e.surveyed_on < CAST(:today AS date) - interval '6 months')",
                   {"today": clock.today()})
    assert f"超期未调查 {stale} 家（共 {total} 家）" in page
    assert f"重点监管 {_count(demo_url, KEY)} 家" in page

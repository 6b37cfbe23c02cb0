"""Inspections in the web: the grid's coordinator patrols an employer from its page with an order,
an inspector of the street settles it and files a case from the inspection; the employer's
timeline shows all of it; other streets get 404; leaders read only; planners nothing."""

from __future__ import annotations

import datetime as dt
import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.db.engine import dispose_engines
from tests.web.test_cases_web import HOSTILE, _db, _people

TODAY = dt.date(2026, 11, 2)


@pytest.fixture(scope="module")
def app(demo_copy_app):
    yield demo_copy_app("inspections_city")
    dispose_engines()


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def test_a_patrol_with_an_order_becomes_a_case(app):
    employer, street, coordinator, outsider = _people(app)
    walker = app.test_client(user=coordinator.username)
    page = walker.get(f"/employers/{employer.credit_code}").get_data(as_text=True)
    new_url = f"/employers/{employer.credit_code}/inspections/new"
    assert "一企一档" in page and new_url in page
    form = walker.get(new_url).get_data(as_text=True)
    assert f'value="{coordinator.id}" checked' in form and "result_wages" in form
    data = {"kind": "patrol", "inspected_on": "2026-10-20", "result_wages": "violation", "note_wages": "欠薪" + HOSTILE,
            "order_wages": "十日内补发工资" + HOSTILE, "due_wages": "2026-10-30", "result_contracts": "ok",
            "findings": "现场巡查" + HOSTILE, "inspector": [str(coordinator.id)]}
    bad = walker.post(new_url, data={**data, "due_wages": "2026-10-01"})
    assert bad.status_code == 400 and "应在检查日期 2026-10-20 之后" in bad.get_data(as_text=True)
    review = walker.post(new_url, data={**data, "kind": "review"})
    assert review.status_code == 400 and "书面审查须有一名以上劳动保障监察员" in review.get_data(as_text=True)
    made = walker.post(new_url, data=data)
    assert made.status_code == 303, made.get_data(as_text=True)[:300]
    inspection_url = made.headers["Location"]
    shown = walker.get(inspection_url).get_data(as_text=True)
    assert HOSTILE not in shown and "&lt;img src=x" in shown and shown.count("{{7*7}}") == 3  # shown, not run
    assert "逾期" in shown  # due 10-30, today 11-02
    inspection_id = int(inspection_url.rsplit("/", 1)[1])
    with _db(app).connect() as conn:
        rect_id, grid_code = conn.execute(sa.text(
            "SELECT r.id, g.code FROM rectification r JOIN grid g ON g.id = r.grid_id WHERE r.inspection_id = :i"),
            {"i": inspection_id}).one()
        actor = conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'inspection.add' "
                                     "AND entity_id = :i"), {"i": str(inspection_id)}).scalar()
    assert grid_code == employer.code and coordinator.username in actor
    # the street's inspector sees it in the lists; another street's does not
    inspector = app.test_client(user=street[0].username)
    assert f"/inspections/{inspection_id}" in inspector.get("/inspections").get_data(as_text=True)
    assert "十日内补发工资" in inspector.get("/rectifications?overdue=1").get_data(as_text=True)
    stranger = app.test_client(user=outsider.username)
    assert stranger.get(inspection_url).status_code == 404
    assert f"/inspections/{inspection_id}" not in stranger.get("/inspections").get_data(as_text=True)
    assert stranger.post(f"/rectifications/{rect_id}", data={"outcome": "done"}).status_code == 404
    settled = inspector.post(f"/rectifications/{rect_id}", data={"outcome": "refused", "on": "2026-11-01"})
    assert settled.status_code == 303 and settled.headers["Location"].endswith(inspection_url)
    assert "拒不整改" in inspector.get(inspection_url).get_data(as_text=True)
    # a case from the inspection
    form = inspector.get(f"/cases/new?inspection={inspection_id}").get_data(as_text=True)
    assert "由检查发现立案" in form and "现场巡查" in form
    filed = inspector.post(f"/cases/new?inspection={inspection_id}",
                           data={"summary": "拒不整改欠薪", "item": ["wages"], "inspector": [str(street[0].id)]})
    assert filed.status_code == 303, filed.get_data(as_text=True)[:300]
    timeline = inspector.get(f"/employers/{employer.credit_code}").get_data(as_text=True)
    assert "日常巡查" in timeline and "责令改正" in timeline and "立案 " in timeline
    assert f"/inspections/{inspection_id}" in timeline and filed.headers["Location"] in timeline
    # leaders read, planners see none of it
    leader = app.test_client(user="leader")
    assert leader.get(inspection_url).status_code == 200
    assert leader.post(f"/rectifications/{rect_id}", data={"outcome": "done"}).status_code == 403
    assert "录入日常巡查" not in leader.get(f"/employers/{employer.credit_code}").get_data(as_text=True)
    planner = app.test_client(user="planner")
    assert planner.get("/inspections").status_code == 403
    assert planner.get(inspection_url).status_code == 403


def test_the_inspection_plan_page_lists_the_users_grids_only(app):
    employer, street, coordinator, outsider = _people(app)
    mine = app.test_client(user=street[0].username).get("/inspections/due")
    assert mine.status_code == 200 and "按诚信等级应检查的单位" in mine.get_data(as_text=True)
    assert employer.street in mine.get_data(as_text=True)
    theirs = app.test_client(user=outsider.username).get("/inspections/due").get_data(as_text=True)
    assert employer.credit_code not in theirs
    assert app.test_client(user=outsider.username).get(f"/inspections/due?grid={employer.street}").status_code == 404

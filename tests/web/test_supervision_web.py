"""督办: per-grid progress, the overdue and hot-spot maps, early warnings; inspectors see their grids only."""

from __future__ import annotations

import datetime as dt

import pytest

from gisgrid import clock
from gisgrid.db.engine import dispose_engines
from tests.web.test_cases_web import _people

TODAY = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def app(demo_copy_app):
    yield demo_copy_app("supervision_city")
    dispose_engines()


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def test_the_progress_page_per_level_with_maps_and_warnings(app):
    employer, street, coordinator, outsider = _people(app)
    worker = app.test_client(user=street[0].username)
    for day in ("2026-11-02", "2026-11-03", "2026-11-27"):
        made = worker.post("/complaints/new", data={"received_on": day, "employer": employer.credit_code,
                                                    "summary": "欠薪<b>x</b>"})
        assert made.status_code == 303
    admin = app.test_client()
    page = admin.get("/supervision").get_data(as_text=True)
    assert "督办" in page and "全市合计" in page and "超期未受理" in page and "http://" not in page.split("<body")[1]
    row = page[page.index(f">{employer.street} "):]
    assert 'class="num warn">2<' in row[:2000]  # two complaints past their 5 working days on 11-30
    assert "重复投诉" in page and "90 天内被投诉 3 次" in page
    units = admin.get("/supervision?level=3&show=on_time_rate").get_data(as_text=True)
    assert employer.code in units and "按期办结率" in units
    hot = admin.get("/supervision?show=hot_spots&level=3")
    assert hot.status_code == 200 and "Getis-Ord Gi*" in hot.get_data(as_text=True)
    assert admin.get("/supervision?show=nonsense").status_code == 400
    assert admin.get("/supervision?level=9").status_code == 400
    mine = worker.get("/supervision").get_data(as_text=True)
    assert employer.street in mine and "全市合计" not in mine
    theirs = app.test_client(user=outsider.username).get("/supervision").get_data(as_text=True)
    assert f">{employer.street} " not in theirs and "90 天内被投诉 3 次" not in theirs
    assert app.test_client(user="planner").get("/supervision").status_code == 403
    assert app.test_client(user="leader").get("/supervision").status_code == 200


def test_the_city_map_is_coloured_by_overdue_work(app):
    page = app.test_client().get("/?colour=overdue&level=2")
    assert page.status_code == 200 and "超期未办（投诉+案件）" in page.get_data(as_text=True)
    assert app.test_client(user="leader").get("/?colour=on_time_rate&level=3").status_code == 200
    planner = app.test_client(user="planner").get("/?colour=overdue")
    assert planner.status_code == 400 and "overdue" not in planner.get_data(as_text=True).split("应为")[1]

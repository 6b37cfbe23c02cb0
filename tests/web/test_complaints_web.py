"""Complaints in the web: the public page (no login, rate-limited, receipt), routing to the grid's
staff and no one else, accepting and refusing, hostile text shown as text, RLS as backstop."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from gisgrid.db.engine import dispose_engines, get_engine
from tests.auth_helpers import _TOKEN

HOSTILE = '<img src=x onerror=alert(1)>{{7*7}}</script>'


@pytest.fixture(scope="module")
def app(demo_copy_app):
    yield demo_copy_app("complaints_city")
    dispose_engines()


def _url(app) -> str:
    return app.config["GISGRID_SETTINGS"].database_url


def _public_post(client, **form):
    token = _TOKEN.search(client.get("/report").get_data(as_text=True)).group(1)
    return client.post("/report", data={"csrf_token": token, **form})


def test_a_worker_files_a_complaint_and_follows_it_by_receipt(app):
    worker = app.test_client(user=None)
    worker.environ_base["REMOTE_ADDR"] = "10.9.0.1"
    page = worker.get("/report")
    assert page.status_code == 200 and "网上投诉举报" in page.get_data(as_text=True)
    sent = _public_post(worker, employer_name="某某制衣厂", address="示范市城关街道东关社区幸福路 3 号",
                        summary="拖欠三个月工资" + HOSTILE, complainant="王五", phone="13900000000")
    html = sent.get_data(as_text=True)
    assert sent.status_code == 200, html[:500]
    receipt = re.search(r'class="receipt">([A-Z0-9-]+)<', html).group(1)
    status = worker.get(f"/report/status?receipt={receipt}").get_data(as_text=True)
    assert "待受理" in status and "受理期限" in status
    assert "王五" not in status and "13900000000" not in status and "拖欠" not in status
    other = worker.get("/report/status?receipt=TS20261202-ZZZZZZZZ")
    assert other.status_code == 404 and "未找到回执号" in other.get_data(as_text=True)
    # Nothing else is open to the anonymous worker.
    assert worker.get("/complaints").status_code == 302
    with get_engine(_url(app)).connect() as conn:
        row = conn.execute(sa.text("SELECT c.channel, g.code, c.entered_by FROM complaint c "
                                   "LEFT JOIN grid g ON g.id = c.grid_id WHERE receipt = :r"), {"r": receipt}).one()
    assert row.channel == "public" and row.entered_by == "公众（网上投诉）"


def test_the_public_page_is_rate_limited_and_checks_its_input(app):
    worker = app.test_client(user=None)
    worker.environ_base["REMOTE_ADDR"] = "10.9.0.2"
    missing = _public_post(worker, employer_name="", address="x", summary="y")
    assert missing.status_code == 400 and "请填写被投诉单位名称" in missing.get_data(as_text=True)
    no_token = worker.post("/report", data={"employer_name": "a", "address": "b", "summary": "c"})
    assert no_token.status_code == 400 and "安全校验失败" in no_token.get_data(as_text=True)
    answers = [_public_post(worker, employer_name="厂", address="示范市", summary="欠薪").status_code
               for _ in range(6)]
    assert answers == [200] * 5 + [429]
    assert "每小时最多提交 5 件" in _public_post(worker, employer_name="厂", address="示范市",
                                            summary="欠薪").get_data(as_text=True)


def _grid_staff(app, code: str) -> list[str]:
    with get_engine(_url(app)).connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT u.username FROM app_user u JOIN staff_grid sg ON sg.staff_id = u.staff_id "
            "JOIN grid g ON g.identity = sg.grid_identity JOIN generation n ON n.id = g.generation_id "
            "AND n.status = 'active' WHERE g.code = :c ORDER BY u.username"), {"c": code}).scalars())


def test_a_complaint_reaches_its_grids_staff_and_those_above_only(app):
    with get_engine(_url(app)).connect() as conn:
        employer = conn.execute(sa.text(
            "SELECT e.credit_code, g.code, p.code AS street FROM employer e JOIN assignment a ON a.employer_id = e.id "
            "JOIN grid g ON g.id = a.grid_id JOIN grid p ON p.id = g.parent_id "
            "JOIN generation n ON n.id = a.generation_id AND n.status = 'active' "
            "WHERE e.credit_code IS NOT NULL AND g.level = 3 ORDER BY e.id LIMIT 1")).one()
    admin = app.test_client()
    made = admin.post("/complaints/new", data={"received_on": "2026-12-01", "employer": employer.credit_code,
                                               "summary": HOSTILE, "complainant": "赵六"})
    assert made.status_code == 303, made.get_data(as_text=True)[:500]
    complaint = made.headers["Location"]
    coordinator = app.test_client(user=_grid_staff(app, employer.code)[0])
    street = app.test_client(user=_grid_staff(app, employer.street)[0])
    outsider_grid = "419901002001" if not employer.code.startswith("419901002") else "419901001001"
    outsider = app.test_client(user=_grid_staff(app, outsider_grid)[0])
    page = coordinator.get(complaint).get_data(as_text=True)
    assert "赵六" in page and "&lt;img src=x onerror=alert(1)&gt;{{7*7}}&lt;/script&gt;" in page
    assert street.get(complaint).status_code == 200
    assert outsider.get(complaint).status_code == 404
    assert complaint.rsplit("/", 1)[1] not in re.findall(r'/complaints/(\d+)"', outsider.get("/complaints")
                                                         .get_data(as_text=True))
    assert app.test_client(user="planner").get(complaint).status_code == 403
    leader = app.test_client(user="leader")
    assert leader.get(complaint).status_code == 200
    assert leader.post(complaint + "/decision", data={"decision": "accept"}).status_code == 403
    refused = outsider.post(complaint + "/decision", data={"decision": "accept"})
    assert refused.status_code == 404
    by_coordinator = coordinator.post(complaint + "/decision", data={"decision": "refuse", "reason": "x"})
    assert by_coordinator.status_code == 403 and "须由劳动保障监察员作出" in by_coordinator.get_data(as_text=True)
    assert "处理结果" not in page  # no decision form for a coordinator
    assert "处理结果" in street.get(complaint).get_data(as_text=True)
    no_reason = street.post(complaint + "/decision", data={"decision": "refuse"})
    assert no_reason.status_code == 400 and "理由" in no_reason.get_data(as_text=True)
    assert street.post(complaint + "/decision", data={"decision": "accept"}).status_code == 303
    assert "已受理" in coordinator.get(complaint).get_data(as_text=True)
    with get_engine(_url(app)).connect() as conn:
        actor = conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'complaint.accept' "
                                     "ORDER BY id DESC LIMIT 1")).scalar()
    assert _grid_staff(app, employer.street)[0] in actor


def test_an_inspector_enters_a_complaint_about_a_firm_elsewhere(app):
    """Routed to the grid where the firm is: the entering inspector is told where it went."""
    with get_engine(_url(app)).connect() as conn:
        street = conn.execute(sa.text("SELECT g.name FROM grid g JOIN generation n ON n.id = g.generation_id "
                                      "AND n.status = 'active' WHERE g.level = 2 AND g.code <> '419901001' "
                                      "ORDER BY g.code LIMIT 1")).scalar()
    inspector = app.test_client(user=_grid_staff(app, "419901001001")[0])
    answer = inspector.post("/complaints/new", data={"received_on": "2026-12-01", "address": f"示范市{street}",
                                                     "summary": "欠薪"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "已转至网格" in html and "不在您负责的范围内" in html


def test_row_level_security_hides_complaints_from_a_raw_query(app):
    from gisgrid.db.engine import get_web_engine

    engine = get_web_engine(app.config["GISGRID_SETTINGS"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM complaint")).scalar() == 0  # no scope set
        conn.execute(sa.text("SELECT set_config('gisgrid.scope', 'all', true)"))
        assert conn.execute(sa.text("SELECT count(*) FROM complaint")).scalar() > 0

"""Recording a visit on an employer's page: who (the logged-in user), when, what; scoped; audited."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.db.engine import dispose_engines, get_engine


@pytest.fixture(scope="module")
def visit_app(demo_copy_app):
    """The app on a copy of the demo city (visits change employers' survey dates)."""
    yield demo_copy_app("visits_city")
    dispose_engines()


def _employer(app, grid_prefix: str) -> tuple[str, int]:
    with get_engine(app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT e.credit_code, e.id FROM employer e JOIN assignment a ON a.employer_id = e.id "
            "JOIN grid g ON g.id = a.grid_id JOIN generation n ON n.id = a.generation_id AND n.status = 'active' "
            "WHERE g.code LIKE :p AND e.credit_code IS NOT NULL ORDER BY e.id LIMIT 1"), {"p": grid_prefix + "%"}).one())


def _form(client, key: str) -> str:
    page = client.get(f"/employers/{key}").get_data(as_text=True)
    return re.search(r'class="visit-form">\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page).group(1)


def test_an_inspector_records_a_visit_shown_in_the_file_and_audited(visit_app):
    client = visit_app.test_client(user="jc419901001-1")
    key, employer_id = _employer(visit_app, "419901001")
    token = _form(client, key)
    hostile = '<img src=x onerror=alert(1)>{{7*7}} 未签合同 3 人'
    answer = client.post(f"/employers/{key}/visits", data={
        "date": clock.today().isoformat(), "companions": "李四", "checked": ["contracts", "wages"],
        "findings": hostile, "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("#visits")
    page = client.get(f"/employers/{key}").get_data(as_text=True)
    assert "劳动合同签订、工资支付。" in page and "李四" in page
    assert "&lt;img src=x onerror=alert(1)&gt;{{7*7}} 未签合同 3 人" in page  # text, not markup or template
    engine = get_engine(visit_app.config["GISGRID_SETTINGS"].database_url)
    with engine.connect() as conn:
        surveyed = conn.execute(sa.text("SELECT surveyed_on FROM employer WHERE id = :id"), {"id": employer_id}).scalar()
        actor = conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'employer.visit' "
                                     "AND entity_id = :id"), {"id": str(employer_id)}).scalar()
    assert surveyed == clock.today()
    assert actor.endswith("（jc419901001-1）")  # the logged-in user, by their name


@pytest.mark.parametrize("form, message", [
    ({"date": "2026-13-01", "checked": ["wages"]}, "应为 年-月-日"),
    ({"date": (clock.today() + dt.timedelta(days=1)).isoformat(), "checked": ["wages"]}, "至今天"),
    ({"date": "2026-11-01"}, "至少勾选一项"),
    ({"date": "2026-11-01", "checked": ["drop table"]}, "不在清单中"),
    ({"date": "2026-11-01", "findings": "x" * 2001}, "最多 2000 字"),
])
def test_bad_visits_are_refused_in_chinese_and_store_nothing(visit_app, form, message):
    client = visit_app.test_client(user="jc419901001-1")
    key, employer_id = _employer(visit_app, "419901001")
    engine = get_engine(visit_app.config["GISGRID_SETTINGS"].database_url)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM employer_survey WHERE employer_id = :id"),
                              {"id": employer_id}).scalar()
    answer = client.post(f"/employers/{key}/visits", data={**form, "csrf_token": _form(client, key)})
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer_survey WHERE employer_id = :id"),
                            {"id": employer_id}).scalar() == before


def test_visits_outside_the_scope_or_role_or_without_a_token_are_refused(visit_app):
    key, _ = _employer(visit_app, "419901002")
    inspector = visit_app.test_client(user="jc419901001-1")
    data = {"date": "2026-11-01", "checked": ["wages"]}
    assert inspector.post(f"/employers/{key}/visits", data=data).status_code == 404
    assert visit_app.test_client(user="leader").post(f"/employers/{key}/visits", data=data).status_code == 403
    assert visit_app.test_client(csrf=False).post(f"/employers/{key}/visits", data=data).status_code == 400
    leader_page = visit_app.test_client(user="leader").get(f"/employers/{key}").get_data(as_text=True)
    assert "记录一次走访" not in leader_page and "走访检查记录" in leader_page


def test_contact_fields_are_corrected_without_touching_the_location(visit_app):
    client = visit_app.test_client(user="jc419901001-1")
    key, employer_id = _employer(visit_app, "419901001001")
    engine = get_engine(visit_app.config["GISGRID_SETTINGS"].database_url)
    query = sa.text("SELECT ST_AsText(geom), located_by, legal_rep, hr_contact, phone FROM employer WHERE id = :id")
    with engine.connect() as conn:
        before = conn.execute(query, {"id": employer_id}).one()
    answer = client.post(f"/employers/{key}/contact", data={"legal_rep": before[2] or "", "hr_contact": "王五",
                                                           "phone": "0371-1234 5678"})
    assert answer.status_code == 303
    with engine.connect() as conn:
        after = conn.execute(query, {"id": employer_id}).one()
        audit = conn.execute(sa.text("SELECT before, after FROM audit_log WHERE action = 'employer.contact' "
                                     "AND entity_id = :id"), {"id": str(employer_id)}).one()
    assert after[:3] == before[:3]  # the point, how it was located, and the unchanged field
    assert after[3:] == ("王五", "0371-1234 5678")
    assert set(audit.after) == {"hr_contact", "phone"} and audit.after["hr_contact"] == "王五"
    bad = client.post(f"/employers/{key}/contact", data={"phone": "call <me>"})
    assert bad.status_code == 400 and "只能含数字" in bad.get_data(as_text=True)
    outside, _ = _employer(visit_app, "419901002")
    assert client.post(f"/employers/{outside}/contact", data={"phone": "1"}).status_code == 404

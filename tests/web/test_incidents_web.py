"""Emergency incidents: a community's coordinator raises one; it is at the top of the pages of the
street's inspectors, the leaders and the admins at once — not of another street; each reader's
已阅 shows on the chain; closed, its result reaches the same people; hostile text stays text."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from gisgrid.db.engine import dispose_engines
from tests.web.test_cases_web import HOSTILE, _db, _people


@pytest.fixture(scope="module")
def app(demo_copy_app):
    yield demo_copy_app("incidents_city")
    dispose_engines()


def test_an_incident_goes_up_the_chain_and_its_result_comes_back(app):
    employer, street, coordinator, outsider = _people(app)
    raiser = app.test_client(user=coordinator.username)
    form = {"kind": "collective_petition", "grid": employer.code, "title": "工人聚集讨薪" + HOSTILE,
            "summary": "约30名工人在厂门口聚集" + HOSTILE, "people": "30"}
    assert raiser.post("/incidents/new", data={**form, "kind": "riot"}).status_code == 400
    assert raiser.post("/incidents/new", data={**form, "people": "三十"}).status_code == 400
    assert raiser.post("/incidents/new", data={**form, "grid": "", "employer": ""}).status_code == 400
    assert raiser.post("/incidents/new", data={**form, "grid": "999999999999"}).status_code == 404
    made = raiser.post("/incidents/new", data=form)
    assert made.status_code == 303, made.get_data(as_text=True)[:300]
    url = made.headers["Location"]
    incident_id = int(url.rsplit("/", 1)[1])

    inspector = app.test_client(user=street[0].username)
    home = inspector.get("/complaints").get_data(as_text=True)
    assert "incident-banner" in home and f"/incidents/{incident_id}" in home and "【未阅】" in home
    assert HOSTILE not in home and "&lt;img src=x" in home
    for user in ("leader", "admin"):
        assert f"/incidents/{incident_id}" in app.test_client(user=user).get("/employers").get_data(as_text=True)
    stranger = app.test_client(user=outsider.username)
    assert f"/incidents/{incident_id}" not in stranger.get("/complaints").get_data(as_text=True)
    assert stranger.get(url).status_code == 404
    assert stranger.post(url + "/notes", data={"note": "x"}).status_code == 404
    assert app.test_client(user="planner").get(url).status_code == 403

    page = inspector.get(url).get_data(as_text=True)
    assert "逐级报送" in page and "（未阅）" in page
    assert inspector.post(url + "/read").status_code == 303
    page = inspector.get(url).get_data(as_text=True)
    assert "已阅 " in page and "【未阅】" not in inspector.get("/complaints").get_data(as_text=True)
    leader = app.test_client(user="leader")
    assert leader.post(url + "/read").status_code == 303  # leaders read (已阅) but do not act
    assert leader.post(url + "/notes", data={"note": "x"}).status_code == 403
    assert "领导" in leader.get(url).get_data(as_text=True)

    assert inspector.post(url + "/notes", data={"note": "已到现场协调"}).status_code == 303
    assert inspector.post(url + "/close", data={"result": ""}).status_code == 400
    assert inspector.post(url + "/close", data={"result": "企业当场补发工资12万元" + HOSTILE}).status_code == 303
    assert inspector.post(url + "/notes", data={"note": "x"}).status_code == 409
    top = raiser.get("/complaints").get_data(as_text=True)
    assert "【已办结】" in top and "企业当场补发工资12万元" in top
    with _db(app).connect() as conn:
        audit = conn.execute(sa.text("SELECT action, actor FROM audit_log WHERE entity = 'incident' "
                                     "AND entity_id = :i ORDER BY id"), {"i": str(incident_id)}).all()
        chain = conn.execute(sa.text("SELECT after FROM audit_log WHERE action = 'incident.raise' "
                                     "AND entity_id = :i"), {"i": str(incident_id)}).scalar()
    assert [a.action for a in audit] == ["incident.raise", "incident.ack", "incident.ack", "incident.note",
                                         "incident.close"]
    assert coordinator.username in audit[0].actor
    informed = chain["informed"] if isinstance(chain, dict) else json.loads(chain)["informed"]
    assert len(informed) >= 3  # the community's coordinators and the street's inspectors at least

"""The employer API: JSON file and manual placement over HTTP."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gisgrid.config import Settings
from gisgrid.employers.identifiers import make_credit_code
from gisgrid.web import create_app
from tests.employers.test_place import ADDRESS_ROWS, _write, _xy


@pytest.fixture
def api(grids, run_cli, tmp_path, db_url):
    run_cli("employers", "import", _write(tmp_path / "r.csv", ADDRESS_ROWS), "--commit")
    app = create_app({"TESTING": True}, settings=Settings(home=tmp_path / "app", database_url=db_url))
    return app.test_client()


def test_place_over_http_records_who_and_assigns(api, engine):
    """The logged-in user (admin) is recorded; a name in the body is ignored."""
    code = make_credit_code("419999", 3)
    lon, lat = _xy(2.0, 0.5)
    response = api.post(f"/api/employers/{code}/place", json={"lon": float(lon), "lat": float(lat),
                                                               "actor": "张协管员"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["employer"]["grid_code"] == "419999002201"
    shown = api.get(f"/api/employers/{code}").json
    assert (shown["located_by"], shown["placed_by"], shown["grid_code"]) == ("manual", "admin", "419999002201")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'place_employer'")).scalar() \
            == "admin"
    pending = api.get("/api/employers?unassigned=1").json
    assert [r["name"] for r in pending] == ["城外的厂"]


@pytest.mark.parametrize("body, status, text", [
    ({"lon": 113.7}, 400, "lon"),
    ({"lon": "x", "lat": "y"}, 400, "应为 -1e+08–1e+08 的数"),
    ({"lon": 34.3, "lat": 113.7}, 400, "not in China"),
])
def test_bad_placement_requests(api, body, status, text):
    response = api.post(f"/api/employers/{make_credit_code('419999', 3)}/place", json=body)
    assert response.status_code == status and text in response.json["message"]


def test_unknown_employer_is_404(api):
    assert api.get("/api/employers/91419999XXXXXXXXXX").status_code == 404

"""Every route has an access decision, and none answers an anonymous client with data."""

from __future__ import annotations

import pytest

from gisgrid.access.roles import CAPABILITIES
from gisgrid.web.auth import ACCESS, LOGGED_IN, PUBLIC

SAMPLE = {"code": "419901001", "key": "91419901000000001X", "generation": "示范市网格2026版", "job_id": 1,
          "z": "0", "x": "0", "y": "0", "filename": "app.css"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_an_access_decision(demo_app):
    endpoints = {rule.endpoint for rule in demo_app.url_map.iter_rules()}
    assert endpoints - set(ACCESS) == set(), "routes without an access decision in gisgrid.web.auth.ACCESS"
    assert set(ACCESS) - endpoints == set(), "stale entries in ACCESS"
    assert {need for need in ACCESS.values()} <= set(CAPABILITIES) | {PUBLIC, LOGGED_IN}
    # Open without login: the assets, the login, and the workers' complaint page with its
    # receipt lookup (it shows no personal field: tests/web/test_complaints_web.py).
    assert [e for e, need in ACCESS.items() if need == PUBLIC] == [
        "static", "auth.login", "complaints.public_report", "complaints.public_status"]


def test_a_route_without_a_decision_is_closed(demo_url, tmp_path):
    from gisgrid.config import Settings
    from gisgrid.web import create_app

    app = create_app({"TESTING": True}, settings=Settings(home=tmp_path, database_url=demo_url))
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    assert app.test_client().get("/forgotten").status_code == 404  # even for admin


def test_no_route_answers_an_anonymous_client(demo_app):
    client = demo_app.test_client(user=None)
    for rule, method in _routes(demo_app):
        if ACCESS[rule.endpoint] == PUBLIC:
            continue
        path = rule.build(SAMPLE | {k: SAMPLE.get(k, "1") for k in rule.arguments}, append_unknown=False)[1]
        answer = client.open(path, method=method, json={} if method != "GET" else None)
        if method == "GET" and not path.startswith(("/api/", "/tiles/")):
            assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next="), path
        else:
            # Writes: refused for the missing CSRF token before anything else (or 401).
            assert answer.status_code in (400, 401), (method, path, answer.status_code)
            if answer.is_json:
                assert answer.json["error"] in ("login_required", "csrf"), (method, path)
            else:  # a form's target (logout): the Chinese page
                assert "CSRF" in answer.get_data(as_text=True), (method, path)


@pytest.mark.parametrize("role", ["planner", "leader"])
def test_each_role_is_refused_exactly_what_it_lacks(demo_app, role):
    from gisgrid.access.roles import may
    from tests.auth_helpers import ensure_user

    ensure_user(demo_app, f"map-{role}", role)
    client = demo_app.test_client(user=f"map-{role}")
    for rule, method in _routes(demo_app):
        need = ACCESS[rule.endpoint]
        if need in (PUBLIC, LOGGED_IN) or may(role, need):
            continue
        path = rule.build(SAMPLE | {k: SAMPLE.get(k, "1") for k in rule.arguments}, append_unknown=False)[1]
        answer = client.open(path, method=method, json={} if method != "GET" else None)
        assert answer.status_code == 403, (role, method, path, answer.status_code)

"""Logging in and out through the web: the login gate, cookies, CSRF, revoked sessions, roles."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from gisgrid.access import disable_user, reset_password, set_role
from gisgrid.config import Settings
from gisgrid.db.engine import session_scope
from gisgrid.web import create_app
from tests.auth_helpers import PASSWORD, ensure_user, owner_engine

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(demo_url, tmp_path):
    return create_app({"TESTING": True}, settings=Settings(home=tmp_path, database_url=demo_url))


def _token(client, path: str = "/login") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def _login(client, username: str, password: str = PASSWORD, **extra):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": _token(client),
                                       **extra})


def _cookie(client, name: str = "gisgrid_session"):
    return client.get_cookie(name)


def test_anonymous_pages_go_to_login_and_data_answers_401(app):
    client = app.test_client(user=None)
    page = client.get("/grids/419901001?colour=adjacent")
    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=/grids/419901001?colour%3Dadjacent"
    for path in ("/api/employers?grid=419901001", "/api/employers.geojson", "/tiles/employers/0/0/0.pbf",
                 "/api/grids", "/api/employers/91419901000000001X"):
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.json["error"] == "login_required" and "请先登录" in answer.json["message"]
    login = client.get("/login")
    text = login.get_data(as_text=True)
    assert login.status_code == 200 and "登录" in text
    assert 'name="username"' in text and 'name="password"' in text and 'name="csrf_token"' in text
    assert "退出登录" not in text and "网格总图" not in text  # nothing of the app before login
    assert client.get("/static/app.css").status_code == 200  # the login page's own style sheet


def test_login_sets_a_strict_cookie_rotates_it_and_redirects_to_next(app):
    ensure_user(app, "zhang", "leader")
    client = app.test_client(user=None)
    answer = _login(client, "zhang", next="/grids/419901001")
    assert answer.status_code == 303 and answer.headers["Location"] == "/grids/419901001"
    cookie = next(v for k, v in answer.headers.items() if k == "Set-Cookie" and v.startswith("gisgrid_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    first = _cookie(client).value
    assert client.get("/grids/419901001").status_code == 200
    # A second login gives a new session id; the old one is ended at once.
    _login(client, "zhang")
    second = _cookie(client).value
    assert second != first
    other = app.test_client(user=None)
    other.set_cookie("gisgrid_session", first)
    assert other.get("/api/grids").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:1",
                                    "http:/evil"])
def test_next_never_leaves_the_site(app, target):
    ensure_user(app, "zhang", "leader")
    answer = _login(app.test_client(user=None), "zhang", next=target)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_https_cookies_are_secure_and_host_prefixed(demo_url, tmp_path):
    app = create_app({"TESTING": True}, settings=Settings(home=tmp_path, database_url=demo_url, https=True))
    ensure_user(app, "zhang", "leader")
    client = app.test_client(user=None)
    page = client.get("/login", base_url="https://localhost")
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    answer = client.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                         data={"username": "zhang", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    cookies = [v for k, v in answer.headers.items() if k == "Set-Cookie"]
    session = next(c for c in cookies if c.startswith("__Host-gisgrid_session="))
    assert "Secure" in session and "HttpOnly" in session and "Path=/" in session and "Domain" not in session


def test_wrong_password_says_so_in_chinese_and_is_throttled_and_audited(app):
    ensure_user(app, "li", "leader")
    client = app.test_client(user=None)
    for _ in range(5):
        wrong = _login(client, "li", "not-the-password")
        assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.get_data(as_text=True)
    stopped = _login(client, "li")  # even the right password now waits
    assert stopped.status_code == 429 and "登录失败次数过多" in stopped.get_data(as_text=True)
    unknown = _login(client, "nobody-here", "whatever-long-1")
    assert unknown.status_code == 401 and "用户名或密码不正确" in unknown.get_data(as_text=True)
    with owner_engine(app).connect() as conn:
        failed = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'login.failed' "
                                      "AND entity_id = 'li' AND address = '127.0.0.1'")).scalar()
    assert failed == 5


def test_csrf_is_refused_without_a_token(app):
    ensure_user(app, "zhang", "leader")
    anonymous = app.test_client(user=None)
    answer = anonymous.post("/login", data={"username": "zhang", "password": PASSWORD})
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
    client = app.test_client(csrf=False)
    placed = client.post("/api/employers/91419901000000001X/place", json={"lon": 113.7, "lat": 34.3})
    assert placed.status_code == 400 and placed.json["error"] == "csrf" and "刷新页面" in placed.json["message"]
    forged = client.post("/api/employers/91419901000000001X/place", json={"lon": 113.7, "lat": 34.3},
                         headers={"X-CSRFToken": "forged-token"})
    assert forged.status_code == 400 and forged.json["error"] == "csrf"
    logout = client.post("/logout")
    assert logout.status_code == 400  # a page cannot log the user out behind their back either


def test_logout_ends_the_session_server_side(app):
    client = app.test_client()
    assert client.get("/api/grids").status_code == 200
    token = _cookie(client).value
    page = client.get("/").get_data(as_text=True)
    assert "退出登录" in page and "admin" in page
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    out = client.post("/logout", headers={"X-CSRFToken": meta})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    replay = app.test_client(user=None)
    replay.set_cookie("gisgrid_session", token)
    assert replay.get("/api/grids").status_code == 401


@pytest.mark.parametrize("change", ["disable", "role", "password"])
def test_disabling_a_role_change_or_a_reset_ends_sessions_at_once(app, change):
    name = ensure_user(app, f"wang-{change}", "leader")  # the demo database is shared: one account each
    client = app.test_client(user=name)
    assert client.get("/api/grids").status_code == 200
    with session_scope(owner_engine(app)) as session:
        {"disable": lambda: disable_user(session, name, actor="admin"),
         "role": lambda: set_role(session, name, "planner", actor="admin"),
         "password": lambda: reset_password(session, name, actor="admin")}[change]()
    assert client.get("/api/grids").status_code == 401
    assert client.get("/").status_code == 302


def test_a_generated_password_must_be_changed_first(app):
    with session_scope(owner_engine(app)) as session:
        from gisgrid.access import add_user

        initial = add_user(session, "zhao", "leader", actor="admin").password
    client = app.test_client(user=None)
    assert _login(client, "zhao", initial).headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/account/password"
    assert client.get("/api/grids").json["error"] == "password_change_required"
    token = _token(client, "/account/password")
    weak = client.post("/account/password", data={"old_password": initial, "new_password": "zhao123456789",
                                                  "new_password2": "zhao123456789", "csrf_token": token})
    assert weak.status_code == 400 and "不能包含用户名" in weak.get_data(as_text=True)
    short = client.post("/account/password", data={"old_password": initial, "new_password": "short",
                                                   "new_password2": "short", "csrf_token": token})
    assert short.status_code == 400 and "至少 10 个字符" in short.get_data(as_text=True)
    done = client.post("/account/password", data={"old_password": initial, "new_password": "Zz-new-grid-2026",
                                                  "new_password2": "Zz-new-grid-2026", "csrf_token": token})
    assert done.status_code == 303
    assert client.get("/").status_code == 200
    assert _login(app.test_client(user=None), "zhao", initial).status_code == 401


def test_idle_sessions_end(app):
    client = app.test_client()
    assert client.get("/api/grids").status_code == 200
    with owner_engine(app).begin() as conn:
        conn.execute(sa.text("UPDATE user_session SET last_seen_at = now() - interval '31 minutes' "
                             "WHERE revoked_at IS NULL"))
    assert client.get("/api/grids").status_code == 401
    with owner_engine(app).connect() as conn:
        assert "idle" in conn.execute(sa.text("SELECT array_agg(revoked_why) FROM user_session")).scalar()


@pytest.mark.parametrize("role, allowed, refused", [
    ("planner", ["/", "/api/grids", "/api/employers.geojson?grid=419901001001", "/tiles/employers/0/0/0.pbf"],
     ["/exports", "/api/employers?grid=419901001001", "/exports/roster"]),
    ("leader", ["/", "/exports", "/api/employers?grid=419901001001"], []),
])
def test_roles_reach_what_their_capabilities_allow(app, role, allowed, refused):
    ensure_user(app, f"{role}1", role)
    client = app.test_client(user=f"{role}1")
    for path in allowed:
        assert client.get(path).status_code in (200, 204), (role, path)
    for path in refused:
        answer = client.get(path)
        assert answer.status_code == 403, (role, path)
        assert "无权" in answer.get_data(as_text=True)
    with owner_engine(app).connect() as conn:
        logged = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'access.refused' "
                                      "AND actor = :u"), {"u": f"{role}1"}).scalar()
    assert logged == len(refused)


def test_a_leader_changes_nothing(app):
    ensure_user(app, "leader1", "leader")
    client = app.test_client(user="leader1")
    placed = client.post("/api/employers/91419901000000001X/place", json={"lon": 113.7, "lat": 34.3})
    assert placed.status_code == 403 and placed.json["error"] == "forbidden"
    edit = client.post("/api/generations/示范市网格2026版/merge", json={"codes": ["1", "2"]})
    assert edit.status_code == 403

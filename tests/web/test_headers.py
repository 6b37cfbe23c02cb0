"""Host names and response headers: DNS rebinding refused, every kind of route with its headers."""

from __future__ import annotations

import pytest

from gisgrid.config import ConfigError, Settings, load_settings
from gisgrid.web import create_app
from gisgrid.web.security import PERMISSIONS_POLICY, trusted_hosts

FIXED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@pytest.fixture(scope="module")
def demo_refs(demo_app):
    """A real grid code and employer key of the demo city, found through the API."""
    client = demo_app.test_client()
    grid = client.get("/api/grids?level=3").get_json()["grids"][0]["code"]
    employer = next(e for e in client.get(f"/api/employers?grid={grid}").get_json() if e["credit_code"])
    return {"grid": grid, "employer": employer["credit_code"]}


# Every kind of route: (kind, path template, personal data?)
ROUTES = [
    ("city page", "/", True),
    ("grid page", "/grids/{grid}", True),
    ("employer page", "/employers/{employer}", True),
    ("search", "/search?q=公司", True),
    ("exports page", "/exports", True),
    ("employer API", "/api/employers/{employer}", True),
    ("employer list API", "/api/employers?grid={grid}", True),
    ("employer GeoJSON", "/api/employers.geojson?grid={grid}", True),
    ("grid API", "/api/grids?level=2", True),
    ("vector tile", "/tiles/employers/0/0/0.pbf", True),
    ("404 page", "/grids/000000000000", True),
    ("404 API", "/api/employers/NOSUCHCODE", True),
    ("static asset", "/static/vendor/leaflet/leaflet.js", False),
]


@pytest.mark.parametrize("kind, template, personal", ROUTES, ids=[r[0] for r in ROUTES])
def test_every_kind_of_route_carries_the_security_headers(client, demo_refs, kind, template, personal):
    response = client.get(template.format(**demo_refs))
    assert response.status_code in (200, 204, 404), (kind, response.status_code)
    for name, value in FIXED.items():
        assert response.headers.get(name) == value, (kind, name)
    policy = response.headers["Permissions-Policy"]
    assert policy == PERMISSIONS_POLICY
    for feature in ("geolocation=()", "camera=()", "microphone=()", "payment=()", "usb=()"):
        assert feature in policy
    if personal:
        assert response.headers.get("Cache-Control") == "no-store", kind
        assert "ETag" not in response.headers and "Expires" not in response.headers
    else:
        assert "no-store" not in (response.headers.get("Cache-Control") or "")  # assets may be cached
    if response.mimetype in ("text/html", "application/json", "application/geo+json"):
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], kind


def test_downloads_are_not_cached(client):
    """An export answer (the file, or the job that builds it) is never kept in a cache."""
    response = client.get("/exports/roster")
    assert response.status_code < 500
    assert response.headers.get("Cache-Control") == "no-store"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_errors_carry_the_headers_too(client):
    for response in (client.get("/tiles/employers/99/0/0.pbf"), client.get("/?level=9"),
                     client.post("/api/generations/x/merge", data="no json")):
        assert response.status_code == 400
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "localhost.evil.example",
                                  "127.0.0.1.nip.io", "10.0.0.1"])
def test_untrusted_host_is_refused_with_a_chinese_page(client, host):
    response = client.get("/", headers={"Host": host})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "不在受信任的主机名之列" in text and "GISGRID_TRUSTED_HOSTS" in text
    assert "Traceback" not in text
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:54321", "[::1]:5000"])
def test_local_names_are_trusted_by_default(client, host):
    # Past the host check: answered (logged in, on the host the cookie was set for) or
    # asked to log in (the test client keeps the cookie per host name): never 400.
    response = client.get("/api/grids?level=1", headers={"Host": host})
    assert response.status_code == 200 or response.json["error"] == "login_required"


def test_the_serve_address_is_trusted_and_the_setting_replaces_the_default(demo_url, tmp_path):
    settings = Settings(home=tmp_path, database_url=demo_url)
    # Anonymous clients: a trusted host gets as far as the login gate (401), another one 400.
    served = create_app({"TESTING": True}, settings=settings, serve_host="10.1.2.3").test_client(user=None)
    assert served.get("/api/grids?level=1", headers={"Host": "10.1.2.3:5000"}).json["error"] == "login_required"
    assert served.get("/api/grids?level=1", headers={"Host": "10.1.2.4:5000"}).status_code == 400
    named = create_app({"TESTING": True}, settings=settings.with_(trusted_hosts=("grid.example.cn",)),
                       serve_host="0.0.0.0").test_client(user=None)
    assert named.get("/api/grids?level=1", headers={"Host": "grid.example.cn"}).json["error"] == "login_required"
    assert named.get("/api/grids?level=1", headers={"Host": "localhost"}).status_code == 400
    refused = named.get("/api/grids?level=1", headers={"Host": "localhost"}).get_json()
    assert refused is None  # refused before routing: a plain page, not the API's JSON


def test_trusted_hosts_setting():
    env = {"GISGRID_HOME": "/tmp/g"}
    assert load_settings(env).trusted_hosts is None
    hosts = load_settings({**env, "GISGRID_TRUSTED_HOSTS": " Grid.Example.cn, 10.0.0.5 ,::1,.gov.cn"}).trusted_hosts
    assert hosts == ("grid.example.cn", "10.0.0.5", "::1", ".gov.cn")
    assert trusted_hosts(Settings(home="/tmp", trusted_hosts=hosts)) == ["grid.example.cn", "10.0.0.5", "[::1]",
                                                                       ".gov.cn"]
    assert trusted_hosts(Settings(home="/tmp"), "0.0.0.0") == ["localhost", "127.0.0.1", "[::1]"]
    with pytest.raises(ConfigError, match=r"GISGRID_TRUSTED_HOSTS had 'http://x'"):
        load_settings({**env, "GISGRID_TRUSTED_HOSTS": "http://x"})


def test_over_size_body_is_413_in_chinese_json_and_html(demo_url, tmp_path):
    settings = Settings(home=tmp_path, database_url=demo_url, max_upload_mb=0.01)  # 10 kB
    client = create_app({"TESTING": True}, settings=settings).test_client()
    body = b'{"line": "' + b"x" * 20_000 + b'"}'
    api = client.post("/api/generations/x/merge", data=body, content_type="application/json")
    assert api.status_code == 413
    message = api.get_json()["message"]
    assert "超过上限" in message and "GISGRID_MAX_UPLOAD_MB" in message and str(len(body)) in message
    page = client.post("/search", data=body)  # a page, and a view that never reads the body
    assert page.status_code == 413 and "请求内容过大" in page.get_data(as_text=True)
    assert client.post("/api/generations/x/merge", data=b"{}", content_type="application/json").status_code != 413


def test_upload_limit_setting():
    env = {"GISGRID_HOME": "/tmp/g"}
    assert load_settings(env).max_upload_mb == 2.0
    assert load_settings({**env, "GISGRID_MAX_UPLOAD_MB": "0.5"}).max_upload_mb == 0.5
    for bad in ("lots", "0", "-1", "nan", "inf"):
        with pytest.raises(ConfigError, match="GISGRID_MAX_UPLOAD_MB was"):
            load_settings({**env, "GISGRID_MAX_UPLOAD_MB": bad})
    app = create_app({"TESTING": True}, settings=Settings(home="/tmp", max_upload_mb=3))
    assert app.config["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024

"""Content-Security-Policy: header, per-request nonce on every inline script and style."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from gisgrid.config import Settings, load_settings
from gisgrid.errors import ConfigError
from gisgrid.web.csp import HEADER, JSON_POLICY, REPORT_ONLY_HEADER, build_policy, tag_inline_elements

PAGES = ["/", "/grids/419901", "/grids/419901001", "/grids/419901001001", "/exports"]


class _Tags(HTMLParser):
    """Start tags of <script>/<style> (with their attributes) and every attribute seen."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inline: list[tuple[str, dict]] = []
        self.attributes: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes += [(tag, k, v) for k, v in attrs.items()]
        if tag in ("script", "style"):
            self.inline.append((tag, attrs))


def _policy(response) -> dict[str, list[str]]:
    header = response.headers[HEADER]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _nonce(response) -> str:
    (nonce,) = [v[len("'nonce-"):-1] for v in _policy(response)["script-src"] if v.startswith("'nonce-")]
    return nonce


def _app(demo_url, tmp_path, **changes):
    from gisgrid.web import create_app

    settings = Settings(home=tmp_path, database_url=demo_url, **changes)
    return create_app({"TESTING": True}, settings=settings)


@pytest.mark.parametrize("path", PAGES + ["/grids/999999"])
def test_every_inline_script_and_style_carries_the_response_nonce(client, path):
    response = client.get(path)
    assert response.status_code == (404 if path == "/grids/999999" else 200)
    assert response.mimetype == "text/html"
    policy = _policy(response)
    nonce = _nonce(response)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", nonce)
    assert policy["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]  # no basemap configured
    for name in ("connect-src", "base-uri", "form-action"):
        assert policy[name] == ["'self'"], name
    assert policy["frame-ancestors"] == ["'none'"]
    header = response.headers[HEADER]
    assert "unsafe-eval" not in header and "strict-dynamic" not in header
    assert "'unsafe-inline'" not in header and "style-src-attr" not in header

    tags = _Tags()
    tags.feed(response.get_data(as_text=True))
    inline = [(tag, attrs) for tag, attrs in tags.inline if "src" not in attrs]
    if path.startswith("/grids/4") or path == "/":
        assert sum(tag == "script" for tag, _ in inline) >= 2  # folium's header + the map script
        assert sum(tag == "style" for tag, _ in inline) >= 3
    assert all(attrs.get("nonce") == nonce for _, attrs in inline), inline
    # Nothing the policy forbids without saying so: no event handler attributes, no
    # javascript: URLs (both would need 'unsafe-inline' for scripts).
    assert [a for a in tags.attributes if a[1].startswith("on")] == []
    assert [a for a in tags.attributes if (a[2] or "").strip().lower().startswith("javascript:")] == []
    # Nor style="" attributes: the policy allows none (colours are classes).
    assert [a for a in tags.attributes if a[1] == "style"] == []


def test_employer_page_carries_the_nonce_too(client):
    feature = client.get("/api/employers.geojson?grid=419901001001").get_json()["features"][0]
    response = client.get(f"/employers/{feature['properties']['credit_code']}")
    assert response.status_code == 200
    nonce = _nonce(response)
    tags = _Tags()
    tags.feed(response.get_data(as_text=True))
    inline = [attrs for _, attrs in tags.inline if "src" not in attrs]
    assert inline and all(attrs.get("nonce") == nonce for attrs in inline), inline


def test_each_request_gets_a_fresh_nonce(client):
    nonces = {_nonce(client.get("/grids/419901001001")) for _ in range(3)}
    assert len(nonces) == 3


def test_json_gets_a_locked_down_policy_and_assets_and_tiles_none(client):
    for path in ("/api/grids?level=2", "/api/employers.geojson?grid=419901001001",
                 "/api/employers.geojson?grid=999"):
        response = client.get(path)
        assert response.headers[HEADER] == JSON_POLICY, path
        assert "nonce-" not in response.headers[HEADER]
    lon, lat = client.get("/api/employers.geojson?grid=419901001001").get_json()["features"][0][
        "geometry"]["coordinates"]
    n = 2 ** 14
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    tile = client.get(f"/tiles/employers/14/{x}/{y}.pbf")
    assert tile.status_code == 200 and HEADER not in tile.headers
    empty = client.get("/tiles/employers/14/0/0.pbf")
    assert empty.status_code == 204 and HEADER not in empty.headers
    css = client.get("/static/vendor/leaflet/leaflet.css")
    assert css.status_code == 200 and HEADER not in css.headers


@pytest.mark.parametrize("basemap, key", [("osm", None), ("tianditu", "0123abcd")])
def test_basemap_tile_hosts_are_allowed_only_when_configured(demo_url, tmp_path, basemap, key):
    app = _app(demo_url, tmp_path, basemap=basemap, tianditu_key=key)
    response = app.test_client().get("/grids/419901001001")
    img = _policy(response)["img-src"]
    assert img[:3] == ["'self'", "data:", "blob:"] and len(img) > 3
    # Every tile URL the map will load is covered by an allowed host, and nothing else is.
    page = response.get_data(as_text=True)
    urls = set(re.findall(r'"(https://[^"]+)"', page))
    assert urls, "expected the basemap's tile URL template in the page"
    subdomains = "01234567" if basemap == "tianditu" else "abc"
    for url in urls:
        for host in {urlsplit(url.replace("{s}", s)).netloc for s in subdomains}:
            assert f"https://{host}" in img, (url, img)
    assert all(host.startswith("https://") and host.count("/") == 2 for host in img[3:])


def test_csp_off_sends_no_policy_and_report_only_reports(demo_url, tmp_path):
    off = _app(demo_url, tmp_path, csp="off").test_client().get("/exports")
    assert HEADER not in off.headers and REPORT_ONLY_HEADER not in off.headers
    report = _app(demo_url, tmp_path, csp="report-only").test_client().get("/exports")
    assert HEADER not in report.headers
    assert "script-src 'self' 'nonce-" in report.headers[REPORT_ONLY_HEADER]


def test_gisgrid_csp_setting_is_parsed():
    assert load_settings({}).csp == "on"
    assert load_settings({"GISGRID_CSP": " Report-Only "}).csp == "report-only"
    assert load_settings({"GISGRID_CSP": "off"}).csp == "off"
    with pytest.raises(ConfigError, match=r"GISGRID_CSP was 'enforce'; expected one of on, report-only, off"):
        load_settings({"GISGRID_CSP": "enforce"})


def test_app_refuses_an_unknown_csp_mode(demo_url, tmp_path):
    with pytest.raises(ValueError, match="Settings.csp was 'maybe'"):
        _app(demo_url, tmp_path, csp="maybe")


def test_tagging_touches_only_start_tags_without_a_nonce():
    markup = '<style>a{}</style><Script src="/x.js"></Script><script nonce="k">1</script><scripts>'
    assert tag_inline_elements(markup, "n") == (
        '<style nonce="n">a{}</style><Script nonce="n" src="/x.js"></Script>'
        '<script nonce="k">1</script><scripts>'
    )


def test_policy_refuses_an_unknown_basemap():
    with pytest.raises(ValueError, match="basemap was 'gaode'"):
        build_policy("n", "gaode")

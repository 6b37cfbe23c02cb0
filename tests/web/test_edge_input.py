"""Hostile input at the edge: every route of the app answers 4xx in Chinese, never 500.

The route walk takes every rule in ``app.url_map`` (a new route is fuzzed without being
listed here), puts hostile values into each path segment, each query parameter the view
reads and each JSON body, and fails on any 5xx, on any body with a Python traceback, and on
a 4xx whose message has no Chinese in it. The demo city must come out of it unchanged.
"""

from __future__ import annotations

import html
import inspect
from contextlib import contextmanager
import json
import re
import sys

import pytest
import sqlalchemy as sa

from gisgrid.config import Settings
from gisgrid.db.engine import get_engine
from gisgrid.web import create_app

CJK = re.compile(r"[\u3400-\u9fff]")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")
LONG = "码" * 10_000
# "<title>：<no Chinese at all>": the domain's English message with only the error page's heading
ENGLISH_AFTER_TITLE = re.compile(r"^[\u3400-\u9fff]{2,8}：([^\u3400-\u9fff]*)$", re.S)

# Values that break naive parsing, as they appear in a URL (already percent-encoded).
HOSTILE_SEGMENTS = ["%00", "a%00b", "%FF%FE", "99999999999999999999", "-1", "NaN", "Infinity", "1e309",
                    "x" * 10_000, "%E7%A0%81" * 3000, "%7B%7B7*7%7D%7D", "'%3B--", "%20"]
HOSTILE_VALUES = ["%00", "1%00", "%FF%FE", "99999999999999999999", "-99999999999999999999", "-1", "0", "abc",
                  "NaN", "Infinity", "-Infinity", "1e309", "x" * 10_000, "%2Bproj%3Dlonglat", "%2Fetc%2Fpasswd",
                  "EPSG%3A99999", "%5B%5D", "%7B%7D"]
# Query parameters some view of the app reads that static reading may not see (helpers in
# other modules): sent all at once with each hostile value, to every route.
EXTRA_PARAMS = ("level", "colour", "generation", "grid", "q", "format", "paper", "atlas", "employers",
                "unassigned", "lon", "lat", "crs", "job", "id")
WKT = 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]'
HOSTILE_JSON = [None, "", 0, -1, 99999999999999999999, 1e308, True, "abc", "NaN", "Infinity", "x\x00y", LONG,
                [], [[]], ["a", {"b": 1}], {}, {"a": [1, 2]}, {"type": "Polygon", "coordinates": "x"},
                {"type": "LineString", "coordinates": [[1, 2], ["a", None]]},
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, "POLYGON((0 0, 1 0, 0 0))",
                "+proj=longlat +datum=WGS84", WKT, "/etc/passwd", "EPSG:99999", "file:///etc/passwd"]
# Keys the JSON APIs read (their bodies get each hostile value under each key).
BODY_KEYS = ("lon", "lat", "crs", "actor", "line", "geometry", "version", "versions", "new_codes", "codes", "to",
             "new_code", "snap_m", "level", "grid", "format", "name", "effective_from")
RAW_BODIES = [b"not json", b"\xff\xfe\xfa", b'{"lon": 1', b"[1, 2]", b'"text"', b"42", b"null",
              b'{"lon": NaN, "lat": Infinity}', b"\x00", b'{"a": ' * 200 + b"1" + b"}" * 200]
ARG_READ = re.compile(r"""(?:args\.get(?:list)?|arg_text|arg_int|arg_flag)\(\s*["'](\w+)["']""")


def _reads(module) -> dict[str, set[str]]:
    """Query parameters each function of ``module`` reads, through its module's helpers too."""
    funcs = {name: f for name, f in vars(module).items()
             if inspect.isfunction(f) and f.__module__ == module.__name__}
    source = {name: inspect.getsource(f) for name, f in funcs.items()}
    reads = {name: set(ARG_READ.findall(text)) for name, text in source.items()}
    for _ in range(3):  # helpers of helpers
        for name, text in source.items():
            for helper in funcs:
                if helper != name and re.search(rf"\b{helper}\(", text):
                    reads[name] |= reads[helper]
    return reads


@pytest.fixture(scope="module")
def refs(demo_app):
    client = demo_app.test_client()
    grid = client.get("/api/grids?level=3").get_json()["grids"][0]["code"]
    employer = next(e for e in client.get(f"/api/employers?grid={grid}").get_json() if e["credit_code"])
    gen = sa.text("SELECT name FROM generation WHERE status = 'active'")
    with get_engine(demo_app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        generation = conn.execute(gen).scalar()
    return {"generation": generation, "code": grid, "key": employer["credit_code"], "z": "10", "x": "837",
            "y": "410", "filename": "vendor/leaflet/leaflet.js", "name": generation, "job": "1", "id": "1", "job_id": "1",
            "staff_id": "1", "assignment_id": "1", "complaint_id": "1", "case_id": "1", "document_id": "1",
            "inspection_id": "1", "rectification_id": "1", "incident_id": "1"}


def _demo_state(app) -> tuple:
    with get_engine(app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        return tuple(conn.execute(sa.text(q)).scalar() for q in (
            "SELECT string_agg(name || status, ',' ORDER BY id) FROM generation",
            "SELECT sum(version) || ':' || count(*) FROM grid",
            "SELECT md5(string_agg(id || ST_AsText(geom), ',' ORDER BY id)) FROM employer WHERE geom IS NOT NULL",
            "SELECT count(*) FROM audit_log",
        ))


@pytest.fixture
def fuzz(demo_app):
    """The demo app's client from an address of its own: export jobs a lenient request may
    queue count against this requester, not the 127.0.0.1 of the other tests."""
    return demo_app.test_client(environ_base={"REMOTE_ADDR": "198.51.100.7"})


def _check(response, what: str) -> None:
    """No 5xx, no traceback; a 4xx says what is wrong in Chinese."""
    if response.status_code < 400 and not (response.mimetype.startswith("text/") or response.is_json):
        return  # a download (XLSX, ZIP, a tile): the exports' own tests open it
    body = response.get_data(as_text=True)
    assert response.status_code < 500, f"{what}: {response.status_code} {body[:300]}"
    assert not TRACEBACK.search(body), f"{what}: a traceback in the answer"
    if response.status_code >= 400:
        if response.is_json:
            message = response.get_json()["message"]
        else:
            found = re.search(r'<section class="error-page">.*?<p>(.*?)</p>', body, re.S) or \
                re.search(r'<p[^>]*role="alert"[^>]*>(.*?)</p>', body, re.S) or \
                re.search(r"<p>(.*?)</p>", body, re.S)
            assert found, f"{what}: an error page without its message"
            message = found.group(1)
        assert CJK.search(message), f"{what}: {response.status_code} without a Chinese message: {message[:200]}"
        # a Chinese heading in front of an English sentence ("未找到：grid … does not exist") is not enough
        said = ENGLISH_AFTER_TITLE.match(html.unescape(message))
        assert not said, f"{what}: {response.status_code} says it in English: {message[:200]}"


def _url(rule, values: dict) -> str:
    path = rule.rule
    for arg in rule.arguments:
        path = re.sub(rf"<(?:\w+:)?{arg}>", values[arg], path)
    return path


def _methods(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def _rules(app):
    return [r for r in app.url_map.iter_rules()]


def test_the_walk_covers_the_app(demo_app, refs):
    """Every route is walked (a route whose path value the walk cannot fill fails here)."""
    rules = _rules(demo_app)
    assert len(rules) >= 15
    missing = {arg for rule in rules for arg in rule.arguments if arg not in refs}
    assert not missing, f"give the route walk a valid value for {missing}"
    kinds = {m for rule in rules for m in _methods(rule)}
    assert {"GET", "POST", "PUT"} <= kinds


# -- what the brief names, one by one --------------------------------------------------------

def _error(response, status: int = 400) -> str:
    _check(response, "named case")
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    return response.get_json()["message"] if response.is_json else response.get_data(as_text=True)


@pytest.mark.parametrize("url", [
    "/?level=99999999999999999999", "/?level=-1", "/?level=NaN", "/?colour=%00", "/?generation=a%00",
    "/api/grids?level=99999999999999999999", "/api/grids?level=-1", "/api/grids?level=abc",
    "/api/grids?level=Infinity", "/tiles/employers/10/99999999999999999999/1.pbf", "/tiles/employers/-1/0/0.pbf",
    "/tiles/employers/3/8/0.pbf", "/tiles/employers/3/0/8.pbf", "/tiles/employers/NaN/0/0.pbf",
    "/tiles/employers/%00/0/0.pbf", "/api/employers.geojson?grid=" + "9" * 10_000, "/search?q=" + "x" * 10_000,
    "/search?q=%00", "/api/employers?unassigned=maybe", "/grids/" + "9" * 10_000, "/employers/%C2%B2",
])
def test_named_query_cases_are_400(client, url):
    _error(client.get(url))


@pytest.mark.parametrize("body", [
    {"lon": "abc", "lat": 34.3}, {"lon": "NaN", "lat": 34.3}, {"lon": "Infinity", "lat": 34.3},
    {"lon": 1e309, "lat": 34.3}, {"lon": {"x": 1}, "lat": 34.3}, {"lon": [113.7], "lat": 34.3},
    {"lon": True, "lat": 34.3}, {"lat": 34.3}, {"lon": 113.7, "lat": 34.3, "crs": 4490},
    {"lon": 113.7, "lat": 34.3, "crs": ["gcj02"]},
])
def test_named_placement_bodies_are_400(client, refs, body):
    _error(client.post(f"/api/employers/{refs['key']}/place", json=body))


@pytest.mark.parametrize("crs", ["+proj=longlat +datum=WGS84 +no_defs", WKT, "/etc/passwd", "EPSG:99999",
                                 "EPSG:32650", "EPSG:3857", "urn:ogc:def:crs:EPSG::4326", "ESRI:102100",
                                 '{"type": "GeographicCRS"}', "file:///etc/passwd", "x" * 10_000])
def test_crs_outside_the_allowed_list_is_refused(client, refs, crs):
    message = _error(client.post(f"/api/employers/{refs['key']}/place", json={"lon": 113.7, "lat": 34.3, "crs": crs}))
    assert ("gcj02" in message and "EPSG:4490" in message) or "最多 40 个字符" in message


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "CGCS2000", "WGS84", "EPSG:4490", "4547"])
def test_allowed_crs_are_accepted_by_the_parser(crs):
    from gisgrid.crs import parse_crs

    assert parse_crs(crs, supported_only=True).name


@pytest.mark.parametrize("path, body", [
    ("/merge", {"codes": {"a": 1}}), ("/merge", {"codes": "419901001001"}), ("/merge", {"codes": [1, 2]}),
    ("/merge", {"codes": ["a", "b"], "versions": [1, 2]}), ("/merge", {"codes": ["a", "b"], "versions": {"a": "x"}}),
    ("/grids/{code}/split", {"line": [1, 2]}), ("/grids/{code}/split", {"line": 5}),
    ("/grids/{code}/split", {"line": "garbage"}), ("/grids/{code}/split", {"version": {"v": 1}}),
    ("/grids/{code}/split", {"new_codes": "abc"}), ("/grids/{code}/move", {"to": {"code": "x"}}),
    ("/grids/{code}/move", {"to": 419901001}), ("/grids/{code}/move", {"to": LONG}),
    ("/grids/{code}/geometry", {"snap_m": "abc"}), ("/grids/{code}/geometry", {"snap_m": "NaN"}),
    ("/grids/{code}/geometry", {"snap_m": 1e309}), ("/grids/{code}/geometry", {"geometry": ["POLYGON"]}),
])
def test_named_edit_bodies_are_400(client, refs, path, body):
    method = "put" if path.endswith("geometry") else "post"
    url = f"/api/generations/{refs['generation']}" + path.format(code=refs["code"])
    _error(getattr(client, method)(url, json=body))


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b"[1, 2]", b"", b'"x"'])
def test_bodies_that_are_not_a_json_object_are_400(client, refs, raw):
    url = f"/api/generations/{refs['generation']}/merge"
    message = _error(client.post(url, data=raw, content_type="application/json"))
    assert "JSON 对象" in message


# -- generations: unknown names are not enumerated; a partial draft still shows ---------------

@pytest.fixture
def drafts(run_cli, settings, repo_root):
    """A fresh city: the demo's level 1 active, and a secret draft with level 1 only."""
    shapes = repo_root / "data" / "shapes"
    run_cli("grids", "import", shapes / "demo_city.geojson", "--level", "1", "--generation", "现行版",
            "--commit")
    run_cli("grids", "activate", "现行版", "--commit")
    run_cli("grids", "import", shapes / "demo_city.geojson", "--level", "1", "--generation", "秘密草稿",
            "--commit")
    return create_app({"TESTING": True}, settings=settings).test_client()


def test_unknown_generation_404_lists_no_other_names(drafts):
    for url in ("/?generation=nosuch", "/api/generations/nosuch/validation",
                "/api/generations/nosuch/validation.geojson"):
        response = drafts.get(url)
        assert response.status_code == 404, url
        body = response.get_data(as_text=True)
        assert "秘密草稿" not in body and "现行版" not in body, url
        _check(response, url)


# -- the route walk: every rule of app.url_map, hostile values sampled -----------------------
# Every route gets every kind of attack, each path segment and query parameter a fixed-seed
# sample of the hostile values (all of them together in one request per value besides): the
# full product of rules x parameters x values took more than 400 s on the demo city.
WALK_SAMPLE = 4


@pytest.fixture(scope="module")
def walk_app(demo_copy_app):
    """The app on a copy of the demo city: export jobs that lenient requests queue must not
    land in the shared demo database (the job tests copy it and count its jobs)."""
    from gisgrid.db.engine import dispose_engines

    yield demo_copy_app("edge_walk_city")
    dispose_engines()


@pytest.fixture
def walker(walk_app):
    """An admin client of its own, logged in before the state is taken."""
    client = walk_app.test_client(user="edge-walker")
    client.get("/login")  # logs in now: the login's audit row is not a change the walk made
    return client


class _Walk:
    """One walk: its seeded sample of the hostile values and the answers it checked."""

    def __init__(self, app, client, seed: int):
        import random

        self.app, self.client, self.rng, self.checked = app, client, random.Random(seed), 0

    def sample(self, values: list, most: int = WALK_SAMPLE) -> list:
        return self.rng.sample(values, min(most, len(values)))

    def check(self, response, what: str) -> None:
        _check(response, what)
        self.checked += 1


@contextmanager
def _walk(app, client, seed: int, least: int):
    """A walk that must check more than ``least`` answers and leave the city as it was."""
    before = _demo_state(app)
    walk = _Walk(app, client, seed)
    yield walk
    assert walk.checked > least
    assert _demo_state(app) == before


def test_route_walk_hostile_path_segments(walk_app, walker, refs):
    with _walk(walk_app, walker, 10, 50) as walk:
        for rule in _rules(walk_app):
            for arg in rule.arguments:
                for value in walk.sample(HOSTILE_SEGMENTS):
                    url = _url(rule, {**refs, arg: value})
                    for method in _methods(rule):
                        walk.check(walker.open(url, method=method, json={}), f"{method} {rule.rule} {arg}={value[:20]}")


def test_route_walk_hostile_query_parameters(walk_app, walker, refs):
    with _walk(walk_app, walker, 11, 50) as walk:
        for rule in _rules(walk_app):
            if "GET" not in _methods(rule) or rule.endpoint == "static":
                continue
            view = walk_app.view_functions[rule.endpoint]
            params = sorted(_reads(sys.modules[view.__module__]).get(view.__name__, set()))
            url = _url(rule, refs)
            for value in walk.sample(HOSTILE_VALUES):
                everything = "&".join(f"{p}={value}" for p in (*params, *EXTRA_PARAMS))
                walk.check(walker.get(f"{url}?{everything}"), f"GET {rule.rule}?(all)={value[:20]}")
            for param in params:
                for value in walk.sample(HOSTILE_VALUES, 2):
                    walk.check(walker.get(f"{url}?{param}={value}"), f"GET {rule.rule}?{param}={value[:20]}")


def test_route_walk_hostile_json_bodies(walk_app, walker, refs):
    with _walk(walk_app, walker, 12, 100) as walk:
        for rule in _rules(walk_app):
            for method in _methods(rule):
                # Logging out ends the walk's own session (and is audited): tests/web/test_auth.py.
                if method == "GET" or rule.endpoint == "auth.logout":
                    continue
                url = _url(rule, refs)
                for raw in RAW_BODIES:
                    walk.check(walker.open(url, method=method, data=raw, content_type="application/json"),
                               f"{method} {rule.rule} body {raw[:20]!r}")
                walk.check(walker.open(url, method=method, data=RAW_BODIES[0], content_type="text/plain"),
                           f"{method} {rule.rule} text/plain")
                for key in BODY_KEYS:
                    for value in walk.sample(HOSTILE_JSON):
                        # A point far outside China: every field is read and checked, and a body
                        # that passes them all is still refused, so the demo city stays as it is.
                        body = {"lon": 1.0, "lat": 1.0, key: value}
                        walk.check(walker.open(url, method=method, data=json.dumps(body),
                                               content_type="application/json"),
                                   f"{method} {rule.rule} {key}={str(value)[:30]}")


"""Text from files is data, never a template or markup: every page shows it literally.

The hostile city (tests/fixtures/hostile.py) names its grids, generations, staff and every
employer field with template syntax and script breakers.  Rendered by the server, no page
may evaluate them (``{{7*7}}`` must not become 49, ``{#`` must not swallow the page or
crash it) or let them out of their context (a ``</script>`` inside a script, a ``"``
inside JSON).  In a real browser the text is shown literally, no dialog opens and no
Content-Security-Policy violation is reported.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from tests.fixtures import hostile
from tests.fixtures.hostile import hostile_city  # noqa: F401  (fixture)
from tests.live import serve_live
from tests.web.test_browser import ARTIFACTS, browser  # noqa: F401  (module fixture)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _codes(rows):
    return [r["统一社会信用代码"] for r in rows]


def _page_urls(rows) -> list[str]:
    urls = ["/", "/?colour=risk_share&level=3", f"/?generation={quote(hostile.DRAFT)}", "/exports",
            "/stats", "/stats?level=3", "/stats?grid=419999001"]
    urls += [f"/grids/{code}" for code in hostile.GRID_NAMES]
    urls += [f"/employers/{code}" for code in _codes(rows)]
    urls += [f"/search?q={quote(p)}" for p in ("企业", "{{7*7}}", "</script>", '"')]
    return urls


def _unescaped(html: str) -> str:
    import html as html_mod

    return html_mod.unescape(html)


def test_no_page_evaluates_or_crashes_on_hostile_text(hostile_city):
    _, rows, app, _ = hostile_city
    client = app.test_client()
    for url in _page_urls(rows):
        response = client.get(url, follow_redirects=True)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, (url, response.status_code, text[:500])
        # The only "49" a page may show is one it had anyway (a count, a coordinate).
        town = hostile.GRID_NAMES["419999002"]
        assert "49测试市" not in text and "49街道" not in text, url
        assert "x$x^2$镇" not in _unescaped(text).replace(town, ""), url


def test_grid_and_employer_pages_show_each_name_as_written(hostile_city):
    _, rows, app, _ = hostile_city
    client = app.test_client()
    for code, name in hostile.GRID_NAMES.items():
        text = _unescaped(client.get(f"/grids/{code}").get_data(as_text=True))
        assert name in text, (code, name)
    for row in rows:
        text = _unescaped(client.get(f"/employers/{row['统一社会信用代码']}").get_data(as_text=True))
        for column in ("单位名称", "地址", "法定代表人", "联系人", "联系电话"):
            assert row[column] in text, (column, row[column])


def test_no_hostile_script_breaks_out_of_a_script_element(hostile_city):
    """Inside every <script>, a payload's ``</script>`` or ``<img`` never appears raw."""
    _, rows, app, _ = hostile_city
    client = app.test_client()
    for url in _page_urls(rows):
        text = client.get(url, follow_redirects=True).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in text, url
        assert "<img src=x onerror" not in text, url


def test_json_apis_return_names_unchanged(hostile_city):
    _, rows, app, _ = hostile_city
    client = app.test_client()
    grids = client.get("/api/grids?level=3").get_json()
    names = {g["code"]: g["name"] for g in (grids if isinstance(grids, list) else grids["grids"])}
    for code, name in hostile.GRID_NAMES.items():
        if len(code) == 12:
            assert names[code] == name
    features = client.get("/api/employers.geojson").get_json()["features"]
    shown = {f["properties"].get("name") for f in features}
    assert {r["单位名称"] for r in rows if r["经度"]} <= shown, shown


def test_generation_name_is_literal_in_the_draft_view(hostile_city):
    _, _, app, _ = hostile_city
    text = _unescaped(app.test_client().get(f"/?generation={quote(hostile.DRAFT)}").get_data(as_text=True))
    assert hostile.DRAFT in text


# -- in a real browser ---------------------------------------------------------------------

_WATCH_CSP = """
window.__gg_csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
    window.__gg_csp.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""
_ENTITIES = ("&lt;", "&gt;", "&quot;", "&#39;", "&#34;", "&amp;")


@pytest.fixture(scope="module")
def hostile_live(hostile_city):
    with serve_live(hostile_city[2]) as url:
        yield url


class _Visit:
    """One page in the browser, with what went wrong on it."""

    def __init__(self, browser, base: str, path: str):
        self.dialogs, self.errors, self.console = [], [], []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.add_init_script(_WATCH_CSP)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(m.text) if m.type in ("error", "warning") else None)
        self.page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                        or route.request.url.startswith("data:") else route.abort())
        self.page.goto(base + path, wait_until="networkidle")
        self.page.wait_for_timeout(300)

    def text(self) -> str:
        return self.page.inner_text("body")

    def problems(self) -> list[str]:
        csp = self.page.evaluate("window.__gg_csp")
        csp += [c for c in self.console if "Content Security Policy" in c or "Content-Security-Policy" in c]
        return [f"dialog: {d}" for d in self.dialogs] + [f"error: {e}" for e in self.errors] + \
            [f"csp: {c}" for c in csp]


def _literal(text: str, expected: str, where: str) -> None:
    assert expected in text, (where, expected)
    for entity in _ENTITIES:
        assert entity not in text, (where, entity, "escaped twice")


_OPEN_FIRST_EMPLOYER_POPUP = """() => {
    const cluster = Object.values(window).find(v => v instanceof L.MarkerClusterGroup);
    const marker = cluster.getLayers()[0];
    cluster.fire("click", {layer: marker, latlng: marker.getLatLng()});
    return marker.feature.properties.name;
}"""


@pytest.mark.browser
def test_every_page_kind_shows_hostile_text_literally_in_a_browser(browser, hostile_live, hostile_city):  # noqa: F811
    _, rows, _, _ = hostile_city
    located = [r for r in rows if r["经度"]]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # city map (labels of streets; employers clustered), with the choropleth and the draft view
    for path, names in (("/", [hostile.GRID_NAMES["419999001"], hostile.GRID_NAMES["419999002"]]),
                        ("/?colour=risk_share&level=3", [hostile.GRID_NAMES["419999001001"]]),
                        (f"/?generation={quote(hostile.DRAFT)}", [hostile.DRAFT])):
        visit = _Visit(browser, hostile_live, path)
        text = visit.text()
        for name in names:
            _literal(text, name, path)
        visit.page.screenshot(path=str(ARTIFACTS / f"hostile-city-{len(path)}.png"))
        assert visit.problems() == [], (path, visit.problems())
        visit.page.close()
    # a street page and a community page: staff, employer list, labels and a popup
    for code in ("419999001", "419999001001", "419999001002", "419999002201"):
        visit = _Visit(browser, hostile_live, f"/grids/{code}")
        text = visit.text()
        _literal(text, hostile.GRID_NAMES[code], code)
        if code in hostile.STAFF:
            _literal(text, hostile.STAFF[code][0], code)
        name = visit.page.evaluate(_OPEN_FIRST_EMPLOYER_POPUP)
        visit.page.wait_for_selector(".leaflet-popup-content table.gg-popup")
        visit.page.screenshot(path=str(ARTIFACTS / f"hostile-grid-{code}.png"))
        _literal(visit.page.inner_text(".leaflet-popup-content"), name, f"{code} popup")
        assert visit.problems() == [], (code, visit.problems())
        visit.page.close()
    # every employer's file (一企一档)
    for row in located:
        visit = _Visit(browser, hostile_live, f"/employers/{row['统一社会信用代码']}")
        text = visit.text()
        for column in ("单位名称", "地址", "法定代表人", "联系人", "联系电话", "行业"):
            _literal(text, row[column], f"{row['单位名称']} {column}")
        assert visit.problems() == [], (row["单位名称"], visit.problems())
        visit.page.close()
    # search results and the exports page
    for path, expected in ((f"/search?q={quote('企业')}", [r["单位名称"] for r in located[:5]]),
                           (f"/search?q={quote('{{7*7}}')}", [hostile.GRID_NAMES["419999001"]]),
                           ("/exports", [])):
        visit = _Visit(browser, hostile_live, path)
        text = visit.text()
        for name in expected:
            _literal(text, name, path)
        assert visit.problems() == [], (path, visit.problems())
        visit.page.close()


@pytest.mark.browser
def test_placing_by_hand_keeps_a_hostile_name_and_page_literal(browser, hostile_live, hostile_city):  # noqa: F811
    from tests.auth_helpers import ensure_user, log_in_page

    _, rows, app, _ = hostile_city
    row = rows[-1]  # the employer without coordinates
    # The placing user's own display name is hostile too: it reaches the page as "placed by".
    ensure_user(app, "hostile-placer", "admin", display_name='{{7*7}}</script>"王五')
    visit = _Visit(browser, hostile_live, f"/employers/{row['统一社会信用代码']}")
    page = visit.page
    log_in_page(page, app, hostile_live, "hostile-placer")
    page.reload(wait_until="networkidle")
    _literal(visit.text(), row["单位名称"], "unplaced")
    page.click("button.gg-place-button")
    box = page.eval_on_selector(".folium-map", "e => { const r = e.getBoundingClientRect();"
                                " return [r.left + r.width / 2, r.top + r.height / 2]; }")
    page.mouse.click(*box)
    page.wait_for_selector(".gg-place-form button")
    with page.expect_navigation(wait_until="networkidle"):
        page.click(".gg-place-form button")
    page.wait_for_timeout(300)
    text = visit.text()
    _literal(text, row["单位名称"], "placed")
    _literal(text, '{{7*7}}</script>"王五（hostile-placer） 于', "placed by")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-placed.png"))
    assert visit.problems() == [], visit.problems()
    page.close()


def test_vector_tiles_carry_names_unchanged(hostile_city):
    import mapbox_vector_tile

    from tests.web.test_tiles import _tile_of

    _, rows, app, _ = hostile_city
    names = set()
    for row in rows:
        if not row["经度"]:
            continue
        x, y = _tile_of(float(row["经度"]), float(row["纬度"]), 15)
        response = app.test_client().get(f"/tiles/employers/15/{x}/{y}.pbf")
        assert response.status_code == 200
        names |= {f["properties"]["name"] for f in mapbox_vector_tile.decode(response.data)["employers"]["features"]}
    assert {r["单位名称"] for r in rows if r["经度"]} <= names

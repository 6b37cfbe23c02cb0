"""The maps read cleanly in a real headless Chromium (issue 15 item 3).

Grid labels never sit on an employer cluster (boxes read from the DOM at city zoom and at a
street's zoom), every street of the city map is named on the map or in the legend's key,
a street page names its communities, the legend folds (and stays folded after a reload)
and never covers an open popup, and a clicked shape gets no focus rectangle.
"""

from __future__ import annotations

# Runs after tests/web/test_plan_browser.py on purpose (file order): run before it, in the
# same session, the plan editor's refused-reshape step times out (seen in CI and reproduced
# with just these two files; the cause is not found yet — suspect shared state of the live
# servers or the logged-in browser helper). Both pass in this order and each alone.

import pytest

from tests.live import serve_live
from tests.web.test_browser import browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

STREET = "419901001"

# [text, box] of every label on show, and the box of every cluster icon, in page pixels.
_BOXES_JS = """() => {
    const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const labels = [...document.querySelectorAll('.gg-label-text')]
        .filter(e => getComputedStyle(e).visibility === 'visible' && e.offsetWidth > 0)
        .map(e => [e.textContent, box(e)]);
    const clusters = [...document.querySelectorAll('.leaflet-marker-pane .gg-cluster')].map(box);
    const key = [...document.querySelectorAll('.gg-label-key-list div')].map(e => e.textContent);
    return {labels, clusters, key};
}"""


@pytest.fixture(scope="module")
def live_url(demo_app):
    with serve_live(demo_app) as url:
        yield url


def _open(browser, url: str):  # noqa: F811
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    page.locator(".leaflet-marker-pane .gg-cluster").first.wait_for(state="attached", timeout=30_000)
    page.wait_for_timeout(800)  # cluster animation and the label pass after it
    return page, errors


def _overlaps(state: dict) -> list:
    return [(text, c) for text, (l, t, r, b) in state["labels"] for c in state["clusters"]
            if l < c[2] and c[0] < r and t < c[3] and c[1] < b]


def test_labels_never_cover_clusters_at_city_and_street_zoom(browser, live_url):  # noqa: F811
    page, errors = _open(browser, live_url + "/")
    city = page.evaluate(_BOXES_JS)
    assert city["clusters"] and city["labels"]
    assert _overlaps(city) == []
    # Every street/town is named: on the map or, where clusters left no room, in the key.
    named = {t.split(" ")[0] for t, _ in city["labels"]} | {t.split(" ")[0] for t in city["key"]}
    streets = page.eval_on_selector_all("table a[href^='/grids/']", "els => els.map(e => e.textContent)")
    codes = {s for s in streets if s.isdigit() and len(s) == 9}
    assert codes and codes <= named, codes - named
    page.close()

    page, errors2 = _open(browser, f"{live_url}/grids/{STREET}")
    street = page.evaluate(_BOXES_JS)
    assert _overlaps(street) == []
    communities = [t for t, _ in street["labels"] if t.startswith(STREET) and len(t.split(" ")[0]) > 9]
    assert communities, street["labels"]
    page.close()
    assert errors == [] and errors2 == []


def test_legend_folds_remembers_and_gives_way_to_popups(browser, live_url):  # noqa: F811
    page, errors = _open(browser, live_url + "/")
    body = page.locator(".gg-legend .gg-legend-body")
    assert body.is_visible()
    page.click(".gg-legend-toggle")
    assert not body.is_visible()
    assert page.inner_text(".gg-legend-toggle") == "展开"
    page.reload(wait_until="load")
    page.wait_for_timeout(300)
    assert not page.locator(".gg-legend .gg-legend-body").is_visible()  # remembered (localStorage)
    page.click(".gg-legend-toggle")
    assert page.locator(".gg-legend .gg-legend-body").is_visible()

    # A popup low on the left, where the legend sits: the legend folds and goes below it.
    page.evaluate("""() => {
        const map = Object.values(window).find(v => v instanceof L.Map);
        const size = map.getSize();
        L.popup({autoPan: false}).setLatLng(map.containerPointToLatLng([140, size.y - 120]))
            .setContent('<div class="gg-test-popup">测试</div>').openOn(map);
    }""")
    page.wait_for_timeout(200)
    covered = page.evaluate("""() => {
        const r = document.querySelector('.leaflet-popup-content-wrapper').getBoundingClientRect();
        const points = [];
        for (let i = 1; i < 6; i++) for (let j = 1; j < 4; j++)
            points.push([r.left + r.width * i / 6, r.top + r.height * j / 4]);
        return points.filter(([x, y]) => !document.elementFromPoint(x, y).closest('.leaflet-popup')).length;
    }""")
    assert covered == 0
    assert not page.locator(".gg-legend .gg-legend-body").is_visible()
    page.evaluate("() => Object.values(window).find(v => v instanceof L.Map).closePopup()")
    assert page.locator(".gg-legend .gg-legend-body").is_visible()  # back as the person left it
    page.close()
    assert errors == []


def test_a_clicked_shape_gets_no_focus_rectangle(browser, live_url):  # noqa: F811
    page, errors = _open(browser, live_url + "/")
    outline = page.evaluate("""() => {
        const shape = document.querySelector('.leaflet-overlay-pane path.leaflet-interactive');
        shape.setAttribute('tabindex', '0');
        shape.focus();
        return getComputedStyle(shape).outlineStyle;
    }""")
    assert outline == "none"
    page.close()
    assert errors == []

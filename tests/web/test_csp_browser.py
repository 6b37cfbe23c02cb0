"""Every page under the enforced Content-Security-Policy in a real headless Chromium.

A page fails on any ``securitypolicyviolation`` event or console message about the
policy; map pages must also have drawn: grid polygons, labels and the employer layer.
"""

from __future__ import annotations

import pytest

from gisgrid.web.csp import HEADER
from tests.web.test_browser import ARTIFACTS, browser, live_app  # noqa: F401  (fixtures)
from tests.web.test_tiles_browser import tiled_app  # noqa: F401  (fixture)

# Recorded before any of the page's own scripts run (an init script is not subject to
# the page's policy), so violations during the first parse are caught as well.
_WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
    window.__cspViolations.push([e.violatedDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber,
                                 (e.sample || "").slice(0, 80)].join(" "));
});
"""

MAP_PAGES = [
    ("/", "csp_index.png", True),
    ("/grids/419901", "csp_level1.png", True),
    ("/grids/419901001", "csp_level2.png", True),
    ("/grids/419901001001", "csp_level3.png", True),
    # Filled by an indicator instead of adjacency colours: its own legend and selector, and
    # no employer layer.
    ("/?colour=risk_share&level=3", "csp_indicator.png", False),
]
OTHER_PAGES = [("/exports", "csp_exports.png", 200), ("/grids/999999", "csp_error.png", 404)]


def _open(browser, url: str):  # noqa: F811
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    problems = []
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    # Chromium reports blocked content as "Refused to … violates the following Content
    # Security Policy directive"; other console errors (the favicon's 404) are not ours here.
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    page.add_init_script(_WATCH_VIOLATIONS)
    response = page.goto(url, wait_until="networkidle")
    return page, response, problems


def _violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


@pytest.mark.browser
@pytest.mark.parametrize("path, shot, employers", MAP_PAGES)
def test_map_pages_draw_under_the_policy(browser, live_app, path, shot, employers):  # noqa: F811
    page, response, problems = _open(browser, live_app + path)
    assert "script-src 'self' 'nonce-" in response.headers[HEADER.lower()]
    # The employers arrive by fetch after load; then the clusters are drawn.  (A locator,
    # not wait_for_function: that polls through eval(), which this very policy refuses.)
    drawn = ".leaflet-marker-icon.gg-cluster" if employers else ".gg-label-text"
    page.locator(drawn).first.wait_for(state="attached", timeout=20_000)
    page.wait_for_timeout(500)
    polygons = page.eval_on_selector_all(".leaflet-map-pane svg path", "els => els.length")
    labels = page.eval_on_selector_all(".gg-label-text:not(.gg-label-hidden)", "els => els.length")
    # The cluster rings are coloured by their style attribute (see gisgrid.web.csp).
    rings = page.eval_on_selector_all(
        ".gg-cluster .gg-donut", "els => els.map(e => getComputedStyle(e).backgroundImage)")
    legend = page.inner_text(".gg-legend")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot))
    violations = _violations(page)
    page.close()
    assert violations == [] and problems == [], (violations, problems)
    assert polygons >= 10, polygons
    assert labels >= 1, labels
    if employers:
        assert rings and all(r.startswith("conic-gradient") for r in rings), rings[:3]
    assert "图例" in legend


@pytest.mark.browser
@pytest.mark.parametrize("path, shot, status", OTHER_PAGES)
def test_other_pages_run_clean_under_the_policy(browser, live_app, path, shot, status):  # noqa: F811
    page, response, problems = _open(browser, live_app + path)
    assert response.status == status
    assert "script-src 'self' 'nonce-" in response.headers[HEADER.lower()]
    text = page.inner_text("body")
    # exports.html's own <style>: a card has its white background only if it applied.
    card = page.evaluate("(() => { const c = document.querySelector('.card');"
                         " return c && getComputedStyle(c).backgroundColor; })()")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot))
    violations = _violations(page)
    page.close()
    assert violations == [] and problems == [], (violations, problems)
    if path == "/exports":
        assert "导出与上报" in text and card == "rgb(255, 255, 255)"
    else:
        assert "未找到" in text


@pytest.mark.browser
def test_employer_page_map_draws_under_the_policy(browser, live_app, demo_app):  # noqa: F811
    answer = demo_app.test_client().get("/api/employers.geojson?grid=419901001001").get_json()
    key = answer["features"][0]["properties"]["credit_code"]
    page, response, problems = _open(browser, f"{live_app}/employers/{key}")
    assert response.status == 200
    page.locator(".leaflet-map-pane svg path").first.wait_for(state="attached", timeout=20_000)
    page.wait_for_timeout(500)
    polygons = page.eval_on_selector_all(".leaflet-map-pane svg path", "els => els.length")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "csp_employer.png"))
    violations = _violations(page)
    page.close()
    assert violations == [] and problems == [], (violations, problems)
    assert polygons >= 1


@pytest.mark.browser
def test_the_policy_blocks_a_script_without_the_nonce(browser, live_app):  # noqa: F811
    """The watch above is not blind: markup injected into the page does not run."""
    page, _, problems = _open(browser, live_app + "/exports")
    page.evaluate("""() => {
        const s = document.createElement("script");
        s.textContent = "window.__injected = true;";
        document.body.appendChild(s);
    }""")
    page.wait_for_timeout(200)
    ran = page.evaluate("window.__injected === true")
    violations = _violations(page)
    page.close()
    assert not ran
    assert any(v.startswith("script-src") for v in violations), violations


@pytest.mark.browser
def test_vector_tile_map_draws_under_the_policy(browser, tiled_app):  # noqa: F811
    """The large-set variant: Leaflet.VectorGrid draws employer tiles on canvases."""
    page, _, problems = _open(browser, tiled_app + "/grids/419901001")
    page.locator(".leaflet-tile-container canvas").first.wait_for(state="attached", timeout=20_000)
    page.wait_for_timeout(500)
    polygons = page.eval_on_selector_all(".leaflet-map-pane svg path", "els => els.length")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "csp_tiles.png"))
    violations = _violations(page)
    page.close()
    assert violations == [] and problems == [], (violations, problems)
    assert polygons >= 10

"""The real app in a real headless Chromium: the map draws, and nothing leaves localhost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.live import LoggedInBrowser, serve_live

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def live_app(demo_app):
    with serve_live(demo_app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield LoggedInBrowser(browser)  # new pages are logged in as admin (tests/live.py)
        browser.close()


def _open(browser, url: str, base: str, shot: str):
    """Open ``url``; abort and record every request that is not to ``base``."""
    outside, errors = [], []
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.on("pageerror", lambda e: errors.append(str(e)))

    def only_local(route):
        if route.request.url.startswith(base) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    # "load", not "networkidle": Playwright's networkidle is 500 ms without requests, which
    # on a busy machine comes while the page's inline scripts still run, before the map
    # has even asked for its employers.  The employers arrive by fetch after load: wait
    # for their clusters (the grid polygons alone are drawn before that).
    page.goto(url, wait_until="load")
    page.locator(".leaflet-marker-pane .leaflet-marker-icon.gg-cluster").first.wait_for(
        state="attached", timeout=30_000)
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot))
    return page, outside, errors


@pytest.mark.browser
def test_index_map_draws_offline(browser, live_app):
    page, outside, errors = _open(browser, f"{live_app}/", live_app, "index.png")
    fills = page.eval_on_selector_all(
        ".leaflet-map-pane svg path", "els => els.map(e => e.getAttribute('fill'))")
    markers = page.eval_on_selector_all(".leaflet-marker-pane .leaflet-marker-icon", "els => els.length")
    text = page.inner_text("body")
    page.close()
    assert outside == [], outside
    assert errors == [], errors
    # 15 filled streets + 250 community outlines (+ focus/overlays): the polygons were drawn
    assert len(fills) >= 15 + 250
    filled = [f for f in fills if f and f != "none"]
    assert len(set(filled)) >= 4  # adjacent streets in different colours
    assert markers > 10  # clusters and labels on the map
    assert "示范市网格划分总图" in text and "图例" in text
    assert (ARTIFACTS / "index.png").stat().st_size > 50_000


MAP_BACKGROUND = (238, 240, 241)


def _blank_share(page) -> float:
    """Share of the map area left in the plain map background colour."""
    from io import BytesIO

    from PIL import Image

    box = page.eval_on_selector(".folium-map", "e => { const r = e.getBoundingClientRect();"
                                " return [r.left, r.top, r.right, r.bottom]; }")
    shot = Image.open(BytesIO(page.screenshot())).convert("RGB").crop(tuple(round(v) for v in box))
    colours = shot.getcolors(maxcolors=shot.width * shot.height)
    return sum(n for n, c in colours if c == MAP_BACKGROUND) / (shot.width * shot.height)


@pytest.mark.browser
def test_grid_page_draws_offline(browser, live_app):
    page, outside, errors = _open(browser, f"{live_app}/grids/419901001001", live_app, "grid.png")
    text = page.inner_text("body")
    # The community is in the middle of its street, whose fill covers the whole map: no
    # part may be left blank (an animated 16-fold first zoom once left ~40 % grey).
    blank = _blank_share(page)
    # A four-level zoom, as a click on a cluster makes, must not leave a blank part either.
    page.evaluate("() => { const m = Object.values(window).find(v => v instanceof L.Map);"
                  " const z = m.getZoom(); m.setZoom(z - 4, {animate: false});"
                  " setTimeout(() => m.setZoom(z), 300); }")
    page.wait_for_timeout(1500)
    blank_after_zoom = _blank_share(page)
    attribution = page.inner_html(".leaflet-control-attribution")
    page.close()
    assert outside == [] and errors == []
    assert "网格人员（四定）" in text and "南关社区" in text
    assert blank < 0.005 and blank_after_zoom < 0.005, (blank, blank_after_zoom)
    assert attribution == "Leaflet"


@pytest.mark.browser
def test_staff_names_roles_and_phones_stay_on_one_line(browser, live_app):
    page, outside, errors = _open(browser, f"{live_app}/grids/419901001", live_app, "street.png")
    lines = page.eval_on_selector_all("table.staff tr", """rows => rows.slice(1).map(row =>
        [...row.cells].map(cell => {
            const range = document.createRange();
            range.selectNodeContents(cell);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        }))""")
    page.close()
    assert outside == [] and errors == []
    assert lines and all(row[:3] == [1, 1, 1] for row in lines), lines
    assert any(row[3] > 1 for row in lines)  # the duties wrap instead

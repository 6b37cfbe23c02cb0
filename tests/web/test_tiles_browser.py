"""The vector-tile employer layer in a real headless Chromium: it draws and its popups open.

What the page fetched is counted where it cannot be missed: by the app itself (a WSGI
wrapper logs every tile it answers) and by the page (Resource Timing entries); what it drew
is read back from the tile canvases.  No Playwright network events and no "networkidle":
Playwright's networkidle is 500 ms without requests, not "the scripts have run" — on this
1.4 MB page whose inline scripts run for seconds on a busy 2-core machine it fired before
the map had asked for a single tile, so a test that counted ``response`` events right after
``goto(wait_until="networkidle")`` saw none.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.config import Settings
from tests.live import serve_live
from tests.web.test_browser import ARTIFACTS, browser  # noqa: F401  (fixture)

TILE_PATH = re.compile(r"^/tiles/employers/(\d+)/(\d+)/(\d+)\.pbf$")
RISK_RGB = {level: tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
            for level, (_label, colour) in RISK_LEVELS.items()}


class _TileLog:
    """WSGI wrapper: records (path, status) of every employer tile the app answers."""

    def __init__(self, app):
        self.app, self.served, self._lock = app, [], threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not TILE_PATH.match(path):
            return self.app(environ, start_response)

        def logging_start_response(status, headers, exc_info=None):
            with self._lock:
                self.served.append((path, int(status.split()[0])))
            return start_response(status, headers, exc_info)

        return self.app(environ, logging_start_response)

    def at_zoom(self, z: int) -> dict[str, int]:
        with self._lock:
            return {p: s for p, s in self.served if int(TILE_PATH.match(p).group(1)) == z}


TILE_LOGS: dict[str, _TileLog] = {}  # the tile log of each running tiled_app, by its URL


@pytest.fixture(scope="module")
def tiled_app(demo_url, tmp_path_factory):
    from gisgrid.web import create_app

    settings = Settings(home=tmp_path_factory.mktemp("tiles-home"), database_url=demo_url,
                        map_tiles_above=100)
    log = _TileLog(create_app({"TESTING": True}, settings=settings))
    with serve_live(log) as url:
        TILE_LOGS[url] = log
        yield url  # a plain URL: other browser tests (test_csp_browser) use this fixture too
        del TILE_LOGS[url]


# The tiles of the current zoom level (Leaflet gives its level container the highest
# z-index), as the page timed them and as their canvases show them.
_PAGE_TILES_JS = """(z) => {
    const timed = performance.getEntriesByType('resource')
        .filter(e => new URL(e.name).pathname.startsWith('/tiles/employers/' + z + '/'))
        .map(e => ({path: new URL(e.name).pathname, status: e.responseStatus, done: e.responseEnd > 0}));
    const pane = document.querySelector('.leaflet-gg-employers-pane');
    const levels = pane ? [...pane.querySelectorAll('.leaflet-tile-container')] : [];
    const top = levels.sort((a, b) => Number(b.style.zIndex) - Number(a.style.zIndex))[0];
    const canvases = top ? [...top.querySelectorAll('canvas.leaflet-tile')] : [];
    return {timed, canvases: canvases.length,
            loaded: canvases.filter(c => c.classList.contains('leaflet-tile-loaded')).length};
}"""

# Opaque canvas pixels within a few units of each risk colour, per level.
_DRAWN_COLOURS_JS = """(rgb) => {
    const pane = document.querySelector('.leaflet-gg-employers-pane');
    const levels = [...pane.querySelectorAll('.leaflet-tile-container')];
    const top = levels.sort((a, b) => Number(b.style.zIndex) - Number(a.style.zIndex))[0];
    const found = {};
    for (const c of top.querySelectorAll('canvas.leaflet-tile-loaded')) {
        if (!c.width || !c.height) continue;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] < 200) continue;
            for (const [level, [r, g, b]] of Object.entries(rgb)) {
                if (Math.abs(d[i] - r) <= 8 && Math.abs(d[i + 1] - g) <= 8 && Math.abs(d[i + 2] - b) <= 8) {
                    found[level] = (found[level] || 0) + 1;
                }
            }
        }
    }
    return found;
}"""


def _wait_for_tiles(page, log: _TileLog, z: int) -> dict[str, int]:
    """Wait until every tile of zoom ``z`` on screen is fetched and drawn; return the app's log."""
    # Fetched: the page has asked for tiles of this zoom and has every answer, and each of
    # its canvases on screen is drawn (Leaflet marks a tile loaded once VectorGrid drew it).
    # Polled from here (page.evaluate is not subject to the page's CSP; wait_for_function's
    # in-page polling may be).  The deadline only bounds a hang: nothing here is timed.
    deadline = time.monotonic() + 60
    while True:
        state = page.evaluate(_PAGE_TILES_JS, z)
        if (state["timed"] and all(e["done"] for e in state["timed"])
                and state["canvases"] and state["loaded"] == state["canvases"]):
            break
        assert time.monotonic() < deadline, f"tiles of zoom {z} not all fetched and drawn: {state}"
        page.wait_for_timeout(250)
    served = log.at_zoom(z)
    # The app answered exactly the tiles the page timed, with the same statuses.
    assert {e["path"]: e["status"] for e in state["timed"]} == served
    assert set(served.values()) <= {200, 204}, served
    return served


@pytest.mark.browser
def test_tiled_map_draws_and_opens_employer_popups(browser, tiled_app):  # noqa: F811
    base, log = tiled_app, TILE_LOGS[tiled_app]
    outside, errors = [], []
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.add_init_script("performance.setResourceTimingBufferSize(5000)")
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(base + "/", wait_until="load")
    zoom = page.evaluate("Object.values(window).find(v => v instanceof L.Map).getZoom()")
    served = _wait_for_tiles(page, log, zoom)
    assert 200 in served.values(), served  # the city view holds employers
    drawn = page.evaluate(_DRAWN_COLOURS_JS, RISK_RGB)
    # Cells coloured by their riskiest sizeable level: more than one risk colour on screen.
    assert len(drawn) >= 2 and sum(drawn.values()) > 500, drawn

    name = page.evaluate("Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))")
    # Zoom to street level in the busiest part: raw employer points, one popup each.
    page.evaluate(f"() => window.{name}.setView(window.{name}.getCenter(), 14, {{animate: false}})")
    served14 = _wait_for_tiles(page, log, 14)
    assert 200 in served14.values(), served14
    drawn14 = page.evaluate(_DRAWN_COLOURS_JS, RISK_RGB)
    # Raw points in every risk colour (the demo city has employers at every level).
    assert set(drawn14) == {str(k) for k in RISK_LEVELS}, drawn14

    box = page.locator(".leaflet-container").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for step in range(120):
        if page.locator(".leaflet-popup").count():
            break
        page.mouse.click(cx + (step % 12) * 9 - 54, cy + (step // 12) * 9 - 45)
        page.wait_for_timeout(60)
    page.wait_for_timeout(400)  # let the popup finish fading in before the screenshot
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tiles_z14.png"))
    assert page.locator(".leaflet-popup").count() == 1
    text = page.locator(".leaflet-popup").inner_text()
    assert "统一社会信用代码" in text and "风险等级" in text
    # The popup links to the employer's own page (一企一档), and that page opens.
    href = page.locator(".leaflet-popup .gg-popup-link a").get_attribute("href")
    assert href.startswith("/employers/")
    assert page.request.get(base + href).status == 200
    assert outside == [] and errors == []
    page.close()

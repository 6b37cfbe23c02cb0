"""The vector-tile employer layer in a real headless Chromium: it draws and its popups open."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from gisgrid.config import Settings
from tests.web.test_browser import ARTIFACTS, browser  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def tiled_app(demo_url, tmp_path_factory):
    from gisgrid.web import create_app

    settings = Settings(home=tmp_path_factory.mktemp("tiles-home"), database_url=demo_url,
                        map_tiles_above=100)
    server = make_server("127.0.0.1", 0, create_app({"TESTING": True}, settings=settings),
                         threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.browser
def test_tiled_map_draws_and_opens_employer_popups(browser, tiled_app):  # noqa: F811
    outside, errors, tiles = [], [], []
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: tiles.append(r.status) if "/tiles/employers/" in r.url else None)

    def only_local(route):
        if route.request.url.startswith(tiled_app):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(tiled_app + "/", wait_until="networkidle")
    assert page.locator(".leaflet-tile-container canvas").count() > 0
    assert 200 in tiles
    name = page.evaluate("Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))")
    # Zoom to street level in the busiest part: raw employer points, one popup each.
    page.evaluate(f"""() => {{
        var m = window.{name}, b = m.getBounds(); m.setView(m.getCenter(), 14, {{animate: false}});
    }}""")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(800)
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
    assert page.request.get(tiled_app + href).status == 200
    assert outside == [] and errors == []
    page.close()

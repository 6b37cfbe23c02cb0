"""A worker's complaint in a real Chromium, from the public page to the street inspector's desk."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gisgrid.db.engine import dispose_engines, get_engine
from tests.live import serve_live
from tests.web.test_auth_browser import _log_in
from tests.web.test_browser import ARTIFACTS, browser  # noqa: F401  (module fixture)

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


@pytest.fixture(scope="module")
def live(demo_copy_app):
    app = demo_copy_app("complaints_browser_city")
    with serve_live(app, user=None) as url:
        yield app, url
    dispose_engines()


@pytest.mark.browser
def test_a_worker_complains_and_the_street_inspector_accepts(browser, live):  # noqa: F811
    app, base = live
    with get_engine(app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        street_code, street = conn.execute(sa.text(
            "SELECT g.code, g.name FROM grid g JOIN generation n ON n.id = g.generation_id AND n.status = 'active' "
            "WHERE g.level = 2 ORDER BY g.code LIMIT 1")).one()
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login", wait_until="load")
    with page.expect_navigation(wait_until="load"):
        page.click("text=网上投诉举报")
    page.fill("input[name=employer_name]", "某某制衣厂" + HOSTILE)
    page.fill("input[name=address]", f"示范市{street}幸福路 8 号")
    page.fill("textarea[name=summary]", "拖欠三个月工资 " + HOSTILE)
    page.fill("input[name=complainant]", "王五")
    with page.expect_navigation(wait_until="load"):
        page.click("form.visit-form button[type=submit]")
    receipt = page.inner_text(".receipt")
    assert receipt.startswith("TS")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "complaint-public-receipt.png"))
    with page.expect_navigation(wait_until="load"):
        page.click("main a[href*='/report/status']")
    assert "待受理" in page.inner_text("main") and "王五" not in page.inner_text("main")
    _log_in(page, base, f"jc{street_code}-1")
    page.goto(f"{base}/complaints", wait_until="load")
    assert "某某制衣厂" + HOSTILE in page.inner_text("main")  # the text itself, not markup
    with page.expect_navigation(wait_until="load"):
        page.click("table.complaints a")
    page.screenshot(path=str(ARTIFACTS / "complaint-inspector.png"), full_page=True)
    with page.expect_navigation(wait_until="load"):
        page.click("form.visit-form button[type=submit]")
    assert "已受理" in page.inner_text("h1")
    assert dialogs == [] and errors == []
    page.close()

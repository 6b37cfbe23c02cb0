"""Logging in as a person does, in a real Chromium: the form, the landing page, logging out."""

from __future__ import annotations

import pytest

from tests.auth_helpers import PASSWORD
from tests.live import serve_live
from tests.web.test_browser import ARTIFACTS, browser  # noqa: F401  (module fixture)


@pytest.fixture(scope="module")
def anonymous_live(demo_app):
    with serve_live(demo_app, user=None) as url:
        yield url


def _log_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/", wait_until="load")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation(wait_until="load"):
        page.click("form.login-form button[type=submit]")


@pytest.mark.browser
def test_login_form_wrong_password_then_right_then_logout(browser, anonymous_live):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _log_in(page, anonymous_live, "leader", "not-the-password")
    assert "/login" in page.url and "用户名或密码不正确" in page.inner_text("main")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login-refused.png"))
    _log_in(page, anonymous_live, "leader")
    assert page.url.rstrip("/") == anonymous_live
    header = page.inner_text("header")
    assert "局领导（leader）" in header and "领导" in header and "退出登录" in header
    page.locator(".leaflet-marker-pane .leaflet-marker-icon.gg-cluster").first.wait_for(
        state="attached", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "leader-city.png"))
    with page.expect_navigation(wait_until="load"):
        page.click("header .user-menu button")
    assert "/login" in page.url
    page.goto(f"{anonymous_live}/grids/419901001", wait_until="load")
    assert "/login?next=/grids/419901001" in page.url
    assert errors == []
    page.close()


@pytest.mark.browser
def test_a_coordinator_lands_on_their_grid_and_sees_only_it(browser, anonymous_live):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _log_in(page, anonymous_live, "xg419901001001-1")
    assert page.url.endswith("/grids/419901001001")
    side = page.inner_text("aside")
    assert "我的网格" in page.inner_text("body") and "419901001001" in side
    page.locator(".leaflet-marker-pane .leaflet-marker-icon").first.wait_for(state="attached", timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "coordinator-grid.png"))
    page.click("text=全部")  # the grid page's link to the whole list
    page.wait_for_load_state("load")
    assert "/employers?grid=419901001001" in page.url and "符合条件" in page.inner_text("main")
    page.click("th >> text=职工人数")  # sorted by head count, largest first
    page.wait_for_load_state("load")
    assert "sort=headcount" in page.url
    page.screenshot(path=str(ARTIFACTS / "coordinator-list.png"))
    page.click("table.employers tr:nth-child(2) td a")  # the largest employer's file
    page.wait_for_load_state("load")
    assert "记录一次走访" in page.inner_text("aside") and "更正联系信息" in page.inner_text("aside")
    page.locator("#visits").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "coordinator-employer.png"))
    other = page.goto(f"{anonymous_live}/grids/419901002", wait_until="load")
    assert other.status == 404 and "未找到" in page.inner_text("main")
    assert errors == []
    page.close()

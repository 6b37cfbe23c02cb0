"""The export page in a real browser: a click says it is working, then the file downloads."""

from __future__ import annotations

import pytest

from tests.web.test_browser import ARTIFACTS, browser, live_app  # noqa: F401  (module fixtures)


@pytest.mark.browser
def test_export_button_reports_progress_and_downloads(browser, live_app):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_app}/exports", wait_until="networkidle")
    card = page.locator("#export-diagram")
    card.locator("select[name=format]").select_option("png")
    card.locator("select[name=colour]").select_option("risk_share")
    with page.expect_download(timeout=60_000) as download:
        card.locator("button[type=submit]").click()
        # While the file is built, the button is disabled and the card says so.
        page.wait_for_function("document.querySelector('#export-diagram .export-status').textContent"
                               ".indexOf('正在生成') === 0", timeout=5_000)
        assert card.locator("button[type=submit]").is_disabled()
    name = download.value.suggested_filename
    page.wait_for_function("document.querySelector('#export-diagram .export-status.done')", timeout=10_000)
    status = card.locator(".export-status").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "exports.png"))
    page.close()
    assert name.startswith("较高及以上风险占比分级图_") and name.endswith(".png")
    assert "已生成并开始下载" in status and errors == []

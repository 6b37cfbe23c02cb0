"""The export page in a real browser: a click queues the job, the card shows its steps, the file
downloads when the worker is done, and a second click takes the stored file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.web.test_browser import ARTIFACTS, browser, live_app  # noqa: F401  (module fixtures)



@pytest.fixture(scope="module")
def worker(demo_app, demo_url):
    """A real ``gisgrid jobs worker`` process on the demo city, with the app's GISGRID_HOME."""
    settings = demo_app.config["GISGRID_SETTINGS"]
    env = {**os.environ, "GISGRID_DATABASE_URL": demo_url, "GISGRID_HOME": str(settings.home)}
    process = subprocess.Popen([sys.executable, "-c", "from gisgrid.cli import main; main()", "jobs", "worker"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    yield process
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]


@pytest.mark.browser
def test_export_button_shows_job_progress_and_downloads(browser, live_app, worker, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_app}/exports", wait_until="networkidle")
    card = page.locator("#export-diagram")
    status_box = card.locator(".export-status")
    card.locator("select[name=format]").select_option("png")
    card.locator("select[name=colour]").select_option("risk_share")
    with page.expect_download(timeout=300_000) as download:
        card.locator("button[type=submit]").click()
        # The job's own steps reach the card while the worker draws ("正在生成：2/3 绘制网格图").
        # (Locator assertions: the page's CSP refuses the eval behind wait_for_function.)
        expect(status_box).to_have_text(re.compile(r"^正在生成：[123]/3 "), timeout=120_000)
        progress = card.locator(".export-status").inner_text()
        assert card.locator("button[type=submit]").is_disabled()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    expect(status_box).to_have_class(re.compile(r"\bdone\b"), timeout=10_000)
    status = card.locator(".export-status").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "exports.png"))
    assert saved.name.startswith("较高及以上风险占比分级图_") and saved.name.endswith(".png")
    with Image.open(saved) as image:  # the file opens: a 300 dpi A4 landscape diagram
        assert image.format == "PNG" and image.width > 3000 and image.height > 2000
    assert "已生成并开始下载" in status, status
    assert "/3" in progress, progress

    # The same export again, nothing changed: the stored file comes at once, no new job.
    with page.expect_download(timeout=30_000) as again:
        card.locator("button[type=submit]").click()
    expect(status_box).to_have_text(re.compile(r"^数据未变"), timeout=10_000)
    assert again.value.suggested_filename == saved.name
    page.close()
    assert errors == []

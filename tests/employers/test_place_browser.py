"""Manual placement from the employer's page in a real browser: click, name, confirm, placed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gisgrid.employers.identifiers import make_credit_code
from tests.employers.test_place import ADDRESS_ROWS, _write
from tests.live import serve_live
from tests.web.test_browser import ARTIFACTS, browser  # noqa: F401  (module fixture)


@pytest.mark.browser
def test_pending_employer_is_placed_by_clicking_its_page_map(grids, run_cli, tmp_path, engine, settings,
                                                             browser):  # noqa: F811
    run_cli("employers", "import", _write(tmp_path / "r.csv", ADDRESS_ROWS), "--commit")
    code = make_credit_code("419999", 3)          # "外地某路9号": nothing matches, 待定位
    from gisgrid.web import create_app

    with serve_live(create_app({"TESTING": True}, settings=settings)) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(f"{base}/employers/{code}", wait_until="networkidle")
            assert "待定位" in page.inner_text("aside")
            page.locator(".gg-place-button").click()
            # The middle of 西河村 (x = 2.25 units, y = 0.4): map pixel from Leaflet itself.
            name = page.evaluate("Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))")
            point = page.evaluate(f"window.{name}.latLngToContainerPoint([34.304, 113.7225])")
            box = page.locator(".leaflet-container").bounding_box()
            page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
            page.locator(".gg-place-form button").wait_for()
            with page.expect_navigation(timeout=20_000):
                page.locator(".gg-place-form button").click()
            page.wait_for_load_state("networkidle")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "employer-placed.png"))
            text = page.inner_text("aside")
        finally:
            page.close()
    assert errors == []
    # Recorded as the logged-in user (the browser's account), never a typed name.
    assert "419999002201" in text and "人工标注" in text and "admin 于" in text
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT located_by, placed_by, ST_X(geom), ST_Y(geom) FROM employer "
                                   "WHERE credit_code = :c"), {"c": code}).one()
    assert row[:2] == ("manual", "admin")
    assert abs(row[2] - 113.7225) < 0.0005 and abs(row[3] - 34.304) < 0.0005

"""Grids below the 四定 staffing standard are marked on the city map, the grid page and its map."""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import box

from gisgrid import clock
from gisgrid.db.engine import dispose_engines, get_engine
from gisgrid.maps import build_grid_map, render_map_html

TODAY = dt.date(2026, 11, 20)


def _js(text: str) -> str:
    """``text`` as it stands inside the map's JSON (non-ASCII escaped)."""
    return json.dumps(text)[1:-1]


@pytest.fixture(scope="module")
def short_app(demo_copy_app):
    """A demo copy where street 419901002's part-time inspector left on 2026-11-18."""
    app = demo_copy_app("staffing_map_city")
    with get_engine(app.config["GISGRID_SETTINGS"].database_url).begin() as conn:
        conn.execute(sa.text("""
            UPDATE staff_grid sg SET valid_to = '2026-11-18' FROM staff s, grid g
            WHERE s.id = sg.staff_id AND g.identity = sg.grid_identity AND g.code = '419901002'
              AND s.role = 'part_time'"""))
    yield app
    dispose_engines()


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def test_city_page_lists_and_outlines_the_understaffed_grids(short_app):
    page = short_app.test_client().get("/").get_data(as_text=True)
    assert "人员配备不足的网格（1）" in page
    assert 'href="/grids/419901002"' in page and "不足（应≥2，现1）" in page
    # the map: a layer of its own, a legend row with the count, the outline's tooltip
    assert json.dumps("人员配备不足") + " : geo_json_" in page  # a layer of its own in the layer switcher
    assert 'gg-line-short"></span>人员配备不足<span class="gg-legend-count">1 个' in page
    assert _js("：人员不足（应≥2，现1）") in page and "#d50000" in page


def test_grid_page_says_what_is_missing(short_app):
    client = short_app.test_client()
    short = client.get("/grids/419901002").get_data(as_text=True)
    assert "人员不足：应≥2，现1" in short and "专职监察员/兼职监察员 ≥ 2 人" in short
    community = client.get("/grids/419901002001").get_data(as_text=True)
    assert "人员不足：" not in community  # its own coordinators are in force
    assert _js("：人员不足（应≥2，现1）") in community  # its street is outlined on its map
    fine = client.get("/grids/419901001").get_data(as_text=True)
    assert "人员不足：" not in fine and _js("：人员不足") not in fine


def test_an_inspector_sees_the_note_on_their_own_grid(short_app):
    page = short_app.test_client(user="jc419901002-1").get("/grids/419901002").get_data(as_text=True)
    assert "人员不足：应≥2，现1" in page


def test_the_map_builder_draws_outlines_only():
    areas = gpd.GeoDataFrame({"code": ["410102001", "410102002"], "name": ["甲街道", "{{7*7}}乙"],
                              "kind": ["street", "street"]},
                             geometry=[box(113.70, 34.36, 113.71, 34.37), box(113.71, 34.36, 113.72, 34.37)],
                             crs="EPSG:4490")
    short = areas.iloc[1:].assign(text=["不足（应≥2，现0）"])
    page = render_map_html(build_grid_map(areas, None, employers_url=None, understaffed=short))
    assert _js("410102002 {{7*7}}乙：人员不足（应≥2，现0）") in page and _js("49乙") not in page
    assert '"fill": false' in page and "gg-staffing" in page and "https://" not in page
    none = render_map_html(build_grid_map(areas, None, employers_url=None, understaffed=short.iloc[0:0]))
    assert "人员配备不足" in none and "0 个" in none
    assert "人员配备不足" not in render_map_html(build_grid_map(areas, None, employers_url=None))


def test_in_a_browser_the_outline_is_drawn_and_nothing_leaves_localhost(short_app):
    import shutil

    from playwright.sync_api import sync_playwright

    from tests.live import LoggedInBrowser, serve_live
    from tests.web.test_browser import ARTIFACTS, CHROMIUM_ARGS, _open

    with serve_live(short_app) as base, sync_playwright() as p:
        browser = LoggedInBrowser(p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                    args=CHROMIUM_ARGS))
        try:
            for url, shot in ((f"{base}/", "staffing_city.png"), (f"{base}/grids/419901002", "staffing_street.png")):
                page, outside, errors = _open(browser, url, base, shot)
                assert outside == [] and errors == [], (url, outside, errors)
                outlines = page.locator(".leaflet-gg-staffing-pane path")
                assert outlines.count() == 1, url
                assert outlines.first.get_attribute("stroke-dasharray") == "7 5"
                assert outlines.first.get_attribute("fill") == "none"
                assert (ARTIFACTS / shot).stat().st_size > 10_000
                page.close()
        finally:
            browser.close()

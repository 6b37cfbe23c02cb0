"""网格统计 (/stats): the table per street or community with the parent's totals, scoped to the
user's grids, sortable in the browser, each column linked to the map coloured by it."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.web.test_browser import ARTIFACTS, browser, live_app  # noqa: F401  (module fixtures)


def _cells(html: str, row_class: str = "total") -> list[str]:
    row = re.search(rf'<tr class="{row_class}">(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_leader_reads_the_streets_with_the_city_totals(demo_app):
    page = demo_app.test_client(user="leader", role="leader").get("/stats")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "示范市劳动保障监察网格统计表" in html and "数据日期" in html and "填报单位" in html
    assert len(re.findall(r'<td class="code" data-value="419901\d{3}"', html)) == 15  # the streets/towns
    total = _cells(html)
    assert total[0] == "419901" and total[1] == "合计（示范市）"
    assert total[2] == "19,996"  # employers of the city
    assert total[17] == "530"    # 四定合计: 15 + 15 inspectors, 500 coordinators, each once
    # One click to the map coloured by a column (the city map's ?colour=…&level=2).
    assert 'href="/?colour=headcount&amp;level=2"' in html
    assert 'href="/?colour=staff_total&amp;level=2"' in html
    assert 'href="/?colour=overdue&amp;level=2"' in html and 'href="/?colour=cases_open&amp;level=2"' in html
    # Every link opens a coloured map (the map answers 400 to a colour it does not know).
    client = demo_app.test_client(user="leader", role="leader")
    for link in sorted(set(re.findall(r'class="colour-link" href="([^"]+)"', html))):
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link
    # Scripts only from the app (the CSP forbids inline script), no outside asset.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "/static/js/stats.js" in html and not re.search(r'(src|href)="https?://', html)
    assert 'style="' not in html


def test_a_street_shows_its_communities_and_itself_as_total(demo_app):
    html = demo_app.test_client(user="leader", role="leader").get("/stats?grid=419901001").get_data(as_text=True)
    assert "新华街道劳动保障监察网格统计表" in html
    assert len(re.findall(r'<td class="code" data-value="419901001\d{3}"', html)) == 20
    total = _cells(html)
    assert total[1] == "合计（新华街道）" and total[17] == "42"  # its 2 inspectors and 40 coordinators
    assert 'href="/?colour=employers&amp;level=3"' in html


def test_inspector_sees_only_their_street(demo_app):
    inspector = demo_app.test_client(user="jc419901001-1")
    html = inspector.get("/stats").get_data(as_text=True)
    assert "新华街道劳动保障监察网格统计表" in html
    codes = set(re.findall(r'<td class="code" data-value="(\d+)"', html))
    assert len(codes) == 20 and all(c.startswith("419901001") for c in codes)
    assert inspector.get("/stats?grid=419901002").status_code == 404
    assert inspector.get("/stats?grid=419901").status_code == 404
    # Their street page is the map they may colour.
    assert 'href="/grids/419901001?colour=employers&amp;level=3"' in html


def test_coordinator_sees_their_community(demo_app):
    html = demo_app.test_client(user="xg419901001001-1").get("/stats").get_data(as_text=True)
    codes = set(re.findall(r'<td class="code" data-value="(\d+)"', html))
    assert codes == {"419901001001"}


def test_planner_may_not(demo_app):
    assert demo_app.test_client(user="planner", role="planner").get("/stats").status_code == 403


@pytest.mark.parametrize("query, words", [
    ("level=9", "应为 1–6 的整数"),
    ("level=4", "本网格版本有第 1、2、3 级"),
    ("grid=419901001001", "最细一级"),
    ("format=pdf", "应为 csv 或 xlsx"),
])
def test_bad_requests_say_what_is_allowed_in_chinese(demo_app, query, words):
    response = demo_app.test_client(user="leader", role="leader").get(f"/stats?{query}")
    assert response.status_code == 400, query
    assert words in response.get_data(as_text=True)


def test_downloads_are_the_same_table(demo_app):
    client = demo_app.test_client(user="leader", role="leader")
    book = client.get("/stats?grid=419901001&format=xlsx")
    assert book.status_code == 200 and "attachment" in book.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(book.data)).worksheets[0]
    assert sheet["A1"].value == "新华街道劳动保障监察网格统计表"
    rows = [r for r in sheet.iter_rows(values_only=True) if r[1] and str(r[1]).startswith("合计")]
    assert rows and rows[0][0] == "419901001"
    text = client.get("/stats?level=2&format=csv").data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == "网格编码" and len(table) == 1 + 15 + 1
    assert table[-1][1] == "合计（示范市）" and table[-1][2] == "19996"


@pytest.mark.browser
def test_sorting_in_the_browser_and_a_look(browser, live_app):  # noqa: F811
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_app}/stats", wait_until="networkidle")
    first = page.locator("#stats-table tbody tr").first.locator("td.code")
    expect(first).to_have_text("419901001")
    heads = page.locator("#stats-table thead tr.heads th")
    headcount = heads.nth(3)  # 编码, 名称, 用人单位, 职工人数
    headcount.locator("button").click()  # numbers sort largest first
    expect(headcount).to_have_attribute("aria-sort", "descending")
    texts = page.locator("#stats-table tbody tr td:nth-child(4) .val").all_inner_texts()
    numbers = [int(t.replace(",", "")) for t in texts]
    assert numbers == sorted(numbers, reverse=True) and len(numbers) == 15
    headcount.locator("button").click()
    expect(headcount).to_have_attribute("aria-sort", "ascending")
    texts = page.locator("#stats-table tbody tr td:nth-child(4) .val").all_inner_texts()
    assert [int(t.replace(",", "")) for t in texts] == sorted(numbers)
    assert page.locator("#stats-table tfoot td").nth(1).inner_text() == "合计（示范市）"  # stays at the foot
    bar = page.locator("#stats-table tbody tr td:nth-child(3) .bar").first.bounding_box()
    assert bar and bar["width"] > 0  # the CSS bars are drawn (classes, no style attribute)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "stats.png"), full_page=True)
    assert errors == [], errors

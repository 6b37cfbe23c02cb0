"""The /exports page and its downloads."""

from __future__ import annotations

import io
import zipfile

import openpyxl


def test_exports_page_lists_every_export(client):
    page = client.get("/exports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("网格划分示意图", "网格图集", "用人单位登记册", "四定", "上报材料包", "下载"):
        assert text in html
    assert "http://" not in html and "https://" not in html
    assert 'href="/exports"' in client.get("/").get_data(as_text=True)


def test_diagram_download_png_and_pdf(client):
    png = client.get("/exports/diagram?format=png&level=2&paper=A4")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "attachment" in png.headers["Content-Disposition"]
    pdf = client.get("/exports/diagram?format=pdf&grid=419901001&employers=1")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"


def test_register_and_roster_downloads(client):
    reg = client.get("/exports/register?grid=419901001001")
    assert reg.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(reg.data))
    assert book.worksheets[1].title.startswith("419901001001")
    roster = client.get("/exports/roster")
    assert roster.status_code == 200 and openpyxl.load_workbook(io.BytesIO(roster.data)).sheetnames == ["四定人员"]


def test_package_download(client):
    resp = client.get("/exports/package?level=2&paper=A4")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert "清单.csv" in zipfile.ZipFile(io.BytesIO(resp.data)).namelist()


def test_bad_parameters_get_a_chinese_400(client):
    for url in ("/exports/diagram?paper=A5", "/exports/diagram?format=svg", "/exports/diagram?level=x",
                "/exports/diagram?colour=wages",
                "/exports/register?grid=" + "9" * 40):
        resp = client.get(url)
        assert resp.status_code == 400, url
        assert "应为" in resp.get_data(as_text=True) or "最长" in resp.get_data(as_text=True)
    assert client.get("/exports/register?grid=nope").status_code == 404


def test_indicator_diagram_download(client):
    page = client.get("/exports").get_data(as_text=True)
    assert '<option value="insured_rate">社会保险参保率</option>' in page
    pdf = client.get("/exports/diagram?format=pdf&level=2&colour=stale_share")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"
    assert "attachment" in pdf.headers["Content-Disposition"]

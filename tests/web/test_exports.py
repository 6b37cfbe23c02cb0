"""The /exports page: quick downloads, and the long exports as jobs (202, status, download, 429)."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import sqlalchemy as sa

from gisgrid.jobs.queue import run_worker
from tests.jobs.conftest import city_client, city_settings, city_url  # noqa: F401  (fixtures)

JSON = {"Accept": "application/json"}
PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_exports_page_lists_every_export(client):
    page = client.get("/exports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("网格划分示意图", "网格图集", "用人单位登记册", "四定", "上报材料包", "下载", "在后台生成"):
        assert text in html
    assert "http://" not in html and "https://" not in html
    assert '<option value="insured_rate">社会保险参保率</option>' in html
    assert 'href="/exports"' in client.get("/").get_data(as_text=True)


def test_quick_exports_are_plain_downloads(client):
    reg = client.get("/exports/register?grid=419901001001")
    assert reg.status_code == 200 and reg.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in reg.headers["Content-Disposition"]
    assert openpyxl.load_workbook(io.BytesIO(reg.data)).worksheets[1].title.startswith("419901001001")
    roster = client.get("/exports/roster")
    assert roster.status_code == 200 and openpyxl.load_workbook(io.BytesIO(roster.data)).sheetnames == ["四定人员"]


def test_a_long_export_answers_at_once_then_downloads_when_done(city_client, city_settings):  # noqa: F811
    started = city_client.post("/exports/package?level=2&paper=A4", headers=JSON)
    assert started.status_code == 202, started.data[:300]
    job = started.json
    assert job["status"] == "queued" and job["download_url"] is None and job["steps"] == 11
    assert started.headers["Location"] == job["status_url"] == f"/exports/jobs/{job['id']}"
    early = city_client.get(f"/exports/jobs/{job['id']}/download", headers=JSON)
    assert early.status_code == 404 and "尚未完成" in early.json["message"]
    run_worker(city_settings, wait=False)
    status = city_client.get(job["status_url"], headers=JSON).json
    assert status["status"] == "done" and status["progress"] == "11/11 完成"
    download = city_client.get(status["download_url"])
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    assert "%E7%BD%91%E6%A0%BC%E4%B8%8A%E6%8A%A5%E6%9D%90%E6%96%99" in download.headers["Content-Disposition"]
    assert "清单.csv" in zipfile.ZipFile(io.BytesIO(download.data)).namelist()
    again = city_client.post("/exports/package?level=2&paper=A4", headers=JSON)
    assert again.status_code == 200 and again.json["stored"] and again.json["id"] == job["id"]


def test_each_long_export_is_a_job(city_client):  # noqa: F811
    for n, (url, kind) in enumerate((("/exports/diagram?format=png&level=2&paper=A4", "diagram"),
                      ("/exports/diagram?format=pdf&grid=419901001&employers=1&colour=stale_share", "diagram"),
                      ("/exports/diagram?atlas=1&paper=A3", "atlas"), ("/exports/register", "register"))):
        # Each from its own account: the limit is per user.
        client = city_client.application.test_client(user=f"exporter{n}")
        resp = client.post(url, headers=JSON)
        assert resp.status_code == 202 and resp.json["kind"] == kind, (url, resp.data[:300])


def test_the_limit_per_client_answers_429_in_chinese(city_client):  # noqa: F811
    first = city_client.post("/exports/diagram?format=png", headers=JSON)
    second = city_client.post("/exports/diagram?format=pdf", headers=JSON)
    assert (first.status_code, second.status_code) == (202, 202)
    assert city_client.post("/exports/diagram?format=png", headers=JSON).status_code == 202  # the same job again
    third = city_client.post("/exports/diagram?atlas=1", headers=JSON)
    assert third.status_code == 429
    assert "每个用户最多同时 2 个" in third.json["message"]
    page = city_client.post("/exports/diagram?atlas=1", headers=PAGE)
    assert page.status_code == 429 and "每个用户最多同时 2 个" in page.get_data(as_text=True)
    # The limit is per user, not per address: another account from the same address may.
    other = city_client.application.test_client(user="leader1", role="leader").post("/exports/diagram?atlas=1",
                                                                                   headers=JSON)
    assert other.status_code == 202


def test_without_javascript_a_status_page_reloads_until_the_file_is_there(city_client, city_settings):  # noqa: F811
    started = city_client.post("/exports/register", headers=PAGE)
    assert started.status_code == 303 and started.headers["Location"].startswith("/exports/jobs/")
    page = city_client.get(started.headers["Location"], headers=PAGE).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in page and "排队中" in page
    run_worker(city_settings, wait=False)
    page = city_client.get(started.headers["Location"], headers=PAGE).get_data(as_text=True)
    assert "refresh" not in page and "已完成" in page and "下载 用人单位登记册_" in page
    again = city_client.post("/exports/register", headers=PAGE)
    assert again.status_code == 303 and again.headers["Location"].endswith("/download")


def test_a_failed_job_shows_its_error_in_chinese(city_client, city_settings, city_url):  # noqa: F811
    from gisgrid.db.engine import get_engine

    job = city_client.post("/exports/diagram?format=png", headers=JSON).json
    with get_engine(city_url).begin() as conn:
        conn.execute(sa.text("UPDATE generation SET status = 'retired' WHERE status = 'active'"))
    run_worker(city_settings, wait=False)
    status = city_client.get(job["status_url"], headers=JSON).json
    assert status["status"] == "failed" and status["error"].startswith("找不到导出所需的数据")
    page = city_client.get(job["status_url"], headers=PAGE).get_data(as_text=True)
    assert "生成失败" in page and "找不到导出所需的数据" in page
    assert city_client.get(f"{job['status_url']}/download", headers=JSON).status_code == 404


def test_bad_parameters_get_a_chinese_400_before_any_job(city_client):  # noqa: F811
    for url in ("/exports/diagram?paper=A5", "/exports/diagram?format=svg", "/exports/diagram?level=x",
                "/exports/diagram?colour=wages", "/exports/package?paper=B5", "/exports/package?level=9",
                "/exports/register?grid=" + "9" * 40):
        resp = city_client.post(url, headers=JSON)
        assert resp.status_code == 400, url
        assert "应为" in resp.json["message"] or "最长" in resp.json["message"], url
    missing = city_client.post("/exports/diagram?grid=nope", headers=JSON)
    assert missing.status_code == 404 and "网格编码 'nope' 在网格版本" in missing.json["message"]
    assert city_client.get("/exports/register?grid=nope").status_code == 404
    assert city_client.get("/exports/jobs/999999", headers=JSON).status_code == 404
    assert city_client.get("/exports/jobs/999999").status_code == 404


def test_requester_key_is_the_logged_in_user(demo_app):
    from flask import g, request

    from gisgrid.web.exports import requester_key

    with demo_app.test_request_context("/exports/package", environ_base={"REMOTE_ADDR": "10.20.30.40"}):
        assert requester_key(request) == "10.20.30.40"  # no user: never on a gated route
        g.user = type("U", (), {"id": 7})()
        assert requester_key(request) == "user:7"


def test_starting_a_job_is_a_post_with_the_csrf_token(city_client, city_url):  # noqa: F811
    """A job is a write (a row, then a file): a GET starts nothing, a POST without token is refused."""
    from gisgrid.db.engine import get_engine

    def jobs() -> int:
        with get_engine(city_url).connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM export_job")).scalar()

    before = jobs()
    for url in ("/exports/package?level=2&paper=A4", "/exports/diagram?format=png", "/exports/register"):
        answer = city_client.get(url, headers=JSON)
        assert answer.status_code == 405 and answer.headers["Allow"] == "POST", url
        assert "须用 POST" in answer.json["message"]
    # A bookmark opened in a browser: the same choices and one button that posts them.
    page = city_client.get("/exports/diagram?format=png&level=2&colour=stale_share&employers=1&x=<b>", headers=PAGE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<form method="post" action="/exports/diagram">' in html
    assert 'name="csrf_token"' in html and '<input type="hidden" name="colour" value="stale_share">' in html
    assert "超期未调查" in html and "第2级" in html and "<b>" not in html
    assert jobs() == before
    anonymous_token = city_client.application.test_client(user="leader2", role="leader", csrf=False)
    refused = anonymous_token.post("/exports/diagram?format=png", headers=JSON)
    assert refused.status_code == 400 and jobs() == before
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', html))
    started = city_client.post("/exports/diagram", data=fields, headers=PAGE)
    assert started.status_code == 303 and started.headers["Location"].startswith("/exports/jobs/")
    assert jobs() == before + 1


def test_the_export_page_posts_its_forms(client):
    html = client.get("/exports").get_data(as_text=True)
    forms = re.findall(r'<form action="[^"]+" method="(\w+)" class="export-form"><input type="hidden" '
                       r'name="csrf_token"', html)
    assert forms and set(forms) == {"post"} and len(forms) == html.count('class="export-form"')

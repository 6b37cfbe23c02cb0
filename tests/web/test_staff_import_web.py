"""四定 staff import in the web: an admin previews a roster, confirms, and the staff are there."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
import sqlalchemy as sa

from gisgrid.db.engine import dispose_engines, get_engine

HEADER = ["网格编码", "网格名称", "级别", "类型", "姓名", "职务", "联系电话", "所在单位", "职责（定责）",
          "任务（定任务）", "起始日期"]
HOSTILE = "<img src=x onerror=alert(1)>"
TEMPLATE = "{{7*7}}王"
TOKEN = re.compile(r'name="token" value="([0-9a-f]{32})"')


@pytest.fixture(scope="module")
def import_app(demo_copy_app):
    yield demo_copy_app("staff_import_web_city")
    dispose_engines()


def _xlsx(*rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["劳动保障监察网格“四定”人员花名册"])
    sheet.append([])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _row(code, name, role="协管员", phone="13800005555", duty="信息采集", start="2026-11-01"):
    return [code, None, None, None, name, role, phone, None, duty, None, start]


def _send(client, data: bytes, name="花名册.xlsx"):
    return client.post("/admin/staff/import", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _count(app, sql: str, **params) -> int:
    with get_engine(app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_admin_previews_then_confirms(import_app):
    admin = import_app.test_client()
    page = admin.get("/admin/staff/import")
    assert page.status_code == 200 and "导入四定人员花名册" in page.get_data(as_text=True)
    before = _count(import_app, "SELECT count(*) FROM staff_grid")
    preview = _send(admin, _xlsx(_row("419901003001", "冯预览"), _row("419901003002", "冯预览")))
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "预览（尚未写入）" in text and "冯预览" in text and "新增人员 1 人" in text
    assert _count(import_app, "SELECT count(*) FROM staff_grid") == before  # the preview writes nothing
    token = TOKEN.search(text).group(1)
    other = import_app.test_client(user="admin2")  # another admin cannot confirm this upload
    assert other.post("/admin/staff/import", data={"token": token, "commit": "1"}).status_code == 400
    done = admin.post("/admin/staff/import", data={"token": token, "commit": "1"})
    assert done.status_code == 200 and "已导入" in done.get_data(as_text=True)
    assert _count(import_app, "SELECT count(*) FROM staff_grid") == before + 2
    assert _count(import_app, "SELECT count(*) FROM audit_log WHERE action = 'staff.import' "
                              "AND actor LIKE '%（admin）' AND entity = 'staff_grid'") == 2
    assert "冯预览" in admin.get("/grids/419901003001").get_data(as_text=True)
    again = admin.post("/admin/staff/import", data={"token": token, "commit": "1"})
    assert again.status_code == 400 and "已不在服务器上" in again.get_data(as_text=True)
    home = import_app.config["GISGRID_SETTINGS"].home
    assert not list((home / "uploads" / "staff-import").iterdir())  # the kept file is gone


def test_a_file_with_problems_is_listed_and_cannot_be_confirmed(import_app):
    admin = import_app.test_client()
    before = _count(import_app, "SELECT count(*) FROM staff")
    answer = _send(admin, _xlsx(_row("419999999", "甲"), _row("419901003001", "乙", role="组长", start="明天")))
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'role="alert"' in text and "3 处问题" in text
    assert "A4" in text and "F5" in text and "K5" in text and "确认导入" not in text and not TOKEN.search(text)
    assert _count(import_app, "SELECT count(*) FROM staff") == before
    nothing = admin.post("/admin/staff/import", data={})
    assert nothing.status_code == 400 and "请选择要导入的花名册文件" in nothing.get_data(as_text=True)
    broken = _send(admin, b"PK\x03\x04 not a workbook", "x.xlsx")
    assert broken.status_code == 400 and "XLSX" in broken.get_data(as_text=True)


@pytest.mark.parametrize("user, role", [("planner", "planner"), ("xg419901001001-1", "inspector"),
                                        ("leader", "leader")])
def test_only_staff_managers_import(import_app, user, role):
    client = import_app.test_client(user=user, role=role)
    assert client.get("/admin/staff/import").status_code == 403
    assert _send(client, _xlsx(_row("419901003001", "不该"))).status_code == 403


def test_csrf_is_required(import_app):
    client = import_app.test_client(csrf=False)
    answer = _send(client, _xlsx(_row("419901003001", "无令牌")))
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
    assert _count(import_app, "SELECT count(*) FROM staff WHERE name = '无令牌'") == 0


def test_hostile_names_are_shown_as_written(import_app):
    admin = import_app.test_client()
    preview = _send(admin, _xlsx(_row("419901003003", HOSTILE, phone="13800006666"),
                                 _row("419901003003", TEMPLATE, phone="13800007777", duty="{% if 1 %}x{% endif %}")))
    text = preview.get_data(as_text=True)
    assert HOSTILE not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert TEMPLATE in text and "49王" not in text and "{% if 1 %}x{% endif %}" in text
    token = TOKEN.search(text).group(1)
    assert admin.post("/admin/staff/import", data={"token": token, "commit": "1"}).status_code == 200
    grid = admin.get("/grids/419901003003").get_data(as_text=True)
    assert HOSTILE not in grid and "&lt;img src=x onerror=alert(1)&gt;" in grid
    assert TEMPLATE in grid and "49王" not in grid

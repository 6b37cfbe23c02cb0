"""The working-day calendar page: an administrator enters a year the library does not know from
the notice's lines — every bad line reported at once, a preview that writes nothing, then the
commit that gives the waiting deadlines their dates."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.db.engine import dispose_engines, get_engine
from gisgrid.supervision.workdays import parse_calendar_lines

TODAY = dt.date(2026, 12, 1)
NOTICE = """# 2027 年部分节假日安排（测试用，非真实通知）
2027-01-01 放假 元旦
2027-02-05~2027-02-11 放假 春节
2027-02-14 上班 春节调休
"""


@pytest.fixture(scope="module")
def app(demo_copy_app):
    yield demo_copy_app("calendar_city")
    dispose_engines()


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def _db(app):
    return get_engine(app.config["GISGRID_SETTINGS"].database_url)


def test_lines_parse_with_every_problem_named():
    entries, problems = parse_calendar_lines(NOTICE)
    assert problems == [] and len(entries) == 1 + 7 + 1
    assert entries[-1] == (dt.date(2027, 2, 14), "workday", "春节调休")
    _, problems = parse_calendar_lines("2027-13-01 放假\n2027-01-02 休假日\n2027-01-03\n"
                                       "2027-01-05 放假\n2027-01-05 上班\n2027-03-01~2027-02-01 放假")
    assert len(problems) == 5
    assert problems[0].startswith("第 1 行") and "年-月-日" in problems[0]
    assert problems[1].startswith("第 2 行") and "放假、上班" in problems[1]
    assert problems[2].startswith("第 3 行")
    assert problems[3].startswith("第 5 行") and "第 4 行已录为放假" in problems[3]
    assert problems[4].startswith("第 6 行") and "由早到晚" in problems[4]
    assert parse_calendar_lines("\n# only a comment\n")[1] == ["没有录入任何日期"]


def test_an_administrator_enters_2027_and_the_waiting_case_gets_its_date(app):
    admin = app.test_client()
    with _db(app).connect() as conn:
        code = conn.execute(sa.text("SELECT credit_code FROM employer WHERE credit_code IS NOT NULL "
                                    "ORDER BY id LIMIT 1")).scalar()
    filed = admin.post("/cases/new", data={"employer": code, "summary": "欠薪", "filed_on": "2026-11-30"})
    assert filed.status_code == 303
    case = filed.headers["Location"]
    assert "待定" in admin.get(case).get_data(as_text=True)
    page = admin.get("/admin/calendar").get_data(as_text=True)
    assert "2004–2026" in page and "2027 年 案件办结 1 件" in page

    bad = admin.post("/admin/calendar", data={"lines": "2027-01-01 放假\n2027-02-30 放假\n2027-02-14 休假",
                                              "basis": "国办发明电〔2026〕N号", "action": "commit"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请改正以下 2 处" in html and "第 2 行" in html and "第 3 行" in html
    preview = admin.post("/admin/calendar", data={"lines": NOTICE, "basis": "国办发明电〔2026〕N号", "year": "2027",
                                                  "action": "preview"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "预览（尚未写入）：9 天" in html and "待定 →" in html
    with _db(app).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM calendar_override")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM calendar_year")).scalar() == 0
    done = admin.post("/admin/calendar", data={"lines": NOTICE, "basis": "国办发明电〔2026〕N号", "year": "2027",
                                               "action": "commit"})
    assert done.status_code == 200 and "已写入 9 天，并声明 2027 年录入完毕" in done.get_data(as_text=True)
    with _db(app).connect() as conn:
        due = conn.execute(sa.text("SELECT due FROM deadline WHERE subject = 'case'")).scalar()
        actors = set(conn.execute(sa.text("SELECT actor FROM audit_log WHERE action LIKE 'calendar.%'")).scalars())
    # 60 working days from Monday 2026-11-30: 23 in December 2026 (no holiday), then 37 in 2027 skipping
    # 01-01 (Fri) and counted from 01-04: January has 20 weekdays after 01-01, February 1–4 four more
    # (24), the Spring Festival week 02-05…02-11 skipped, Sunday 02-14 worked (25), 02-12 (26), then
    # 02-15 … : 11 more weekdays reach 37 on 03-01.
    assert due == dt.date(2027, 3, 1)
    assert actors and all("admin" in a for a in actors)
    assert "2027-03-01" in admin.get(case).get_data(as_text=True)
    for user in ("leader", "planner"):
        assert app.test_client(user=user).get("/admin/calendar").status_code == 403

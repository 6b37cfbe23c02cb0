"""Cases: filed from an accepted complaint on the 60-working-day clock, the two-inspector rule,
the one 30-day extension with its approver, conclusions from the list, documents type-checked."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import chinese_calendar
import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.db.engine import session_scope
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.supervision import cases
from gisgrid.supervision.cases import (
    add_document, add_inspectors, advance_case, case_detail, close_case, extend_case, file_case, list_cases,
)
from gisgrid.supervision.complaints import add_complaint, decide_complaint
from tests.fixtures import handdrawn

D = dt.date
TODAY = D(2026, 12, 1)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture
def city(run_cli, tmp_path, engine):
    codes = handdrawn.load_city(run_cli, tmp_path)
    staff = handdrawn.add_staff(engine, (("甲监察员", "full_time"), ("乙监察员", "part_time"), ("丙协管员", "coordinator")))
    return {"codes": codes, "staff": staff}


def _nth_workday(start: dt.date, n: int) -> dt.date:
    """Independent count on chinesecalendar itself: day 0 is ``start``."""
    day = start
    while n:
        day += dt.timedelta(days=1)
        n -= chinese_calendar.is_workday(day)
    return day


def _accepted_complaint(session, city, received=D(2026, 9, 21), decided=D(2026, 9, 24)):
    made = add_complaint(session, received_on=received, summary="拖欠三个月工资", actor="t",
                         employer=city["codes"]["inside"])
    decide_complaint(session, made["id"], "accept", actor="t", on=decided)
    return made


def test_a_complaint_becomes_a_case_on_its_clock(city, engine):
    with session_scope(engine) as session:
        complaint = _accepted_complaint(session, city)
        case = file_case(session, actor="审计员", summary="欠薪", complaint_id=complaint["id"], items=["wages"],
                         inspectors=[city["staff"]["甲监察员"]])
        assert case["filed_on"] == "2026-09-24"  # the acceptance day (DOMAIN.md: filed the same day)
        assert case["grid_code"] == complaint["grid_code"] == "419999001001"
        assert case["number"] == "2026-0001"
        # 60 working days from Thursday 09-24: Mid-Autumn (Fri 09-25) and National Day (10-01…10-07, weekdays
        # 10-01, 02, 05, 06, 07) skipped, make-up Saturday 10-10 counted: 60 + 6 - 1 weekdays → 12-24
        assert case["finish_by"] == _nth_workday(D(2026, 9, 24), 60).isoformat() == "2026-12-24"
        assert "调休上班日" in case["finish_by_explanation"]
        with pytest.raises(Conflict, match="已立案（案号 2026-0001）"):
            file_case(session, actor="t", summary="x", complaint_id=complaint["id"])
        second = file_case(session, actor="t", summary="未签合同", employer=city["codes"]["inside"],
                           filed_on=D(2026, 11, 2))
        assert second["number"] == "2026-0002"
        detail = case_detail(session, case["id"])
        assert detail["source"] == "complaint" and detail["complaint_receipt"] == complaint["receipt"]
        assert [e["action"] for e in detail["events"]] == ["file"] and detail["events"][0]["actor"] == "审计员"
        assert detail["finish_by_computation"]["days"] == 60


def test_filing_needs_an_accepted_complaint_and_one_source(city, engine):
    with session_scope(engine, commit=False) as session:
        waiting = add_complaint(session, received_on=D(2026, 11, 30), summary="x", actor="t",
                                employer=city["codes"]["inside"])
        with pytest.raises(Conflict, match="尚未受理"):
            file_case(session, actor="t", summary="x", complaint_id=waiting["id"])
        with pytest.raises(InputError, match="只须注明一个来源"):
            file_case(session, actor="t", summary="x")
        with pytest.raises(InputError, match="只须注明一个来源"):
            file_case(session, actor="t", summary="x", complaint_id=waiting["id"], employer=city["codes"]["inside"])
        with pytest.raises(NotFound):
            file_case(session, actor="t", summary="x", complaint_id=999)
        with pytest.raises(InputError, match="违法事项 'salary' 不在规定的列表中"):
            file_case(session, actor="t", summary="x", employer=city["codes"]["inside"], items=["salary"])
        with pytest.raises(InputError, match="不是劳动保障监察员"):
            file_case(session, actor="t", summary="x", employer=city["codes"]["inside"],
                      inspectors=[city["staff"]["丙协管员"]])
        accepted = _accepted_complaint(session, city, received=D(2026, 11, 2), decided=D(2026, 11, 4))
        with pytest.raises(InputError, match="应在受理日期 2026-11-04"):
            file_case(session, actor="t", summary="x", complaint_id=accepted["id"], filed_on=D(2026, 11, 3))


def test_two_inspectors_extension_and_closing(city, engine):
    a, b, c = (city["staff"][n] for n in ("甲监察员", "乙监察员", "丙协管员"))
    with session_scope(engine) as session:
        case = file_case(session, actor="t", summary="欠薪", employer=city["codes"]["inside"], filed_on=D(2026, 10, 8),
                         inspectors=[a], lead=a)
        with pytest.raises(Conflict, match="第十六条.*现有 1 名（甲监察员）"):
            advance_case(session, case["id"], actor="t", on=D(2026, 10, 9))
        with pytest.raises(InputError, match="协管员"):
            add_inspectors(session, case["id"], [c], actor="t")
        inspectors = add_inspectors(session, case["id"], [b], actor="t")["inspectors"]
        assert [(s["name"], s["lead"]) for s in inspectors] == [("甲监察员", True), ("乙监察员", False)]
        assert advance_case(session, case["id"], actor="调查员", on=D(2026, 10, 9))["status"] == "investigating"
        with pytest.raises(InputError, match="应在上一步的日期 2026-10-09"):
            advance_case(session, case["id"], actor="t", on=D(2026, 10, 8))
        with pytest.raises(Conflict, match="调查、处理后才能结案"):
            close_case(session, case["id"], "penalty", actor="t")
        with pytest.raises(InputError, match="批准人"):
            extend_case(session, case["id"], actor="t", approver=" ", reason="证据需要补充")
        extended = extend_case(session, case["id"], actor="t", approver="王局长", reason="需异地调取证据",
                               on=D(2026, 11, 20))
        # 90 working days from 10-08 reach 2027, a year chinesecalendar 1.11 does not know and nobody
        # entered: the clock waits for the year instead of guessing, and says so
        assert extended["finish_by"] is None and "2027" in extended["finish_by_explanation"]
        with pytest.raises(Conflict, match="只允许延长一次"):
            extend_case(session, case["id"], actor="t", approver="王局长", reason="again")
        advance_case(session, case["id"], actor="t", on=D(2026, 11, 25), note="调查终结，拟作出处理决定")
        with pytest.raises(InputError, match="不能同时认定"):
            close_case(session, case["id"], "no_violation", actor="t", serious=["child_labour"])
        with pytest.raises(InputError, match="严重违法情形 'fraud'"):
            close_case(session, case["id"], "penalty", actor="t", serious=["fraud"])
        closed = close_case(session, case["id"], "penalty", actor="结案人", serious=["refused_order"],
                            on=D(2026, 11, 30))
        assert closed["status"] == "closed"
        with pytest.raises(Conflict, match="已结案"):
            add_inspectors(session, case["id"], [a], actor="t")
        detail = case_detail(session, case["id"])
        assert [e["action"] for e in detail["events"]] == ["file", "inspectors", "investigating", "extend", "handling",
                                                            "close"]
        assert detail["extension_approver"] == "王局长" and detail["serious"] == ["refused_order"]
        assert session.execute(sa.text("SELECT closed_on FROM deadline WHERE subject = 'case'")).scalar() == \
            D(2026, 11, 30)
        audit = [r[0] for r in session.execute(sa.text(
            "SELECT action FROM audit_log WHERE entity = 'case' ORDER BY id")).all()]
        assert audit == ["case.file", "case.inspectors", "case.investigating", "case.extend", "case.handling",
                         "case.close"]


def test_extension_after_the_deadline_and_overdue_list(city, engine):
    with session_scope(engine) as session:
        old = file_case(session, actor="t", summary="旧案", employer=city["codes"]["inside"], filed_on=D(2026, 6, 1))
        fresh = file_case(session, actor="t", summary="新案", employer=city["codes"]["inside"], filed_on=D(2026, 11, 30))
        assert [r["id"] for r in list_cases(session, overdue=True)] == [old["id"]]
        assert {r["id"] for r in list_cases(session, grid="419999001")} == {old["id"], fresh["id"]}
        assert list_cases(session, grid="419999002") == []
        with pytest.raises(Conflict, match="已过，不能再延长"):
            extend_case(session, old["id"], actor="t", approver="王局长", reason="迟了")
        summer = file_case(session, actor="t", summary="暑期案", employer=city["codes"]["inside"],
                           filed_on=D(2026, 7, 15))
        assert summer["finish_by"] == _nth_workday(D(2026, 7, 15), 60).isoformat()
        extended = extend_case(session, summer["id"], actor="t", approver="王局长", reason="需补充证据",
                               on=D(2026, 10, 9))
        assert extended["finish_by"] == _nth_workday(D(2026, 7, 15), 90).isoformat() < TODAY.isoformat()
        assert "90" in extended["finish_by_explanation"]
        assert [r["id"] for r in list_cases(session, overdue=True)] == [old["id"], summer["id"]]
        close_case(session, old["id"], "withdrawn", actor="t", note="投诉人撤回，经核实无违法")
        assert [r["id"] for r in list_cases(session, overdue=True)] == [summer["id"]]
        assert list_cases(session, overdue=True, on=D(2026, 11, 1)) == []
        with pytest.raises(InputError, match="请填写结案说明"):
            close_case(session, fresh["id"], "withdrawn", actor="t")


def _docx(parts=("word/document.xml",)) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for part in parts:
            archive.writestr(part, "<w:document/>")
    return buffer.getvalue()


def test_documents_are_type_checked_and_size_limited(city, engine, monkeypatch):
    with session_scope(engine) as session:
        case = file_case(session, actor="t", summary="欠薪", employer=city["codes"]["inside"])
        pdf = add_document(session, case["id"], title="询问笔录", filename="C:\\扫描\\笔录.PDF",
                           data=b"%PDF-1.7\n...", actor="上传人")
        assert pdf["filename"] == "笔录.PDF"
        add_document(session, case["id"], title="处理决定书", filename="决定.docx", data=_docx(), actor="t")
        for filename, data, message in (
                ("笔录.pdf", b"<html>not a pdf</html>", "不是 PDF 格式"),
                ("决定.docx", _docx(("xl/workbook.xml",)), "不是 DOCX 格式"),
                ("半截.docx", _docx()[:40], "不是 DOCX 格式"),
                ("程序.exe", b"MZ\x90\x00", "类型不受支持"),
                ("无扩展名", b"%PDF-1.7", "类型不受支持"),
                ("空.pdf", b"", "是空的")):
            with pytest.raises(InputError, match=message):
                add_document(session, case["id"], title="x", filename=filename, data=data, actor="t")
        monkeypatch.setattr(cases, "MAX_DOCUMENT_BYTES", 100)
        with pytest.raises(InputError, match="单个文书最大"):
            add_document(session, case["id"], title="x", filename="大.pdf", data=b"%PDF-" + b"0" * 200, actor="t")
        detail = case_detail(session, case["id"])
        assert [d["title"] for d in detail["documents"]] == ["询问笔录", "处理决定书"]
        assert detail["documents"][0]["uploaded_by"] == "上传人"
        assert cases.case_document(session, case["id"], pdf["id"])["content"] == b"%PDF-1.7\n..."
        with pytest.raises(NotFound):
            cases.case_document(session, case["id"] + 1, pdf["id"])


def test_cli_files_and_moves_a_case(city, run_cli, engine, tmp_path):
    a, b = city["staff"]["甲监察员"], city["staff"]["乙监察员"]
    with session_scope(engine) as session:
        complaint = _accepted_complaint(session, city)
    dry = json.loads(run_cli("cases", "file", "--complaint", complaint["id"], "--summary", "欠薪", "--item", "wages",
                             "--inspector", a, "--inspector", b, "--json").output)
    assert dry["committed"] is False and dry["finish_by"] == "2026-12-24" and dry["number"] is None
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM case_counter")).scalar() == 0
    made = json.loads(run_cli("cases", "file", "--complaint", complaint["id"], "--summary", "欠薪", "--item", "wages",
                              "--inspector", a, "--inspector", b, "--commit", "--json").output)
    assert made["number"] == "2026-0001"
    run_cli("cases", "advance", made["id"], "--on", "2026-09-25", "--commit")
    doc = tmp_path / "笔录.pdf"
    doc.write_bytes(b"%PDF-1.4 minimal")
    run_cli("cases", "attach", made["id"], doc, "--title", "询问笔录", "--commit")
    bad = tmp_path / "fake.pdf"
    bad.write_text("hello")
    out = run_cli("cases", "attach", made["id"], bad, "--title", "x", "--commit", expect=1).output
    assert "不是 PDF 格式" in out and "Traceback" not in out
    listed = json.loads(run_cli("cases", "list", "--status", "investigating", "--json").output)
    assert [r["number"] for r in listed] == ["2026-0001"]
    out = run_cli("cases", "close", made["id"], "--conclusion", "penalty", "--commit", expect=1).output
    assert "调查、处理后才能结案" in out
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM case_document")).scalar() == 1

"""Cases (立案 → 调查 → 处理 → 结案) on the statutory clock.

A case is filed from an accepted complaint (the same day as the acceptance, by default), from
an inspection, or directly about a registered employer; it lies in the employer's (or the
complaint's) grid, so the same 四定 staff and those above see it. It must be finished within
60 working days of filing, extended once by 30 with the approver recorded (《劳动保障监察条例》
art. 17; the clock is gisgrid.supervision.workdays'). The investigation needs at least two
inspectors — full-time or part-time 劳动保障监察员, not coordinators (art. 16). A case ends
with one conclusion from a fixed list (gisgrid.supervision.items) and the serious acts found,
which the yearly grade reads. Every change is a ``case_event`` and an audit row with the user.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.supervision.complaints import _text, place_complaint
from gisgrid.supervision.items import (
    CASE_STATUS, CONCLUSIONS, ITEMS, SERIOUS_ACTS, check_codes,
)
from gisgrid.supervision.workdays import close_deadline, set_deadline

#: Working days to finish a case, and the one extension (《劳动保障监察条例》 art. 17).
FINISH_DAYS = 60
EXTENSION_DAYS = 30
#: Inspectors an investigation needs (art. 16), and the staff roles that are inspectors.
MIN_INSPECTORS = 2
INSPECTOR_ROLES = ("full_time", "part_time")
#: Largest attached document.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
#: Accepted document types: file name ending → (media type, test of the content's first bytes).
DOCUMENT_TYPES = {
    ".pdf": ("application/pdf", lambda b: b.startswith(b"%PDF-")),
    ".jpg": ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".jpeg": ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".png": ("image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              lambda b: _zip_holds(b, "word/")),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", lambda b: _zip_holds(b, "xl/")),
    ".ofd": ("application/ofd", lambda b: _zip_holds(b, "OFD.xml")),
}
_NEXT = {"filed": "investigating", "investigating": "handling"}


def _zip_holds(data: bytes, prefix: str) -> bool:
    import io
    import zipfile

    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(name.startswith(prefix) for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _day(on: dt.date | None, after: dt.date, what: str, after_what: str) -> dt.date:
    today = clock.today()
    on = on or today
    if not after <= on <= today:
        raise InputError(f"{what}为 {on.isoformat()}；应在{after_what} {after.isoformat()} 至今天（{today.isoformat()}）之间")
    return on


def _event(session: Session, case_id: int, on: dt.date, action: str, status: str, note: str | None,
           actor: str) -> None:
    session.execute(sa.text("INSERT INTO case_event (case_id, on_date, action, status, note, actor) "
                            "VALUES (:c, :on, :a, :s, :n, :actor)"),
                    {"c": case_id, "on": on, "a": action, "s": status, "n": note, "actor": actor})


def _inspectors(session: Session, staff_ids) -> list[dict]:
    """The staff named, each an inspector; else an error naming the one who is not."""
    ids = []
    for raw in staff_ids or []:
        try:
            ids.append(int(str(raw).strip().lstrip("#")))
        except ValueError:
            raise InputError(f"监察员编号 {str(raw)[:20]!r} 不是数字；请填写人员编号（gisgrid staff list）") from None
    rows = {r["id"]: r for r in session.execute(sa.text("SELECT id, name, role FROM staff WHERE id = ANY(:ids)"),
                                                  {"ids": ids}).mappings()}
    found = []
    for staff_id in dict.fromkeys(ids):
        row = rows.get(staff_id)
        if row is None:
            raise NotFound(f"人员编号 {staff_id} 不存在")
        if row["role"] not in INSPECTOR_ROLES:
            from gisgrid.labels import ROLE_LABELS
            raise InputError(f"{row['name']}（编号 {staff_id}）是{ROLE_LABELS.get(row['role'], row['role'])}，"
                             "不是劳动保障监察员；案件只能由专职或兼职监察员办理")
        found.append(dict(row))
    return found


def _number(session: Session, year: int) -> str:
    """The next 立案号 of ``year``: counted in a table every case writer may update (a count of
    case_file rows would see only the writer's own grids)."""
    last = session.execute(sa.text(
        "INSERT INTO case_counter (year, last) VALUES (:y, 1) "
        "ON CONFLICT (year) DO UPDATE SET last = case_counter.last + 1 RETURNING last"), {"y": year}).scalar()
    return f"{year}-{last:04d}"


def file_case(session: Session, *, actor: str, summary: str, filed_on: dt.date | None = None,
              complaint_id: int | None = None, inspection_id: int | None = None, employer: str | None = None,
              items=(), inspectors=(), lead: int | None = None) -> dict:
    """File (立案) a case; returns id, number, grid, the finish date and how it was computed."""
    if sum(x is not None for x in (complaint_id, inspection_id, employer)) != 1:
        raise InputError("立案须且只须注明一个来源：已受理的投诉（complaint）、检查记录（inspection）或用人单位（employer）")
    summary = _text(summary, "案情摘要", 2000, required=True)
    items = check_codes(items, ITEMS, "违法事项")
    if complaint_id is not None:
        row = session.execute(sa.text(
            "SELECT c.status, c.decided_on, c.received_on, c.employer_id, c.grid_id, "
            "coalesce(e.name, c.employer_name) AS name, (SELECT k.number FROM case_file k WHERE k.complaint_id = c.id) "
            "AS case_number FROM complaint c LEFT JOIN employer e ON e.id = c.employer_id WHERE c.id = :id"),
            {"id": complaint_id}).mappings().first()
        if row is None:
            raise NotFound(f"投诉 {complaint_id} 不存在")
        if row["case_number"]:
            raise Conflict(f"投诉 {complaint_id} 已立案（案号 {row['case_number']}）")
        if row["status"] != "accepted":
            raise Conflict(f"投诉 {complaint_id} 尚未受理（{'待受理' if row['status'] == 'received' else '不予受理'}），"
                           "受理后才能立案")
        filed_on = _day(filed_on or row["decided_on"], row["decided_on"], "立案日期", "受理日期")
        source = {"source": "complaint", "employer_id": row["employer_id"], "grid_id": row["grid_id"],
                  "name": row["name"] or "（投诉未注明单位）"}
    elif inspection_id is not None:
        row = session.execute(sa.text(
            "SELECT i.inspected_on, i.employer_id, i.grid_id, e.name FROM inspection i "
            "JOIN employer e ON e.id = i.employer_id WHERE i.id = :id"), {"id": inspection_id}).mappings().first()
        if row is None:
            raise NotFound(f"检查记录 {inspection_id} 不存在")
        filed_on = _day(filed_on, row["inspected_on"], "立案日期", "检查日期")
        source = {"source": "inspection", "employer_id": row["employer_id"], "grid_id": row["grid_id"],
                  "name": row["name"]}
    else:
        placed = place_complaint(session, employer=employer)
        filed_on = _day(filed_on, dt.date(2000, 1, 1), "立案日期", "")
        source = {"source": "direct", "employer_id": placed["employer_id"], "grid_id": placed["grid_id"],
                  "name": placed["employer_name"]}
    staff = _inspectors(session, inspectors)
    if lead is not None and lead not in {s["id"] for s in staff}:
        raise InputError(f"主办监察员（编号 {lead}）须是本案监察员之一")
    case_id = session.execute(sa.text("SELECT nextval(pg_get_serial_sequence('case_file', 'id'))")).scalar()
    number = _number(session, filed_on.year)
    session.execute(sa.text("""
        INSERT INTO case_file (id, number, source, complaint_id, inspection_id, employer_id, employer_name, grid_id,
                               summary, items, filed_on, filed_by)
        VALUES (:id, :number, :source, :complaint, :inspection, :employer, :name, :grid, :summary, :items, :on,
                :actor)"""),
        {"id": case_id, "number": number, "source": source["source"], "complaint": complaint_id,
         "inspection": inspection_id, "employer": source["employer_id"], "name": source["name"],
         "grid": source["grid_id"], "summary": summary, "items": items, "on": filed_on, "actor": actor})
    for s in staff:
        session.execute(sa.text("INSERT INTO case_inspector (case_id, staff_id, lead, added_by) VALUES (:c, :s, :l, :a)"),
                        {"c": case_id, "s": s["id"], "l": s["id"] == lead, "a": actor})
    deadline = set_deadline(session, "case", case_id, "finish", filed_on, FINISH_DAYS)
    _event(session, case_id, filed_on, "file", "filed", summary[:200], actor)
    record_audit(session, actor, "case.file", "case", str(case_id),
                 after={"number": number, "source": source["source"], "complaint": complaint_id,
                        "inspection": inspection_id, "filed_on": filed_on, "inspectors": [s["id"] for s in staff]})
    grid_code = session.execute(sa.text("SELECT code FROM grid WHERE id = :g"), {"g": source["grid_id"]}).scalar()
    return {"id": case_id, "number": number, "grid_code": grid_code, "filed_on": filed_on.isoformat(),
            "finish_by": deadline["due"].isoformat() if deadline["due"] else None,
            "finish_by_explanation": deadline["explanation"]}


def _case(session: Session, case_id: int, lock: bool = True) -> dict:
    row = session.execute(sa.text(
        "SELECT id, number, status, filed_on, extension_days, (SELECT max(on_date) FROM case_event e "
        "WHERE e.case_id = case_file.id AND e.action IN ('file', 'investigating', 'handling', 'extend', 'close')) "
        "AS last_on FROM case_file WHERE id = :id"
        + (" FOR UPDATE" if lock else "")), {"id": case_id}).mappings().first()
    if row is None:
        raise NotFound(f"案件 {case_id} 不存在")
    return dict(row)


def _open(case: dict) -> None:
    if case["status"] == "closed":
        raise Conflict(f"案件 {case['number']} 已结案，不能再更改")


def add_inspectors(session: Session, case_id: int, staff_ids, *, actor: str, lead: int | None = None) -> dict:
    """Add inspectors to an open case (those already on it are kept); returns the case's inspectors."""
    case = _case(session, case_id)
    _open(case)
    staff = _inspectors(session, staff_ids)
    if not staff:
        raise InputError("请填写要加入的监察员编号")
    for s in staff:
        session.execute(sa.text("INSERT INTO case_inspector (case_id, staff_id, lead, added_by) VALUES (:c, :s, false, :a) "
                                "ON CONFLICT DO NOTHING"), {"c": case_id, "s": s["id"], "a": actor})
    if lead is not None:
        session.execute(sa.text("UPDATE case_inspector SET lead = (staff_id = :l) WHERE case_id = :c"),
                        {"l": lead, "c": case_id})
    names = "、".join(s["name"] for s in staff)
    _event(session, case_id, clock.today(), "inspectors", case["status"], f"加入监察员：{names}", actor)
    record_audit(session, actor, "case.inspectors", "case", str(case_id), after={"added": [s["id"] for s in staff]})
    return {"id": case_id, "inspectors": case_inspectors(session, case_id)}


def case_inspectors(session: Session, case_id: int) -> list[dict]:
    return [dict(r) for r in session.execute(sa.text(
        "SELECT s.id, s.name, s.role, s.unit, ci.lead FROM case_inspector ci JOIN staff s ON s.id = ci.staff_id "
        "WHERE ci.case_id = :c ORDER BY ci.lead DESC, s.name, s.id"), {"c": case_id}).mappings()]


def advance_case(session: Session, case_id: int, *, actor: str, on: dt.date | None = None,
                 note: str | None = None) -> dict:
    """Move an open case to its next step: 立案 → 调查 (two inspectors needed) → 处理."""
    case = _case(session, case_id)
    _open(case)
    to = _NEXT.get(case["status"])
    if to is None:
        raise Conflict(f"案件 {case['number']} 处于{CASE_STATUS[case['status']]}阶段，下一步是结案")
    if to == "investigating":
        inspectors = [s for s in case_inspectors(session, case_id) if s["role"] in INSPECTOR_ROLES]
        if len(inspectors) < MIN_INSPECTORS:
            who = "、".join(s["name"] for s in inspectors) or "无"
            raise Conflict(f"调查须由 {MIN_INSPECTORS} 名以上劳动保障监察员进行（《劳动保障监察条例》第十六条）；"
                           f"案件 {case['number']} 现有 {len(inspectors)} 名（{who}），请先添加监察员")
    on = _day(on, case["last_on"] or case["filed_on"], "日期", "上一步的日期")
    note = _text(note, "说明", 2000)
    session.execute(sa.text("UPDATE case_file SET status = :s WHERE id = :id"), {"s": to, "id": case_id})
    _event(session, case_id, on, to, to, note, actor)
    record_audit(session, actor, f"case.{to}", "case", str(case_id), before={"status": case["status"]},
                 after={"status": to, "on": on})
    return {"id": case_id, "number": case["number"], "status": to}


def extend_case(session: Session, case_id: int, *, actor: str, approver: str, reason: str,
                on: dt.date | None = None) -> dict:
    """The one extension by 30 working days, approved by ``approver``, before the deadline passes."""
    case = _case(session, case_id)
    _open(case)
    if case["extension_days"]:
        raise Conflict(f"案件 {case['number']} 已延长过一次；《劳动保障监察条例》第十七条只允许延长一次")
    approver = _text(approver, "批准人", 100, required=True)
    reason = _text(reason, "延长理由", 500, required=True)
    due = session.execute(sa.text("SELECT due FROM deadline WHERE subject = 'case' AND subject_id = :id "
                                  "AND kind = 'finish'"), {"id": case_id}).scalar()
    on = _day(on, case["last_on"] or case["filed_on"], "批准日期", "上一步的日期")
    if due is not None and on > due:
        raise Conflict(f"案件 {case['number']} 的办结期限 {due.isoformat()} 已过，不能再延长（延长须在期限内批准）")
    session.execute(sa.text("UPDATE case_file SET extension_days = :d, extension_approver = :ap, extension_reason = :r, "
                            "extended_on = :on WHERE id = :id"),
                    {"d": EXTENSION_DAYS, "ap": approver, "r": reason, "on": on, "id": case_id})
    deadline = set_deadline(session, "case", case_id, "finish", case["filed_on"], FINISH_DAYS + EXTENSION_DAYS)
    _event(session, case_id, on, "extend", case["status"], f"经 {approver} 批准延长 {EXTENSION_DAYS} 个工作日：{reason}",
           actor)
    record_audit(session, actor, "case.extend", "case", str(case_id), before={"due": due},
                 after={"due": deadline["due"], "approver": approver, "reason": reason, "on": on})
    return {"id": case_id, "number": case["number"],
            "finish_by": deadline["due"].isoformat() if deadline["due"] else None,
            "finish_by_explanation": deadline["explanation"]}


def close_case(session: Session, case_id: int, conclusion: str, *, actor: str, serious=(), note: str | None = None,
               on: dt.date | None = None) -> dict:
    """End (结案) a case in its 处理 step with a conclusion from the list (撤销立案 from any step)."""
    case = _case(session, case_id)
    _open(case)
    conclusion = (conclusion or "").strip()
    check_codes([conclusion] if conclusion else [], CONCLUSIONS, "结案方式")
    if not conclusion:
        raise InputError("请选择结案方式：" + "、".join(f"{k}（{v}）" for k, v in CONCLUSIONS.items()))
    if conclusion != "withdrawn" and case["status"] != "handling":
        raise Conflict(f"案件 {case['number']} 处于{CASE_STATUS[case['status']]}阶段；调查、处理后才能结案"
                       "（撤销立案除外）")
    serious = check_codes(serious, SERIOUS_ACTS, "严重违法情形")
    if serious and conclusion in ("no_violation", "withdrawn"):
        raise InputError(f"结案方式为{CONCLUSIONS[conclusion]}时不能同时认定严重违法情形")
    note = _text(note, "结案说明", 2000, required=conclusion in ("withdrawn", "transferred"))
    on = _day(on, case["last_on"] or case["filed_on"], "结案日期", "上一步的日期")
    session.execute(sa.text("UPDATE case_file SET status = 'closed', conclusion = :c, serious = :s, conclusion_note = :n, "
                            "closed_on = :on, closed_by = :a WHERE id = :id"),
                    {"c": conclusion, "s": serious, "n": note, "on": on, "a": actor, "id": case_id})
    close_deadline(session, "case", case_id, "finish", on)
    _event(session, case_id, on, "close", "closed", CONCLUSIONS[conclusion] + (f"：{note}" if note else ""), actor)
    record_audit(session, actor, "case.close", "case", str(case_id), before={"status": case["status"]},
                 after={"status": "closed", "conclusion": conclusion, "serious": serious, "on": on})
    return {"id": case_id, "number": case["number"], "status": "closed", "conclusion": conclusion,
            "closed_on": on.isoformat()}


def add_document(session: Session, case_id: int, *, title: str, filename: str, data: bytes, actor: str) -> dict:
    """Attach a file to a case: PDF, JPEG, PNG, DOCX, XLSX or OFD up to 10 MB, its content matching
    its name."""
    case = _case(session, case_id, lock=False)
    title = _text(title, "文书名称", 100, required=True)
    filename = _text((filename or "").replace("\\", "/").rsplit("/", 1)[-1], "文件名", 200, required=True)
    ending = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ending not in DOCUMENT_TYPES:
        raise InputError(f"文件 {filename[:60]!r} 的类型不受支持；可上传 "
                         + "、".join(sorted({e.lstrip('.').upper() for e in DOCUMENT_TYPES})) + " 文件")
    if not data:
        raise InputError(f"文件 {filename[:60]!r} 是空的")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InputError(f"文件 {filename[:60]!r} 有 {len(data) / 1048576:.1f} MB；单个文书最大 "
                         f"{MAX_DOCUMENT_BYTES // 1048576} MB")
    media_type, looks_right = DOCUMENT_TYPES[ending]
    if not looks_right(data):
        raise InputError(f"文件 {filename[:60]!r} 的内容不是 {ending.lstrip('.').upper()} 格式（文件可能损坏、"
                         "未上传完整或扩展名有误）；请重新导出后上传")
    sha = hashlib.sha256(data).hexdigest()
    doc_id = session.execute(sa.text("""
        INSERT INTO case_document (case_id, title, filename, media_type, size, sha256, content, uploaded_by)
        VALUES (:c, :t, :f, :m, :s, :h, :d, :a) RETURNING id"""),
        {"c": case_id, "t": title, "f": filename, "m": media_type, "s": len(data), "h": sha, "d": data,
         "a": actor}).scalar()
    _event(session, case_id, clock.today(), "document", case["status"], f"上传文书：{title}（{filename}）", actor)
    record_audit(session, actor, "case.document", "case", str(case_id),
                 after={"document": doc_id, "title": title, "filename": filename, "size": len(data), "sha256": sha})
    return {"id": doc_id, "case_id": case_id, "title": title, "filename": filename, "size": len(data),
            "sha256": sha}


def case_document(session: Session, case_id: int, document_id: int) -> dict:
    row = session.execute(sa.text("SELECT id, title, filename, media_type, size, content FROM case_document "
                                  "WHERE id = :d AND case_id = :c"), {"d": document_id, "c": case_id}).mappings().first()
    if row is None:
        raise NotFound(f"案件 {case_id} 没有文书 {document_id}")
    return {**dict(row), "content": bytes(row["content"])}


_LIST = """
WITH RECURSIVE within AS (
    SELECT g.id FROM grid g WHERE CAST(:grid AS text) IS NOT NULL AND g.code = :grid
      AND g.generation_id = (SELECT id FROM generation WHERE status = 'active')
    UNION SELECT c.id FROM grid c JOIN within w ON c.parent_id = w.id
)
SELECT k.id, k.number, k.source, k.status, k.filed_on, k.closed_on, k.conclusion, k.extension_days,
       k.employer_name, left(k.summary, 200) AS summary, g.code AS grid_code, g.name AS grid_name,
       d.due AS finish_by, d.unknown_year, (k.status <> 'closed' AND d.due < :on) AS overdue,
       (SELECT count(*) FROM case_inspector ci WHERE ci.case_id = k.id) AS inspectors
FROM case_file k
LEFT JOIN grid g ON g.id = k.grid_id
LEFT JOIN deadline d ON d.subject = 'case' AND d.subject_id = k.id AND d.kind = 'finish'
WHERE (CAST(:grid AS text) IS NULL OR k.grid_id IN (SELECT id FROM within))
  AND (NOT :overdue OR (k.status <> 'closed' AND d.due < :on))
  AND (CAST(:status AS text) IS NULL OR k.status = :status)
ORDER BY (k.status <> 'closed') DESC, d.due NULLS FIRST, k.id DESC
LIMIT :limit
"""


def list_cases(session: Session, *, grid: str | None = None, overdue: bool = False, status: str | None = None,
               on: dt.date | None = None, limit: int = 500) -> list[dict]:
    """Cases (of ``grid`` and below), open ones first by their finish date."""
    if status is not None and status not in CASE_STATUS:
        raise InputError(f"案件状态为 {status[:20]!r}；应为 " + "、".join(f"{k}（{v}）" for k, v in CASE_STATUS.items()))
    rows = session.execute(sa.text(_LIST), {"grid": grid, "overdue": overdue, "status": status,
                                            "on": on or clock.today(), "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def case_detail(session: Session, case_id: int) -> dict:
    """One case: its fields, grid, clock with its explanation, inspectors, history and documents."""
    row = session.execute(sa.text("""
        SELECT k.*, g.code AS grid_code, g.name AS grid_name, e.credit_code, d.due AS finish_by,
               d.computation AS finish_by_computation, c.receipt AS complaint_receipt
        FROM case_file k LEFT JOIN grid g ON g.id = k.grid_id LEFT JOIN employer e ON e.id = k.employer_id
        LEFT JOIN complaint c ON c.id = k.complaint_id
        LEFT JOIN deadline d ON d.subject = 'case' AND d.subject_id = k.id AND d.kind = 'finish'
        WHERE k.id = :id"""), {"id": case_id}).mappings().first()
    if row is None:
        raise NotFound(f"案件 {case_id} 不存在")
    detail = dict(row)
    detail["inspector_list"] = case_inspectors(session, case_id)
    detail["events"] = [dict(r) for r in session.execute(sa.text(
        "SELECT on_date, action, status, note, actor, at FROM case_event WHERE case_id = :c ORDER BY id"),
        {"c": case_id}).mappings()]
    detail["documents"] = [dict(r) for r in session.execute(sa.text(
        "SELECT id, title, filename, media_type, size, sha256, uploaded_by, uploaded_at FROM case_document "
        "WHERE case_id = :c ORDER BY id"), {"c": case_id}).mappings()]
    return detail


def inspector_choices(session: Session, grid_id: int | None, roles=INSPECTOR_ROLES) -> list[dict]:
    """Staff of ``roles`` (default the inspectors: full-time, part-time; None: everyone), those
    answering for ``grid_id`` or a grid above it today first (``responsible``) — whom work of
    that grid would usually go to."""
    rows = session.execute(sa.text("""
        WITH RECURSIVE chain AS (
            SELECT id, parent_id, identity FROM grid WHERE id = :grid
            UNION ALL SELECT g.id, g.parent_id, g.identity FROM grid g JOIN chain c ON g.id = c.parent_id
        )
        SELECT s.id, s.name, s.role, s.unit,
               EXISTS (SELECT 1 FROM staff_grid sg JOIN chain c ON c.identity = sg.grid_identity
                       WHERE sg.staff_id = s.id AND (sg.valid_from IS NULL OR sg.valid_from <= :today)
                         AND (sg.valid_to IS NULL OR sg.valid_to >= :today)) AS responsible
        FROM staff s WHERE CAST(:roles AS text[]) IS NULL OR s.role = ANY(:roles)
        ORDER BY responsible DESC, s.name, s.id"""),
        {"grid": grid_id, "today": clock.today(), "roles": None if roles is None else list(roles)}).mappings().all()
    return [dict(r) for r in rows]

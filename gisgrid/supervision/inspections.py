"""Inspections (日常巡查, 书面审查) and the rectification orders (责令改正) they and cases give.

An inspection is of one registered employer on one day by named staff: a routine patrol (any
grid staff, coordinators too — they walk the grid) or the yearly written review of the
previous year's record (书面审查: by an inspector, at most one per employer and year). Each of
the 9 items of 人社部规〔2016〕1号 gets a result (符合 / 存在违法行为 / 不适用); an item found in
violation may carry a rectification order with its due date. An order is met (已整改) or
refused (拒不整改: a serious act that grades the employer C, gisgrid.supervision.grading).

The inspection lies in the employer's grid of the day, so the same 四定 staff and those above
see it (row-level security, migration 0011). Every write is audited with the user.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.supervision.complaints import _text, place_complaint
from gisgrid.supervision.items import INSPECTION_KINDS, ITEMS, RECTIFICATION_STATUS, RESULTS

#: Staff roles that may do a written review (an inspector's work); a patrol may be anyone's.
REVIEW_ROLES = ("full_time", "part_time")
#: Longest time an order may give (calendar days).
MAX_ORDER_DAYS = 365


def _choice(value: str | None, allowed: dict[str, str], what: str) -> str:
    value = (value or "").strip()
    if value not in allowed:
        listed = "、".join(f"{k}（{v}）" for k, v in allowed.items())
        raise InputError(f"{what}为 {value[:20]!r}；应为 {listed}")
    return value


def _items(given: dict | None) -> dict:
    """The 9 items each with a result: every item named once; one not given is 'na'."""
    given = given or {}
    unknown = [k for k in given if k not in ITEMS]
    if unknown:
        listed = "、".join(f"{k}（{v}）" for k, v in ITEMS.items())
        raise InputError(f"检查项目 {str(unknown[0])[:30]!r} 不在 9 项之中；可选：{listed}")
    items = {}
    for code in ITEMS:
        entry = given.get(code) or {}
        if isinstance(entry, str):
            entry = {"result": entry}
        result = _choice(entry.get("result") or "na", RESULTS, f"“{ITEMS[code]}”的检查结果")
        note = _text(entry.get("note"), f"“{ITEMS[code]}”的说明", 500)
        items[code] = {"result": result, **({"note": note} if note else {})}
    return items


def _staff(session: Session, staff_ids, kind: str) -> list[dict]:
    ids = []
    for raw in staff_ids or []:
        try:
            ids.append(int(str(raw).strip().lstrip("#")))
        except ValueError:
            raise InputError(f"人员编号 {str(raw)[:20]!r} 不是数字；请填写人员编号（gisgrid staff list）") from None
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InputError("请填写检查人员（人员编号，至少一名）")
    rows = {r["id"]: dict(r) for r in session.execute(
        sa.text("SELECT id, name, role FROM staff WHERE id = ANY(:ids)"), {"ids": ids}).mappings()}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFound(f"人员编号 {missing[0]} 不存在")
    if kind == "review" and not any(rows[i]["role"] in REVIEW_ROLES for i in ids):
        raise InputError("书面审查须有一名以上劳动保障监察员（专职或兼职）参加")
    return [rows[i] for i in ids]


def _orders(orders, items: dict, inspected_on: dt.date) -> list[dict]:
    """Rectification orders: each for an item found in violation, due on or after the inspection."""
    found = []
    for n, order in enumerate(orders or [], start=1):
        item = (order.get("item") or "").strip()
        if item not in ITEMS:
            listed = "、".join(ITEMS)
            raise InputError(f"第 {n} 条整改要求的事项为 {item[:30]!r}；应为 9 项之一：{listed}")
        if items[item]["result"] != "violation":
            raise InputError(f"第 {n} 条整改要求针对“{ITEMS[item]}”，但该项的检查结果不是“存在违法行为”")
        text = _text(order.get("text"), f"第 {n} 条整改要求", 1000, required=True)
        due = order.get("due_on")
        if isinstance(due, str):
            try:
                due = dt.date.fromisoformat(due.strip())
            except ValueError:
                raise InputError(f"第 {n} 条整改要求的期限 {due[:20]!r} 不是日期；应为 YYYY-MM-DD") from None
        if not isinstance(due, dt.date):
            raise InputError(f"请填写第 {n} 条整改要求的整改期限（YYYY-MM-DD）")
        if not inspected_on <= due <= inspected_on + dt.timedelta(days=MAX_ORDER_DAYS):
            raise InputError(f"第 {n} 条整改要求的期限为 {due.isoformat()}；应在检查日期 {inspected_on.isoformat()} "
                             f"之后 {MAX_ORDER_DAYS} 天之内")
        found.append({"item": item, "text": text, "due_on": due})
    return found


def add_inspection(session: Session, *, actor: str, employer: str, kind: str, inspected_on: dt.date | None = None,
                   items: dict | None = None, findings: str | None = None, inspectors=(), orders=(),
                   review_year: int | None = None) -> dict:
    """Record an inspection of a registered employer (credit code or ``#id``) with its orders."""
    kind = _choice(kind, INSPECTION_KINDS, "检查类型")
    today = clock.today()
    inspected_on = inspected_on or today
    if not dt.date(2000, 1, 1) <= inspected_on <= today:
        raise InputError(f"检查日期为 {inspected_on.isoformat()}；不能晚于今天（{today.isoformat()}）")
    if kind == "review":
        review_year = review_year or inspected_on.year - 1
        if not 2000 <= review_year < inspected_on.year:
            raise InputError(f"书面审查的年度为 {review_year}；应为检查日期之前的年度（通常为上一年度）")
    else:
        review_year = None
    placed = place_complaint(session, employer=employer)
    items = _items(items)
    findings = _text(findings, "检查情况", 4000)
    staff = _staff(session, inspectors, kind)
    orders = _orders(orders, items, inspected_on)
    if review_year is not None and session.execute(sa.text(
            "SELECT 1 FROM inspection WHERE employer_id = :e AND kind = 'review' AND review_year = :y"),
            {"e": placed["employer_id"], "y": review_year}).first():
        raise Conflict(f"{placed['employer_name']} 的 {review_year} 年度书面审查已经录入；每个单位每年度一次")
    inspection_id = session.execute(sa.text("""
        INSERT INTO inspection (kind, employer_id, grid_id, inspected_on, review_year, items, findings, entered_by)
        VALUES (:kind, :e, :g, :on, :y, CAST(:items AS jsonb), :f, :actor) RETURNING id"""),
        {"kind": kind, "e": placed["employer_id"], "g": placed["grid_id"], "on": inspected_on, "y": review_year,
         "items": _json(items), "f": findings, "actor": actor}).scalar()
    for s in staff:
        session.execute(sa.text("INSERT INTO inspection_inspector (inspection_id, staff_id) VALUES (:i, :s)"),
                        {"i": inspection_id, "s": s["id"]})
    order_ids = []
    for order in orders:
        order_ids.append(session.execute(sa.text("""
            INSERT INTO rectification (employer_id, grid_id, inspection_id, item, order_text, issued_on, due_on,
                                       entered_by)
            VALUES (:e, :g, :i, :item, :t, :on, :due, :actor) RETURNING id"""),
            {"e": placed["employer_id"], "g": placed["grid_id"], "i": inspection_id, "item": order["item"],
             "t": order["text"], "on": inspected_on, "due": order["due_on"], "actor": actor}).scalar())
    violations = [code for code, v in items.items() if v["result"] == "violation"]
    record_audit(session, actor, "inspection.add", "inspection", str(inspection_id),
                 after={"kind": kind, "employer": placed["employer_id"], "on": inspected_on,
                        "review_year": review_year, "violations": violations,
                        "inspectors": [s["id"] for s in staff], "orders": order_ids})
    return {"id": inspection_id, "kind": kind, "employer_id": placed["employer_id"],
            "employer_name": placed["employer_name"], "grid_code": placed["grid_code"],
            "inspected_on": inspected_on.isoformat(), "review_year": review_year, "violations": violations,
            "rectifications": order_ids}


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


_WITHIN = """
WITH RECURSIVE within AS (
    SELECT g.id FROM grid g WHERE CAST(:grid AS text) IS NOT NULL AND g.code = :grid
      AND g.generation_id = (SELECT id FROM generation WHERE status = 'active')
    UNION SELECT c.id FROM grid c JOIN within w ON c.parent_id = w.id
)
"""


def list_inspections(session: Session, *, grid: str | None = None, employer_id: int | None = None,
                     kind: str | None = None, year: int | None = None, limit: int = 500) -> list[dict]:
    """Inspections (of ``grid`` and below, or of one employer), newest first."""
    if kind is not None:
        kind = _choice(kind, INSPECTION_KINDS, "检查类型")
    rows = session.execute(sa.text(_WITHIN + """
        SELECT i.id, i.kind, i.inspected_on, i.review_year, i.employer_id, e.name AS employer_name, e.credit_code,
               g.code AS grid_code, g.name AS grid_name, left(i.findings, 200) AS findings, i.entered_by,
               (SELECT count(*) FROM jsonb_each(i.items) AS x WHERE x.value->>'result' = 'violation') AS violations,
               (SELECT string_agg(s.name, '、' ORDER BY s.name) FROM inspection_inspector ii
                JOIN staff s ON s.id = ii.staff_id WHERE ii.inspection_id = i.id) AS inspectors,
               (SELECT count(*) FROM rectification r WHERE r.inspection_id = i.id AND r.status = 'open') AS open_orders
        FROM inspection i JOIN employer e ON e.id = i.employer_id LEFT JOIN grid g ON g.id = i.grid_id
        WHERE (CAST(:grid AS text) IS NULL OR i.grid_id IN (SELECT id FROM within))
          AND (CAST(:employer AS bigint) IS NULL OR i.employer_id = :employer)
          AND (CAST(:kind AS text) IS NULL OR i.kind = :kind)
          AND (CAST(:year AS integer) IS NULL OR extract(year FROM i.inspected_on) = :year)
        ORDER BY i.inspected_on DESC, i.id DESC LIMIT :limit"""),
        {"grid": grid, "employer": employer_id, "kind": kind, "year": year, "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def inspection_detail(session: Session, inspection_id: int) -> dict:
    row = session.execute(sa.text("""
        SELECT i.*, e.name AS employer_name, e.credit_code, g.code AS grid_code, g.name AS grid_name
        FROM inspection i JOIN employer e ON e.id = i.employer_id LEFT JOIN grid g ON g.id = i.grid_id
        WHERE i.id = :id"""), {"id": inspection_id}).mappings().first()
    if row is None:
        raise NotFound(f"检查记录 {inspection_id} 不存在")
    detail = dict(row)
    detail["inspector_list"] = [dict(r) for r in session.execute(sa.text(
        "SELECT s.id, s.name, s.role, s.unit FROM inspection_inspector ii JOIN staff s ON s.id = ii.staff_id "
        "WHERE ii.inspection_id = :i ORDER BY s.name, s.id"), {"i": inspection_id}).mappings()]
    detail["rectifications"] = list_rectifications(session, inspection_id=inspection_id)
    detail["case"] = session.execute(sa.text(
        "SELECT id, number FROM case_file WHERE inspection_id = :i ORDER BY id LIMIT 1"),
        {"i": inspection_id}).mappings().first()
    return detail


def list_rectifications(session: Session, *, grid: str | None = None, employer_id: int | None = None,
                        inspection_id: int | None = None, rectification_id: int | None = None,
                        status: str | None = None, overdue: bool = False,
                        on: dt.date | None = None, limit: int = 500) -> list[dict]:
    """Rectification orders, open ones first by due date; ``overdue``: open and past due on ``on``."""
    if status is not None:
        status = _choice(status, RECTIFICATION_STATUS, "整改状态")
    rows = session.execute(sa.text(_WITHIN + """
        SELECT r.id, r.item, r.order_text, r.issued_on, r.due_on, r.status, r.settled_on, r.settled_by,
               r.inspection_id, r.case_id, k.number AS case_number, r.employer_id, e.name AS employer_name,
               g.code AS grid_code, g.name AS grid_name, (r.status = 'open' AND r.due_on < :on) AS overdue
        FROM rectification r JOIN employer e ON e.id = r.employer_id LEFT JOIN grid g ON g.id = r.grid_id
        LEFT JOIN case_file k ON k.id = r.case_id
        WHERE (CAST(:grid AS text) IS NULL OR r.grid_id IN (SELECT id FROM within))
          AND (CAST(:employer AS bigint) IS NULL OR r.employer_id = :employer)
          AND (CAST(:inspection AS integer) IS NULL OR r.inspection_id = :inspection)
          AND (CAST(:rect AS integer) IS NULL OR r.id = :rect)
          AND (CAST(:status AS text) IS NULL OR r.status = :status)
          AND (NOT :overdue OR (r.status = 'open' AND r.due_on < :on))
        ORDER BY (r.status = 'open') DESC, r.due_on, r.id LIMIT :limit"""),
        {"grid": grid, "employer": employer_id, "inspection": inspection_id, "rect": rectification_id, "status": status,
         "overdue": overdue, "on": on or clock.today(), "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def settle_rectification(session: Session, rectification_id: int, outcome: str, *, actor: str,
                         on: dt.date | None = None) -> dict:
    """Record that an open order was met (``done``) or refused (``refused``) on ``on``."""
    if outcome not in ("done", "refused"):
        raise InputError(f"整改结果为 {str(outcome)[:20]!r}；应为 done（已整改）或 refused（拒不整改）")
    row = session.execute(sa.text("SELECT id, status, issued_on, due_on FROM rectification WHERE id = :id FOR UPDATE"),
                          {"id": rectification_id}).mappings().first()
    if row is None:
        raise NotFound(f"整改要求 {rectification_id} 不存在")
    if row["status"] != "open":
        raise Conflict(f"整改要求 {rectification_id} 已是“{RECTIFICATION_STATUS[row['status']]}”，不能再更改")
    today = clock.today()
    on = on or today
    if not row["issued_on"] <= on <= today:
        raise InputError(f"日期为 {on.isoformat()}；应在下达日期 {row['issued_on'].isoformat()} 至今天"
                         f"（{today.isoformat()}）之间")
    if outcome == "refused" and on <= row["due_on"]:
        raise Conflict(f"整改期限 {row['due_on'].isoformat()} 未到，还不能认定拒不整改")
    session.execute(sa.text("UPDATE rectification SET status = :s, settled_on = :on, settled_by = :a WHERE id = :id"),
                    {"s": outcome, "on": on, "a": actor, "id": rectification_id})
    record_audit(session, actor, "rectification.settle", "rectification", str(rectification_id),
                 before={"status": "open"}, after={"status": outcome, "on": on})
    return {"id": rectification_id, "status": outcome, "settled_on": on.isoformat()}


def employer_timeline(session: Session, employer_id: int) -> list[dict]:
    """一企一档: the employer's complaints, cases, inspections, orders and grades, newest first.

    Each entry: ``on`` (date), ``kind``, ``title`` (what happened), ``status``, ``link`` (what
    it is: ('complaint', id), ('case', id), ('inspection', id) or None).
    """
    from gisgrid.supervision.complaints import STATUS_LABELS
    from gisgrid.supervision.items import CASE_STATUS, CONCLUSIONS

    entries = []
    for r in session.execute(sa.text(
            "SELECT id, received_on, status, left(summary, 120) AS summary FROM complaint WHERE employer_id = :e"),
            {"e": employer_id}).mappings():
        entries.append({"on": r["received_on"], "kind": "投诉举报", "title": r["summary"],
                        "status": STATUS_LABELS.get(r["status"], r["status"]), "link": ("complaint", r["id"])})
    for r in session.execute(sa.text(
            "SELECT id, number, filed_on, status, conclusion, left(summary, 120) AS summary FROM case_file "
            "WHERE employer_id = :e"), {"e": employer_id}).mappings():
        status = CONCLUSIONS.get(r["conclusion"]) if r["status"] == "closed" else CASE_STATUS[r["status"]]
        entries.append({"on": r["filed_on"], "kind": f"立案 {r['number']}", "title": r["summary"],
                        "status": status, "link": ("case", r["id"])})
    for r in session.execute(sa.text(
            "SELECT id, kind, inspected_on, review_year, left(findings, 120) AS findings, "
            "(SELECT count(*) FROM jsonb_each(items) AS x WHERE x.value->>'result' = 'violation') AS violations "
            "FROM inspection WHERE employer_id = :e"), {"e": employer_id}).mappings():
        label = INSPECTION_KINDS[r["kind"]] + (f"（{r['review_year']} 年度）" if r["review_year"] else "")
        entries.append({"on": r["inspected_on"], "kind": label, "title": r["findings"] or "",
                        "status": f"{r['violations']} 项存在违法行为" if r["violations"] else "未发现违法行为",
                        "link": ("inspection", r["id"])})
    for r in session.execute(sa.text(
            "SELECT id, item, issued_on, due_on, status, inspection_id, case_id FROM rectification "
            "WHERE employer_id = :e"), {"e": employer_id}).mappings():
        link = ("inspection", r["inspection_id"]) if r["inspection_id"] else ("case", r["case_id"])
        entries.append({"on": r["issued_on"], "kind": "责令改正", "title": f"{ITEMS[r['item']]}，期限 {r['due_on']}",
                        "status": RECTIFICATION_STATUS[r["status"]], "link": link})
    for r in session.execute(sa.text(
            "SELECT year, grade, source FROM employer_grade WHERE employer_id = :e"), {"e": employer_id}).mappings():
        entries.append({"on": dt.date(r["year"], 1, 1), "kind": f"{r['year']} 年度诚信等级", "title": r["source"] or "",
                        "status": f"{r['grade']} 级", "link": None})
    entries.sort(key=lambda x: x["on"], reverse=True)
    return entries


def staff_choices(session: Session, grid_id: int | None) -> list[dict]:
    """All staff (a patrol may be anyone's), those answering for ``grid_id`` or above it first."""
    from gisgrid.supervision.cases import inspector_choices

    return inspector_choices(session, grid_id, roles=None)


_DUE = _WITHIN + """
, plan AS (SELECT key AS grade, value::integer AS months FROM jsonb_each_text(CAST(:plan AS jsonb)))
SELECT e.id, e.name, e.credit_code, e.integrity_grade, e.risk_level, e.key_flags, g.code AS grid_code,
       g.name AS grid_name, p.months, last.on_date AS last_on,
       (last.on_date + make_interval(months => p.months))::date AS due_on,
       count(*) OVER () AS total
FROM employer e
LEFT JOIN assignment a ON a.employer_id = e.id
     AND a.generation_id = (SELECT id FROM generation WHERE status = 'active')
LEFT JOIN grid g ON g.id = a.grid_id
JOIN plan p ON p.grade = coalesce(e.integrity_grade, '')
LEFT JOIN LATERAL (SELECT max(i.inspected_on) AS on_date FROM inspection i WHERE i.employer_id = e.id) last ON true
WHERE (CAST(:grid AS text) IS NULL OR a.grid_id IN (SELECT id FROM within))
  AND (last.on_date IS NULL OR (last.on_date + make_interval(months => p.months))::date <= :on)
ORDER BY p.months, last.on_date NULLS FIRST, e.risk_level DESC NULLS LAST, e.id
LIMIT :limit
"""


def due_inspections(session: Session, *, scheme: str = "ABC", grid: str | None = None, on: dt.date | None = None,
                    limit: int = 500) -> dict:
    """The inspection plan by grade: employers (of ``grid`` and below) whose last inspection is
    older than their grade's interval (gisgrid.supervision.record.INSPECTION_MONTHS; D monthly
    in the A–D scheme), or who were never inspected — the most watched grade first."""
    from gisgrid.supervision.record import INSPECTION_MONTHS

    plan = INSPECTION_MONTHS[scheme]
    rows = session.execute(sa.text(_DUE), {
        "plan": _json({(k or ""): v for k, v in plan.items()}), "grid": grid, "on": on or clock.today(),
        "limit": limit}).mappings().all()
    return {"on": (on or clock.today()).isoformat(), "scheme": scheme,
            "plan": {(k or "未评级"): v for k, v in plan.items()},
            "total": rows[0]["total"] if rows else 0, "rows": [{k: v for k, v in r.items() if k != "total"} for r in rows]}

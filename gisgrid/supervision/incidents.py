"""Emergency incidents (应急监管): raised in a grid, pushed at once up its chain, tracked, closed
with the result reported back up.

An incident — a collective petition (集体上访), a group wage-arrears dispute, a stoppage, an
extreme act — is raised in the grid where it happens (given, or the employer's). Everyone whose
scope holds that grid sees it: the grid's 四定 staff and the staff of every grid above it
(community → street → district → city), leaders and admins — at the top of every page while
it is open, and with its result for :data:`RESULT_SHOWN_DAYS` days after it is closed
(gisgrid.web shows the banner; row-level security, migration 0012, decides who sees it).
Each reader's 已阅 is recorded, so the page shows per level of the chain who has seen it.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.supervision.complaints import _active_generation_id, _text, place_complaint

KINDS: dict[str, str] = {
    "collective_petition": "集体上访",
    "group_arrears": "群体性欠薪",
    "stoppage": "停工、罢工",
    "extreme": "极端事件",
    "other": "其他重大事件",
}
STATUS = {"open": "处置中", "closed": "已办结"}
#: Days a closed incident's result stays at the top of the chain's pages.
RESULT_SHOWN_DAYS = 3
_CHINA = dt.timezone(dt.timedelta(hours=8))


def _kind(kind: str | None) -> str:
    kind = (kind or "").strip()
    if kind not in KINDS:
        raise InputError(f"事件类型为 {kind[:20]!r}；应为 " + "、".join(f"{k}（{v}）" for k, v in KINDS.items()))
    return kind


def _when(value: dt.datetime | dt.date | str | None) -> dt.datetime:
    now = dt.datetime.now(_CHINA)
    if value is None or value == "":
        return now
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace(" ", "T"))
        except ValueError:
            raise InputError(f"发生时间为 {value[:25]!r}；应为 YYYY-MM-DD HH:MM") from None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_CHINA)
    if value.date() > clock.today() or value > now + dt.timedelta(minutes=5):
        raise InputError(f"发生时间为 {value:%Y-%m-%d %H:%M}；不能晚于现在")
    return value


def raise_incident(session: Session, *, actor: str, kind: str, title: str, summary: str, grid: str | None = None,
                   employer: str | None = None, people: int | None = None,
                   occurred_at: dt.datetime | str | None = None) -> dict:
    """Raise an incident in ``grid`` (code) or in the grid of ``employer`` (credit code or #id)."""
    kind = _kind(kind)
    title = _text(title, "事件标题", 200, required=True)
    summary = _text(summary, "事件情况", 4000, required=True)
    if people is not None and not 0 <= int(people) <= 1_000_000:
        raise InputError(f"涉及人数为 {people}；应为 0 至 1000000 之间的整数")
    occurred = _when(occurred_at)
    if (grid is None) == (employer is None):
        raise InputError("请注明事件发生的网格（网格编码）或用人单位（信用代码或 #编号），二者选一")
    employer_id = employer_name = None
    if employer is not None:
        placed = place_complaint(session, employer=employer)
        grid_id, employer_id, employer_name = placed["grid_id"], placed["employer_id"], placed["employer_name"]
        if grid_id is None:
            raise InputError(f"{employer_name} 尚未落入网格（待定位），请改为注明事件发生的网格编码")
    else:
        gen = _active_generation_id(session)
        grid_id = session.execute(sa.text("SELECT id FROM grid WHERE generation_id = :g AND code = :c"),
                                  {"g": gen, "c": grid.strip()}).scalar()
        if grid_id is None:
            raise NotFound(f"网格 {grid[:30]!r} 不存在（或不在您负责的范围内）")
    incident_id = session.execute(sa.text("""
        INSERT INTO incident (kind, title, summary, people, grid_id, employer_id, employer_name, occurred_at, raised_by)
        VALUES (:kind, :title, :summary, :people, :grid, :employer, :name, :at, :actor) RETURNING id"""),
        {"kind": kind, "title": title, "summary": summary, "people": people, "grid": grid_id,
         "employer": employer_id, "name": employer_name, "at": occurred, "actor": actor}).scalar()
    chain = incident_chain(session, incident_id)
    if employer_id is not None and kind == "collective_petition":
        # A collective petition puts the employer under key supervision at once (DOMAIN.md).
        from gisgrid.analysis.risk import RiskRules
        from gisgrid.supervision.record import refresh_flags

        refresh_flags(session, rules=RiskRules(), employer_ids=[employer_id])
    record_audit(session, actor, "incident.raise", "incident", str(incident_id),
                 after={"kind": kind, "grid": chain[0]["code"] if chain else None, "people": people,
                        "informed": [s["name"] for level in chain for s in level["staff"]]})
    return {"id": incident_id, "kind": kind, "grid_code": chain[0]["code"] if chain else None,
            "chain": [{"code": c["code"], "name": c["name"], "staff": [s["name"] for s in c["staff"]]} for c in chain]}


def _incident(session: Session, incident_id: int, lock: bool = False) -> dict:
    row = session.execute(sa.text("SELECT id, status, title FROM incident WHERE id = :id"
                                  + (" FOR UPDATE" if lock else "")), {"id": incident_id}).mappings().first()
    if row is None:
        raise NotFound(f"应急事件 {incident_id} 不存在")
    return dict(row)


def add_note(session: Session, incident_id: int, note: str, *, actor: str) -> dict:
    """A progress note on an open incident."""
    incident = _incident(session, incident_id, lock=True)
    if incident["status"] == "closed":
        raise Conflict(f"应急事件 {incident_id} 已办结，不能再添加进展")
    note = _text(note, "处置进展", 2000, required=True)
    note_id = session.execute(sa.text("INSERT INTO incident_note (incident_id, note, actor) VALUES (:i, :n, :a) "
                                      "RETURNING id"), {"i": incident_id, "n": note, "a": actor}).scalar()
    record_audit(session, actor, "incident.note", "incident", str(incident_id), after={"note": note[:200]})
    return {"id": note_id, "incident_id": incident_id}


def close_incident(session: Session, incident_id: int, result: str, *, actor: str) -> dict:
    """Close an incident with its result, which the chain sees at the top of its pages for a while."""
    incident = _incident(session, incident_id, lock=True)
    if incident["status"] == "closed":
        raise Conflict(f"应急事件 {incident_id} 已办结")
    result = _text(result, "处置结果", 4000, required=True)
    session.execute(sa.text("UPDATE incident SET status = 'closed', result = :r, closed_at = now(), closed_by = :a "
                            "WHERE id = :id"), {"r": result, "a": actor, "id": incident_id})
    session.execute(sa.text("INSERT INTO incident_note (incident_id, kind, note, actor) VALUES (:i, 'result', :n, :a)"),
                    {"i": incident_id, "n": result, "a": actor})
    record_audit(session, actor, "incident.close", "incident", str(incident_id), before={"status": "open"},
                 after={"status": "closed", "result": result[:500]})
    return {"id": incident_id, "status": "closed"}


def acknowledge(session: Session, incident_id: int, *, username: str, label: str, staff_id: int | None) -> bool:
    """Record that ``username`` has read the incident (已阅); False when already recorded."""
    _incident(session, incident_id)
    added = session.execute(sa.text(
        "INSERT INTO incident_ack (incident_id, username, label, staff_id) VALUES (:i, :u, :l, :s) "
        "ON CONFLICT DO NOTHING RETURNING incident_id"),
        {"i": incident_id, "u": username, "l": label, "s": staff_id}).first() is not None
    if added:
        record_audit(session, label, "incident.ack", "incident", str(incident_id))
    return added


def incident_chain(session: Session, incident_id: int) -> list[dict]:
    """The incident's grid and every grid above it, each with its 四定 staff of today and
    whether they (through their account) have read it."""
    rows = session.execute(sa.text("""
        WITH RECURSIVE chain AS (
            SELECT g.id, g.code, g.name, g.level, g.parent_id, g.identity, 0 AS depth
            FROM incident i JOIN grid g ON g.id = i.grid_id WHERE i.id = :i
            UNION ALL
            SELECT p.id, p.code, p.name, p.level, p.parent_id, p.identity, c.depth + 1
            FROM grid p JOIN chain c ON p.id = c.parent_id
        )
        SELECT c.id, c.code, c.name, c.level, c.depth, s.id AS staff_id, s.name AS staff_name, s.role,
               (SELECT min(a.at) FROM incident_ack a WHERE a.incident_id = :i AND a.staff_id = s.id) AS read_at
        FROM chain c
        LEFT JOIN staff_grid sg ON sg.grid_identity = c.identity
             AND (sg.valid_from IS NULL OR sg.valid_from <= :today) AND (sg.valid_to IS NULL OR sg.valid_to >= :today)
        LEFT JOIN staff s ON s.id = sg.staff_id
        ORDER BY c.depth, s.role, s.name"""), {"i": incident_id, "today": clock.today()}).mappings().all()
    chain: dict[int, dict] = {}
    for r in rows:
        level = chain.setdefault(r["id"], {"code": r["code"], "name": r["name"], "level": r["level"], "staff": []})
        if r["staff_id"] is not None:
            level["staff"].append({"id": r["staff_id"], "name": r["staff_name"], "role": r["role"],
                                   "read_at": r["read_at"]})
    return list(chain.values())


def incident_detail(session: Session, incident_id: int) -> dict:
    row = session.execute(sa.text("""
        SELECT i.*, g.code AS grid_code, g.name AS grid_name, e.credit_code
        FROM incident i LEFT JOIN grid g ON g.id = i.grid_id LEFT JOIN employer e ON e.id = i.employer_id
        WHERE i.id = :id"""), {"id": incident_id}).mappings().first()
    if row is None:
        raise NotFound(f"应急事件 {incident_id} 不存在")
    detail = dict(row)
    detail["notes"] = [dict(r) for r in session.execute(sa.text(
        "SELECT kind, note, actor, at FROM incident_note WHERE incident_id = :i ORDER BY id"),
        {"i": incident_id}).mappings()]
    detail["chain"] = incident_chain(session, incident_id)
    detail["readers"] = [dict(r) for r in session.execute(sa.text(
        "SELECT username, label, at FROM incident_ack WHERE incident_id = :i ORDER BY at"),
        {"i": incident_id}).mappings()]
    return detail


def list_incidents(session: Session, *, status: str | None = None, grid: str | None = None,
                   limit: int = 200) -> list[dict]:
    """Incidents of the user's grids (row-level security), open ones first, newest first."""
    if status is not None and status not in STATUS:
        raise InputError(f"事件状态为 {status[:20]!r}；应为 open（处置中）或 closed（已办结）")
    rows = session.execute(sa.text("""
        WITH RECURSIVE within AS (
            SELECT g.id FROM grid g WHERE CAST(:grid AS text) IS NOT NULL AND g.code = :grid
              AND g.generation_id = (SELECT id FROM generation WHERE status = 'active')
            UNION SELECT c.id FROM grid c JOIN within w ON c.parent_id = w.id
        )
        SELECT i.id, i.kind, i.title, i.people, i.status, i.occurred_at, i.raised_at, i.raised_by, i.closed_at,
               left(i.result, 200) AS result, i.employer_name, g.code AS grid_code, g.name AS grid_name,
               (SELECT count(*) FROM incident_note n WHERE n.incident_id = i.id AND n.kind = 'progress') AS notes
        FROM incident i LEFT JOIN grid g ON g.id = i.grid_id
        WHERE (CAST(:status AS text) IS NULL OR i.status = :status)
          AND (CAST(:grid AS text) IS NULL OR i.grid_id IN (SELECT id FROM within))
        ORDER BY (i.status = 'open') DESC, i.raised_at DESC LIMIT :limit"""),
        {"status": status, "grid": grid, "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def banner(session: Session, username: str | None = None, limit: int = 5) -> dict:
    """What the top of every page shows: open incidents the user sees (unread ones marked) and
    those closed in the last :data:`RESULT_SHOWN_DAYS` days with their result."""
    rows = session.execute(sa.text("""
        SELECT i.id, i.kind, i.title, i.status, left(i.result, 120) AS result, i.raised_at, g.name AS grid_name,
               EXISTS (SELECT 1 FROM incident_ack a WHERE a.incident_id = i.id AND a.username = :u) AS read,
               count(*) FILTER (WHERE i.status = 'open') OVER () AS open_total
        FROM incident i LEFT JOIN grid g ON g.id = i.grid_id
        WHERE i.status = 'open' OR i.closed_at > now() - make_interval(days => :days)
        ORDER BY (i.status = 'open') DESC, i.raised_at DESC LIMIT :limit"""),
        {"u": username, "days": RESULT_SHOWN_DAYS, "limit": limit}).mappings().all()
    return {"open_total": rows[0]["open_total"] if rows else 0, "rows": [dict(r) for r in rows]}

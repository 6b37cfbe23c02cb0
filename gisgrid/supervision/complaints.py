"""Complaints (投诉举报): entered by staff or by workers, placed, routed to their grid, on the clock.

A complaint is placed by its employer's point (the employer named by credit code), by a given
point, or by the offline gazetteer from its address (grid names in the address), and routed
to the finest grid of the active generation by the employers' rule (gisgrid.analysis.assign):
the finest grid that covers the point, the lowest code on a shared edge (a tie). Its grid's
四定 staff and everyone above see it (the scope of gisgrid.access.scope covers descendants).
It must be accepted or refused, with the reason, within 5 working days of receipt
(DOMAIN.md; gisgrid.supervision.workdays keeps the clock).
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.supervision.workdays import close_deadline, set_deadline

#: Working days to accept or refuse a complaint (DOMAIN.md).
ACCEPT_DAYS = 5
STATUS_LABELS = {"received": "待受理", "accepted": "已受理", "refused": "不予受理"}
LOCATED_LABELS = {"employer": "按用人单位位置", "point": "按给定坐标", "gazetteer": "按地址匹配网格名称",
                  "none": "未能定位"}
_RECEIPT_CHARS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L

# The finest grids covering the point, lowest code first (as gisgrid.analysis.assign).
_ROUTE = """
SELECT g.id, g.code, count(*) OVER () AS n
FROM grid g
WHERE g.generation_id = :gen AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490))
  AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = g.id)
ORDER BY g.code LIMIT 1
"""


def _text(value: str | None, label: str, limit: int, required: bool = False) -> str | None:
    value = (value or "").strip()
    if "\x00" in value:
        raise InputError(f"{label}含有不可见的控制字符（NUL），请重新输入")
    if required and not value:
        raise InputError(f"请填写{label}")
    if len(value) > limit:
        raise InputError(f"{label}最多 {limit} 个字符（现 {len(value)} 个）")
    return value or None


def _active_generation_id(session: Session) -> int | None:
    return session.execute(sa.text("SELECT id FROM generation WHERE status = 'active'")).scalar()


def _gazetteer(session: Session, gen: int):
    from gisgrid.employers.geocode import GazetteerEntry, GazetteerGeocoder

    rows = session.execute(sa.text("""
        SELECT g.code, g.name, g.level, p.code AS parent_code,
               ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM grid g LEFT JOIN grid p ON p.id = g.parent_id WHERE g.generation_id = :gen"""), {"gen": gen}).all()
    top = min((r.level for r in rows), default=1)
    return GazetteerGeocoder([GazetteerEntry(r.code, r.name, r.level, r.parent_code, r.lon, r.lat) for r in rows],
                             roots=[r.name for r in rows if r.level == top])


def place_complaint(session: Session, *, employer: str | None = None, lon: float | None = None,
                    lat: float | None = None, address: str | None = None) -> dict:
    """Where a complaint belongs: point, grid (active generation), tie, how it was placed."""
    gen = _active_generation_id(session)
    placed = {"generation_id": gen, "grid_id": None, "grid_code": None, "tie": False, "lon": None, "lat": None,
              "located_by": "none", "employer_id": None, "employer_name": None}
    if employer:
        key = employer.strip()
        where = "e.id = :id" if key.startswith("#") and key[1:].isdigit() else "e.credit_code = :code"
        row = session.execute(sa.text(f"""
            SELECT e.id, e.name, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, g.id AS grid_id, g.code AS grid_code,
                   coalesce(a.tie, false) AS tie
            FROM employer e
            LEFT JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
            LEFT JOIN grid g ON g.id = a.grid_id
            WHERE {where}"""), {"id": int(key[1:]) if key.startswith("#") and key[1:].isdigit() else None,
                                "code": key.upper(), "gen": gen or -1}).mappings().first()
        if row is None:
            raise NotFound(f"用人单位 {key[:30]!r} 不存在（或不在您负责的网格内）；请填写统一社会信用代码或 #编号，"
                           "或改用地址、坐标")
        placed.update(employer_id=row["id"], employer_name=row["name"])
        if row["grid_id"] is not None:
            placed.update(grid_id=row["grid_id"], grid_code=row["grid_code"], tie=row["tie"], lon=row["lon"],
                          lat=row["lat"], located_by="employer")
            return placed
        if row["lon"] is not None:
            lon, lat = row["lon"], row["lat"]
    if lon is not None or lat is not None:
        if lon is None or lat is None:
            raise InputError("坐标须同时给出经度和纬度")
        if not (73 <= lon <= 136 and 3 <= lat <= 54):
            raise InputError(f"坐标 ({lon}, {lat}) 不在中国境内；应为 CGCS2000 经纬度（经度 73–136，纬度 3–54），"
                             "注意经纬度顺序")
        placed.update(lon=lon, lat=lat, located_by="point")
        if gen is not None:
            hit = session.execute(sa.text(_ROUTE), {"gen": gen, "lon": lon, "lat": lat}).mappings().first()
            if hit is not None:
                placed.update(grid_id=hit["id"], grid_code=hit["code"], tie=hit["n"] > 1)
        return placed
    if address and gen is not None:
        found = _gazetteer(session, gen).geocode(address)
        if found is not None and found.grid_code:
            grid_id = session.execute(sa.text("SELECT id FROM grid WHERE generation_id = :g AND code = :c"),
                                      {"g": gen, "c": found.grid_code}).scalar()
            placed.update(grid_id=grid_id, grid_code=found.grid_code, lon=found.lon, lat=found.lat,
                          located_by="gazetteer")
    return placed


def add_complaint(session: Session, *, received_on: dt.date, summary: str, actor: str, channel: str = "staff",
                  employer: str | None = None, employer_name: str | None = None, lon: float | None = None,
                  lat: float | None = None, address: str | None = None, complainant: str | None = None,
                  phone: str | None = None) -> dict:
    """Enter a complaint: placed, routed, with its acceptance clock. Returns id, receipt, grid, accept_by."""
    today = clock.today()
    if not dt.date(2000, 1, 1) <= received_on <= today:
        raise InputError(f"收到日期为 {received_on.isoformat()}；应在 2000-01-01 至今天（{today.isoformat()}）之间")
    if channel not in ("staff", "public"):
        raise InputError(f"渠道为 {channel!r}；应为 staff 或 public")
    summary = _text(summary, "投诉内容", 2000, required=True)
    employer_name = _text(employer_name, "被投诉单位名称", 200)
    address = _text(address, "地址", 300)
    complainant = _text(complainant, "投诉人姓名", 50)
    phone = _text(phone, "联系电话", 40)
    if phone and not all(c.isdigit() or c in "-+ ()" for c in phone):
        raise InputError(f"联系电话为 {phone[:20]!r}；只能包含数字、空格和 -+()")
    placed = place_complaint(session, employer=employer, lon=lon, lat=lat, address=address)
    complaint_id = session.execute(sa.text("SELECT nextval(pg_get_serial_sequence('complaint', 'id'))")).scalar()
    receipt = "TS" + received_on.strftime("%Y%m%d") + "-" + "".join(secrets.choice(_RECEIPT_CHARS) for _ in range(8))
    # No RETURNING: a worker on the public page may add a complaint but never read one back
    # (row-level security, migration 0010); the id comes from the sequence first.
    session.execute(sa.text("""
        INSERT INTO complaint (id, receipt, channel, received_on, employer_id, employer_name, address, summary,
                               complainant, phone, geom, located_by, generation_id, grid_id, tie, entered_by)
        VALUES (:id, :receipt, :channel, :received, :employer_id, :employer_name, :address, :summary,
                :complainant, :phone,
                CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) END,
                :located_by, :gen, :grid, :tie, :actor)"""),
        {"id": complaint_id, "receipt": receipt, "channel": channel, "received": received_on,
         "employer_id": placed["employer_id"], "employer_name": employer_name or placed["employer_name"],
         "address": address, "summary": summary, "complainant": complainant, "phone": phone,
         "lon": placed["lon"], "lat": placed["lat"], "located_by": placed["located_by"],
         "gen": placed["generation_id"], "grid": placed["grid_id"], "tie": placed["tie"], "actor": actor})
    deadline = set_deadline(session, "complaint", complaint_id, "accept", received_on, ACCEPT_DAYS)
    record_audit(session, actor, "complaint.add", "complaint", str(complaint_id),
                 after={"channel": channel, "grid": placed["grid_code"], "located_by": placed["located_by"],
                        "received_on": received_on})
    _recount(session, placed["employer_id"])
    return {"id": complaint_id, "receipt": receipt, "grid_code": placed["grid_code"], "tie": placed["tie"],
            "located_by": placed["located_by"], "received_on": received_on.isoformat(),
            "accept_by": deadline["due"].isoformat() if deadline["due"] else None,
            "accept_by_explanation": deadline["explanation"]}


def decide_complaint(session: Session, complaint_id: int, decision: str, *, actor: str, reason: str | None = None,
                     on: dt.date | None = None) -> dict:
    """Accept or refuse (with the reason) a complaint still waiting; stops its acceptance clock."""
    on = on or clock.today()
    if decision not in ("accept", "refuse"):
        raise InputError(f"处理结果为 {decision!r}；应为 accept（受理）或 refuse（不予受理）")
    reason = _text(reason, "不予受理的理由", 500, required=decision == "refuse")
    row = session.execute(sa.text("SELECT status, received_on, employer_id FROM complaint WHERE id = :id FOR UPDATE"),
                          {"id": complaint_id}).mappings().first()
    if row is None:
        raise NotFound(f"投诉 {complaint_id} 不存在")
    if row["status"] != "received":
        raise Conflict(f"投诉 {complaint_id} 已{STATUS_LABELS[row['status']]}，不能再次处理")
    if not row["received_on"] <= on <= clock.today():
        raise InputError(f"处理日期为 {on.isoformat()}；应在收到日期 {row['received_on'].isoformat()} 至今天之间")
    status = "accepted" if decision == "accept" else "refused"
    session.execute(sa.text("UPDATE complaint SET status = :s, decided_on = :on, decided_by = :a, "
                            "refusal_reason = :r WHERE id = :id"),
                    {"s": status, "on": on, "a": actor, "r": reason, "id": complaint_id})
    close_deadline(session, "complaint", complaint_id, "accept", on)
    record_audit(session, actor, f"complaint.{decision}", "complaint", str(complaint_id),
                 before={"status": row["status"]}, after={"status": status, "on": on, "reason": reason})
    if status == "refused":
        _recount(session, row["employer_id"])
    return {"id": complaint_id, "status": status, "decided_on": on.isoformat()}


def _recount(session: Session, employer_id: int | None) -> None:
    """The employer's complaints of the last 12 months, its risk and key flags, from the record
    (gisgrid.supervision.record): a second complaint puts it under key supervision at once."""
    if employer_id is not None:
        from gisgrid.analysis.risk import RiskRules
        from gisgrid.supervision.record import refresh_flags

        refresh_flags(session, rules=RiskRules(), employer_ids=[employer_id])


_LIST = """
WITH RECURSIVE within AS (
    SELECT g.id FROM grid g WHERE CAST(:grid AS text) IS NOT NULL AND g.code = :grid
      AND g.generation_id = (SELECT id FROM generation WHERE status = 'active')
    UNION SELECT c.id FROM grid c JOIN within w ON c.parent_id = w.id
)
SELECT c.id, c.receipt, c.channel, c.received_on, c.status, c.decided_on, c.employer_name, c.address,
       left(c.summary, 200) AS summary, c.located_by, c.tie, g.code AS grid_code, g.name AS grid_name,
       d.due AS accept_by, d.unknown_year,
       (c.status = 'received' AND d.due < :on) AS overdue
FROM complaint c
LEFT JOIN grid g ON g.id = c.grid_id
LEFT JOIN deadline d ON d.subject = 'complaint' AND d.subject_id = c.id AND d.kind = 'accept'
WHERE (CAST(:grid AS text) IS NULL OR c.grid_id IN (SELECT id FROM within))
  AND (NOT :overdue OR (c.status = 'received' AND d.due < :on))
ORDER BY (c.status = 'received') DESC, d.due NULLS FIRST, c.id DESC
LIMIT :limit
"""


def list_complaints(session: Session, *, grid: str | None = None, overdue: bool = False, on: dt.date | None = None,
                    limit: int = 500) -> list[dict]:
    """Complaints (of ``grid`` and below), open ones first by due date; ``overdue`` on date ``on``."""
    rows = session.execute(sa.text(_LIST), {"grid": grid, "overdue": overdue, "on": on or clock.today(),
                                            "limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def complaint_detail(session: Session, complaint_id: int) -> dict:
    """One complaint with its grid, employer and the acceptance clock's explanation."""
    row = session.execute(sa.text("""
        SELECT c.*, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, g.code AS grid_code, g.name AS grid_name,
               e.credit_code, d.due AS accept_by, d.computation AS accept_by_computation,
               k.id AS case_id, k.number AS case_number
        FROM complaint c LEFT JOIN case_file k ON k.complaint_id = c.id
        LEFT JOIN grid g ON g.id = c.grid_id LEFT JOIN employer e ON e.id = c.employer_id
        LEFT JOIN deadline d ON d.subject = 'complaint' AND d.subject_id = c.id AND d.kind = 'accept'
        WHERE c.id = :id"""), {"id": complaint_id}).mappings().first()
    if row is None:
        raise NotFound(f"投诉 {complaint_id} 不存在")
    return {k: v for k, v in dict(row).items() if k != "geom"}


def complaint_progress(session: Session, receipt: str) -> dict | None:
    """What the public page shows for a receipt number: no personal field, nobody else's."""
    receipt = (receipt or "").strip().upper()
    if not receipt or len(receipt) > 20:
        return None
    row = session.execute(sa.text("SELECT * FROM gisgrid_complaint_progress(:r)"), {"r": receipt}).mappings().first()
    return dict(row) if row else None

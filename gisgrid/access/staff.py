"""四定 staff: who answers for which grid, with duty, task and from/to dates.

An inspector's account is tied to a staff member, so assigning staff here changes what that
account sees on its next request (gisgrid.access.scope). Every change is audited.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.access.scope import Scope
from gisgrid.errors import Forbidden, InputError, NotFound
from gisgrid.labels import ROLE_LABELS


def staff_detail(session: Session, staff_id: int) -> dict:
    """A staff member with every assignment (grid of the active generation, dates, in force today)."""
    person = session.execute(sa.text("SELECT id, name, role, phone, unit FROM staff WHERE id = :id"),
                             {"id": staff_id}).mappings().first()
    if person is None:
        raise NotFound(f"staff member {staff_id} does not exist", zh=f"人员 {staff_id} 不存在")
    rows = session.execute(sa.text("""
        SELECT sg.id AS assignment_id, g.id AS grid_id, g.code, g.name, g.level, sg.duty, sg.task,
               sg.valid_from, sg.valid_to,
               (coalesce(sg.valid_from, '-infinity') <= :today AND coalesce(sg.valid_to, 'infinity') >= :today)
                   AS current,
               (SELECT count(*) FROM assignment a WHERE a.generation_id = g.generation_id AND a.grid_id IN (
                    WITH RECURSIVE t AS (SELECT g.id UNION SELECT c.id FROM grid c JOIN t ON c.parent_id = t.id)
                    SELECT id FROM t)) AS employers
        FROM staff_grid sg
        JOIN grid g ON g.identity = sg.grid_identity
        JOIN generation n ON n.id = g.generation_id AND n.status = 'active'
        WHERE sg.staff_id = :id ORDER BY current DESC, sg.valid_from DESC NULLS LAST, g.code"""),
        {"id": staff_id, "today": clock.today()}).mappings().all()
    return {**person, "assignments": [dict(r) for r in rows]}


def staff_area(session: Session, scope: Scope, staff_id: int | None) -> frozenset[int] | None:
    """The grids (ids, active generation) whose 四定 staff this user may assign and end.

    ``None``: every grid (``staff.manage``, the admins). A full-time inspector (专职监察员, with
    ``staff.area``): every grid below the grids they answer for today — a street's inspector
    staffs its communities; their own grid is staffed from the level above. Part-time
    inspectors and coordinators: none.
    """
    if scope.may("staff.manage"):
        return None
    if not scope.may("staff.area") or staff_id is None or not scope.own_codes:
        return frozenset()
    role = session.execute(sa.text("SELECT role FROM staff WHERE id = :id"), {"id": staff_id}).scalar()
    if role != "full_time":
        return frozenset()
    rows = session.execute(sa.text("""
        WITH RECURSIVE below AS (
            SELECT c.id FROM grid o JOIN grid c ON c.parent_id = o.id
            WHERE o.code = ANY(:own) AND o.generation_id = (SELECT id FROM generation WHERE status = 'active')
            UNION SELECT c.id FROM grid c JOIN below b ON c.parent_id = b.id)
        SELECT id FROM below"""), {"own": list(scope.own_codes)}).scalars()
    return frozenset(rows)


def require_staff_area(area: frozenset[int] | None, grid_id: int, grid_code: str) -> None:
    """Forbidden unless ``grid_id`` is in ``area`` (from :func:`staff_area`), in Chinese."""
    if area is None or grid_id in area:
        return
    if not area:
        raise Forbidden("只有系统管理员和专职监察员（在本人负责区域内）可以配置四定人员")
    raise Forbidden(f"网格 {grid_code} 的人员由上级网格或系统管理员配置；"
                    "专职监察员可为本人负责网格的下级网格配置人员")


def assignment_grid(session: Session, assignment_id: int) -> dict:
    """The grid (id, code; active generation) of assignment ``assignment_id``; NotFound if none."""
    row = session.execute(sa.text("""
        SELECT g.id, g.code FROM staff_grid sg JOIN grid g ON g.identity = sg.grid_identity
        JOIN generation n ON n.id = g.generation_id AND n.status = 'active' WHERE sg.id = :id"""),
        {"id": assignment_id}).mappings().first()
    if row is None:
        raise NotFound(f"任职记录 {assignment_id} 不存在")
    return dict(row)


def assign_staff(session: Session, grid_code: str, *, actor: str, staff_id: int | None = None,
                 name: str | None = None, role: str = "coordinator", phone: str | None = None,
                 duty: str | None = None, task: str | None = None, valid_from: dt.date | None = None,
                 valid_to: dt.date | None = None) -> dict:
    """Give grid ``grid_code`` (active generation) a staff member: an existing one (``staff_id``)
    or a new one (``name``, ``role``, ``phone``). Returns the assignment."""
    grid = session.execute(sa.text(
        "SELECT g.code, g.identity FROM grid g JOIN generation n ON n.id = g.generation_id "
        "WHERE n.status = 'active' AND g.code = :c"), {"c": grid_code}).mappings().first()
    if grid is None:
        raise NotFound(f"grid {grid_code!r} is not in the active generation")
    valid_from = valid_from or clock.today()
    if valid_to is not None and valid_to < valid_from:
        raise InputError(f"任职截止日期 {valid_to} 早于起始日期 {valid_from}")
    for label, text, limit in (("职责", duty, 500), ("任务", task, 500), ("姓名", name, 50), ("电话", phone, 40)):
        if text is not None and len(text) > limit:
            raise InputError(f"{label}最多 {limit} 个字符")
    if staff_id is None:
        if not (name or "").strip():
            raise InputError("请填写人员姓名，或选择已有人员")
        if role not in ROLE_LABELS:
            raise InputError(f"职务为 {role!r}；应为 {'、'.join(f'{k}（{v}）' for k, v in ROLE_LABELS.items())} 之一")
        staff_id = session.execute(sa.text(
            "INSERT INTO staff (name, role, phone) VALUES (:n, :r, :p) RETURNING id"),
            {"n": name.strip(), "r": role, "p": (phone or "").strip() or None}).scalar_one()
    elif not session.execute(sa.text("SELECT 1 FROM staff WHERE id = :id"), {"id": staff_id}).first():
        raise NotFound(f"staff member {staff_id} does not exist", zh=f"人员 {staff_id} 不存在")
    assignment_id = session.execute(sa.text(
        "INSERT INTO staff_grid (staff_id, grid_identity, duty, task, valid_from, valid_to) "
        "VALUES (:s, :g, :d, :t, :f, :to) RETURNING id"),
        {"s": staff_id, "g": grid["identity"], "d": duty or None, "t": task or None, "f": valid_from,
         "to": valid_to}).scalar_one()
    after = {"grid": grid_code, "staff_id": staff_id, "duty": duty, "task": task, "from": valid_from, "to": valid_to}
    record_audit(session, actor, "staff.assign", "staff_grid", str(assignment_id), after=after)
    return {"assignment_id": assignment_id, **after}


def end_assignment(session: Session, assignment_id: int, *, actor: str, on: dt.date | None = None) -> None:
    """End an assignment on ``on`` (default yesterday: from today the grid is no longer theirs)."""
    on = on or clock.today() - dt.timedelta(days=1)
    row = session.execute(sa.text("SELECT valid_from, valid_to FROM staff_grid WHERE id = :id"),
                          {"id": assignment_id}).mappings().first()
    if row is None:
        raise NotFound(f"assignment {assignment_id} does not exist")
    # An assignment ended before it began (made by mistake today) keeps its row for the
    # record; its range is then empty, and it never was in force.
    session.execute(sa.text("UPDATE staff_grid SET valid_to = :to WHERE id = :id"), {"to": on, "id": assignment_id})
    record_audit(session, actor, "staff.end", "staff_grid", str(assignment_id),
                 before={"to": row["valid_to"]}, after={"to": on})

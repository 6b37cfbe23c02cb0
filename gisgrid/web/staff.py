"""四定 in the web: a staff member's page, assigning staff to a grid and ending an assignment."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from gisgrid.access.staff import assign_staff, end_assignment, staff_detail
from gisgrid.errors import InputError
from gisgrid.labels import ROLE_LABELS
from gisgrid.web.auth import actor_label, require_grid_code
from gisgrid.web.db import get_session
from gisgrid.web.params import CODE_CHARS, check_text, shown

bp = Blueprint("staff", __name__)


@bp.get("/staff/<int:staff_id>")
def staff_page(staff_id: int):
    """One person: their grids (in force and past) and the employers they answer for."""
    session = get_session()
    person = staff_detail(session, staff_id)
    if not g.scope.everything and not any(g.scope.sees_grid(a["grid_id"]) for a in person["assignments"]):
        abort(404)  # an inspector sees the staff of their own grids only
    return render_template("staff.html", person=person, role_labels=ROLE_LABELS)


def _date(name: str, what: str) -> dt.date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{what}为 {shown(raw)}；应为 年-月-日，如 2026-12-01") from None


@bp.post("/grids/<code>/staff")
def add_staff(code: str):
    session = get_session()
    code = check_text(code, "网格编码", CODE_CHARS)
    require_grid_code(session, code)
    raw_id = (request.form.get("staff_id") or "").strip()
    if raw_id and not raw_id.isdigit():
        raise InputError(f"人员编号为 {shown(raw_id)}；应为整数")
    try:
        assign_staff(session, code, actor=actor_label(), staff_id=int(raw_id) if raw_id else None,
                     name=request.form.get("name"), role=request.form.get("role", "coordinator"),
                     phone=request.form.get("phone"), duty=request.form.get("duty"), task=request.form.get("task"),
                     valid_from=_date("valid_from", "任职起始日期"), valid_to=_date("valid_to", "任职截止日期"))
    except Exception:
        session.rollback()
        raise
    session.commit()
    return redirect(url_for("maps.grid_page", code=code) + "#staff", 303)


@bp.post("/staff/assignments/<int:assignment_id>/end")
def end_staff(assignment_id: int):
    session = get_session()
    code = request.form.get("grid") or ""
    if request.form.get("confirm") != "1":
        raise InputError("卸任需确认：请在网格页面人员表中点击“卸任”（表单字段 confirm=1）")
    try:
        end_assignment(session, assignment_id, actor=actor_label(), on=_date("valid_to", "任职截止日期"))
    except Exception:
        session.rollback()
        raise
    session.commit()
    target = url_for("maps.grid_page", code=code) + "#staff" if code.isdigit() else url_for("maps.index")
    return redirect(target, 303)

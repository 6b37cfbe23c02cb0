"""四定 in the web: a staff member's page, assigning staff to a grid and ending an assignment."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from gisgrid.access.staff import (assign_staff, assignment_grid, end_assignment, require_staff_area, staff_area,
                                  staff_detail)
from gisgrid.errors import InputError, NotFound
from gisgrid.labels import ROLE_LABELS
from gisgrid.web.auth import actor_label, require_grid_code
from gisgrid.web.db import commit_change, get_session
from gisgrid.web.params import CODE_CHARS, check_text, form_date, shown

bp = Blueprint("staff", __name__)


@bp.get("/staff/<int:staff_id>")
def staff_page(staff_id: int):
    """One person: their grids (in force and past) and the employers they answer for."""
    session = get_session()
    person = staff_detail(session, staff_id)
    if not g.scope.everything and not any(g.scope.sees_grid(a["grid_id"]) for a in person["assignments"]):
        abort(404)  # an inspector sees the staff of their own grids only
    return render_template("staff.html", person=person, role_labels=ROLE_LABELS)


def _area() -> frozenset[int] | None:
    """The grids whose staff this user may change (once per request)."""
    if "staff_area" not in g:
        g.staff_area = staff_area(get_session(), g.scope, g.user.staff_id)
    return g.staff_area


@bp.app_context_processor
def _staff_forms() -> dict:
    def may_assign_staff(grid_id: int) -> bool:
        if g.get("scope") is None or g.get("user") is None or not g.scope.may("staff.area"):
            return False
        area = _area()
        return area is None or grid_id in area

    return {"may_assign_staff": may_assign_staff}


@bp.post("/grids/<code>/staff")
def add_staff(code: str):
    session = get_session()
    code = check_text(code, "网格编码", CODE_CHARS)
    grid_id = require_grid_code(session, code)  # 404 outside the scope
    require_staff_area(_area(), grid_id, code)  # 403: seen, but staffed from above
    raw_id = (request.form.get("staff_id") or "").strip()
    if raw_id and not raw_id.isdigit():
        raise InputError(f"人员编号为 {shown(raw_id)}；应为整数")
    valid_from, valid_to = form_date("valid_from", "任职起始日期"), form_date("valid_to", "任职截止日期")
    commit_change(lambda: assign_staff(
        session, code, actor=actor_label(), staff_id=int(raw_id) if raw_id else None,
        name=request.form.get("name"), role=request.form.get("role", "coordinator"), phone=request.form.get("phone"),
        duty=request.form.get("duty"), task=request.form.get("task"), valid_from=valid_from, valid_to=valid_to))
    return redirect(url_for("maps.grid_page", code=code) + "#staff", 303)


@bp.post("/staff/assignments/<int:assignment_id>/end")
def end_staff(assignment_id: int):
    session = get_session()
    code = request.form.get("grid") or ""
    if request.form.get("confirm") != "1":
        raise InputError("卸任需确认：请在网格页面人员表中点击“卸任”（表单字段 confirm=1）")
    grid = assignment_grid(session, assignment_id)
    if not g.scope.sees_grid(grid["id"]):
        raise NotFound(f"任职记录 {assignment_id} 不存在")
    require_staff_area(_area(), grid["id"], grid["code"])
    on = form_date("valid_to", "任职截止日期")
    commit_change(lambda: end_assignment(session, assignment_id, actor=actor_label(), on=on))
    target = url_for("maps.grid_page", code=code) + "#staff" if code.isdigit() else url_for("maps.index")
    return redirect(target, 303)

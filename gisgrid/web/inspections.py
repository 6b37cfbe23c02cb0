"""Inspections in the web: the patrols and written reviews of the user's grids (row-level
security, migration 0011), recording one from an employer's page with its rectification
orders, each inspection's page, and the orders' list with met/refused
(gisgrid.supervision.inspections decides every rule).
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from gisgrid import clock
from gisgrid.employers.queries import find_employer
from gisgrid.errors import InputError, NotFound
from gisgrid.labels import ROLE_LABELS
from gisgrid.supervision import inspections as domain
from gisgrid.supervision.items import INSPECTION_KINDS, ITEMS, RECTIFICATION_STATUS, RESULTS
from gisgrid.web.auth import actor_label, current_user, require_employer, require_grid_code
from gisgrid.web.db import commit_change, get_session
from gisgrid.web.params import CODE_CHARS, arg_text, check_text, form_date

bp = Blueprint("inspections", __name__)


def _words() -> dict:
    return {"kinds": INSPECTION_KINDS, "items": ITEMS, "results": RESULTS, "rect_status": RECTIFICATION_STATUS,
            "role_labels": ROLE_LABELS}


def _grid_arg(session) -> str | None:
    grid = arg_text("grid", "网格编码", 32)
    if grid is not None:
        require_grid_code(session, check_text(grid, "网格编码", CODE_CHARS))
    return grid


@bp.get("/inspections")
def inspection_list():
    session = get_session()
    grid = _grid_arg(session)
    kind = arg_text("kind", "检查类型", 10)
    rows = domain.list_inspections(session, grid=grid, kind=kind)
    return render_template("inspections.html", rows=rows, grid=grid, kind=kind, **_words())


@bp.get("/inspections/due")
def inspection_due():
    from flask import current_app

    session = get_session()
    grid = _grid_arg(session)
    report = domain.due_inspections(session, scheme=current_app.config["GISGRID_SETTINGS"].grade_scheme, grid=grid)
    return render_template("inspections_due.html", report=report, grid=grid, **_words())


@bp.get("/rectifications")
def rectification_list():
    session = get_session()
    grid = _grid_arg(session)
    status = arg_text("status", "整改状态", 10)
    overdue = request.args.get("overdue") == "1"
    rows = domain.list_rectifications(session, grid=grid, status=status, overdue=overdue)
    return render_template("rectifications.html", rows=rows, grid=grid, status=status, overdue=overdue,
                           today=clock.today(), **_words())


def _employer(session, key: str) -> dict:
    from gisgrid.web.employers_api import employer_key

    record = find_employer(session, employer_key(key), 12)
    require_employer(session, record["id"], key)  # 404 outside the scope
    return record


@bp.route("/employers/<key>/inspections/new", methods=["GET", "POST"])
def inspection_new(key: str):
    session = get_session()
    record = _employer(session, key)
    if request.method == "GET":
        grid_id = require_grid_code(session, record["grid_code"]) if record["grid_code"] else None
        return render_template("inspection_new.html", e=record, today=clock.today().isoformat(),
                               choices=domain.staff_choices(session, grid_id),
                               own_staff=getattr(current_user(), "staff_id", None), **_words())
    items, orders = {}, []
    for code in ITEMS:
        items[code] = {"result": request.form.get(f"result_{code}") or "na",
                       "note": request.form.get(f"note_{code}")}
        order_text = (request.form.get(f"order_{code}") or "").strip()
        due = request.form.get(f"due_{code}") or ""
        if order_text or due.strip():
            orders.append({"item": code, "text": order_text, "due_on": due})
    year = (request.form.get("review_year") or "").strip()
    if year and not (year.isdigit() and len(year) == 4):
        raise InputError(f"审查年度为 {year[:10]!r}；应为四位年份")
    made = commit_change(lambda: domain.add_inspection(
        session, actor=actor_label(), employer=f"#{record['id']}", kind=request.form.get("kind", ""),
        inspected_on=form_date("inspected_on", "检查日期"), items=items, findings=request.form.get("findings"),
        inspectors=request.form.getlist("inspector"), orders=orders, review_year=int(year) if year else None))
    return redirect(url_for("inspections.inspection_page", inspection_id=made["id"]), 303)


@bp.get("/inspections/<int:inspection_id>")
def inspection_page(inspection_id: int):
    detail = domain.inspection_detail(get_session(), inspection_id)  # 404 outside the scope (RLS)
    return render_template("inspection.html", i=detail, today=clock.today(), **_words())


@bp.post("/rectifications/<int:rectification_id>")
def rectification_settle(rectification_id: int):
    session = get_session()
    found = domain.list_rectifications(session, rectification_id=rectification_id)
    if not found:
        raise NotFound(f"整改要求 {rectification_id} 不存在")
    commit_change(lambda: domain.settle_rectification(session, rectification_id, request.form.get("outcome", ""),
                                                      actor=actor_label(), on=form_date("on", "日期")))
    r = found[0]
    if r["inspection_id"]:
        return redirect(url_for("inspections.inspection_page", inspection_id=r["inspection_id"]), 303)
    return redirect(url_for("inspections.rectification_list"), 303)

"""Complaints in the web: the list and file of each complaint for the grid's staff (scoped by
row-level security, migration 0010), entering one, accepting or refusing it; and the public
page where a worker files a complaint without logging in and follows it by receipt number.
"""

from __future__ import annotations


import sqlalchemy as sa
from flask import Blueprint, make_response, redirect, render_template, request, url_for

from gisgrid import clock
from gisgrid.errors import Forbidden, InputError
from gisgrid.supervision.complaints import (
    LOCATED_LABELS, STATUS_LABELS, add_complaint, complaint_detail, complaint_progress, decide_complaint,
    list_complaints,
)
from gisgrid.web.auth import actor_label, acts_as_inspector, require_grid_code
from gisgrid.web.db import commit_change, get_session
from gisgrid.web.params import CODE_CHARS, arg_text, check_text, form_date

bp = Blueprint("complaints", __name__)

#: Public submissions one address may make per hour.
PUBLIC_PER_HOUR = 5
PUBLIC_ACTOR = "公众（网上投诉）"


def _number(name: str, what: str) -> float | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InputError(f"{what}为 {raw[:20]!r}；应为数字（度）") from None


def _words() -> dict:
    return {"status_labels": STATUS_LABELS, "located_labels": LOCATED_LABELS}


@bp.get("/complaints")
def complaint_list():
    session = get_session()
    grid = arg_text("grid", "网格编码", 32)
    if grid is not None:
        require_grid_code(session, check_text(grid, "网格编码", CODE_CHARS))
    overdue = request.args.get("overdue") == "1"
    rows = list_complaints(session, grid=grid, overdue=overdue)
    return render_template("complaints.html", rows=rows, grid=grid, overdue=overdue, today=clock.today(), **_words())


@bp.route("/complaints/new", methods=["GET", "POST"])
def complaint_new():
    if request.method == "GET":
        return render_template("complaint_new.html", today=clock.today().isoformat(), form={})
    session = get_session()
    received = form_date("received_on", "收到日期")
    if received is None:
        raise InputError("请填写收到日期（年-月-日）")
    made = commit_change(lambda: add_complaint(
        session, received_on=received, summary=request.form.get("summary", ""), actor=actor_label(),
        employer=(request.form.get("employer") or "").strip() or None,
        employer_name=request.form.get("employer_name"), address=request.form.get("address"),
        lon=_number("lon", "经度"), lat=_number("lat", "纬度"), complainant=request.form.get("complainant"),
        phone=request.form.get("phone")))
    visible = session.execute(sa.text("SELECT 1 FROM complaint WHERE id = :id"), {"id": made["id"]}).first()
    if visible:
        return redirect(url_for("complaints.complaint_page", complaint_id=made["id"]), 303)
    # Routed to a grid outside the user's own: it is that grid's now.
    return render_template("complaint_routed.html", made=made, **_words())


@bp.get("/complaints/<int:complaint_id>")
def complaint_page(complaint_id: int):
    return render_template("complaint.html", c=complaint_detail(get_session(), complaint_id), today=clock.today(),
                           **_words())


@bp.post("/complaints/<int:complaint_id>/decision")
def complaint_decision(complaint_id: int):
    session = get_session()
    complaint_detail(session, complaint_id)  # 404 outside the scope
    if not acts_as_inspector():
        raise Forbidden("协管员不能决定受理或不予受理：受理决定须由劳动保障监察员作出；请将投诉转告本网格的监察员")
    decision = request.form.get("decision", "")
    commit_change(lambda: decide_complaint(session, complaint_id, decision, actor=actor_label(),
                                           reason=request.form.get("reason"),
                                           on=form_date("decided_on", "处理日期")))
    return redirect(url_for("complaints.complaint_page", complaint_id=complaint_id), 303)


# --- the public page: no login ------------------------------------------------------------

@bp.route("/report", methods=["GET", "POST"])
def public_report():
    if request.method == "GET":
        return render_template("report.html", made=None, message=None, form={})
    session = get_session()
    address = request.remote_addr
    recent = session.execute(sa.text(
        "SELECT count(*) FROM public_submission WHERE address = :a AND at > now() - interval '1 hour'"),
        {"a": address}).scalar()
    form = {k: request.form.get(k, "") for k in ("employer_name", "address", "summary", "complainant", "phone")}
    if recent >= PUBLIC_PER_HOUR:
        message = f"提交过于频繁：同一网络地址每小时最多提交 {PUBLIC_PER_HOUR} 件投诉，请稍后再试或拨打 12333"
        return make_response(render_template("report.html", made=None, message=message, form=form), 429)
    try:
        if not form["employer_name"].strip():
            raise InputError("请填写被投诉单位名称")
        if not form["address"].strip():
            raise InputError("请填写用人单位地址（所在街道、社区）")
        made = add_complaint(session, received_on=clock.today(), summary=form["summary"], actor=PUBLIC_ACTOR,
                             channel="public", employer_name=form["employer_name"], address=form["address"],
                             complainant=form["complainant"], phone=form["phone"])
        session.execute(sa.text("INSERT INTO public_submission (address) VALUES (:a)"), {"a": address})
        session.commit()
    except InputError as exc:
        session.rollback()
        return make_response(render_template("report.html", made=None, message=exc.message, form=form), 400)
    return render_template("report.html", made=made, message=None, form={})


@bp.get("/report/status")
def public_status():
    receipt = (request.args.get("receipt") or "").strip()[:40]
    progress = complaint_progress(get_session(), receipt) if receipt else None
    status = 404 if receipt and progress is None else 200
    return make_response(render_template("report_status.html", receipt=receipt, progress=progress,
                                         status_labels=STATUS_LABELS), status)

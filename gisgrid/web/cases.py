"""Cases in the web: the list and file of each case for the grid's staff (row-level security,
migration 0011, shows each user the cases of their grids), filing one from an accepted complaint
or about an employer, and the steps 立案 → 调查 → 处理 → 结案 with the 60-day clock, the one
extension, inspectors and documents (gisgrid.supervision.cases decides every rule).
"""

from __future__ import annotations

import io

from flask import Blueprint, redirect, render_template, request, send_file, url_for

from gisgrid import clock
import sqlalchemy as sa

from gisgrid.errors import Forbidden, InputError
from gisgrid.supervision import cases as domain
from gisgrid.supervision.complaints import complaint_detail
from gisgrid.supervision.inspections import inspection_detail
from gisgrid.supervision.items import CASE_SOURCES, CASE_STATUS, CONCLUSIONS, ITEMS, SERIOUS_ACTS
from gisgrid.web.auth import actor_label, acts_as_inspector, current_user, require_grid_code
from gisgrid.web.db import commit_change, get_session
from gisgrid.web.params import CODE_CHARS, arg_text, check_text, form_date

bp = Blueprint("cases", __name__)


def _works_cases() -> bool:
    """Cases are worked by 劳动保障监察员: an account of a coordinator (协管员) reads its grids'
    cases but files and moves none (the role's capability alone would let it)."""
    from gisgrid.access.roles import may

    user = current_user()
    return user is not None and may(user.role, "cases.write") and acts_as_inspector()


@bp.app_context_processor
def _case_helpers() -> dict:
    return {"may_work_cases": _works_cases}


@bp.before_request
def _inspectors_only():
    if request.method == "GET" and request.endpoint != "cases.case_new":
        return
    if current_user() is not None and not _works_cases():
        raise Forbidden("协管员不能立案或办理案件：案件须由劳动保障监察员办理；请将线索转告本网格的监察员")


def _words() -> dict:
    return {"case_status": CASE_STATUS, "case_sources": CASE_SOURCES, "conclusions": CONCLUSIONS,
            "items": ITEMS, "serious_acts": SERIOUS_ACTS}


def _whole(name: str, what: str) -> int | None:
    raw = (request.form.get(name) or request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise InputError(f"{what}为 {raw[:20]!r}；应为编号（数字）")
    return int(raw)


@bp.get("/cases")
def case_list():
    session = get_session()
    grid = arg_text("grid", "网格编码", 32)
    if grid is not None:
        require_grid_code(session, check_text(grid, "网格编码", CODE_CHARS))
    status = arg_text("status", "案件状态", 20)
    overdue = request.args.get("overdue") == "1"
    rows = domain.list_cases(session, grid=grid, status=status, overdue=overdue)
    return render_template("cases.html", rows=rows, grid=grid, status=status, overdue=overdue, today=clock.today(),
                           **_words())


@bp.route("/cases/new", methods=["GET", "POST"])
def case_new():
    session = get_session()
    complaint_id = _whole("complaint", "投诉编号")
    complaint = complaint_detail(session, complaint_id) if complaint_id is not None else None  # 404 outside scope
    inspection_id = _whole("inspection", "检查记录编号") if complaint_id is None else None
    inspection = inspection_detail(session, inspection_id) if inspection_id is not None else None
    if request.method == "GET":
        user = current_user()
        grid_id = complaint["grid_id"] if complaint else inspection["grid_id"] if inspection else None
        return render_template("case_new.html", complaint=complaint, inspection=inspection,
                               today=clock.today().isoformat(), choices=domain.inspector_choices(session, grid_id),
                               own_staff=getattr(user, "staff_id", None), **_words())
    inspectors = request.form.getlist("inspector")
    lead = _whole("lead", "主办监察员")
    made = commit_change(lambda: domain.file_case(
        session, actor=actor_label(), summary=request.form.get("summary", ""), filed_on=form_date("filed_on", "立案日期"),
        complaint_id=complaint_id, inspection_id=inspection_id,
        employer=None if complaint_id is not None or inspection_id is not None else (
            (request.form.get("employer") or "").strip() or None),
        items=request.form.getlist("item"), inspectors=inspectors, lead=lead))
    return redirect(url_for("cases.case_page", case_id=made["id"]), 303)


@bp.get("/cases/<int:case_id>")
def case_page(case_id: int):
    session = get_session()
    case = domain.case_detail(session, case_id)
    return render_template("case.html", c=case, today=clock.today(), min_inspectors=domain.MIN_INSPECTORS,
                           choices=domain.inspector_choices(session, case["grid_id"]),
                           max_mb=domain.MAX_DOCUMENT_BYTES // 1048576, **_words())


def _back(case_id: int):
    return redirect(url_for("cases.case_page", case_id=case_id), 303)


@bp.post("/cases/<int:case_id>/inspectors")
def case_inspectors(case_id: int):
    session = get_session()
    domain.case_detail(session, case_id)  # 404 outside the scope
    commit_change(lambda: domain.add_inspectors(session, case_id, request.form.getlist("inspector"),
                                                actor=actor_label(), lead=_whole("lead", "主办监察员")))
    return _back(case_id)


@bp.post("/cases/<int:case_id>/advance")
def case_advance(case_id: int):
    session = get_session()
    domain.case_detail(session, case_id)
    commit_change(lambda: domain.advance_case(session, case_id, actor=actor_label(), on=form_date("on", "日期"),
                                              note=request.form.get("note")))
    return _back(case_id)


@bp.post("/cases/<int:case_id>/extend")
def case_extend(case_id: int):
    session = get_session()
    domain.case_detail(session, case_id)
    commit_change(lambda: domain.extend_case(session, case_id, actor=actor_label(),
                                             approver=request.form.get("approver", ""),
                                             reason=request.form.get("reason", ""), on=form_date("on", "批准日期")))
    return _back(case_id)


@bp.post("/cases/<int:case_id>/close")
def case_close(case_id: int):
    session = get_session()
    domain.case_detail(session, case_id)
    commit_change(lambda: domain.close_case(session, case_id, request.form.get("conclusion", ""), actor=actor_label(),
                                            serious=request.form.getlist("serious"), note=request.form.get("note"),
                                            on=form_date("on", "结案日期")))
    return _back(case_id)


@bp.post("/cases/<int:case_id>/documents")
def case_document_upload(case_id: int):
    session = get_session()
    domain.case_detail(session, case_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InputError("请选择要上传的文书文件（PDF、JPEG、PNG、DOCX、XLSX 或 OFD）")
    data = upload.read(domain.MAX_DOCUMENT_BYTES + 1)
    commit_change(lambda: domain.add_document(session, case_id, title=request.form.get("title", ""),
                                              filename=upload.filename, data=data, actor=actor_label()))
    return _back(case_id)


@bp.get("/cases/<int:case_id>/documents/<int:document_id>")
def case_document(case_id: int, document_id: int):
    doc = domain.case_document(get_session(), case_id, document_id)  # 404 outside the scope (RLS)
    # Always a download, never shown inline: an uploaded file is the uploader's, not the app's.
    return send_file(io.BytesIO(doc["content"]), mimetype=doc["media_type"], as_attachment=True,
                     download_name=doc["filename"])

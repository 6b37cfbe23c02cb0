"""Emergency incidents in the web: raised by a grid's staff, shown at the top of every page of
everyone up the chain (the banner), tracked with notes, read (已阅) per person, closed with the
result (gisgrid.supervision.incidents decides the rules; row-level security who sees what).
"""

from __future__ import annotations

import logging

from flask import Blueprint, g, redirect, render_template, request, url_for

from gisgrid.errors import InputError
from gisgrid.supervision import incidents as domain
from gisgrid.web.auth import actor_label, current_user, require_grid_code
from gisgrid.web.db import commit_change, get_session
from gisgrid.web.params import CODE_CHARS, arg_text, check_text

bp = Blueprint("incidents", __name__)
log = logging.getLogger(__name__)


@bp.app_context_processor
def _incident_banner() -> dict:
    def banner():
        from gisgrid.access.roles import may

        user = current_user()
        if user is None or not may(user.role, "incidents.read") or g.get("scope") is None:
            return None
        try:
            return domain.banner(get_session(), user.username)
        except Exception:  # an error page must still render: the banner is never the reason it fails
            log.exception("incident banner")
            return None
    return {"incident_banner": banner}


def _words() -> dict:
    return {"kinds": domain.KINDS, "status_labels": domain.STATUS}


@bp.get("/incidents")
def incident_list():
    session = get_session()
    grid = arg_text("grid", "网格编码", 32)
    if grid is not None:
        require_grid_code(session, check_text(grid, "网格编码", CODE_CHARS))
    status = arg_text("status", "事件状态", 10)
    rows = domain.list_incidents(session, status=status, grid=grid)
    return render_template("incidents.html", rows=rows, grid=grid, status=status, **_words())


@bp.route("/incidents/new", methods=["GET", "POST"])
def incident_new():
    session = get_session()
    if request.method == "GET":
        return render_template("incident_new.html", grid=arg_text("grid", "网格编码", 32) or "", **_words())
    grid = (request.form.get("grid") or "").strip() or None
    employer = (request.form.get("employer") or "").strip() or None
    if grid is not None:
        require_grid_code(session, check_text(grid, "网格编码", CODE_CHARS))  # 404 outside the scope
    people = (request.form.get("people") or "").strip()
    if people and not (people.isdigit() and len(people) <= 7):
        raise InputError(f"涉及人数为 {people[:10]!r}；应为整数")
    made = commit_change(lambda: domain.raise_incident(
        session, actor=actor_label(), kind=request.form.get("kind", ""), title=request.form.get("title", ""),
        summary=request.form.get("summary", ""), grid=grid, employer=employer,
        people=int(people) if people else None, occurred_at=request.form.get("occurred_at") or None))
    return redirect(url_for("incidents.incident_page", incident_id=made["id"]), 303)


@bp.get("/incidents/<int:incident_id>")
def incident_page(incident_id: int):
    detail = domain.incident_detail(get_session(), incident_id)  # 404 outside the scope (RLS)
    user = current_user()
    return render_template("incident.html", i=detail, has_read=any(r["username"] == user.username
                                                                    for r in detail["readers"]), **_words())


def _back(incident_id: int):
    return redirect(url_for("incidents.incident_page", incident_id=incident_id), 303)


@bp.post("/incidents/<int:incident_id>/read")
def incident_read(incident_id: int):
    session = get_session()
    domain.incident_detail(session, incident_id)
    user = current_user()
    commit_change(lambda: domain.acknowledge(session, incident_id, username=user.username, label=user.label,
                                             staff_id=getattr(user, "staff_id", None)))
    return _back(incident_id)


@bp.post("/incidents/<int:incident_id>/notes")
def incident_note(incident_id: int):
    session = get_session()
    domain.incident_detail(session, incident_id)
    commit_change(lambda: domain.add_note(session, incident_id, request.form.get("note", ""), actor=actor_label()))
    return _back(incident_id)


@bp.post("/incidents/<int:incident_id>/close")
def incident_close(incident_id: int):
    session = get_session()
    domain.incident_detail(session, incident_id)
    commit_change(lambda: domain.close_incident(session, incident_id, request.form.get("result", ""),
                                                actor=actor_label()))
    return _back(incident_id)

"""Recording a visit from an employer's page: ``POST /employers/<key>/visits`` (a form with CSRF)."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from gisgrid.employers.queries import find_employer
from gisgrid.employers.visits import record_visit
from gisgrid.errors import InputError
from gisgrid.web.auth import actor_label, require_employer
from gisgrid.web.db import commit_change, get_session
from gisgrid.web.params import form_date

bp = Blueprint("visits", __name__)


@bp.post("/employers/<key>/visits")
def add_visit(key: str):
    from gisgrid.web.employers_api import employer_key

    session = get_session()
    record = find_employer(session, employer_key(key))
    require_employer(session, record["id"], key)
    on = form_date("date", "走访日期")
    if on is None:
        raise InputError("请填写走访日期（年-月-日）")
    commit_change(lambda: record_visit(
        session, record["id"], on=on, by=actor_label(), companions=request.form.get("companions", ""),
        checked=tuple(request.form.getlist("checked")), findings=request.form.get("findings", "")))
    return redirect(url_for("maps.employer_page", key=key) + "#visits", 303)


@bp.post("/employers/<key>/contact")
def correct_contact_fields(key: str):
    """Correct 法定代表人 / 劳动保障联系人 / 联系电话 from the employer's page (the location stays)."""
    from gisgrid.employers.visits import CONTACT_FIELDS, correct_contact
    from gisgrid.web.employers_api import employer_key

    session = get_session()
    record = find_employer(session, employer_key(key))
    require_employer(session, record["id"], key)
    fields = {name: request.form[name] for name in CONTACT_FIELDS if name in request.form}
    if not fields:
        raise InputError("请填写要更正的联系信息")
    commit_change(lambda: correct_contact(session, record["id"], by=actor_label(), **fields))
    return redirect(url_for("maps.employer_page", key=key) + "#contact", 303)

"""The administrator's pages: the audit log (审计日志), filtered by user, grid, action and date.

Read-only: the web role may only append to the log (gisgrid.db.roles), so no page can edit it.
"""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, render_template, request, url_for

from gisgrid.access.audit import search_audit
from gisgrid.labels import AUDIT_ENTITIES, audit_action_label
from gisgrid.errors import InputError
from gisgrid.web.db import get_session
from gisgrid.web.params import CODE_CHARS, arg_int, arg_text, shown

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_ROWS = 100
#: What the action filter offers (prefixes of gisgrid's audit actions).
ACTIONS = {"": "全部", "login": "登录", "login.failed": "登录失败", "logout": "退出", "access.refused": "拒绝访问",
           "user.": "账号", "staff.": "四定人员", "grid.": "网格编辑", "generation.": "网格版本",
           "place_employer": "人工标注位置", "employer.": "走访、更正、重点监管", "complaint.": "投诉",
           "case.": "案件", "inspection.": "检查", "rectification.": "整改", "incident.": "应急事件",
           "grades.": "诚信等级", "calendar.": "工作日日历"}


def _date(name: str, what: str) -> str | None:
    value = arg_text(name, what, 10)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise InputError(f"{what}为 {shown(value)}；应为 年-月-日，如 2026-12-01") from None


@bp.get("/audit")
def audit():
    filters = {"user": arg_text("user", "用户", 100), "grid": arg_text("grid", "网格编码", CODE_CHARS),
               "since": _date("since", "起始日期"), "until": _date("until", "截止日期"),
               "action": arg_text("action", "操作类型", 30)}
    if filters["action"] is not None and filters["action"] not in ACTIONS:
        raise InputError(f"操作类型为 {shown(filters['action'])}；应为 {'、'.join(a for a in ACTIONS if a)} 之一")
    page = arg_int("page", "页码", 1, 100_000) or 1
    total, rows = search_audit(get_session(), **filters, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS)
    for row in rows:
        for key in ("before", "after"):
            row[key] = "" if row[key] is None else json.dumps(row[key], ensure_ascii=False, sort_keys=True)
    pages = max(1, -(-total // PAGE_ROWS))
    kept = {k: v for k, v in filters.items() if v}
    return render_template("audit.html", rows=rows, total=total, page=page, pages=pages, filters=filters,
                           actions=ACTIONS, action_label=audit_action_label, entity_labels=AUDIT_ENTITIES,
                           prev_url=url_for("admin.audit", **kept, page=page - 1) if page > 1 else None,
                           next_url=url_for("admin.audit", **kept, page=page + 1) if page < pages else None)


# --- the working-day calendar (gisgrid.supervision.workdays) -------------------------------

@bp.route("/calendar", methods=["GET", "POST"])
def calendar():
    """Years known and entered, the overrides, and a form to enter a notice's dates: a preview
    first (nothing written: each day before → after and the deadlines that would move), then
    the same lines committed."""
    from gisgrid.supervision.workdays import apply_calendar, calendar_overview, parse_calendar_lines
    from gisgrid.web.auth import actor_label
    from gisgrid.web.db import commit_change

    session = get_session()
    form = {k: request.form.get(k, "") for k in ("lines", "basis", "year", "source")}
    report, problems = None, []
    status = 200
    if request.method == "POST":
        year = None
        if form["year"].strip():
            if not form["year"].strip().isdigit():
                raise InputError(f"年份为 {shown(form['year'])}；应为四位数字，如 2027")
            year = int(form["year"].strip())
        entries, problems = parse_calendar_lines(form["lines"])
        if problems:
            status = 400
        else:
            def change():
                return apply_calendar(session, entries, form["basis"], actor=actor_label(), year=year,
                                      source=form["source"])
            if request.form.get("action") == "commit":
                report = {**commit_change(change), "committed": True}
            else:
                try:
                    report = {**change(), "committed": False}
                finally:
                    session.rollback()
    overview = calendar_overview(session)
    from flask import make_response
    return make_response(render_template("admin_calendar.html", overview=overview, form=form, report=report,
                                         problems=problems), status)

"""Who is asking: the login, logout and password pages, and the one gate every request passes.

:data:`ACCESS` names, for every endpoint of the app, what it needs: :data:`PUBLIC` (the
login page and the static assets), :data:`LOGGED_IN` (logout, the own password), or a
capability of :mod:`gisgrid.access.roles`. The gate (a ``before_request``) looks the
endpoint up there, and refuses an endpoint that is not listed (404, logged): a new route
without an access decision cannot be reached, and ``tests/web/test_access_map.py`` fails.

- no or dead session: a page redirects to ``/login?next=…``, data (``/api/``, ``/tiles/``)
  answers 401 JSON;
- a password that must be changed: everything but the password page and logout redirects
  there (403 JSON for data);
- a role without the capability: 403, written to the audit log;
- then ``g.user`` (:class:`gisgrid.access.SessionUser`) and ``g.scope``
  (:class:`gisgrid.access.Scope`) are set; the views ask ``g.scope`` which grids and
  employers the user may see (:mod:`gisgrid.web.scoped`).

Sessions are server-side (:mod:`gisgrid.access.sessions`): the cookie holds a random token,
HttpOnly, SameSite=Lax, and with ``GISGRID_HTTPS=1`` Secure and ``__Host-`` prefixed. Every
POST/PUT/DELETE carries a CSRF token (flask-wtf): the form field ``csrf_token`` or the
``X-CSRFToken`` header, which the pages' scripts read from ``<meta name="csrf-token">``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint, Flask, abort, current_app, g, jsonify, make_response, redirect, render_template, request, url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect

from gisgrid.access import (
    LoginRefused, LoginThrottled, change_password, end_session, log_in, may, record_audit, resolve_session,
    user_scope,
)
from gisgrid.access.roles import ROLES
from gisgrid.errors import InputError
from gisgrid.web.db import apply_scope, get_session

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

PUBLIC = "public"
LOGGED_IN = "logged-in"

#: Every endpoint and what it needs (a capability of gisgrid.access.roles.CAPABILITIES).
#: Which grids and employers within it: g.scope, checked by the views (gisgrid.web.scoped).
ACCESS: dict[str, str] = {
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": LOGGED_IN,
    "auth.password": LOGGED_IN,
    "maps.index": "grids.read",
    "maps.my_grids": "grids.read",
    "maps.grid_page": "grids.read",
    "maps.employer_page": "employers.personal",
    "maps.employer_list_page": "employers.personal",
    "maps.search_page": "grids.read",
    "maps.employers_data": "employers.points",
    "maps.grids_data": "grids.read",
    "boundaries_api.validation": "grids.read",
    "boundaries_api.validation_geojson": "grids.read",
    "boundaries_api.split": "grids.edit",
    "boundaries_api.merge": "grids.edit",
    "boundaries_api.move": "grids.edit",
    "boundaries_api.rename": "grids.edit",
    "boundaries_api.set_grid_locks": "grids.edit",
    "boundaries_api.edits": "grids.edit",
    "boundaries_api.locks": "grids.read",
    "boundaries_api.geometry": "grids.edit",
    "boundaries_api.draft": "grids.edit",
    "boundaries_api.publish": "grids.publish",
    "plan_changes.publish_plan_form": "grids.publish",
    "plan_changes.changes_page": "grids.read",  # whole-plan view: a scoped user gets 404 (the view)
    "tiles.basemap_tile": "grids.read",  # the local basemap: no employer data
    # 规划编辑: grids.read passes the gate; the view answers 404 to all but planners and admins
    # (grids.edit), so that a plan's drafts are not announced to leaders and inspectors.
    "plan.editor_page": "grids.read",
    "plan.grids_data": "grids.read",
    # counts per grid of a whole plan: users who see every grid only (else 404, the view)
    "boundaries_api.balance": "employers.points",
    "employers_api.employer_list": "employers.personal",
    "employers_api.employer_file": "employers.personal",
    "employers_api.employer_place": "employers.write",
    "exports.index": "exports",
    "exports.diagram": "exports",
    "exports.register": "exports",
    "exports.roster": "exports",
    "exports.package": "exports",
    "exports.job_status": "exports",
    "exports.job_download": "exports",
    "stats.stats_page": "exports",  # 网格统计: whoever may export the figures reads them (scoped)
    "tiles.employer_tile_view": "employers.points",
    "admin.audit": "audit.read",
    "admin.calendar": "calendar.manage",
    "visits.add_visit": "employers.write",
    "visits.correct_contact_fields": "employers.write",
    "staff.staff_page": "grids.read",
    "complaints.complaint_list": "complaints.read",
    "complaints.complaint_page": "complaints.read",
    "complaints.complaint_new": "complaints.write",
    "complaints.complaint_decision": "complaints.write",
    "cases.case_list": "cases.read",
    "cases.case_page": "cases.read",
    "cases.case_document": "cases.read",
    "cases.case_new": "cases.write",
    "cases.case_inspectors": "cases.write",
    "cases.case_advance": "cases.write",
    "cases.case_extend": "cases.write",
    "cases.case_close": "cases.write",
    "cases.case_document_upload": "cases.write",
    "supervision.progress_page": "cases.read",  # 督办: complaints, cases and incidents per grid
    "incidents.incident_list": "incidents.read",
    "incidents.incident_page": "incidents.read",
    "incidents.incident_read": "incidents.read",  # 已阅: every reader up the chain records it
    "incidents.incident_new": "incidents.write",
    "incidents.incident_note": "incidents.write",
    "incidents.incident_close": "incidents.write",
    "inspections.inspection_list": "inspections.read",
    "inspections.inspection_page": "inspections.read",
    "inspections.inspection_due": "inspections.read",
    "inspections.rectification_list": "inspections.read",
    "inspections.inspection_new": "inspections.write",
    "inspections.rectification_settle": "inspections.write",
    # A worker files a complaint and follows it by receipt number without an account.
    "complaints.public_report": PUBLIC,
    "complaints.public_status": PUBLIC,
    "staff.add_staff": "staff.area",  # and the grid in the user's staff area (gisgrid.web.staff)
    "staff.end_staff": "staff.area",
    "staff_import.form": "staff.manage",
    "staff_import.upload": "staff.manage",
}

# Paths whose answers are data: a refusal there is JSON, never a redirect to a page.
_DATA_PREFIXES = ("/api/", "/tiles/")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def cookie_name(app: Flask | None = None) -> str:
    settings = (app or current_app).config["GISGRID_SETTINGS"]
    return "__Host-gisgrid_session" if settings.https else "gisgrid_session"


def current_user():
    """The logged-in user of this request (None on the public pages)."""
    return g.get("user")


def acts_as_inspector() -> bool:
    """False for the account of a coordinator (协管员/协理员): the legal acts of labour
    inspection — deciding whether a complaint is accepted, filing and working a case — are an
    inspector's (《劳动保障监察条例》 art. 16); a coordinator enters, patrols and reports."""
    user = current_user()
    staff_id = getattr(user, "staff_id", None)
    if user is None or staff_id is None:
        return user is not None
    import sqlalchemy as sa

    role = get_session().execute(sa.text("SELECT role FROM staff WHERE id = :s"), {"s": staff_id}).scalar()
    return role is None or role in ("full_time", "part_time")


def actor_label() -> str:
    """How this request's user is named in audit rows and edit histories."""
    user = current_user()
    if user is None:  # the gate lets no write through without a user
        raise RuntimeError("a write without a logged-in user")
    return user.label


def _settings():
    return current_app.config["GISGRID_SETTINGS"]


def scope():
    """This request's :class:`gisgrid.access.Scope` (set by the gate on every gated route)."""
    return g.scope


def require_grid(grid_id: int | None, code: str, generation: str) -> None:
    """404 — worded as for a grid that does not exist — when the user may not see the grid."""
    from gisgrid.errors import NotFound

    if not g.scope.sees_grid(grid_id):
        raise NotFound(f"grid {code!r} does not exist in generation {generation!r}",
                       zh=f"网格“{str(code)[:100]}”在网格版本“{str(generation)[:100]}”中不存在，或不在您负责的范围内")


def require_grid_code(session, code: str | None) -> int | None:
    """The id of grid ``code`` of the active generation, 404 if absent or outside the scope."""
    from gisgrid.db.queries import active_generation
    from gisgrid.errors import NotFound
    import sqlalchemy as sa

    if code is None:
        return None
    gen = active_generation(session)
    grid_id = session.execute(sa.text("SELECT id FROM grid WHERE generation_id = :g AND code = :c"),
                              {"g": gen.id if gen else -1, "c": code}).scalar()
    if grid_id is None or not g.scope.sees_grid(grid_id):
        raise NotFound(f"grid {code!r} does not exist in generation {gen.name if gen else ''!r}",
                       zh=f"网格“{str(code)[:100]}”不存在，或不在您负责的范围内")
    return grid_id


def require_employer(session, employer_id: int, key: str) -> None:
    """404 — as for an unknown employer — when the user may not see employer ``employer_id``."""
    from gisgrid.access import visible_employer_ids
    from gisgrid.errors import NotFound

    if employer_id not in visible_employer_ids(session, g.scope, [employer_id]):
        raise NotFound(f"employer {key!r} not found; give a credit code (18 characters) or #ID",
                       zh=f"未找到用人单位“{str(key)[:100]}”，或不在您负责的范围内；请给出 18 位统一社会信用代码或 #编号")


def _address() -> str | None:
    return request.remote_addr


def _is_data() -> bool:
    return request.path.startswith(_DATA_PREFIXES)


def _refuse(status: int, kind: str, message: str):
    from gisgrid.web.errors import render_error

    return render_error(status, message, {"error": kind, "message": message})


def gate():
    """``before_request``: who is asking, and may they call this endpoint at all."""
    endpoint = request.endpoint
    if endpoint is None:  # routing already failed: 404/405 answer as they are
        return None
    need = ACCESS.get(endpoint)
    if need is None:
        current_app.logger.error("endpoint %s has no access decision in gisgrid.web.auth.ACCESS", endpoint)
        abort(404)
    if need == PUBLIC:
        return None
    session = get_session()
    settings = _settings()
    user = resolve_session(session, request.cookies.get(cookie_name()),
                           idle=dt.timedelta(minutes=settings.session_idle_minutes),
                           lifetime=dt.timedelta(hours=settings.session_hours))
    if user is None:
        session.commit()  # an expired session is marked as such
        if _is_data() or request.method not in _SAFE_METHODS:
            return _refuse(401, "login_required", "请先登录（会话不存在或已过期）")
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("auth.login", next=target))
    g.user = user
    if user.must_change_password and endpoint not in ("auth.password", "auth.logout"):
        if _is_data():
            return _refuse(403, "password_change_required", "请先修改初始密码")
        return redirect(url_for("auth.password"))
    if need != LOGGED_IN and not may(user.role, need):
        record_audit(session, user.label, "access.refused", "endpoint", endpoint,
                     after={"path": request.path[:200], "method": request.method, "needs": need},
                     address=_address())
        session.commit()
        return _refuse(403, "forbidden", f"当前账号（{ROLES.get(user.role, user.role)}）无权进行此操作")
    g.scope = user_scope(session, user.role, user.staff_id)
    apply_scope(session)  # the row-level security backstop (gisgrid.web.db)
    return None


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (an open redirect)."""
    target = (target or "").strip()
    parts = urlsplit(target)
    if (not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc
            or any(ord(c) < 32 for c in target) or len(target) > 500):
        return url_for("maps.index")
    return target


def _set_cookie(response, token: str) -> None:
    settings = _settings()
    response.set_cookie(cookie_name(), token, httponly=True, samesite="Lax", secure=settings.https, path="/",
                        max_age=settings.session_hours * 3600)


@bp.route("/login", methods=["GET", "POST"])
def login():
    from flask import session as flask_session

    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next_url=next_url, message=None, username="")
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    session = get_session()
    status, message = 200, None
    try:
        if not username or not password:
            raise InputError("请填写用户名和密码")
        token = log_in(session, username, password, _address())
    except LoginThrottled as exc:
        status, message = 429, exc.message
    except LoginRefused as exc:
        status, message = 401, exc.message
    except InputError as exc:
        status, message = 400, exc.message
    if message is not None:
        session.commit()  # the failed attempt counts, and is audited
        return make_response(render_template("login.html", next_url=next_url, message=message,
                                             username=username[:50]), status)
    # A new session id at every login; the session the browser held before ends now.
    end_session(session, request.cookies.get(cookie_name()), "replaced")
    session.commit()
    flask_session.clear()  # and a new CSRF token
    response = redirect(next_url, 303)
    _set_cookie(response, token)
    return response


@bp.post("/logout")
def logout():
    session = get_session()
    end_session(session, request.cookies.get(cookie_name()), "logout")
    record_audit(session, g.user.label, "logout", "app_user", g.user.username, address=_address())
    session.commit()
    response = redirect(url_for("auth.login"), 303)
    response.delete_cookie(cookie_name(), path="/", secure=_settings().https, httponly=True, samesite="Lax")
    return response


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    user = g.user
    if request.method == "GET":
        return render_template("password.html", message=None, forced=user.must_change_password)
    old, new, again = (request.form.get(k) or "" for k in ("old_password", "new_password", "new_password2"))
    session = get_session()
    try:
        if new != again:
            raise InputError("两次输入的新密码不一致")
        change_password(session, user, old, new)
    except (InputError, LoginRefused) as exc:
        session.rollback()
        return make_response(render_template("password.html", message=exc.message,
                                             forced=user.must_change_password), 400)
    session.commit()
    return redirect(url_for("maps.index"), 303)


def _csrf_refused(exc: CSRFError):
    message = ("安全校验失败（CSRF 令牌缺失或已过期）：请刷新页面后重试。"
               if request.method not in _SAFE_METHODS else "安全校验失败")
    return _refuse(400, "csrf", message)


def _secret_key(app: Flask) -> str:
    """GISGRID_SECRET_KEY, or one generated once into GISGRID_HOME/secret-key (0600).

    It signs the CSRF cookie only (login sessions are server-side), so a restart does not
    make open forms fail.
    """
    settings = app.config["GISGRID_SETTINGS"]
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.home) / "secret-key"
    try:
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.touch(mode=0o600)
        path.write_text(key)
        return key
    except OSError:
        return secrets.token_hex(32)


def init_app(app: Flask) -> None:
    settings = app.config["GISGRID_SETTINGS"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app)
    app.config.update(
        # Flask's own cookie holds only the CSRF token.
        SESSION_COOKIE_NAME="__Host-gisgrid_csrf" if settings.https else "gisgrid_csrf",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.https,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the cookie; sessions expire on their own
        WTF_CSRF_SSL_STRICT=settings.https,
    )
    csrf.init_app(app)
    app.before_request(gate)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_blueprint(bp)

    @app.context_processor
    def _user() -> dict:
        user, scope_ = g.get("user"), g.get("scope")
        return {"current_user": user, "role_names": ROLES,
                "sees_all": scope_ is None or scope_.everything,
                "user_may": lambda capability: user is not None and may(user.role, capability),
                "acts_as_inspector": acts_as_inspector}

"""Accounts: create, list, disable, reset, change role or password, and log in.

Every change that affects what a user may do ends that user's sessions at once
(:func:`gisgrid.access.sessions.end_user_sessions`) and is written to the audit log.
An inspector's account is tied to a 四定 staff member: ``--grid`` creates or extends that
member's ``staff_grid`` assignment, which is the account's scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.access.passwords import (
    check_password_rules, generate_password, hash_password, needs_rehash, verify_password,
)
from gisgrid.access.roles import ROLES, check_role
from gisgrid.access.sessions import SessionUser, end_user_sessions, start_session
from gisgrid.errors import Conflict, GisgridError, InputError, NotFound
from gisgrid.labels import ROLE_LABELS

USERNAME_MAX = 50
#: Failed logins in THROTTLE_WINDOW before an account / an address must wait.
ACCOUNT_FAILURES, ADDRESS_FAILURES = 5, 20
THROTTLE_WINDOW = dt.timedelta(minutes=15)


class LoginRefused(GisgridError):
    """Wrong user name or password (never says which)."""

    status = 401


class LoginThrottled(GisgridError):
    """Too many failed logins for this account or from this address."""

    status = 429


@dataclass(frozen=True)
class NewAccount:
    id: int
    username: str
    role: str
    staff_id: int | None
    #: The generated initial password (None when one was given); shown once, never stored.
    password: str | None


def check_username(username: str) -> str:
    name = (username or "").strip()
    if not name or len(name) > USERNAME_MAX or any(c.isspace() or ord(c) < 32 for c in name):
        raise InputError(f"user name was {username!r}; expected 1-{USERNAME_MAX} characters without spaces")
    return name


def add_user(session: Session, username: str, role: str, *, actor: str, display_name: str | None = None,
             password: str | None = None, staff_id: int | None = None, grid_codes: tuple[str, ...] = (),
             staff_role: str = "full_time", today: dt.date | None = None) -> NewAccount:
    """Create an account; an inspector needs ``staff_id`` or ``grid_codes`` (its scope).

    Examples
    --------
    >>> add_user(session, "zhangsan", "inspector", actor="admin", grid_codes=("419901001",))  # doctest: +SKIP
    NewAccount(id=3, username='zhangsan', role='inspector', staff_id=12, password='Xk…')
    """
    username, role = check_username(username), check_role(role)
    if session.execute(sa.text("SELECT 1 FROM app_user WHERE lower(username) = lower(:u)"),
                       {"u": username}).first():
        raise Conflict(f"user {username!r} already exists")
    if role == "inspector" and staff_id is None and not grid_codes:
        raise InputError("an inspector account needs --staff ID or --grid CODE (the grids they answer for)")
    if role != "inspector" and grid_codes:
        raise InputError(f"--grid is for inspector accounts; a {role} sees every grid")
    generated = password is None
    if generated:
        password = generate_password()
    else:
        check_password_rules(password, username)
    if staff_id is not None:
        _staff(session, staff_id)
    elif grid_codes:
        staff_id = _new_staff(session, display_name or username, staff_role)
    user_id = session.execute(sa.text(
        "INSERT INTO app_user (username, display_name, role, password_hash, staff_id, must_change_password, "
        "password_changed_at) VALUES (:u, :d, :r, :h, :s, :m, CASE WHEN :m THEN NULL ELSE now() END) "
        "RETURNING id"),
        {"u": username, "d": display_name, "r": role, "h": hash_password(password), "s": staff_id,
         "m": generated}).scalar_one()
    assigned = assign_grids(session, staff_id, grid_codes, actor=actor, today=today) if grid_codes else []
    record_audit(session, actor, "user.add", "app_user", username,
                 after={"role": role, "display_name": display_name, "staff_id": staff_id, "grids": assigned})
    return NewAccount(user_id, username, role, staff_id, password if generated else None)


def assign_grids(session: Session, staff_id: int, grid_codes: tuple[str, ...], *, actor: str,
                 duty: str | None = None, today: dt.date | None = None) -> list[str]:
    """Give staff member ``staff_id`` the grids ``grid_codes`` of the active generation from today on."""
    today = today or clock.today()
    rows = session.execute(sa.text("""
        SELECT g.code, g.identity FROM grid g JOIN generation n ON n.id = g.generation_id
        WHERE n.status = 'active' AND g.code = ANY(:codes)"""), {"codes": list(grid_codes)}).all()
    missing = sorted(set(grid_codes) - {r.code for r in rows})
    if missing:
        raise NotFound(f"grid code(s) {', '.join(missing)} not in the active generation")
    added = []
    for code, identity in rows:
        exists = session.execute(sa.text(
            "SELECT 1 FROM staff_grid WHERE staff_id = :s AND grid_identity = :g "
            "AND (valid_to IS NULL OR valid_to >= :t)"), {"s": staff_id, "g": identity, "t": today}).first()
        if not exists:
            session.execute(sa.text(
                "INSERT INTO staff_grid (staff_id, grid_identity, duty, valid_from) VALUES (:s, :g, :d, :t)"),
                {"s": staff_id, "g": identity, "d": duty, "t": today})
            added.append(code)
    if added:
        record_audit(session, actor, "staff.assign", "staff", str(staff_id), after={"grids": added})
    return added


def list_users(session: Session) -> list[dict]:
    rows = session.execute(sa.text("""
        SELECT u.id, u.username, u.display_name, u.role, u.active, u.staff_id, s.name AS staff_name,
               u.must_change_password, u.created_at,
               (SELECT max(last_seen_at) FROM user_session WHERE user_id = u.id) AS last_seen_at,
               (SELECT count(*) FROM user_session WHERE user_id = u.id AND revoked_at IS NULL) AS sessions
        FROM app_user u LEFT JOIN staff s ON s.id = u.staff_id ORDER BY u.username""")).mappings().all()
    return [dict(r) for r in rows]


def disable_user(session: Session, username: str, *, actor: str) -> int:
    user = _user(session, username)
    session.execute(sa.text("UPDATE app_user SET active = false WHERE id = :id"), {"id": user["id"]})
    ended = end_user_sessions(session, user["id"], "disabled")
    record_audit(session, actor, "user.disable", "app_user", username, before={"active": user["active"]},
                 after={"active": False})
    return ended


def enable_user(session: Session, username: str, *, actor: str) -> None:
    user = _user(session, username)
    session.execute(sa.text("UPDATE app_user SET active = true WHERE id = :id"), {"id": user["id"]})
    record_audit(session, actor, "user.enable", "app_user", username, before={"active": user["active"]},
                 after={"active": True})


def set_role(session: Session, username: str, role: str, *, actor: str) -> int:
    role = check_role(role)
    user = _user(session, username)
    if role == "inspector" and user["staff_id"] is None:
        raise InputError(f"{username} is not linked to a 四定 staff member; add one with --staff or --grid first")
    session.execute(sa.text("UPDATE app_user SET role = :r WHERE id = :id"), {"r": role, "id": user["id"]})
    ended = end_user_sessions(session, user["id"], "role")
    record_audit(session, actor, "user.role", "app_user", username, before={"role": user["role"]},
                 after={"role": role})
    return ended


def reset_password(session: Session, username: str, *, actor: str, password: str | None = None) -> str | None:
    """Set a new password (generated when None: returned, and to be changed at next login)."""
    user = _user(session, username)
    generated = password is None
    if generated:
        password = generate_password()
    else:
        check_password_rules(password, username)
    session.execute(sa.text(
        "UPDATE app_user SET password_hash = :h, must_change_password = :m, password_changed_at = now() "
        "WHERE id = :id"), {"h": hash_password(password), "m": generated, "id": user["id"]})
    end_user_sessions(session, user["id"], "password")
    record_audit(session, actor, "user.reset_password", "app_user", username)
    return password if generated else None


def change_password(session: Session, user: SessionUser, old: str, new: str) -> None:
    """The user's own change: checks the old password, the rules, and ends their other sessions."""
    stored = session.execute(sa.text("SELECT password_hash FROM app_user WHERE id = :id"),
                             {"id": user.id}).scalar_one()
    if not verify_password(stored, old):
        raise LoginRefused("原密码不正确")
    if new == old:
        raise InputError("新密码不能与原密码相同")
    check_password_rules(new, user.username)
    session.execute(sa.text(
        "UPDATE app_user SET password_hash = :h, must_change_password = false, password_changed_at = now() "
        "WHERE id = :id"), {"h": hash_password(new), "id": user.id})
    end_user_sessions(session, user.id, "password", keep=user.session_id)
    record_audit(session, user.label, "user.change_password", "app_user", user.username)


def log_in(session: Session, username: str, password: str, address: str | None) -> str:
    """Check the credentials (throttled per account and address); return a new session token.

    Every attempt is recorded; a refusal never says whether the user name exists.
    """
    username = (username or "").strip()[:USERNAME_MAX]
    _check_throttle(session, username, address)
    user = session.execute(sa.text(
        "SELECT id, password_hash, active FROM app_user WHERE lower(username) = lower(:u)"),
        {"u": username}).mappings().first()
    ok = bool(verify_password(user["password_hash"] if user else None, password or "") and user["active"])
    session.execute(sa.text("INSERT INTO login_attempt (username, address, ok) VALUES (:u, :a, :ok)"),
                    {"u": username, "a": address, "ok": ok})
    if not ok:
        record_audit(session, username or "?", "login.failed", "app_user", username or None, address=address)
        raise LoginRefused("用户名或密码不正确，或账号已停用")
    if needs_rehash(user["password_hash"]):
        session.execute(sa.text("UPDATE app_user SET password_hash = :h WHERE id = :id"),
                        {"h": hash_password(password), "id": user["id"]})
    record_audit(session, username, "login", "app_user", username, address=address)
    return start_session(session, user["id"], address)


def _check_throttle(session: Session, username: str, address: str | None) -> None:
    since = dt.datetime.now(dt.timezone.utc) - THROTTLE_WINDOW
    counts = session.execute(sa.text("""
        SELECT count(*) FILTER (WHERE lower(username) = lower(:u)) AS account,
               count(*) FILTER (WHERE address = :a) AS address
        FROM login_attempt WHERE at > :since AND NOT ok
          AND at > coalesce((SELECT max(at) FROM login_attempt WHERE ok AND lower(username) = lower(:u)),
                            '-infinity')"""), {"u": username, "a": address, "since": since}).one()
    minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
    if counts.account >= ACCOUNT_FAILURES:
        raise LoginThrottled(f"该账号登录失败次数过多，请 {minutes} 分钟后再试，或联系管理员重置密码")
    if address and counts.address >= ADDRESS_FAILURES:
        raise LoginThrottled(f"本机登录失败次数过多，请 {minutes} 分钟后再试")


def _user(session: Session, username: str):
    user = session.execute(sa.text(
        "SELECT id, username, role, active, staff_id FROM app_user WHERE lower(username) = lower(:u)"),
        {"u": username}).mappings().first()
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def _staff(session: Session, staff_id: int) -> None:
    if not session.execute(sa.text("SELECT 1 FROM staff WHERE id = :id"), {"id": staff_id}).first():
        raise NotFound(f"staff member {staff_id} does not exist (gisgrid export roster lists them)",
                       zh=f"人员 {staff_id} 不存在（gisgrid export roster 列出全部人员）")


def _new_staff(session: Session, name: str, staff_role: str) -> int:
    if staff_role not in ROLE_LABELS:
        raise InputError(f"staff role was {staff_role!r}; expected one of {', '.join(ROLE_LABELS)}")
    return session.execute(sa.text("INSERT INTO staff (name, role) VALUES (:n, :r) RETURNING id"),
                           {"n": name[:50], "r": staff_role}).scalar_one()


__all__ = ["ROLES", "LoginRefused", "LoginThrottled", "NewAccount", "add_user", "assign_grids",
           "change_password", "disable_user", "enable_user", "list_users", "log_in", "reset_password",
           "set_role"]

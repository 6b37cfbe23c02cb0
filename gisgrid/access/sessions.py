"""Server-side login sessions kept in PostgreSQL.

The browser holds a random token; the database holds its SHA-256 and the session's times.
A session ends when it is idle too long, when it is older than its absolute lifetime, at
logout, or for all of a user's sessions at once when the password, the role or the
account's status changes — an old cookie is then refused on its next request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

DEFAULT_IDLE = dt.timedelta(minutes=30)
DEFAULT_LIFETIME = dt.timedelta(hours=12)


@dataclass(frozen=True)
class SessionUser:
    """The logged-in user as the rest of gisgrid sees them."""

    id: int
    username: str
    display_name: str | None
    role: str
    staff_id: int | None
    must_change_password: bool
    session_id: str

    @property
    def label(self) -> str:
        """How the user is named in audit rows and on pages: "display name (username)"."""
        return f"{self.display_name}（{self.username}）" if self.display_name else self.username


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, user_id: int, address: str | None = None) -> str:
    """Open a new session for ``user_id``; return the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    session.execute(sa.text("INSERT INTO user_session (id, user_id, address) VALUES (:id, :u, :a)"),
                    {"id": _digest(token), "u": user_id, "a": address})
    return token


def resolve_session(session: Session, token: str | None, *, idle: dt.timedelta = DEFAULT_IDLE,
                    lifetime: dt.timedelta = DEFAULT_LIFETIME) -> SessionUser | None:
    """The user of a live session, touching its last-seen time; None for anything else.

    Expired sessions are marked as such, so the audit page can say why a user was logged out.
    """
    if not token or len(token) > 200:
        return None
    row = session.execute(sa.text("""
        SELECT s.id, s.created_at, s.last_seen_at, s.revoked_at, now() AS now,
               u.id AS user_id, u.username, u.display_name, u.role, u.staff_id, u.active,
               u.must_change_password
        FROM user_session s JOIN app_user u ON u.id = s.user_id
        WHERE s.id = :id"""), {"id": _digest(token)}).mappings().first()
    if row is None or row["revoked_at"] is not None or not row["active"]:
        return None
    why = ("idle" if row["now"] - row["last_seen_at"] > idle else
           "lifetime" if row["now"] - row["created_at"] > lifetime else None)
    if why:
        session.execute(sa.text("UPDATE user_session SET revoked_at = now(), revoked_why = :w WHERE id = :id"),
                        {"id": row["id"], "w": why})
        return None
    session.execute(sa.text("UPDATE user_session SET last_seen_at = now() WHERE id = :id"), {"id": row["id"]})
    return SessionUser(id=row["user_id"], username=row["username"], display_name=row["display_name"],
                       role=row["role"], staff_id=row["staff_id"],
                       must_change_password=row["must_change_password"], session_id=row["id"])


def end_session(session: Session, token: str | None, why: str = "logout") -> None:
    if token:
        session.execute(sa.text("UPDATE user_session SET revoked_at = now(), revoked_why = :w "
                                "WHERE id = :id AND revoked_at IS NULL"), {"id": _digest(token), "w": why})


def end_user_sessions(session: Session, user_id: int, why: str, *, keep: str | None = None) -> int:
    """End every live session of ``user_id`` (except the session id ``keep``); return how many."""
    result = session.execute(sa.text(
        "UPDATE user_session SET revoked_at = now(), revoked_why = :w "
        "WHERE user_id = :u AND revoked_at IS NULL AND id IS DISTINCT FROM :keep"),
        {"u": user_id, "w": why, "keep": keep})
    return result.rowcount

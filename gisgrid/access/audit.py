"""The audit log: every write, login, failed login and refused access, with who, where and when.

Rows are only ever inserted; nothing in gisgrid updates or deletes them.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import Session


def record_audit(session: Session, actor: str, action: str, entity: str, entity_id: str | None = None, *,
                 before: dict | None = None, after: dict | None = None, address: str | None = None) -> None:
    """Append one audit row in the caller's transaction (so it commits or rolls back with the change)."""
    session.execute(sa.text(
        "INSERT INTO audit_log (actor, action, entity, entity_id, before, after, address) "
        "VALUES (:actor, :action, :entity, :id, CAST(:before AS jsonb), CAST(:after AS jsonb), :address)"),
        {"actor": actor[:100], "action": action[:50], "entity": entity[:50],
         "id": None if entity_id is None else str(entity_id)[:100],
         "before": None if before is None else json.dumps(before, ensure_ascii=False, default=str),
         "after": None if after is None else json.dumps(after, ensure_ascii=False, default=str),
         "address": address})


def search_audit(session: Session, *, user: str | None = None, grid: str | None = None,
                 since=None, until=None, action: str | None = None, limit: int = 100,
                 offset: int = 0) -> tuple[int, list[dict]]:
    """(how many rows match, one page of them, newest first) of the audit log.

    ``user`` matches the actor (user name or display name, any part); ``grid`` a grid code
    as the entity or anywhere in the before/after values; ``since``/``until`` are dates
    (inclusive); ``action`` an action prefix (``login``, ``user.``, ``grid.`` …).
    """
    def like(text: str) -> str:
        return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    where, params = [], {"limit": limit, "offset": offset}
    if user:
        where.append("actor ILIKE :user")
        params["user"] = like(user)
    if grid:
        where.append("(entity_id = :grid OR before::text LIKE :grid_like OR after::text LIKE :grid_like)")
        params.update(grid=grid, grid_like=like(grid))
    if since:
        where.append("at >= CAST(:since AS date)")
        params["since"] = since
    if until:
        where.append("at < CAST(:until AS date) + 1")
        params["until"] = until
    if action:
        where.append("action LIKE :action")
        params["action"] = action.replace("%", "").replace("_", "\\_") + "%"
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    total = session.execute(sa.text(f"SELECT count(*) FROM audit_log {clause}"), params).scalar()
    rows = session.execute(sa.text(
        f"SELECT id, at, actor, address, action, entity, entity_id, before, after FROM audit_log {clause} "
        "ORDER BY id DESC LIMIT :limit OFFSET :offset"), params).mappings().all()
    return total, [dict(r) for r in rows]

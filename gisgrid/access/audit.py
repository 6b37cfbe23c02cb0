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

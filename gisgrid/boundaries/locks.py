"""Locked grids of a draft (规划锁定): grids that no edit may change, whoever sends it.

A planner locks the grids that are settled (a street agreed with its office, a boundary fixed
by a ruling) before moving the rest around them. The lock is the server's: every edit of
:mod:`gisgrid.boundaries.edit` asks :func:`refuse_locked` with the grids it changed and is
refused — nothing written — when one of them is locked, from any browser, the API or the CLI.
Locks belong to one draft (table ``grid_lock``, by code) and are not copied into new drafts.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.errors import Conflict, InputError, NotFound

__all__ = ["GridLocked", "grid_locks", "refuse_locked", "set_locks"]


class GridLocked(Conflict):
    """An edit would change a locked grid."""


def _draft_id(session: Session, generation: str) -> int:
    row = session.execute(sa.text("SELECT id, status FROM generation WHERE name = :n"), {"n": generation}).first()
    if row is None:
        raise NotFound(f"generation {generation[:100]!r} does not exist (gisgrid grids list shows them)",
                       zh=f"网格版本“{generation[:100]}”不存在")
    if row.status != "draft":
        raise Conflict(f"generation {generation!r} is {row.status}; only a draft's grids are locked or unlocked",
                       zh=f"网格版本“{generation[:100]}”不是草稿（{row.status}），只有草稿的网格可以锁定或解锁")
    return row.id


def grid_locks(session: Session, generation: str) -> dict[str, dict]:
    """The locked grids of ``generation``: code -> {"by", "at" (ISO time), "reason"}."""
    rows = session.execute(sa.text(
        "SELECT l.code, l.locked_by, l.locked_at, l.reason FROM grid_lock l "
        "JOIN generation n ON n.id = l.generation_id WHERE n.name = :n ORDER BY l.code"), {"n": generation}).all()
    return {r.code: {"by": r.locked_by, "at": r.locked_at.isoformat(timespec="seconds"), "reason": r.reason}
            for r in rows}


def set_locks(session: Session, generation: str, codes: list[str], *, locked: bool, actor: str,
              reason: str | None = None) -> dict:
    """Lock (or unlock) ``codes`` in draft ``generation``; the audit log says who did it.

    Codes already in that state are left as they are (reported as ``unchanged``); a code the
    draft does not have is an error and nothing is written.

    Examples
    --------
    ``set_locks(s, "2027稿", ["419901001"], locked=True, actor="planner")`` ->
    ``{"generation": "2027稿", "locked": True, "changed": ["419901001"], "unchanged": [], "locks": {...}}``
    """
    if not codes:
        raise InputError("no grid codes were given; name the grids to lock or unlock",
                         zh="没有给出要锁定或解锁的网格编码")
    gen_id = _draft_id(session, generation)
    codes = sorted(set(codes))
    known = set(session.execute(sa.text("SELECT code FROM grid WHERE generation_id = :g AND code = ANY(:c)"),
                                {"g": gen_id, "c": codes}).scalars())
    unknown = [c for c in codes if c not in known]
    if unknown:
        shown = "、".join(unknown[:5]) + ("等" if len(unknown) > 5 else "")
        raise NotFound(f"grids {', '.join(unknown[:5])} do not exist in {generation!r}; nothing was locked",
                       zh=f"此网格版本中没有网格 {shown}；未做任何修改")
    if locked:
        changed = list(session.execute(sa.text(
            "INSERT INTO grid_lock (generation_id, code, locked_by, reason) "
            "SELECT :g, c, :by, :reason FROM unnest(CAST(:c AS text[])) AS c "
            "ON CONFLICT DO NOTHING RETURNING code"),
            {"g": gen_id, "c": codes, "by": actor, "reason": reason}).scalars())
    else:
        changed = list(session.execute(sa.text(
            "DELETE FROM grid_lock WHERE generation_id = :g AND code = ANY(:c) RETURNING code"),
            {"g": gen_id, "c": codes}).scalars())
    changed.sort()
    if changed:
        session.execute(sa.text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, before, after) "
            "VALUES (:actor, :action, 'generation', :g, NULL, CAST(:after AS jsonb))"),
            {"actor": actor, "action": "grid.lock" if locked else "grid.unlock", "g": generation,
             "after": json.dumps({"codes": changed, "reason": reason}, ensure_ascii=False)})
    return {"generation": generation, "locked": locked, "changed": changed,
            "unchanged": [c for c in codes if c not in changed], "locks": grid_locks(session, generation)}


def refuse_locked(session: Session, generation: str, codes, what: str) -> None:
    """Raise :class:`GridLocked` when any of ``codes`` is locked in ``generation``.

    Called by every edit, inside its transaction, with the grids the edit changed.
    """
    codes = sorted({c for c in codes if c})
    if not codes:
        return
    rows = session.execute(sa.text(
        "SELECT l.code, l.locked_by FROM grid_lock l JOIN generation n ON n.id = l.generation_id "
        "WHERE n.name = :n AND l.code = ANY(:c) ORDER BY l.code"), {"n": generation, "c": codes}).all()
    if rows:
        names = ", ".join(f"{r.code} (by {r.locked_by})" for r in rows)
        names_zh = "、".join(f"{r.code}（{r.locked_by} 锁定）" for r in rows)
        raise GridLocked(f"{what} refused: it would change locked grid(s) {names}; nothing was changed. "
                         "Unlock them first (gisgrid grids lock --unlock)",
                         details=[{"code": r.code, "locked_by": r.locked_by} for r in rows],
                         zh=f"会改动已锁定的网格 {names_zh}；未做任何修改。如需修改，请先解锁")

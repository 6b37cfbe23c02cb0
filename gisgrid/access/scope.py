"""The one gate: which grids and employers a user may see.

Admins, leaders and planners see every grid (planners without employers' personal fields);
an inspector sees the grids their 四定 staff member answers for today (``staff_grid`` rows
whose from/to dates include today) and every grid below them, and only the employers
assigned to those grids.  Reassigning staff changes the scope at once: nothing is cached
beyond one request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.roles import may


@dataclass(frozen=True)
class Scope:
    """What one user may see in one generation."""

    role: str
    #: None: every grid; otherwise the ids of the grids (own grids and their descendants).
    grid_ids: frozenset[int] | None
    #: The grids the user answers for directly (codes), for "我的网格".
    own_codes: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return self.grid_ids is None

    @property
    def personal(self) -> bool:
        """May see employers' personal fields (法定代表人, 联系人, 电话 …)."""
        return may(self.role, "employers.personal")

    def may(self, capability: str) -> bool:
        return may(self.role, capability)

    def sees_grid(self, grid_id: int | None) -> bool:
        return self.grid_ids is None or (grid_id is not None and grid_id in self.grid_ids)

    def cache_key(self) -> str:
        """A key for caches of scoped output (tiles, reports): never share one across scopes."""
        if self.grid_ids is None:
            return f"{self.role}:all"
        import hashlib

        ids = ",".join(str(i) for i in sorted(self.grid_ids))
        return f"{self.role}:{hashlib.sha256(ids.encode()).hexdigest()[:16]}"


def user_scope(session: Session, role: str, staff_id: int | None, *, generation_id: int | None = None,
               on: dt.date | None = None) -> Scope:
    """The scope of a user with ``role`` (and, for an inspector, ``staff_id``).

    ``generation_id`` defaults to the active generation.  An inspector without a staff member
    or without a current assignment sees no grid at all (an empty scope, never everything).

    Examples
    --------
    >>> user_scope(session, "inspector", 12).own_codes  # doctest: +SKIP
    ('419901001',)
    """
    if role != "inspector":
        return Scope(role, None)
    if staff_id is None:
        return Scope(role, frozenset())
    rows = session.execute(sa.text("""
        WITH RECURSIVE gen AS (
            SELECT coalesce(CAST(:gen AS integer), (SELECT id FROM generation WHERE status = 'active')) AS id
        ), own AS (
            SELECT DISTINCT g.id, g.code FROM staff_grid sg
            JOIN grid g ON g.identity = sg.grid_identity AND g.generation_id = (SELECT id FROM gen)
            WHERE sg.staff_id = :staff
              AND (sg.valid_from IS NULL OR sg.valid_from <= :on)
              AND (sg.valid_to IS NULL OR sg.valid_to >= :on)
        ), tree AS (
            SELECT id, true AS own, code FROM own
            UNION
            SELECT c.id, false, c.code FROM grid c JOIN tree t ON c.parent_id = t.id
        )
        SELECT id, own, code FROM tree"""), {"gen": generation_id, "staff": staff_id,
                                              "on": on or clock.today()}).all()
    return Scope(role, frozenset(r.id for r in rows), tuple(sorted({r.code for r in rows if r.own})))


def visible_employer_ids(session: Session, scope: Scope, employer_ids: list[int],
                         generation_id: int | None = None) -> set[int]:
    """Which of ``employer_ids`` the scope may see (by their assignment in the generation)."""
    if scope.everything:
        return set(employer_ids)
    if not scope.grid_ids or not employer_ids:
        return set()
    rows = session.execute(sa.text("""
        SELECT a.employer_id FROM assignment a
        WHERE a.employer_id = ANY(:ids) AND a.grid_id = ANY(:grids)
          AND a.generation_id = coalesce(CAST(:gen AS integer), (SELECT id FROM generation WHERE status = 'active'))"""),
        {"ids": list(employer_ids), "grids": list(scope.grid_ids), "gen": generation_id}).scalars()
    return set(rows)

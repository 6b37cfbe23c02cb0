"""四定 staffing standard: which grids have fewer (or more) staff in force than their level needs.

The standard is a setting (``GISGRID_STAFF_MINIMUMS``, :class:`gisgrid.config.StaffingRule`):
DOMAIN.md's numbers differ between cities. A grid takes the rule naming its kind, else the
rule naming its level, else none — a grid without a rule is never marked. Only staff whose
role the rule counts and whose assignment is in force on the day (from/to inclusive,
:func:`gisgrid.clock.today` by default) count; a person counts once per grid.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.config import DEFAULT_STAFF_MINIMUMS, StaffingRule, parse_staff_minimums
from gisgrid.labels import ROLE_LABELS

__all__ = ["DEFAULT_RULES", "STATUSES", "rule_for", "staffing_check", "staffing_text"]

DEFAULT_RULES: tuple[StaffingRule, ...] = parse_staff_minimums(DEFAULT_STAFF_MINIMUMS)
#: status → what the roster and the pages say
STATUSES = {"ok": "达标", "under": "不足", "over": "超编"}


def rule_for(kind: str, level: int, rules: tuple[StaffingRule, ...] = DEFAULT_RULES) -> StaffingRule | None:
    """The rule of a grid of ``kind`` at ``level``: by kind first, then by level; None without one.

    >>> rule_for("village", 3).maximum, rule_for("city", 1)
    (3, None)
    """
    return next((r for r in rules if kind in r.kinds), None) or next((r for r in rules if level in r.levels), None)


def staffing_check(session: Session, generation: int | str | None = None, on: dt.date | None = None, *,
                   rules: tuple[StaffingRule, ...] = DEFAULT_RULES) -> list[dict]:
    """Every grid of a generation against the staffing standard, in level and code order.

    Parameters
    ----------
    generation : int, str or None
        A generation id, a generation name, or None for the active one.
    on : date, optional
        The day whose assignments count; default :func:`gisgrid.clock.today`.
    rules : tuple of StaffingRule
        ``settings.staff_minimums``; default the DOMAIN.md numbers.

    Returns
    -------
    list of dict
        ``code``, ``name``, ``level``, ``kind``, ``counts`` (role → people in force, every
        role), ``counted`` (people of the roles the rule counts), ``minimum``, ``maximum``
        (None: no limit or no rule), ``rule`` (its Chinese description, None without a rule),
        ``status`` (``"ok"``, ``"under"`` or ``"over"``; a grid without a rule is ``"ok"``)
        and ``text`` (:func:`staffing_text`).

    Examples
    --------
    >>> [r for r in staffing_check(session) if r["status"] == "under"][:1]  # doctest: +SKIP
    [{'code': '419901001', 'level': 2, 'kind': 'street', 'counts': {'full_time': 1, ...}, 'counted': 1,
      'minimum': 2, 'maximum': None, 'status': 'under', 'text': '不足（应≥2，现1）', ...}]

    A street whose only inspector's assignment ended yesterday is ``under`` today.
    """
    on = on or clock.today()
    gen_id = _generation_id(session, generation)
    rows = session.execute(sa.text("""
        SELECT g.code, g.name, g.level, g.kind, s.role, count(DISTINCT s.id) AS n
        FROM grid g
        LEFT JOIN staff_grid sg ON sg.grid_identity = g.identity
             AND (sg.valid_from IS NULL OR sg.valid_from <= :on) AND (sg.valid_to IS NULL OR sg.valid_to >= :on)
        LEFT JOIN staff s ON s.id = sg.staff_id
        WHERE g.generation_id = :gen
        GROUP BY g.code, g.name, g.level, g.kind, s.role
        ORDER BY g.level, g.code"""), {"gen": gen_id, "on": on}).mappings().all()
    grids: dict[str, dict] = {}
    for r in rows:
        grid = grids.setdefault(r["code"], {"code": r["code"], "name": r["name"], "level": int(r["level"]),
                                            "kind": r["kind"], "counts": {role: 0 for role in ROLE_LABELS}})
        if r["role"] is not None:
            grid["counts"][r["role"]] = grid["counts"].get(r["role"], 0) + int(r["n"])
    return [_judge(grid, rule_for(grid["kind"], grid["level"], rules)) for grid in grids.values()]


def staffing_text(row: dict) -> str:
    """What a person reads about one grid of :func:`staffing_check`.

    >>> staffing_text({"status": "under", "minimum": 2, "maximum": None, "counted": 1, "rule": "x"})
    '不足（应≥2，现1）'
    >>> staffing_text({"status": "over", "minimum": 1, "maximum": 3, "counted": 4, "rule": "x"})
    '超编（应≤3，现4）'
    """
    if row["rule"] is None:
        return "—"
    if row["status"] == "under":
        return f"不足（应≥{row['minimum']}，现{row['counted']}）"
    if row["status"] == "over":
        return f"超编（应≤{row['maximum']}，现{row['counted']}）"
    return STATUSES["ok"]


def _judge(grid: dict, rule: StaffingRule | None) -> dict:
    if rule is None:
        grid.update(counted=sum(grid["counts"].values()), minimum=None, maximum=None, rule=None, status="ok")
    else:
        counted = sum(grid["counts"].get(role, 0) for role in rule.roles)
        status = "under" if counted < rule.minimum else \
            "over" if rule.maximum is not None and counted > rule.maximum else "ok"
        grid.update(counted=counted, minimum=rule.minimum, maximum=rule.maximum, rule=rule.describe(),
                    status=status)
    grid["text"] = staffing_text(grid)
    return grid


def _generation_id(session: Session, generation: int | str | None) -> int:
    if isinstance(generation, int):
        return generation
    from gisgrid.db.queries import find_generation

    return find_generation(session, generation).id

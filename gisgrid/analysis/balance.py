"""Workload balance of a generation's grids: employers, headcount, 四定 staff, and what is off.

A draft has no assignment rows, so employers are counted by the generation's own boundaries:
each employer point goes to the finest grid that covers it (``ST_Covers``, the lowest code on a
shared edge — the rule of :mod:`gisgrid.analysis.assign`), and each finest grid's counts are
added to all its ancestors. Staff are the 四定 assignments in force (``staff_grid`` follows the
grid's stable identity, so a copied draft keeps its staff and a grid cut off by a split has
none). Each grid is measured against its level's target — a setting
(``GISGRID_BALANCE_TARGETS``), else the mean of it and its siblings under the same parent.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.access.staffing import DEFAULT_RULES, staffing_check
from gisgrid.config import DEFAULT_EMPLOYERS_PER_COORDINATOR, StaffingRule
from gisgrid.errors import InputError

__all__ = ["FLAGS", "generation_balance"]

#: flag → what the editor and the CLI say
FLAGS = {"over_capacity": "超出协管员承载", "understaffed": "人员配备不足", "not_contiguous": "不连续（多块）",
         "empty": "无用人单位"}

# Employers per finest grid of the generation, by its geometry (no assignment rows needed).
_COUNTS = """
-- MATERIALIZED: the finest grids stay the outer side, each probing the employer index. Inlined,
-- the planner (after a series of edits) took every employer outside, probed the grid index and
-- tested each point against its street and city too, detoasting them 20,000 times (6 s).
WITH leaf AS MATERIALIZED (
    SELECT g.id, g.code, g.geom FROM grid g
    WHERE g.generation_id = :gen AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = g.id)
), hit AS (
    SELECT DISTINCT ON (e.id) e.id, l.id AS grid_id, e.headcount, e.key_flags
    FROM leaf l JOIN employer e ON ST_Covers(l.geom, e.geom)
    ORDER BY e.id, l.code
)
SELECT grid_id, count(*) AS employers,
       coalesce(sum(headcount) FILTER (WHERE headcount > 0), 0)::bigint AS headcount,
       count(*) FILTER (WHERE coalesce(key_flags, '') <> '') AS key_supervision
FROM hit GROUP BY grid_id
"""

_GRIDS = """
SELECT g.id, g.code, g.name, g.level, g.kind, g.parent_id, g.version, ST_NumGeometries(g.geom) AS parts
FROM grid g WHERE g.generation_id = :gen ORDER BY g.level, g.code
"""

# Coordinators in force per grid (each person once per grid), for the capacity of the grid and its ancestors.
_COORDINATORS = """
SELECT g.id AS grid_id, s.id AS staff_id
FROM grid g JOIN staff_grid sg ON sg.grid_identity = g.identity
JOIN staff s ON s.id = sg.staff_id AND s.role = 'coordinator'
WHERE g.generation_id = :gen AND (sg.valid_from IS NULL OR sg.valid_from <= :on)
  AND (sg.valid_to IS NULL OR sg.valid_to >= :on)
"""


def generation_balance(session: Session, generation: str | None = None, *, level: int | None = None,
                       targets: dict[int, int] | None = None,
                       employers_per_coordinator: int = DEFAULT_EMPLOYERS_PER_COORDINATOR,
                       rules: tuple[StaffingRule, ...] = DEFAULT_RULES, on: dt.date | None = None) -> dict:
    """Per grid of ``generation`` (a draft too): its load, its 四定 staff and its flags.

    Parameters
    ----------
    generation
        Generation name; None for the active one.
    level
        Only the grids of this level (counts are over the whole generation all the same).
    targets
        Target employers per grid by level (``settings.balance_targets``); a level without one
        is measured against the mean of the grid and its siblings under the same parent.
    employers_per_coordinator
        A grid is ``over_capacity`` when it has more employers than this per coordinator
        (协管员) of it and the grids below it (a grid without one counts as having one).
    rules
        The 四定 staffing standard (``settings.staff_minimums``), for ``understaffed``.
    on
        The day whose staff assignments count (default today).

    Returns
    -------
    dict
        ``generation``, ``status``, ``employers`` (covered by a finest grid), ``outside``
        (employers with a point covered by none), ``employers_per_coordinator``, and ``grids``:
        per grid ``code``, ``name``, ``level``, ``kind``, ``parent_code``, ``version``,
        ``employers``, ``headcount``, ``key_supervision``, ``staff`` ({"full_time", "part_time",
        "coordinator"}: its own 四定 staff in force), ``coordinators`` (of it and below),
        ``target``, ``target_from`` (``setting`` or ``siblings``), ``deviation`` ((employers −
        target) / target, None for a target of 0), ``parts`` and ``flags`` (``over_capacity``,
        ``understaffed``, ``not_contiguous``, ``empty`` → bool).

    Examples
    --------
    A village split off by the planner: no staff yet, and half the employers of its neighbour.

    >>> generation_balance(session, "2027草稿", level=3)["grids"][0]  # doctest: +SKIP
    {'code': '419901001021', 'employers': 41, 'staff': {'full_time': 0, 'part_time': 0, 'coordinator': 0},
     'target': 80.5, 'deviation': -0.491, 'flags': {'understaffed': True, 'empty': False, ...}, ...}
    """
    from gisgrid import clock
    from gisgrid.db.queries import find_generation

    if level is not None and not 1 <= int(level) <= 6:
        raise InputError(f"网格层级为 {level!r}；应为 1–6")
    if employers_per_coordinator < 1:
        raise InputError(f"每名协管员承载的用人单位数为 {employers_per_coordinator}；应为正整数")
    gen = find_generation(session, generation)
    on = on or clock.today()
    # A read of a few statements: JIT and parallel start-up would cost more than the joins.
    session.execute(sa.text("SET LOCAL jit = off"))
    grids = {r["id"]: dict(r) for r in session.execute(sa.text(_GRIDS), {"gen": gen.id}).mappings()}
    counts = {r["grid_id"]: r for r in session.execute(sa.text(_COUNTS), {"gen": gen.id}).mappings()}
    totals = _rolled_up(grids, counts)
    coordinators = _coordinators(session, gen.id, grids, on)
    staffing = {r["code"]: r for r in staffing_check(session, gen.id, on, rules=rules)}
    rows = [_row(grid, grids, totals[grid_id], len(coordinators.get(grid_id, ())), staffing.get(grid["code"]),
                 employers_per_coordinator) for grid_id, grid in grids.items()]
    _measure(rows, targets or {})
    covered = sum(c["employers"] for c in counts.values())
    located = session.execute(sa.text("SELECT count(*) FROM employer WHERE geom IS NOT NULL")).scalar()
    return {"generation": gen.name, "status": gen.status, "employers": covered, "outside": int(located) - covered,
            "employers_per_coordinator": employers_per_coordinator,
            "grids": [r for r in rows if level is None or r["level"] == int(level)]}


def _rolled_up(grids: dict[int, dict], counts: dict[int, dict]) -> dict[int, dict]:
    """Each grid's own counts plus those of every grid below it."""
    totals = {i: {"employers": 0, "headcount": 0, "key_supervision": 0} for i in grids}
    for grid_id, count in counts.items():
        node = grid_id
        while node is not None and node in grids:
            for key in totals[node]:
                totals[node][key] += int(count[key])
            node = grids[node]["parent_id"]
    return totals


def _coordinators(session: Session, gen_id: int, grids: dict[int, dict], on: dt.date) -> dict[int, set]:
    """Coordinators of each grid and of the grids below it (each person once)."""
    found: dict[int, set] = {}
    for grid_id, staff_id in session.execute(sa.text(_COORDINATORS), {"gen": gen_id, "on": on}).all():
        node = grid_id
        while node is not None and node in grids:
            found.setdefault(node, set()).add(staff_id)
            node = grids[node]["parent_id"]
    return found


def _row(grid: dict, grids: dict[int, dict], total: dict, coordinators: int, staffing: dict | None,
         per_coordinator: int) -> dict:
    parent = grids.get(grid["parent_id"])
    counts = (staffing or {}).get("counts", {})
    staff = {role: int(counts.get(role, 0)) for role in ("full_time", "part_time", "coordinator")}
    employers = total["employers"]
    return {"code": grid["code"], "name": grid["name"], "level": int(grid["level"]), "kind": grid["kind"],
            "parent_code": parent["code"] if parent else None, "version": grid["version"],
            "employers": employers, "headcount": total["headcount"], "key_supervision": total["key_supervision"],
            "staff": staff, "coordinators": coordinators,
            "staffing": (staffing or {}).get("text"), "parts": int(grid["parts"] or 0),
            "flags": {"over_capacity": employers > per_coordinator * max(coordinators, 1),
                      "understaffed": bool(staffing and staffing["status"] == "under"),
                      "not_contiguous": int(grid["parts"] or 0) > 1,
                      "empty": employers == 0}}


def _measure(rows: list[dict], targets: dict[int, int]) -> None:
    """Target and deviation of each row: the level's setting, else the mean of its siblings."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["level"], row["parent_code"]), []).append(row)
    for members in groups.values():
        mean = sum(r["employers"] for r in members) / len(members)
        for row in members:
            target = targets.get(row["level"])
            row["target"], row["target_from"] = (target, "setting") if target else (round(mean, 1), "siblings")
            row["deviation"] = (round((row["employers"] - row["target"]) / row["target"], 3)
                                if row["target"] else None)

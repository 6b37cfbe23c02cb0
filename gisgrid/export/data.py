"""The data the exports read: grids, employers and 四定 staff of one generation.

Own SQL on purpose (``text()`` with bind parameters): the exports need a few columns
the named queries of :mod:`gisgrid.db.queries` do not return (identity, survey fields,
parent names), and keeping them here lets the two evolve separately.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.errors import InputError, NotFound
from gisgrid.labels import KIND_LABELS, ROLE_LABELS

__all__ = [
    "ROLE_LABELS", "KIND_LABELS", "GenerationInfo", "find_export_generation", "find_grid",
    "read_grids", "read_employers", "read_unassigned_employers", "read_employer_points", "read_staff",
    "grid_levels", "list_grid_choices", "describe_target",
]


# Ids of a grid and every descendant.
_SCOPE = """
    SELECT id FROM grid WHERE id = :scope_id
    UNION ALL SELECT g.id FROM grid g JOIN scope s ON g.parent_id = s.id
"""

# Employers per grid including descendants: count at the assigned grid, add up the chain.
_ROLLUP = """
    SELECT a.grid_id AS gid, count(*) AS n FROM assignment a
    WHERE a.generation_id = :gen AND a.grid_id IS NOT NULL GROUP BY a.grid_id
    UNION ALL
    SELECT g.parent_id, up.n FROM up JOIN grid g ON g.id = up.gid WHERE g.parent_id IS NOT NULL
"""


@dataclass(frozen=True)
class GenerationInfo:
    """The generation an export is drawn from (its effective date is the data date)."""

    id: int
    name: str
    status: str
    effective_from: dt.date | None


def find_export_generation(session: Session, name: str | None = None) -> GenerationInfo:
    """The generation called ``name``, or the active one."""
    if name:
        row = session.execute(sa.text(
            "SELECT id, name, status, effective_from FROM generation WHERE name = :n"), {"n": name}).first()
        if row is None:
            raise NotFound(f"generation {name!r} does not exist", zh=f"网格版本“{str(name)[:100]}”不存在")
    else:
        row = session.execute(sa.text(
            "SELECT id, name, status, effective_from FROM generation WHERE status = 'active'")).first()
        if row is None:
            raise NotFound("no generation is active yet; import grids and run `gisgrid grids activate NAME`",
                           zh="还没有生效的网格版本：请先导入网格并启用（gisgrid grids activate 版本名）")
    return GenerationInfo(*row)


def find_grid(session: Session, gen: GenerationInfo, code: str) -> dict:
    """One grid's record (id, code, name, level, kind, identity) or NotFound."""
    row = session.execute(sa.text(
        "SELECT id, code, name, level, kind, identity FROM grid WHERE generation_id = :gen AND code = :code"),
        {"gen": gen.id, "code": code}).mappings().first()
    if row is None:
        raise NotFound(f"grid {code!r} does not exist in generation {gen.name!r}",
                       zh=f"网格“{str(code)[:100]}”在网格版本“{gen.name}”中不存在")
    return dict(row)


def grid_levels(session: Session, gen: GenerationInfo) -> list[int]:
    """The levels present in a generation, ascending."""
    return [int(v) for v in session.execute(sa.text(
        "SELECT DISTINCT level FROM grid WHERE generation_id = :gen ORDER BY level"), {"gen": gen.id}).scalars()]


def read_grids(session: Session, gen: GenerationInfo, level: int | None = None,
               within_code: str | None = None) -> gpd.GeoDataFrame:
    """Grids (EPSG:4490) with parent code/name and employer counts (descendants included).

    ``within_code`` keeps the grid of that code and its descendants.
    """
    if level is not None and not 1 <= level <= 6:
        raise InputError(f"level was {level!r}; expected 1-6")
    scope_id = find_grid(session, gen, within_code)["id"] if within_code else None
    sql = f"""
        WITH RECURSIVE scope AS ({_SCOPE if scope_id else 'SELECT NULL::int AS id'}),
        up (gid, n) AS ({_ROLLUP}),
        counts AS (SELECT gid, sum(n)::bigint AS employers FROM up GROUP BY gid)
        SELECT g.id, g.code, g.name, g.kind, g.level, g.identity::text AS identity,
               p.code AS parent_code, p.name AS parent_name,
               coalesce(c.employers, 0)::int AS employers, g.geom
        FROM grid g LEFT JOIN grid p ON p.id = g.parent_id LEFT JOIN counts c ON c.gid = g.id
        WHERE g.generation_id = :gen AND (CAST(:level AS int) IS NULL OR g.level = :level)
          AND (CAST(:scope_id AS int) IS NULL OR g.id IN (SELECT id FROM scope))
        ORDER BY g.level, g.code
    """
    return gpd.read_postgis(sa.text(sql), session.connection(), geom_col="geom",
                            params={"gen": gen.id, "level": level, "scope_id": scope_id})


_EMPLOYER_COLUMNS = """
    e.id, e.credit_code, e.org_code, e.name, e.address, e.legal_rep, e.hr_contact, e.phone,
    e.industry, e.ownership, e.headcount, e.contracts_signed, e.insured,
    e.wage_arrears_months, e.fee_arrears_months, e.opened_on, e.surveyed_on, e.status,
    coalesce(e.risk_level, 0) AS risk_level, e.risk_rule, e.located_by, e.location_precision,
    ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
"""


def read_employers(session: Session, gen: GenerationInfo, within_code: str | None = None) -> pd.DataFrame:
    """Every employer assigned to a grid (or inside ``within_code``), with its assigned grid's id."""
    scope_id = find_grid(session, gen, within_code)["id"] if within_code else None
    sql = f"""
        WITH RECURSIVE scope AS ({_SCOPE if scope_id else 'SELECT NULL::int AS id'})
        SELECT a.grid_id, {_EMPLOYER_COLUMNS}
        FROM assignment a JOIN employer e ON e.id = a.employer_id
        WHERE a.generation_id = :gen AND a.grid_id IS NOT NULL
          AND (CAST(:scope_id AS int) IS NULL OR a.grid_id IN (SELECT id FROM scope))
        ORDER BY e.risk_level DESC NULLS LAST, e.name, e.id
    """
    frame = pd.read_sql_query(sa.text(sql), session.connection(), params={"gen": gen.id, "scope_id": scope_id},
                              dtype={"credit_code": "string", "org_code": "string", "phone": "string"})
    return frame


def read_unassigned_employers(session: Session, gen: GenerationInfo) -> pd.DataFrame:
    """Employers outside every grid or not located, with the nearest grid's code and distance."""
    sql = f"""
        SELECT {_EMPLOYER_COLUMNS}, n.code AS nearest_code, round(a.distance_m::numeric, 1)::float AS distance_m
        FROM employer e
        LEFT JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
        LEFT JOIN grid n ON n.id = a.nearest_grid_id
        WHERE a.grid_id IS NULL
        ORDER BY e.name, e.id
    """
    return pd.read_sql_query(sa.text(sql), session.connection(), params={"gen": gen.id},
                             dtype={"credit_code": "string", "org_code": "string", "phone": "string"})


def read_employer_points(session: Session, gen: GenerationInfo,
                         within_code: str | None = None) -> gpd.GeoDataFrame:
    """Located, assigned employers as points (EPSG:4490) with ``risk_level`` (0–3)."""
    scope_id = find_grid(session, gen, within_code)["id"] if within_code else None
    sql = f"""
        WITH RECURSIVE scope AS ({_SCOPE if scope_id else 'SELECT NULL::int AS id'})
        SELECT e.id, coalesce(e.risk_level, 0) AS risk_level, e.geom
        FROM assignment a JOIN employer e ON e.id = a.employer_id
        WHERE a.generation_id = :gen AND a.grid_id IS NOT NULL AND e.geom IS NOT NULL
          AND (CAST(:scope_id AS int) IS NULL OR a.grid_id IN (SELECT id FROM scope))
        ORDER BY coalesce(e.risk_level, 0), e.id
    """
    return gpd.read_postgis(sa.text(sql), session.connection(), geom_col="geom",
                            params={"gen": gen.id, "scope_id": scope_id})


def read_staff(session: Session, gen: GenerationInfo, within_code: str | None = None,
               on: dt.date | None = None) -> pd.DataFrame:
    """四定 staff in force on ``on`` (today) for the grids of a generation, one row per person and grid.

    Grids with nobody appear once with empty staff columns, so a roster shows the gaps.
    """
    scope_id = find_grid(session, gen, within_code)["id"] if within_code else None
    sql = f"""
        WITH RECURSIVE scope AS ({_SCOPE if scope_id else 'SELECT NULL::int AS id'})
        SELECT g.id AS grid_id, g.code AS grid_code, g.name AS grid_name, g.level, g.kind,
               s.name AS person, s.role, s.phone, s.unit, sg.duty, sg.task, sg.valid_from, sg.valid_to
        FROM grid g
        LEFT JOIN staff_grid sg ON sg.grid_identity = g.identity
             AND (sg.valid_from IS NULL OR sg.valid_from <= :on)
             AND (sg.valid_to IS NULL OR sg.valid_to >= :on)
        LEFT JOIN staff s ON s.id = sg.staff_id
        WHERE g.generation_id = :gen
          AND (CAST(:scope_id AS int) IS NULL OR g.id IN (SELECT id FROM scope))
        ORDER BY g.level, g.code,
                 CASE s.role WHEN 'full_time' THEN 0 WHEN 'part_time' THEN 1 ELSE 2 END, s.name
    """
    return pd.read_sql_query(sa.text(sql), session.connection(),
                             params={"gen": gen.id, "scope_id": scope_id, "on": on or clock.today()},
                             dtype={"grid_code": "string", "phone": "string"})


def list_grid_choices(session: Session, gen: GenerationInfo, max_level: int = 3) -> list[dict]:
    """Code, name and level of the grids down to ``max_level`` (for pickers), in code order."""
    rows = session.execute(sa.text(
        "SELECT code, name, level FROM grid WHERE generation_id = :gen AND level <= :lvl ORDER BY code"),
        {"gen": gen.id, "lvl": max_level}).mappings()
    return [dict(r) for r in rows]


def describe_target(target) -> str:
    """A printable name for an output: the path itself, or a stream's ``name`` (``<stream>``)."""
    if isinstance(target, (str, os.PathLike)):
        return str(target)
    return str(getattr(target, "name", "<stream>"))

"""Named read queries over the grids and employers of a generation.

Each takes a session and plain values and returns plain values or GeoDataFrames;
callers (CLI, web) never build SQL themselves.
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.config import DEFAULT_STALE_MONTHS
from gisgrid.db.models import Generation
from gisgrid.errors import NotFound

def active_generation(session: Session) -> Generation | None:
    return session.scalar(sa.select(Generation).where(Generation.status == "active"))


def find_generation(session: Session, name: str | None = None, on: dt.date | None = None) -> Generation:
    """The generation called ``name``, the one in force on date ``on``, or the active one."""
    query = sa.select(Generation)
    if name:
        gen = session.scalar(query.where(Generation.name == name))
        if gen is None:
            # No list of the others: a web 404 must not enumerate drafts (`gisgrid grids list` does).
            raise NotFound(f"generation {name[:100]!r} does not exist (gisgrid grids list shows them)",
                           zh=f"网格版本“{name[:100]}”不存在")
        return gen
    if on:
        gen = session.scalar(query.where(
            Generation.status != "draft", Generation.effective_from <= on,
            sa.or_(Generation.effective_to.is_(None), Generation.effective_to >= on),
        ).order_by(Generation.effective_from.desc()))
        if gen is None:
            raise NotFound(f"no generation was in force on {on.isoformat()}", zh=f"{on.isoformat()} 没有生效的网格版本")
        return gen
    gen = active_generation(session)
    if gen is None:
        raise NotFound("no generation is active yet; import grids and run `gisgrid grids activate NAME`",
                   zh="还没有生效的网格版本：请先导入网格并启用（gisgrid grids activate 版本名）")
    return gen



# Employers per grid including its descendants: count at the finest grids, then
# add each count to every ancestor by walking up the parent chain.
_ROLLUP = """
WITH RECURSIVE up AS (
    SELECT a.grid_id AS gid, count(*) AS n FROM assignment a
    WHERE a.generation_id = :gen AND a.grid_id IS NOT NULL GROUP BY a.grid_id
    UNION ALL
    SELECT g.parent_id, up.n FROM up JOIN grid g ON g.id = up.gid WHERE g.parent_id IS NOT NULL
)
SELECT gid, sum(n)::bigint AS employers FROM up GROUP BY gid
"""


def list_grids(session: Session, generation: str | None = None, level: int | None = None) -> list[dict]:
    """Grids of a generation with their parent code and employer counts (descendants included)."""
    gen = find_generation(session, generation)
    rows = session.execute(sa.text(f"""
        WITH counts AS ({_ROLLUP})
        SELECT g.code, g.name, g.level, g.kind, p.code AS parent_code,
               coalesce(c.employers, 0) AS employers,
               round(ST_Area(g.geom::geography)::numeric / 1e6, 3)::float AS area_km2
        FROM grid g LEFT JOIN grid p ON p.id = g.parent_id LEFT JOIN counts c ON c.gid = g.id
        WHERE g.generation_id = :gen AND (CAST(:level AS int) IS NULL OR g.level = :level)
        ORDER BY g.level, g.code
    """), {"gen": gen.id, "level": level}).mappings()
    return [{**row, "generation": gen.name} for row in rows]


def grid_frame(session: Session, level: int, generation: str | None = None,
               within_code: str | None = None) -> gpd.GeoDataFrame:
    """Grids of one level as a GeoDataFrame (EPSG:4490), optionally inside one ancestor."""
    gen = find_generation(session, generation)
    sql = """
        WITH RECURSIVE scope AS (
            SELECT id FROM grid WHERE generation_id = :gen AND code = :within
            UNION ALL SELECT g.id FROM grid g JOIN scope s ON g.parent_id = s.id
        )
        SELECT g.id, g.code, g.name, g.kind, g.level, p.code AS parent_code, g.geom
        FROM grid g LEFT JOIN grid p ON p.id = g.parent_id
        WHERE g.generation_id = :gen AND g.level = :level
          AND (CAST(:within AS text) IS NULL OR g.id IN (SELECT id FROM scope))
        ORDER BY g.code
    """
    frame = gpd.read_postgis(sa.text(sql), session.connection(), geom_col="geom",
                             params={"gen": gen.id, "level": level, "within": within_code})
    # No rows carry no SRID: an empty level (a draft still being loaded) is still EPSG:4490.
    return frame if frame.crs is not None else frame.set_crs(4490)


def grid_detail(session: Session, code: str, generation: str | None = None) -> dict:
    """One grid: its record, parent, children, employers by risk level and 四定 staff."""
    gen = find_generation(session, generation)
    grid = session.execute(sa.text("""
        SELECT g.id, g.code, g.name, g.kind, g.level, g.identity, p.code AS parent_code,
               p.name AS parent_name, round(ST_Area(g.geom::geography)::numeric / 1e6, 3)::float AS area_km2
        FROM grid g LEFT JOIN grid p ON p.id = g.parent_id
        WHERE g.generation_id = :gen AND g.code = :code
    """), {"gen": gen.id, "code": code}).mappings().first()
    if grid is None:
        raise NotFound(f"grid {code!r} does not exist in generation {gen.name!r}",
                       zh=f"网格“{str(code)[:100]}”在网格版本“{gen.name}”中不存在")
    params = {"gen": gen.id, "id": grid["id"]}
    by_risk = dict(session.execute(sa.text(f"""
        WITH RECURSIVE scope AS ({_SCOPE})
        SELECT coalesce(e.risk_level, 0), count(*) FROM assignment a
        JOIN employer e ON e.id = a.employer_id
        WHERE a.generation_id = :gen AND a.grid_id IN (SELECT id FROM scope)
        GROUP BY 1 ORDER BY 1
    """), params).all())
    children = session.execute(sa.text(
        "SELECT code, name, kind FROM grid WHERE parent_id = :id ORDER BY code"), params).mappings().all()
    staff = session.execute(sa.text("""
        SELECT s.id AS staff_id, sg.id AS assignment_id, s.name, s.role, s.phone, s.unit, sg.duty, sg.task,
               sg.valid_from, sg.valid_to
        FROM staff_grid sg JOIN staff s ON s.id = sg.staff_id
        WHERE sg.grid_identity = :identity
          AND (sg.valid_to IS NULL OR sg.valid_to >= :today)
        ORDER BY CASE s.role WHEN 'full_time' THEN 0 WHEN 'part_time' THEN 1 ELSE 2 END, s.name
    """), {"identity": grid["identity"], "today": clock.today()}).mappings().all()
    return {**grid, "generation": gen.name, "by_risk": {int(k): int(v) for k, v in by_risk.items()},
            "employers": sum(by_risk.values()), "children": [dict(c) for c in children],
            "staff": [dict(s) for s in staff]}


_SCOPE = """
    SELECT id FROM grid WHERE id = :id
    UNION ALL SELECT g.id FROM grid g JOIN scope s ON g.parent_id = s.id
"""


def grid_employers(session: Session, code: str | None = None, generation: str | None = None,
                   limit: int | None = None, stale_months: int = DEFAULT_STALE_MONTHS,
                   today: dt.date | None = None) -> list[dict]:
    """Employers assigned to a grid or its descendants (all when ``code`` is None), riskiest first.

    Each row also says whether the employer is stale (no survey within ``stale_months``)
    and carries its key-supervision reasons (``key_flags``).
    """
    gen = find_generation(session, generation)
    scope_filter = "TRUE"
    params: dict = {"gen": gen.id, "limit": limit, "stale": stale_months, "today": today or clock.today()}
    if code is not None:
        grid_id = session.execute(sa.text("SELECT id FROM grid WHERE generation_id = :gen AND code = :code"),
                                  {"gen": gen.id, "code": code}).scalar()
        if grid_id is None:
            raise NotFound(f"grid {code!r} does not exist in generation {gen.name!r}",
                       zh=f"网格“{str(code)[:100]}”在网格版本“{gen.name}”中不存在")
        params["id"] = grid_id
        scope_filter = "a.grid_id IN (SELECT id FROM scope)"
    rows = session.execute(sa.text(f"""
        WITH RECURSIVE scope AS ({_SCOPE if code is not None else 'SELECT NULL::int AS id'})
        SELECT e.id, e.name, e.credit_code, e.address, e.headcount, e.risk_level, e.risk_rule,
               e.key_flags, e.credit_code_status, e.surveyed_on,
               (e.surveyed_on IS NULL OR e.surveyed_on < (CAST(:today AS date) - make_interval(months => :stale)))
                   AS stale,
               g.code AS grid_code, g.name AS grid_name,
               ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
        FROM assignment a JOIN employer e ON e.id = a.employer_id JOIN grid g ON g.id = a.grid_id
        WHERE a.generation_id = :gen AND {scope_filter}
        ORDER BY e.risk_level DESC NULLS LAST, e.name
        LIMIT :limit
    """), params).mappings()
    return [dict(r) for r in rows]


def employers_geojson(session: Session, code: str | None = None, generation: str | None = None,
                      within: frozenset[int] | None = None) -> str:
    """A GeoJSON FeatureCollection of located employers (of one grid and its descendants).

    ``within``: the ids of the grids a scoped user sees (gisgrid.access.Scope.grid_ids). Row-level
    security hides the rest anyway; saying it in the query lets the planner probe the scope's
    assignments by index instead of scanning every employer and filtering each row.
    """
    gen = find_generation(session, generation)
    params: dict = {"gen": gen.id, "within": sorted(within) if within is not None else None}
    scope = "TRUE"
    if code is not None:
        params["id"] = session.execute(sa.text(
            "SELECT id FROM grid WHERE generation_id = :gen AND code = :code"), {"gen": gen.id, "code": code}
        ).scalar()
        if params["id"] is None:
            raise NotFound(f"grid {code!r} does not exist in generation {gen.name!r}",
                       zh=f"网格“{str(code)[:100]}”在网格版本“{gen.name}”中不存在")
        scope = "a.grid_id IN (SELECT id FROM scope)"
    # Built in PostGIS so 100k points cost one round trip and no Python loop;
    # 6 decimals ≈ 0.1 m, plenty for a map.
    text = session.execute(sa.text(f"""
        WITH RECURSIVE scope AS ({_SCOPE if code is not None else 'SELECT NULL::int AS id'})
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'geometry', ST_AsGeoJSON(e.geom, 6)::json,
            'properties', json_build_object('id', e.id, 'name', e.name, 'credit_code', e.credit_code,
                'risk_level', coalesce(e.risk_level, 0), 'risk_rule', e.risk_rule,
                'grid_code', g.code, 'grid_name', g.name))), '[]'::json))::text
        FROM assignment a JOIN employer e ON e.id = a.employer_id LEFT JOIN grid g ON g.id = a.grid_id
        WHERE a.generation_id = :gen AND e.geom IS NOT NULL AND {scope}
          {"AND a.grid_id = ANY(:within)" if within is not None else ""}
    """), params).scalar()
    return text


def employer_count(session: Session) -> int:
    return int(session.execute(sa.text("SELECT count(*) FROM employer")).scalar())


def geojson_dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def search(session: Session, text: str, limit: int = 50) -> dict:
    """Grids and employers whose code, name (or, for employers, address) contains ``text``.

    Case-insensitive; ``%`` and ``_`` in the text are literal.  Grids of the active
    generation; employers with their finest grid there.  Exact code matches come first.

    Examples
    --------
    >>> search(session, "新华")["grids"][0]["code"]  # doctest: +SKIP
    '419901001'
    """
    text = (text or "").strip()
    if not text:
        return {"grids": [], "employers": []}
    gen = active_generation(session)
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params = {"p": pattern, "t": text.upper(), "gen": gen.id if gen else -1, "limit": limit}
    grids = session.execute(sa.text("""
        SELECT id, code, name, level, kind FROM grid
        WHERE generation_id = :gen AND (code ILIKE :p OR name ILIKE :p)
        ORDER BY code <> :t, level, code LIMIT :limit
    """), params).mappings().all()
    employers = session.execute(sa.text("""
        SELECT e.id, e.credit_code, e.name, e.address, e.risk_level, g.code AS grid_code, g.name AS grid_name
        FROM employer e
        LEFT JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
        LEFT JOIN grid g ON g.id = a.grid_id
        WHERE e.credit_code = :t OR e.name ILIKE :p OR e.address ILIKE :p
        ORDER BY e.credit_code IS DISTINCT FROM :t, e.risk_level DESC NULLS LAST, e.name LIMIT :limit
    """), params).mappings().all()
    return {"grids": [dict(r) for r in grids], "employers": [dict(r) for r in employers]}


def search_staff(session: Session, text: str, limit: int = 50) -> list[dict]:
    """四定 staff whose name contains ``text``, one row per grid they answer for today
    (active generation): staff id, name, role, phone, grid id, code and name."""
    text = (text or "").strip()
    gen = active_generation(session)
    if not text or gen is None:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = session.execute(sa.text("""
        SELECT s.id, s.name, s.role, s.phone, g.id AS grid_id, g.code AS grid_code, g.name AS grid_name
        FROM staff s JOIN staff_grid sg ON sg.staff_id = s.id
        JOIN grid g ON g.identity = sg.grid_identity AND g.generation_id = :gen
        WHERE s.name ILIKE :p AND (sg.valid_from IS NULL OR sg.valid_from <= :today)
          AND (sg.valid_to IS NULL OR sg.valid_to >= :today)
        ORDER BY s.name, g.code LIMIT :limit"""), {"p": pattern, "gen": gen.id, "limit": limit, "today": clock.today()}).mappings().all()
    return [dict(r) for r in rows]


#: Columns an employer list may be sorted by: name → SQL (NULLs last either way).
EMPLOYER_SORTS = {
    "name": "e.name", "credit_code": "e.credit_code", "address": "e.address", "industry": "e.industry",
    "headcount": "e.headcount", "risk": "e.risk_level", "grid": "g.code", "surveyed_on": "e.surveyed_on",
}
#: Risk filter values: a level 0–3, or "unrated".
RISK_FILTERS = ("0", "1", "2", "3", "unrated")


def employer_table(session: Session, *, grid: str | None = None, risk: str | None = None, key: bool = False,
                   stale: bool = False, unassigned: bool = False, industry: str | None = None,
                   text: str | None = None, sort: str = "risk", descending: bool = True,
                   limit: int | None = 50, offset: int = 0, stale_months: int = DEFAULT_STALE_MONTHS,
                   today: dt.date | None = None) -> tuple[int, list[dict]]:
    """(how many employers match, one page of them) for the employer list of any size.

    ``grid``: that grid and the grids below it (active generation); ``unassigned``: only the
    employers without a grid there (待定位 or outside every grid); ``risk``: one of
    :data:`RISK_FILTERS`; ``key``: key supervision (重点监管) only; ``stale``: not surveyed within
    ``stale_months`` (超期未调查); ``industry`` and ``text`` (name, credit code, address) match any
    part. ``sort`` is a key of :data:`EMPLOYER_SORTS`; ties by name then id, so pages are stable.
    Whoever may see only some employers gets only those (row-level security on the web role).
    """
    if sort not in EMPLOYER_SORTS:
        raise ValueError(f"sort was {sort!r}; expected one of {', '.join(EMPLOYER_SORTS)}")
    gen = active_generation(session)
    params: dict = {"gen": gen.id if gen else -1, "stale": stale_months, "today": today or clock.today(),
                    "limit": limit, "offset": offset}

    def like(value: str) -> str:
        return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    where = ["TRUE"]
    scope_cte = "SELECT NULL::int AS id"
    if grid is not None:
        grid_id = session.execute(sa.text("SELECT id FROM grid WHERE generation_id = :gen AND code = :code"),
                                  {"gen": params["gen"], "code": grid}).scalar()
        if grid_id is None:
            raise NotFound(f"grid {grid!r} does not exist in generation {gen.name if gen else ''!r}",
                           zh=f"网格“{str(grid)[:100]}”在网格版本“{gen.name if gen else ''}”中不存在")
        params["id"] = grid_id
        scope_cte = _SCOPE
        where.append("a.grid_id IN (SELECT id FROM scope)")
    if unassigned:
        where.append("a.grid_id IS NULL")
    if risk is not None:
        if risk not in RISK_FILTERS:
            raise ValueError(f"risk was {risk!r}; expected one of {', '.join(RISK_FILTERS)}")
        where.append("e.risk_level IS NULL" if risk == "unrated" else f"e.risk_level = {int(risk)}")
    if key:
        where.append("coalesce(e.key_flags, '') <> ''")
    stale_sql = "(e.surveyed_on IS NULL OR e.surveyed_on < (CAST(:today AS date) - make_interval(months => :stale)))"
    if stale:
        where.append(stale_sql)
    if industry:
        where.append("e.industry ILIKE :industry")
        params["industry"] = like(industry)
    if text:
        where.append("(e.name ILIKE :text OR e.credit_code ILIKE :text OR e.address ILIKE :text)")
        params["text"] = like(text)
    order = "DESC" if descending else "ASC"
    base = f"""
        FROM employer e
        LEFT JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
        LEFT JOIN grid g ON g.id = a.grid_id
        WHERE {' AND '.join(where)}"""
    with_scope = f"WITH RECURSIVE scope AS ({scope_cte})"
    total = session.execute(sa.text(f"{with_scope} SELECT count(*) {base}"), params).scalar()
    rows = session.execute(sa.text(f"""
        {with_scope}
        SELECT e.id, e.name, e.credit_code, e.address, e.industry, e.headcount, e.risk_level, e.risk_rule,
               e.key_flags, e.surveyed_on, {stale_sql} AS stale, g.code AS grid_code, g.name AS grid_name,
               e.geom IS NULL AS unlocated
        {base}
        ORDER BY {EMPLOYER_SORTS[sort]} {order} NULLS LAST, e.name, e.id
        LIMIT :limit OFFSET :offset"""), params).mappings().all()
    return total, [dict(r) for r in rows]

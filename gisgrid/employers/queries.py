"""Named queries and writes for the employer register: territory, one file, lists, placement, overrides."""

from __future__ import annotations

import datetime as dt
import getpass
import json

import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.config import DEFAULT_STALE_MONTHS
from gisgrid.analysis.assign import assign_employers
from gisgrid.crs import parse_crs, points_to_storage
from gisgrid.db.queries import active_generation
from gisgrid.employers.geocode import GazetteerEntry, GazetteerGeocoder
from gisgrid.employers.identifiers import is_valid_credit_code
from gisgrid.employers.place import Territory
from gisgrid.errors import InputError, NotFound

STALE_MONTHS = DEFAULT_STALE_MONTHS  # DOMAIN.md: half a year; GISGRID_STALE_MONTHS / --stale-months
LOCATED_BY = ("given", "gcj02", "bd09", "gazetteer", "provider", "manual", "none")


def current_actor() -> str:
    """Who is acting: the operating-system account (the CLI has no login)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def load_territory(session: Session) -> Territory | None:
    """The active generation's outline (level 1), towns (level 2) and gazetteer; None without one.

    Examples
    --------
    >>> load_territory(session).outline.geom_type  # doctest: +SKIP
    'MultiPolygon'
    """
    gen = active_generation(session)
    if gen is None:
        return None
    rows = session.execute(sa.text("""
        SELECT g.code, g.name, g.level, p.code AS parent_code,
               ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat,
               CASE WHEN g.level <= 2 THEN ST_AsBinary(g.geom) END AS wkb
        FROM grid g LEFT JOIN grid p ON p.id = g.parent_id
        WHERE g.generation_id = :gen ORDER BY g.level, g.code
    """), {"gen": gen.id}).mappings().all()
    top = min((r["level"] for r in rows), default=None)
    if top is None:
        return None
    outline = shapely.union_all([shapely.from_wkb(bytes(r["wkb"])) for r in rows if r["level"] == top])
    towns = [(r["code"], r["name"], shapely.from_wkb(bytes(r["wkb"]))) for r in rows if r["level"] == top + 1]
    entries = [GazetteerEntry(r["code"], r["name"], r["level"] - top + 1, r["parent_code"], r["lon"], r["lat"])
               for r in rows if r["level"] > top]
    # The city's own name: an address starting with another city is not placed here.
    roots = [r["name"] for r in rows if r["level"] == top]
    return Territory(outline, towns, GazetteerGeocoder(entries, roots=roots))


def accepted_codes(session: Session) -> set[str]:
    """Credit codes failing the GB 32100 check that a person has accepted."""
    return set(session.execute(sa.text("SELECT credit_code FROM credit_code_acceptance")).scalars())


def accept_credit_codes(session: Session, codes: list[str], reason: str, actor: str) -> list[dict]:
    """Record that ``codes`` are accepted although their check character fails (who, when, why).

    Examples
    --------
    >>> accept_credit_codes(session, ["91110000600037341M"], "福建试点早期代码，已核实营业执照", "wang")  # doctest: +SKIP
    [{'credit_code': '91110000600037341M', 'reason': '福建试点早期代码，已核实营业执照', 'accepted_by': 'wang'}]
    """
    if not reason or not reason.strip():
        raise InputError("--accept-code needs --reason TEXT saying why the code is accepted")
    done = []
    for raw in codes:
        code = raw.strip().upper()
        if is_valid_credit_code(code):
            raise InputError(f"credit code {code} passes the GB 32100 check; --accept-code is only for codes "
                             "whose check character fails")
        if len(code) != 18:
            raise InputError(f"credit code {raw!r} has {len(code)} characters; expected 18")
        session.execute(sa.text("""
            INSERT INTO credit_code_acceptance (credit_code, reason, accepted_by) VALUES (:c, :r, :a)
            ON CONFLICT (credit_code) DO UPDATE SET reason = excluded.reason,
                accepted_by = excluded.accepted_by, accepted_at = now()
        """), {"c": code, "r": reason.strip(), "a": actor})
        record = {"credit_code": code, "reason": reason.strip(), "accepted_by": actor}
        session.execute(sa.text("""
            INSERT INTO audit_log (actor, action, entity, entity_id, after)
            VALUES (:a, 'accept_credit_code', 'employer', :c, CAST(:after AS jsonb))
        """), {"a": actor, "c": code, "after": json.dumps(record, ensure_ascii=False)})
        session.execute(sa.text("UPDATE employer SET credit_code_status = 'accepted', updated_at = now() "
                                "WHERE credit_code = :c AND credit_code_status = 'check_failed'"), {"c": code})
        done.append(record)
    return done


_EMPLOYER_COLUMNS = """
    e.id, e.credit_code, e.name, e.org_code, e.address, e.legal_rep, e.hr_contact, e.phone, e.industry,
    e.ownership, e.headcount, e.contracts_signed, e.insured, e.wage_arrears_months, e.fee_arrears_months,
    e.complaints_12m, e.opened_on, e.surveyed_on, e.credit_code_status, e.integrity_grade, e.grade_year,
    e.risk_level, e.risk_rule, e.key_flags, e.status,
    ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.source_crs, e.located_by, e.location_precision,
    e.located_at, e.placed_by,
    g.code AS grid_code, g.name AS grid_name, a.tie, ng.code AS nearest_grid_code, a.distance_m,
    (e.surveyed_on IS NULL OR e.surveyed_on < (CAST(:today AS date) - make_interval(months => :stale))) AS stale
"""

_FROM = """
    FROM employer e
    LEFT JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
    LEFT JOIN grid g ON g.id = a.grid_id
    LEFT JOIN grid ng ON ng.id = a.nearest_grid_id
"""


_NO_GENERATION = object()


def _params(session: Session, stale_months: int, today: dt.date | None, generation=_NO_GENERATION) -> dict:
    gen = active_generation(session) if generation is _NO_GENERATION else generation
    return {"gen": gen.id if gen else -1, "stale": stale_months, "today": today or clock.today()}


def find_employer(session: Session, key: str, stale_months: int = STALE_MONTHS,
                  today: dt.date | None = None, *, generation=_NO_GENERATION) -> dict:
    """One employer's file: current record, grid, stale flag, grades and survey history.

    ``key`` is a credit code, or ``#ID`` / a bare number for an employer without one.

    Examples
    --------
    >>> find_employer(session, "914199017000123446")["grid_code"]  # doctest: +SKIP
    '419901001003'
    """
    params = _params(session, stale_months, today, generation)
    where = "e.credit_code = :key"
    value: object = key.strip().upper()
    if key.strip().lstrip("#").isdigit() and len(key.strip().lstrip("#")) < 18:
        where, value = "e.id = :key", int(key.strip().lstrip("#"))
    row = session.execute(sa.text(f"SELECT {_EMPLOYER_COLUMNS} {_FROM} WHERE {where}"),
                          {**params, "key": value}).mappings().first()
    if row is None:
        raise NotFound(f"employer {key!r} not found; give a credit code (18 characters) or #ID",
                       zh=f"未找到用人单位“{str(key)[:100]}”；请给出 18 位统一社会信用代码或 #编号")
    record = _clean(dict(row))
    record["grades"] = [dict(r) for r in session.execute(sa.text(
        "SELECT year, grade, source FROM employer_grade WHERE employer_id = :id ORDER BY year"),
        {"id": row["id"]}).mappings()]
    record["history"] = [_clean(dict(r)) for r in session.execute(sa.text(
        "SELECT surveyed_on, source, created_at, data FROM employer_survey WHERE employer_id = :id "
        "ORDER BY surveyed_on NULLS FIRST, id"), {"id": row["id"]}).mappings()]
    return record


def list_employers(session: Session, grid: str | None = None, unassigned: bool = False,
                   stale_months: int = STALE_MONTHS, today: dt.date | None = None,
                   limit: int | None = None) -> list[dict]:
    """Employers with grid, risk and location; in a grid (and its sub-grids) or unassigned.

    Examples
    --------
    >>> list_employers(session, unassigned=True)[0]["located_by"]  # doctest: +SKIP
    'none'
    """
    params = _params(session, stale_months, today)
    where = ["true"]
    if grid:
        found = session.execute(sa.text("SELECT id FROM grid WHERE generation_id = :gen AND code = :code"),
                                {"gen": params["gen"], "code": grid}).scalar()
        if found is None:
            raise NotFound(f"grid {grid!r} not found in the active generation",
                           zh=f"生效的网格版本中没有网格“{str(grid)[:100]}”")
        where.append("""a.grid_id IN (WITH RECURSIVE sub AS (SELECT id FROM grid WHERE id = :grid
                        UNION ALL SELECT c.id FROM grid c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub)""")
        params["grid"] = found
    if unassigned:
        where.append("a.grid_id IS NULL")
    sql = (f"SELECT {_EMPLOYER_COLUMNS} {_FROM} WHERE {' AND '.join(where)} "
           f"ORDER BY e.risk_level DESC NULLS LAST, e.credit_code NULLS LAST, e.id")
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return [_clean(dict(r)) for r in session.execute(sa.text(sql), params).mappings()]


def place_employer(session: Session, key: str, lon: float, lat: float, crs: str | None = None,
                   actor: str | None = None) -> dict:
    """Place an employer by hand (converted from ``crs``), record who and when, and assign it.

    Examples
    --------
    >>> place_employer(session, "914199017000123446", 113.70, 34.30, actor="wang")["grid_code"]  # doctest: +SKIP
    '419901001003'
    """
    declared = parse_crs(crs or "CGCS2000")
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InputError(f"coordinates were {lon!r}, {lat!r}; expected numbers (longitude latitude)") from None
    x, y = points_to_storage([lon], [lat], declared)
    x, y = round(float(x[0]), 7), round(float(y[0]), 7)
    if not (73 <= x <= 136 and 3 <= y <= 54):
        raise InputError(f"point ({lon}, {lat}) in {declared.name} is not in China; expected longitude "
                         "73–136 and latitude 3–54 (longitude first)")
    # One lookup of the active generation for the whole placement: each costs ~1 ms, and
    # DESIGN.md gives a move 5 ms in all (benchmarks/place.py).
    gen = active_generation(session)
    before = find_employer(session, key, generation=gen)
    actor = actor or current_actor()
    session.execute(sa.text("""
        UPDATE employer SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4490), source_crs = :crs,
            located_by = 'manual', location_precision = 'point', located_at = now(), placed_by = :actor,
            updated_at = now()
        WHERE id = :id
    """), {"x": x, "y": y, "crs": declared.name, "actor": actor, "id": before["id"]})
    keep = ("lon", "lat", "located_by", "grid_code")
    session.execute(sa.text("""
        INSERT INTO audit_log (actor, action, entity, entity_id, before, after)
        VALUES (:a, 'place_employer', 'employer', :id, CAST(:before AS jsonb), CAST(:after AS jsonb))
    """), {"a": actor, "id": str(before["id"]),
           "before": json.dumps({k: before[k] for k in keep}, default=str),
           "after": json.dumps({"lon": x, "lat": y, "crs": declared.name, "input": [lon, lat]})})
    assignment = None
    if gen is not None:
        assignment = assign_employers(session, gen, employer_ids=[before["id"]])
    after = find_employer(session, key, generation=gen)
    return {"employer": after, "assignment": assignment, "placed_by": actor,
            "before": {k: before[k] for k in keep}}


def _clean(record: dict) -> dict:
    for key, value in list(record.items()):
        if isinstance(value, (dt.date, dt.datetime)):
            record[key] = value.isoformat()
        elif isinstance(value, float) and key in ("lon", "lat"):
            record[key] = round(value, 7)
        elif isinstance(value, float) and key == "distance_m":
            record[key] = round(value, 1)
    return record

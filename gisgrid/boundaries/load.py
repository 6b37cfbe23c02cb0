"""Load a read grid file into a draft generation (all or nothing)."""

from __future__ import annotations

import uuid
from collections import Counter

import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.boundaries.generations import get_or_create_draft
from gisgrid.boundaries.read import GridFile, geometry_problems
from gisgrid.errors import InputError

MAX_LEVEL = 6


def import_grids(session: Session, grid_file: GridFile, *, level: int, generation: str) -> dict:
    """Insert or update the grids of ``grid_file`` at ``level`` in a draft generation.

    Grids are matched by code: new codes are created, changed ones updated, equal
    ones left alone (so a second import of the same file changes nothing). Any
    error refuses the whole file; the caller's transaction decides whether the
    result is kept (``--commit``) or rolled back (dry run).

    Returns
    -------
    dict
        ``generation``, ``level``, ``features``, ``created``, ``updated``,
        ``unchanged``, ``not_in_file`` (codes at this level absent from the file),
        ``source_crs``, ``fields`` and ``warnings``.
    """
    if not 1 <= level <= MAX_LEVEL:
        raise InputError(f"--level was {level}; expected 1 to {MAX_LEVEL}")
    frame = grid_file.frame
    _check_features(grid_file)
    gen = get_or_create_draft(session, generation)
    parents = _parent_ids(session, gen.id, level, grid_file)
    existing = _existing(session, gen.id, level)
    active_identities = _active_identities(session, frame)
    counts = Counter()
    for feature, row in frame.iterrows():
        geom = row.geometry
        multi = geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])
        values = {"code": row["code"], "name": row["name"], "kind": row["kind"], "level": level,
                  "parent_id": parents[feature], "wkb": shapely.to_wkb(multi, hex=True),
                  "source_crs": grid_file.source_crs, "source_file": grid_file.path.name,
                  "generation_id": gen.id}
        old = existing.pop(row["code"], None)
        if old is None:
            values["identity"] = active_identities.get((row["code"], multi.wkb), uuid.uuid4())
            _insert(session, values)
            counts["created"] += 1
        elif _same(old, values, multi):
            counts["unchanged"] += 1
        else:
            _update(session, old["id"], values)
            counts["updated"] += 1
    return {
        "file": str(grid_file.path), "generation": gen.name, "level": level, "features": len(frame),
        "created": counts["created"], "updated": counts["updated"], "unchanged": counts["unchanged"],
        "not_in_file": sorted(existing), "source_crs": grid_file.source_crs,
        "fields": grid_file.fields, "warnings": grid_file.warnings,
    }


def _check_features(grid_file: GridFile) -> None:
    frame, name = grid_file.frame, grid_file.path.name
    problems = geometry_problems(frame)
    missing = frame.index[frame["code"].isna()].tolist()
    problems += [{"kind": "missing_code", "feature": int(f), "message": f"feature {f} has no code"}
                 for f in missing]
    dupes = frame["code"].dropna()
    for code in sorted(set(dupes[dupes.duplicated()])):
        features = frame.index[frame["code"] == code].tolist()
        problems.append({"kind": "duplicate_code", "feature": int(features[1]),
                         "message": f"code {code} is used by features {features}"})
    if problems:
        first = problems[0]["message"]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(f"{name}: {first}{more}; nothing was imported", details=problems)


def _parent_ids(session: Session, generation_id: int, level: int, grid_file: GridFile) -> dict[int, int | None]:
    frame, name = grid_file.frame, grid_file.path.name
    if level == 1:
        return {int(f): None for f in frame.index}
    rows = session.execute(sa.text(
        "SELECT code, id FROM grid WHERE generation_id = :g AND level = :l"
    ), {"g": generation_id, "l": level - 1}).all()
    by_code = dict(rows)
    if not by_code:
        raise InputError(
            f"{name}: generation has no level-{level - 1} grids to be the parents of level {level}; "
            f"import level {level - 1} first"
        )
    parents: dict[int, int | None] = {}
    for feature, row in frame.iterrows():
        parent = by_code.get(row["parent_code"]) if row.get("parent_code") else None
        if parent is None and row.get("parent_code"):
            raise InputError(f"{name}: feature {feature} (code {row['code']}) names parent code "
                             f"{row['parent_code']}, which is not a level-{level - 1} grid; nothing was imported")
        if parent is None:
            parent = _covering_parent(session, generation_id, level - 1, row.geometry)
        if parent is None:
            raise InputError(f"{name}: feature {feature} (code {row['code']}) lies in no level-{level - 1} "
                             "grid and names no parent code; nothing was imported")
        parents[int(feature)] = parent
    return parents


def _covering_parent(session: Session, generation_id: int, level: int, geom) -> int | None:
    # The representative point is always inside the polygon, unlike the centroid
    # of a crescent-shaped grid, so it finds the right parent (MapIt's rule).
    point = shapely.to_wkb(geom.representative_point(), hex=True)
    return session.execute(sa.text(
        "SELECT id FROM grid WHERE generation_id = :g AND level = :l "
        "AND ST_Covers(geom, ST_GeomFromWKB(decode(:p, 'hex'), 4490)) ORDER BY code LIMIT 1"
    ), {"g": generation_id, "l": level, "p": point}).scalar()


def _existing(session: Session, generation_id: int, level: int) -> dict[str, dict]:
    rows = session.execute(sa.text(
        "SELECT id, code, name, kind, parent_id, ST_AsBinary(geom) AS wkb FROM grid "
        "WHERE generation_id = :g AND level = :l"
    ), {"g": generation_id, "l": level}).mappings()
    return {row["code"]: dict(row) for row in rows}


def _active_identities(session: Session, frame) -> dict[tuple[str, bytes], uuid.UUID]:
    """Identities of active-generation grids, keyed by (code, exact geometry)."""
    rows = session.execute(sa.text(
        "SELECT g.code, ST_AsBinary(g.geom), g.identity FROM grid g JOIN generation n "
        "ON n.id = g.generation_id WHERE n.status = 'active' AND g.code = ANY(:codes)"
    ), {"codes": [c for c in frame["code"]]}).all()
    return {(code, bytes(wkb)): identity for code, wkb, identity in rows}


def _same(old: dict, values: dict, multi) -> bool:
    return (old["name"] == values["name"] and old["kind"] == values["kind"]
            and old["parent_id"] == values["parent_id"]
            and shapely.from_wkb(bytes(old["wkb"])).equals_exact(multi, tolerance=0))


def _insert(session: Session, values: dict) -> None:
    session.execute(sa.text(
        "INSERT INTO grid (generation_id, identity, level, kind, code, name, parent_id, geom, "
        "source_crs, source_file) VALUES (:generation_id, :identity, :level, :kind, :code, :name, "
        ":parent_id, ST_GeomFromWKB(decode(:wkb, 'hex'), 4490), :source_crs, :source_file)"
    ), values)


def _update(session: Session, grid_id: int, values: dict) -> None:
    session.execute(sa.text(
        "UPDATE grid SET name = :name, kind = :kind, parent_id = :parent_id, "
        "geom = ST_GeomFromWKB(decode(:wkb, 'hex'), 4490), source_crs = :source_crs, "
        "source_file = :source_file, version = version + 1 WHERE id = :id"
    ), {**values, "id": grid_id})

"""Load a read grid file into a draft generation (all or nothing)."""

from __future__ import annotations

import uuid
from collections import Counter

import geopandas as gpd
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.boundaries.codes import provisional_code
from gisgrid.boundaries.diff import same_geometry
from gisgrid.boundaries.generations import get_or_create_draft
from gisgrid.boundaries.read import GridFile
from gisgrid.boundaries.repair import make_valid_geometries, snap_slivers
from gisgrid.boundaries.validate import (
    SLIVER_WIDTH_M, check_features, generation_frame, public_report, validate_generation,
)
from gisgrid.errors import InputError

MAX_LEVEL = 6


def import_grids(session: Session, grid_file: GridFile, *, level: int, generation: str,
                 on_invalid: str = "raise", sliver_width_m: float = SLIVER_WIDTH_M) -> dict:
    """Insert or update the grids of ``grid_file`` at ``level`` in a draft generation.

    Grids are matched by code: new codes are created, changed ones updated, equal
    ones left alone (so a second import of the same file changes nothing). The
    generation is then validated (:func:`gisgrid.boundaries.validate.validate_generation`)
    and the problems of this level are reported. The caller's transaction decides
    whether the result is kept (``--commit``) or rolled back (dry run).

    Parameters
    ----------
    on_invalid
        ``raise`` (default): any validation error refuses the whole file;
        ``report``: import anyway and report the errors (activation stays blocked);
        ``fix``: repair invalid polygons (make_valid) and sliver gaps/overlaps/
        overhangs (snapping), list every repair, then refuse on remaining errors.
        Features without a code, with a duplicate code or an empty geometry are
        refused in every mode: they cannot be stored.

    Returns
    -------
    dict
        ``generation``, ``level``, ``features``, ``created``, ``updated``,
        ``unchanged``, ``not_in_file`` (codes at this level absent from the file),
        ``source_crs``, ``fields``, ``warnings``, ``validation``
        (``{"errors": [...], "warnings": [...]}`` for this level) and ``repairs``.

    Raises
    ------
    InvalidGrids
        With ``report`` holding the validation report, when errors remain and
        ``on_invalid`` is not ``report``.

    Examples
    --------
    >>> import_grids(session, read_grid_file("villages.shp"), level=3, generation="2027版",
    ...              on_invalid="fix")["repairs"][0]["kind"]  # doctest: +SKIP
    'fill_gap'
    """
    if not 1 <= level <= MAX_LEVEL:
        raise InputError(f"--level was {level}; expected 1 to {MAX_LEVEL}")
    if on_invalid not in ON_INVALID:
        raise InputError(f"--on-invalid was {on_invalid!r}; expected one of {', '.join(ON_INVALID)}")
    repairs = _check_features(grid_file, level, on_invalid)
    frame = grid_file.frame
    gen = get_or_create_draft(session, generation)
    _check_codes_free(session, gen.id, level, grid_file)
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
            values["identity"] = _kept_identity(active_identities.get(row["code"]), multi) or uuid.uuid4()
            _insert(session, values)
            counts["created"] += 1
        elif _same(old, values, multi):
            counts["unchanged"] += 1
        else:
            _update(session, old["id"], values)
            counts["updated"] += 1
    codes = set(frame["code"])
    if on_invalid == "fix":
        repairs += _snap_slivers(session, gen.id, level, codes, sliver_width_m)
    report = validate_generation(session, gen.name, sliver_width_m=sliver_width_m)
    validation = {key: [item for item in report[key] if item["level"] == level or codes & set(item["codes"])]
                  for key in ("errors", "warnings")}
    result = {
        "file": str(grid_file.path), "generation": gen.name, "level": level, "features": len(frame),
        "created": counts["created"], "updated": counts["updated"], "unchanged": counts["unchanged"],
        "not_in_file": sorted(existing), "source_crs": grid_file.source_crs,
        "fields": grid_file.fields, "warnings": grid_file.warnings,
        "on_invalid": on_invalid, "repairs": repairs, "validation": validation,
    }
    if validation["errors"] and on_invalid != "report":
        errors = validation["errors"]
        first = errors[0]["message"]
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise InvalidGrids(f"{grid_file.path.name}: {first}{more}; nothing was imported "
                           "(--on-invalid report imports anyway, --on-invalid fix repairs slivers)",
                           details=errors, report=result)
    return result


ON_INVALID = ("raise", "report", "fix")
# Problems that make a feature impossible to store, whatever --on-invalid says.
UNSTORABLE = {"empty_geometry", "duplicate_code"}


class InvalidGrids(InputError):
    """An import refused by validation; ``report`` is the whole import report."""

    def __init__(self, message: str, *, details: list[dict], report: dict):
        super().__init__(message, details=[public_report({"errors": [d]})["errors"][0] for d in details])
        self.report = report


def _check_features(grid_file: GridFile, level: int, on_invalid: str) -> list[dict]:
    """Refuse features that cannot be stored; repair invalid polygons under ``fix``."""
    frame, name = grid_file.frame, grid_file.path.name
    checked = frame.assign(level=level, feature=frame.index)
    problems = [p for p in check_features(checked)
                if p["kind"] in UNSTORABLE or (p["kind"] in ("invalid_geometry", "missing_code") and on_invalid == "raise")
                or (p["kind"] == "invalid_geometry" and "must be polygons" in p["message"])]
    for p in problems:
        if p["kind"] == "missing_code":
            p["message"] += ("; import with --on-invalid report to store it under a provisional code, "
                             "then `gisgrid grids code` proposes one")
    if problems:
        first = problems[0]["message"]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(f"{name}: {first}{more}; nothing was imported", details=public_report(
            {"errors": problems})["errors"])
    missing = frame["code"].isna()
    if missing.any():  # stored under a provisional code until `gisgrid grids code`
        frame = frame.copy()
        frame.loc[missing, "code"] = [provisional_code(level, int(f)) for f in frame.index[missing]]
        grid_file.frame = frame
    if on_invalid != "fix":
        return []
    labels = [f"feature {f} (code {c})" for f, c in zip(frame.index, frame["code"])]
    fixed, repairs = make_valid_geometries(list(frame.geometry.values), labels)
    for repair, code in zip(repairs, [c for g, c in zip(frame.geometry.values, frame["code"])
                                      if g is not None and not g.is_empty and not g.is_valid]):
        repair["codes"] = [code]
    grid_file.frame = frame.set_geometry(gpd.GeoSeries(fixed, index=frame.index, crs=frame.crs))
    return repairs


def _check_codes_free(session: Session, generation_id: int, level: int, grid_file: GridFile) -> None:
    """A code is unique in a generation across levels: refuse codes other levels hold."""
    rows = session.execute(sa.text(
        "SELECT code, level, name FROM grid WHERE generation_id = :g AND level <> :l AND code = ANY(:codes)"
    ), {"g": generation_id, "l": level, "codes": list(grid_file.frame["code"])}).all()
    if rows:
        frame, name = grid_file.frame, grid_file.path.name
        problems = []
        for code, other_level, other_name in rows:
            feature = int(frame.index[frame["code"] == code][0])
            geom = frame.geometry[feature]
            point = shapely.make_valid(geom).representative_point()
            problems.append({"kind": "duplicate_code", "codes": [code], "level": level, "feature": feature,
                             "location": [round(point.x, 7), round(point.y, 7)],
                             "message": f"code {code} of feature {feature} is already used by the "
                                        f"level-{other_level} grid {other_name}"})
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(f"{name}: {problems[0]['message']}{more}; nothing was imported", details=problems)


def _snap_slivers(session: Session, generation_id: int, level: int, codes: set[str],
                  sliver_width_m: float) -> list[dict]:
    """Snap the sliver gaps, overlaps and overhangs of the imported grids; write them back."""
    frame = generation_frame(session, generation_id)
    geoms = dict(zip(frame["code"], frame.geometry))
    repairs = []
    layer = frame[frame["level"] == level]
    for parent_code, siblings in layer.groupby(layer["parent_code"].fillna("")):
        if not codes & set(siblings["code"]):
            continue
        parent = geoms.get(parent_code) if parent_code else None
        changed, done = snap_slivers(parent, dict(zip(siblings["code"], siblings.geometry)), codes,
                                     sliver_width_m)
        repairs += done
        for code, geom in changed.items():
            multi = geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])
            session.execute(sa.text(
                "UPDATE grid SET geom = ST_GeomFromWKB(decode(:wkb, 'hex'), 4490) "
                "WHERE generation_id = :g AND code = :code"),
                {"wkb": shapely.to_wkb(multi, hex=True), "g": generation_id, "code": code})
    return repairs


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


def _active_identities(session: Session, frame) -> dict[str, tuple[bytes, uuid.UUID]]:
    """Geometry and identity of the active generation's grids, by code."""
    rows = session.execute(sa.text(
        "SELECT g.code, ST_AsBinary(g.geom), g.identity FROM grid g JOIN generation n "
        "ON n.id = g.generation_id WHERE n.status = 'active' AND g.code = ANY(:codes)"
    ), {"codes": [c for c in frame["code"]]}).all()
    return {code: (bytes(wkb), identity) for code, wkb, identity in rows}


def _kept_identity(active: tuple[bytes, uuid.UUID] | None, multi) -> uuid.UUID | None:
    """The active grid's identity when code and boundary did not change (≈ 1 cm)."""
    if active is None:
        return None
    wkb, identity = active
    return identity if same_geometry(shapely.from_wkb(wkb), multi) else None


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

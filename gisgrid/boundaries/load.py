"""Load a read grid file into a draft generation (all or nothing)."""

from __future__ import annotations

import uuid
from collections import Counter

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.boundaries.codes import provisional_code, quoted_code
from gisgrid.boundaries.diff import same_geometry
from gisgrid.boundaries.generations import get_or_create_draft
from gisgrid.boundaries.locks import refuse_locked
from gisgrid.boundaries.neighbourhood import changed_ids, load_state
from gisgrid.boundaries.read import GridFile
from gisgrid.boundaries.repair import make_valid_geometries, snap_slivers
from gisgrid.boundaries.validate import (
    KIND_ORDER, SLIVER_WIDTH_M, generation_frame, public_report, repaired, validate_generation, validate_grids,
)
from gisgrid.crs import STORAGE_CRS
from gisgrid.errors import InputError

MAX_LEVEL = 6


def import_grids(session: Session, grid_file: GridFile, *, level: int, generation: str,
                 on_invalid: str = "raise", sliver_width_m: float = SLIVER_WIDTH_M) -> dict:
    """Insert or update the grids of ``grid_file`` at ``level`` in a draft generation.

    Grids are matched by code: new codes are created, changed ones updated, equal
    ones left alone (so a second import of the same file changes nothing). Before
    anything is written the file is validated together with the generation's other
    grids (:func:`gisgrid.boundaries.validate.validate_grids`), and every problem
    of the file is reported at once, each with its kind, codes, feature number and
    location. The caller's transaction decides whether the result is kept
    (``--commit``) or rolled back (dry run).

    Parameters
    ----------
    on_invalid
        ``raise`` (default): any validation error refuses the whole file;
        ``report``: import anyway and report the errors (activation stays blocked);
        ``fix``: repair invalid polygons (make_valid) and sliver gaps/overlaps/
        overhangs (snapping), list every repair, then refuse on remaining errors.
        Features that cannot be stored (no polygon, an empty geometry, a duplicate
        code, an unknown parent or none at all) refuse the file in every mode; the
        refusal still lists every other problem.

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
        With ``report`` holding the whole import report (nothing written), when
        features cannot be stored, or errors remain and ``on_invalid`` is not ``report``.

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
    gen = get_or_create_draft(session, generation)
    repairs = _make_valid(grid_file) if on_invalid == "fix" else []
    if on_invalid != "raise":
        _provisional_codes(grid_file, level)
    frame = grid_file.frame
    stored = generation_frame(session, gen.id)
    parent_codes, parent_problems = _resolve_parents(grid_file, level, stored)
    existing = _existing(session, gen.id, level)
    plan = _plan(grid_file, level, parent_codes, existing)
    validation = _validate_file(grid_file, level, stored, parent_codes, sliver_width_m)
    validation["errors"] = _sorted(validation["errors"] + parent_problems)
    if on_invalid == "raise":
        _hint_provisional(validation["errors"])
    result = {
        "file": str(grid_file.path), "generation": gen.name, "level": level, "features": len(frame),
        **plan["counts"], "not_in_file": plan["not_in_file"], "source_crs": grid_file.source_crs,
        "fields": grid_file.fields, "warnings": grid_file.warnings,
        "on_invalid": on_invalid, "repairs": repairs, "validation": validation,
    }
    unstorable = [e for e in validation["errors"] if _unstorable(e)]
    if unstorable or (validation["errors"] and on_invalid == "raise"):
        raise _refusal(grid_file, validation["errors"], unstorable, on_invalid, result)
    before = load_state(session, gen.id)
    _write(session, gen.id, level, grid_file, parent_codes, plan)
    if on_invalid == "fix":
        codes = set(grid_file.frame["code"])
        repairs += _with_features(_snap_slivers(session, gen.id, level, codes, sliver_width_m), grid_file)
        report = validate_generation(session, gen.name, sliver_width_m=sliver_width_m)
        validation = {key: _with_features([item for item in report[key]
                                           if item["level"] == level or codes & set(item["codes"])], grid_file)
                      for key in ("errors", "warnings")}
        result["validation"] = validation
        if validation["errors"]:
            raise _refusal(grid_file, validation["errors"], [], on_invalid, result)
    # A locked grid of the draft (gisgrid.boundaries.locks) is not changed by an import either.
    after = load_state(session, gen.id)
    refuse_locked(session, gen.name, {state.rows[i]["code"] for state in (before, after)
                                      for i in changed_ids(before, after) if i in state.rows}, "import")
    return result


ON_INVALID = ("raise", "report", "fix")
# Problems that make a feature impossible to store, whatever --on-invalid says.
UNSTORABLE = {"empty_geometry", "duplicate_code", "unknown_parent"}


class InvalidGrids(InputError):
    """An import refused by validation; ``report`` is the whole import report."""

    kind = "invalid_grids"

    def __init__(self, message: str, *, details: list[dict], report: dict):
        super().__init__(message, details=public_report({"errors": details})["errors"])
        self.report = report


def _unstorable(item: dict) -> bool:
    return (item["kind"] in UNSTORABLE or (item["kind"] == "invalid_geometry" and "must be polygons" in item["message"])
            or (item["kind"] == "outside_parent" and item.get("_unplaced", False))
            # a feature's code of another form than a grid code's: nothing to store it under
            or (item.get("_malformed", False) and item.get("feature") is not None))


def _refusal(grid_file: GridFile, errors: list[dict], unstorable: list[dict], on_invalid: str,
             result: dict) -> InvalidGrids:
    """One line for the whole report: how many problems, the first one, and what to do."""
    first = (unstorable or errors)[0]["message"]
    count = f"{len(errors)} errors" if len(errors) != 1 else "1 error"
    if unstorable:
        advice = (f"{len(unstorable)} of them cannot be stored in any --on-invalid mode "
                  "(fix them in the file)")
    elif on_invalid == "fix":
        advice = "they remain after the repairs (--on-invalid report imports anyway)"
    else:
        advice = "--on-invalid report imports anyway, --on-invalid fix repairs invalid polygons and slivers"
    more = "" if len(errors) == 1 else f" (and {len(errors) - 1} more, listed below)"
    return InvalidGrids(f"{grid_file.path.name}: {count}: {first}{more}; nothing was imported; {advice}",
                        details=errors, report=result)


def _make_valid(grid_file: GridFile) -> list[dict]:
    """``--on-invalid fix``: repair invalid polygons (make_valid), each repair listed."""
    frame = grid_file.frame
    labels = [f"feature {f}" + (f" (code {quoted_code(c)})" if isinstance(c, str) else "")
              for f, c in zip(frame.index, frame["code"])]
    fixed, repairs = make_valid_geometries(list(frame.geometry.values), labels)
    invalid = [(f, c) for f, g, c in zip(frame.index, frame.geometry.values, frame["code"])
               if g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon") and not g.is_valid]
    for repair, (feature, code) in zip(repairs, invalid):
        repair["codes"] = [code] if isinstance(code, str) else []
        repair["feature"] = int(feature)
    grid_file.frame = frame.set_geometry(gpd.GeoSeries(fixed, index=frame.index, crs=frame.crs))
    return repairs


def _resolve_parents(grid_file: GridFile, level: int, stored: gpd.GeoDataFrame) -> tuple[dict, list[dict]]:
    """Feature → parent code (named in the file or the level-above grid covering it).

    A parent code that names no grid of the level above, and a feature that lies in
    none and names none, are problems of that feature (it cannot be stored); a
    generation without the level above at all refuses the file.
    """
    frame, name = grid_file.frame, grid_file.path.name
    if level == 1:
        return {int(f): None for f in frame.index}, []
    above = stored[stored["level"] == level - 1].sort_values("code")
    if above.empty:
        raise InputError(
            f"{name}: generation has no level-{level - 1} grids to be the parents of level {level}; "
            f"import level {level - 1} first"
        )
    codes = set(above["code"])
    shapes = [repaired(g) for g in above.geometry]
    tree = shapely.STRtree(shapes)
    parents: dict[int, str | None] = {}
    problems = []
    for feature, row in frame.iterrows():
        feature, code, named = int(feature), row["code"], row.get("parent_code")
        label = f"feature {feature}" + (f" (code {quoted_code(code)})" if isinstance(code, str) else "")
        point = _inner_point(row.geometry)
        where = [round(point.x, 7), round(point.y, 7)] if point is not None else None
        if isinstance(named, str) and named:
            if named not in codes:
                problems.append({"kind": "unknown_parent", "codes": [c for c in (code, named) if isinstance(c, str)],
                                 "level": level, "feature": feature, "features": [feature], "location": where,
                                 "message": f"{label} names parent code {quoted_code(named)}, which is not a "
                                            f"level-{level - 1} grid of the generation"})
            parents[feature] = named if named in codes else None
            continue
        # The representative point is always inside the polygon, unlike the centroid
        # of a crescent-shaped grid, so it finds the right parent (MapIt's rule); the
        # lowest code wins on a shared edge.
        found = None
        if point is not None:
            hits = sorted(tree.query(point, predicate="covered_by"))
            found = above["code"].iloc[hits[0]] if len(hits) else None
        if found is None and point is not None:
            problems.append({"kind": "outside_parent", "codes": [code] if isinstance(code, str) else [],
                             "level": level, "feature": feature, "features": [feature], "location": where,
                             "_unplaced": True,
                             "message": f"{label} lies in no level-{level - 1} grid and names no parent code"})
        parents[feature] = found
    return parents, problems


def _inner_point(geom):
    if geom is None or geom.is_empty:
        return None
    fixed = repaired(geom) if geom.geom_type in ("Polygon", "MultiPolygon") else geom
    return fixed.representative_point() if not fixed.is_empty else None


def _validate_file(grid_file: GridFile, level: int, stored: gpd.GeoDataFrame, parent_codes: dict,
                   sliver_width_m: float) -> dict:
    """Validate the file's grids together with the generation's others, before writing."""
    frame = grid_file.frame
    codes = {c for c in frame["code"] if isinstance(c, str)}
    kept = stored[~((stored["level"] == level) & stored["code"].isin(codes))].assign(feature=None)
    incoming = gpd.GeoDataFrame({
        "code": frame["code"].to_numpy(dtype=object), "name": frame["name"].to_numpy(dtype=object),
        "level": level, "kind": frame["kind"].to_numpy(dtype=object),
        "parent_code": [parent_codes.get(int(f)) for f in frame.index],
        "feature": [int(f) for f in frame.index]}, geometry=list(frame.geometry.values), crs=STORAGE_CRS)
    combined = pd.concat([kept, incoming], ignore_index=True)
    combined["feature"] = combined["feature"].astype(object)
    report = validate_grids(gpd.GeoDataFrame(combined, geometry="geometry", crs=STORAGE_CRS),
                            sliver_width_m=sliver_width_m)
    for item in report["errors"]:
        if item.get("_malformed") and item.get("feature") is not None:
            item["message"] = f"{grid_file.path.name}: {item['message']}"
    return {key: [item for item in report[key] if item["level"] == level or codes & set(item["codes"])]
            for key in ("errors", "warnings")}


def _hint_provisional(errors: list[dict]) -> None:
    for item in errors:
        if item["kind"] == "missing_code" and not item["codes"]:
            item["message"] += ("; import with --on-invalid report to store it under a provisional code, "
                                "then `gisgrid grids code` proposes one")


def _with_features(items: list[dict], grid_file: GridFile) -> list[dict]:
    """Feature numbers for the items of a generation's validation (by code)."""
    frame = grid_file.frame
    by_code = {c: int(f) for f, c in zip(frame.index, frame["code"]) if isinstance(c, str)}
    for item in items:
        found = [by_code[c] for c in item["codes"] if c in by_code]
        if not item.get("features"):
            item["features"] = found
        if item.get("feature") is None and found:
            item["feature"] = found[0]
    return items


def _sorted(items: list[dict]) -> list[dict]:
    rank = {kind: n for n, kind in enumerate(KIND_ORDER)}
    return sorted(items, key=lambda i: (i["level"] or 0, rank.get(i["kind"], 99)))


def _plan(grid_file: GridFile, level: int, parent_codes: dict, existing: dict) -> dict:
    """What the import would do per feature: create, update or leave alone."""
    frame = grid_file.frame
    counts = Counter(created=0, updated=0, unchanged=0)
    actions = {}
    remaining = dict(existing)
    for feature, row in frame.iterrows():
        code = row["code"]
        if not isinstance(code, str):
            counts["created"] += 1
            actions[int(feature)] = "create"
            continue
        old = remaining.pop(code, None)
        geom = row.geometry
        if old is None:
            action = "create"
        elif geom is not None and geom.geom_type in ("Polygon", "MultiPolygon") and _same(
                old, {"name": row["name"], "kind": row["kind"], "parent_code": parent_codes.get(int(feature))},
                _multi(geom)):
            action = "unchanged"
        else:
            action = "update"
        counts[{"create": "created", "update": "updated", "unchanged": "unchanged"}[action]] += 1
        actions[int(feature)] = action
    return {"counts": dict(counts), "actions": actions, "existing": existing,
            "not_in_file": sorted(remaining)}


def _provisional_codes(grid_file: GridFile, level: int) -> None:
    """Features without a code are stored under a provisional one until `gisgrid grids code`."""
    missing = grid_file.frame["code"].isna()
    if missing.any():
        frame = grid_file.frame.copy()
        frame.loc[missing, "code"] = [provisional_code(level, int(f)) for f in frame.index[missing]]
        grid_file.frame = frame


def _write(session: Session, generation_id: int, level: int, grid_file: GridFile, parent_codes: dict,
           plan: dict) -> None:
    frame = grid_file.frame
    parent_ids = dict(session.execute(sa.text(
        "SELECT code, id FROM grid WHERE generation_id = :g AND level = :l"
    ), {"g": generation_id, "l": level - 1}).all()) if level > 1 else {}
    active_identities = _active_identities(session, frame)
    for feature, row in frame.iterrows():
        action = plan["actions"][int(feature)]
        if action == "unchanged":
            continue
        multi = _multi(row.geometry)
        parent = parent_codes.get(int(feature))
        values = {"code": row["code"], "name": row["name"], "kind": row["kind"], "level": level,
                  "parent_id": parent_ids.get(parent) if parent else None, "wkb": shapely.to_wkb(multi, hex=True),
                  "source_crs": grid_file.source_crs, "source_file": grid_file.path.name,
                  "generation_id": generation_id}
        if action == "create":
            values["identity"] = _kept_identity(active_identities.get(row["code"]), multi) or uuid.uuid4()
            _insert(session, values)
        else:
            _update(session, plan["existing"][row["code"]]["id"], values)


def _multi(geom):
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])


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


def _existing(session: Session, generation_id: int, level: int) -> dict[str, dict]:
    rows = session.execute(sa.text(
        "SELECT g.id, g.code, g.name, g.kind, p.code AS parent_code, ST_AsBinary(g.geom) AS wkb FROM grid g "
        "LEFT JOIN grid p ON p.id = g.parent_id WHERE g.generation_id = :g AND g.level = :l"
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
            and old["parent_code"] == values["parent_code"]
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

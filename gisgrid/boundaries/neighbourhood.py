"""Validation of the part of a generation an edit touched: its grids, their neighbours and parents.

An edit of one grid cannot change a problem elsewhere: a gap of a parent depends on that
parent and its children, an overlap on two siblings, a code on its grid and its parent. So
an edit is checked by :func:`validate_touched` on a small frame — the changed grids, their
parents, children, siblings and the grids touching them — with the checks and messages of
:func:`gisgrid.boundaries.validate.validate_grids`, measured in the whole generation's
Gauss–Krüger zone, and the problems naming a changed grid or its parent are kept. They are
the problems the whole validation finds there (tests/boundaries/test_neighbourhood.py).

One check is left out: a layer shifted as a whole (GCJ-02/BD-09, ``suspected_offset``) is a
property of an import, not of one edit; the whole validation, before activation, has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.boundaries.validate import SLIVER_WIDTH_M, metric_zone, validate_grids
from gisgrid.crs import STORAGE_CRS


@dataclass
class GridState:
    """Every grid of one generation as it is at one moment (rows in level, code order)."""

    generation_id: int
    rows: dict[int, dict]                     # id → code, name, level, kind, parent_id, wkb
    geoms: dict[int, object]                  # id → shapely geometry (lon/lat)
    children: dict[int, list[int]] = field(default_factory=dict)
    epsg: int = 0

    def __contains__(self, grid_id) -> bool:
        return grid_id in self.rows


def load_state(session: Session, generation_id: int) -> GridState:
    """The grids of generation ``generation_id`` as they are in this transaction."""
    rows = session.execute(sa.text(
        "SELECT id, code, name, level, kind, parent_id, ST_AsBinary(geom) AS wkb FROM grid "
        "WHERE generation_id = :g ORDER BY level, code"), {"g": generation_id}).mappings().all()
    by_id = {r["id"]: {**r, "wkb": bytes(r["wkb"])} for r in rows}
    geoms = dict(zip(by_id, shapely.from_wkb([r["wkb"] for r in by_id.values()]))) if by_id else {}
    children: dict[int, list[int]] = {}
    for grid_id, row in by_id.items():
        if row["parent_id"] is not None:
            children.setdefault(row["parent_id"], []).append(grid_id)
    present = [g for g in geoms.values() if g is not None and not g.is_empty]
    return GridState(generation_id, by_id, geoms, children, metric_zone(present))


_COMPARED = ("code", "name", "level", "kind", "parent_id", "wkb")


def changed_ids(before: GridState, after: GridState) -> set[int]:
    """Grids added, removed, or changed in code, name, level, kind, parent or boundary."""
    changed = set(before.rows) ^ set(after.rows)
    for grid_id in set(before.rows) & set(after.rows):
        a, b = before.rows[grid_id], after.rows[grid_id]
        if any(a[key] != b[key] for key in _COMPARED):
            changed.add(grid_id)
    return changed


def edit_scope(before: GridState, after: GridState, changed: set[int]) -> set[int]:
    """The changed grids and their parents, before and after the edit (ids)."""
    scope = set(changed)
    for state in (before, after):
        scope |= {state.rows[i]["parent_id"] for i in changed
                  if i in state and state.rows[i]["parent_id"] is not None}
    return scope


def validate_touched(state: GridState, scope: set[int], *, sliver_width_m: float = SLIVER_WIDTH_M) -> dict:
    """The validation problems of the grids ``scope`` (ids) of ``state``, checked locally.

    Parameters
    ----------
    state
        The generation (:func:`load_state`).
    scope
        Grid ids: the changed grids and their parents (:func:`edit_scope`); ids not in
        ``state`` (removed grids) are ignored.
    sliver_width_m
        As for :func:`gisgrid.boundaries.validate.validate_grids`.

    Returns
    -------
    dict
        ``{"errors": [...], "warnings": [...], "scope": [codes], "checked": n}``: the items of
        the whole validation that name a grid of ``scope`` (``suspected_offset`` aside), and
        how many grids were read to find them.

    Examples
    --------
    A village moved to the next street: the two streets, the village and the city are the
    scope; their siblings and children are read too.

    >>> validate_touched(state, {unit_id, source_id, target_id, city_id})["scope"]  # doctest: +SKIP
    ['4199', '419901', '419901001', '419902']
    """
    scope = {i for i in scope if i in state}
    codes = {state.rows[i]["code"] for i in scope}
    ids = _frame_ids(state, scope)
    report = validate_grids(_frame(state, ids), sliver_width_m=sliver_width_m, metric_epsg=state.epsg,
                            offsets=False)
    keep = lambda item: bool(codes.intersection(item["codes"]))  # noqa: E731
    return {"errors": [i for i in report["errors"] if keep(i)],
            "warnings": [i for i in report["warnings"] if keep(i)],
            "scope": sorted(codes), "checked": len(ids)}


def _frame_ids(state: GridState, scope: set[int]) -> list[int]:
    """Everything the problems of ``scope`` depend on: the grids, their parents, the parents'
    children (siblings: gaps and overlaps), their own children (what must stay inside them),
    and the grids of the same level touching them."""
    parents = {state.rows[i]["parent_id"] for i in scope} - {None}
    parents &= set(state.rows)
    ids = scope | parents
    for grid_id in scope | parents:
        ids.update(state.children.get(grid_id, ()))
    ids |= _touching(state, scope)
    # Siblings without a parent (the top level) overlap-check each other: every root of
    # that level that touches the scope is in through _touching.
    return sorted(ids, key=lambda i: (state.rows[i]["level"], state.rows[i]["code"]))


def _touching(state: GridState, scope: set[int]) -> set[int]:
    """Grids of the same level whose boundary meets a grid of ``scope`` (ST_Intersects)."""
    ids = list(state.rows)
    geoms = np.asarray([state.geoms[i] for i in ids], dtype=object)
    usable = np.array([g is not None and not g.is_empty for g in geoms])
    if not usable.any() or not scope:
        return set()
    where = np.flatnonzero(usable)
    tree = shapely.STRtree(geoms[where])
    probes = [i for i in scope if state.geoms[i] is not None and not state.geoms[i].is_empty]
    if not probes:
        return set()
    probe_geoms = [state.geoms[i] for i in probes]
    # Invalid polygons may make the predicate fail: their envelopes are enough here.
    try:
        left, right = tree.query(probe_geoms, predicate="intersects")
    except shapely.errors.GEOSException:
        left, right = tree.query(probe_geoms)
    found = set()
    for a, b in zip(left, right):
        other = ids[where[b]]
        if state.rows[other]["level"] == state.rows[probes[a]]["level"]:
            found.add(other)
    return found


def _frame(state: GridState, ids: list[int]) -> gpd.GeoDataFrame:
    rows = [state.rows[i] for i in ids]
    parent_code = [state.rows[r["parent_id"]]["code"] if r["parent_id"] in state.rows else None for r in rows]
    return gpd.GeoDataFrame({"code": [r["code"] for r in rows], "name": [r["name"] for r in rows],
                             "level": [r["level"] for r in rows], "kind": [r["kind"] for r in rows],
                             "parent_code": parent_code},
                            geometry=[state.geoms[i] for i in ids], crs=STORAGE_CRS)

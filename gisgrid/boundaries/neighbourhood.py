"""Validation of the part of a generation an edit touched: its grids, their neighbours and parents.

An edit of one grid cannot change a problem elsewhere: a gap of a parent depends on that
parent and its children, an overlap on two siblings, a code on its grid and its parent. So
an edit is checked by :func:`validate_touched` on a small frame — the changed grids, their
parents, children, siblings and the grids touching them — with the checks and messages of
:func:`gisgrid.boundaries.validate.validate_grids`, measured in the whole generation's
Gauss–Krüger zone, and the problems naming a changed grid — or an unchanged parent with its
own children — are kept (:func:`touched_area`). They are the problems the whole validation
finds there (tests/boundaries/test_neighbourhood.py).

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


def edit_scope(before: GridState, after: GridState, changed: set[int]) -> tuple[set[int], set[int]]:
    """(the changed grids, the unchanged grids that are their parents before or after the edit), as ids."""
    parents = set()
    for state in (before, after):
        parents |= {state.rows[i]["parent_id"] for i in changed
                    if i in state and state.rows[i]["parent_id"] is not None}
    return set(changed), parents - set(changed)


def touched_area(state: GridState, changed: set[int], parents: set[int] = frozenset()):
    """Whether a validation item of ``state`` lies in the area an edit touched.

    It does when it names a changed grid, or when it is a problem of an unchanged parent
    with its own children (a gap in it, a child beyond it: every grid it names is the
    parent or one of its children). A parent's problems with its own siblings and parent
    did not change with the edit and are not the edit's.
    """
    changed_codes = {state.rows[i]["code"] for i in changed if i in state}
    parent_codes = {state.rows[i]["code"] for i in parents if i in state}
    family = parent_codes | {state.rows[c]["code"] for p in parents for c in state.children.get(p, ())}

    def touched(item: dict) -> bool:
        codes = set(item["codes"])
        return bool(codes & changed_codes) or bool(codes & parent_codes and codes <= family)
    return touched


def validate_touched(state: GridState, changed: set[int], parents: set[int] = frozenset(), *,
                     sliver_width_m: float = SLIVER_WIDTH_M) -> dict:
    """The validation problems of the area an edit touched, checked on that area alone.

    Parameters
    ----------
    state
        The generation (:func:`load_state`).
    changed
        Ids of the grids the edit changed (:func:`changed_ids`); ids not in ``state``
        (removed grids) are ignored.
    parents
        Ids of their unchanged parents (:func:`edit_scope`): checked with their children only.
    sliver_width_m
        As for :func:`gisgrid.boundaries.validate.validate_grids`.

    Returns
    -------
    dict
        ``{"errors": [...], "warnings": [...], "scope": {"changed": [codes], "parents": [codes]},
        "checked": n}``: the items of the whole validation in :func:`touched_area`
        (``suspected_offset`` aside), and how many grids were read to find them.

    Examples
    --------
    A village moved to the next street: the village and both streets changed; the city,
    their parent, is checked for gaps and overhangs among its streets.

    >>> validate_touched(state, {unit_id, source_id, target_id}, {city_id})["scope"]  # doctest: +SKIP
    {'changed': ['419901001', '419901002', '419901002011'], 'parents': ['4199']}
    """
    changed = {i for i in changed if i in state}
    parents = {i for i in parents if i in state} - changed
    ids = _frame_ids(state, changed, parents)
    report = validate_grids(_frame(state, ids), sliver_width_m=sliver_width_m, metric_epsg=state.epsg,
                            offsets=False)
    keep = touched_area(state, changed, parents)
    codes = lambda grids: sorted(state.rows[i]["code"] for i in grids)  # noqa: E731
    return {"errors": [i for i in report["errors"] if keep(i)],
            "warnings": [i for i in report["warnings"] if keep(i)],
            "scope": {"changed": codes(changed), "parents": codes(parents)}, "checked": len(ids)}


def _frame_ids(state: GridState, changed: set[int], parents: set[int]) -> list[int]:
    """Everything the problems of the touched area depend on: the changed grids, their parents
    and the parents' children (siblings: gaps and overlaps), their own children (what must stay
    inside them), the grids of the same level touching them, and each unchanged parent with
    its children."""
    above = {state.rows[i]["parent_id"] for i in changed} - {None}
    ids = set(changed) | (above & set(state.rows)) | parents
    for grid_id in ids.copy():
        ids.update(state.children.get(grid_id, ()))
    ids |= _touching(state, changed)
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

"""Repairs for ``--on-invalid fix``: make_valid and sliver snapping, each one listed.

A repair is never silent (STYLE.md habit 6): every change lands in the returned
list with the grids concerned, where, and how much area moved. Only slivers are
snapped (narrower than the sliver width); a real gap or overlap is left for a
person to decide, and stays an error in the validation report.

Geometry is edited in CGCS2000 lon/lat with exact overlay operations, so that a
filled gap shares its edges exactly with its neighbours; widths and areas are
measured in the Gauss–Krüger zone.
"""

from __future__ import annotations

import numpy as np
import pyproj
import shapely

from gisgrid.boundaries.validate import SLIVER_WIDTH_M, mean_width, polygonal
from gisgrid.crs import STORAGE_CRS, gauss_kruger_epsg


def make_valid_geometries(geoms: list, labels: list[str]) -> tuple[list, list[dict]]:
    """Repair invalid polygons with ``shapely.make_valid``, keeping the polygonal parts.

    Examples
    --------
    A bow-tie becomes two triangles, and the repair is listed:

    >>> fixed, repairs = make_valid_geometries([bowtie], ["feature 1"])  # doctest: +SKIP
    >>> repairs[0]["kind"]
    'make_valid'
    """
    fixed, repairs = [], []
    for geom, label in zip(geoms, labels):
        if geom is None or geom.is_empty or geom.is_valid or geom.geom_type not in ("Polygon", "MultiPolygon"):
            fixed.append(geom)
            continue
        reason = shapely.is_valid_reason(geom)
        repaired = polygonal(shapely.make_valid(geom))
        fixed.append(repaired)
        where = repaired.representative_point() if not repaired.is_empty else geom.representative_point()
        repairs.append({"kind": "make_valid", "codes": [], "label": label,
                        "message": f"{label}: repaired with make_valid ({reason})",
                        "location": [round(where.x, 7), round(where.y, 7)]})
    return fixed, repairs


class _Metric:
    def __init__(self, lon: float):
        epsg = gauss_kruger_epsg(lon)
        self.transformer = pyproj.Transformer.from_crs(STORAGE_CRS, f"EPSG:{epsg}", always_xy=True)

    def __call__(self, geom):
        return shapely.transform(geom, lambda xy: np.column_stack(self.transformer.transform(xy[:, 0], xy[:, 1])))


def snap_slivers(parent, children: dict[str, object], editable: set[str],
                 sliver_width_m: float = SLIVER_WIDTH_M) -> tuple[dict[str, object], list[dict]]:
    """Remove sliver overhangs, overlaps and gaps between the children of one parent.

    Parameters
    ----------
    parent
        The parent polygon (lon/lat), or None for top-level grids.
    children
        Code → polygon (lon/lat) of every child of ``parent``.
    editable
        Codes that may be changed (the grids being imported or edited).
    sliver_width_m
        Only pieces narrower than this (mean width) are moved.

    Returns
    -------
    (dict, list)
        Changed code → new polygon, and the repairs made.

    Examples
    --------
    A 1 m gap between two villages of one town goes to the village that shares the
    longest edge with it:

    >>> changed, repairs = snap_slivers(town, {"001": a, "002": b}, {"001", "002"})  # doctest: +SKIP
    >>> repairs[0]["kind"]
    'fill_gap'
    """
    geoms = dict(children)
    if not geoms:
        return {}, []
    metric = _Metric(float(np.mean(shapely.total_bounds(list(geoms.values()))[[0, 2]])))
    repairs: list[dict] = []
    changed: set[str] = set()

    def sliver(piece) -> tuple[bool, float]:
        m = metric(piece)
        return mean_width(m) < sliver_width_m, m.area

    def record(kind, codes, message, piece, area):
        where = piece.representative_point()
        repairs.append({"kind": kind, "codes": codes, "message": f"{message} ({area:,.1f} m²)",
                        "location": [round(where.x, 7), round(where.y, 7)], "area_m2": round(area, 1)})

    if parent is not None:
        for code in sorted(editable & geoms.keys()):
            outside = polygonal(shapely.difference(geoms[code], parent))
            if outside.is_empty:
                continue
            parts = [(p, *sliver(p)) for p in shapely.get_parts(outside)]
            if parts and all(is_sliver for _, is_sliver, _ in parts):
                geoms[code] = polygonal(shapely.intersection(geoms[code], parent))
                changed.add(code)
                record("clip_to_parent", [code], f"grid {code}: trimmed the sliver outside its parent",
                       outside, sum(a for _, _, a in parts))
    codes = sorted(geoms)
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            if not shapely.intersects(geoms[a], geoms[b]):
                continue
            overlap = polygonal(shapely.intersection(geoms[a], geoms[b]))
            if overlap.is_empty:
                continue
            parts = [(p, *sliver(p)) for p in shapely.get_parts(overlap)]
            if not all(is_sliver for _, is_sliver, _ in parts):
                continue
            # The later code gives way (deterministic); an uneditable grid never changes.
            loser, keeper = (b, a) if b in editable else (a, b)
            if loser not in editable:
                continue
            geoms[loser] = polygonal(shapely.difference(geoms[loser], geoms[keeper]))
            changed.add(loser)
            record("remove_overlap", [loser, keeper],
                   f"grid {loser}: removed the sliver overlapping {keeper}", overlap, sum(a for _, _, a in parts))
    if parent is not None:
        gaps = polygonal(shapely.difference(parent, shapely.union_all(list(geoms.values()))))
        for piece in ([] if gaps.is_empty else shapely.get_parts(gaps)):
            is_sliver, area = sliver(piece)
            if not is_sliver:
                continue
            target = _longest_border(piece, geoms, editable)
            if target is None:
                continue
            geoms[target] = polygonal(shapely.union(geoms[target], piece))
            changed.add(target)
            record("fill_gap", [target], f"grid {target}: filled the sliver gap beside it", piece, area)
    return {code: geoms[code] for code in sorted(changed)}, repairs


def _longest_border(piece, geoms: dict, editable: set[str]) -> str | None:
    best, best_length = None, 0.0
    ring = piece.boundary
    for code in sorted(editable & geoms.keys()):
        # A tiny buffer: the gap's edge and the grid's edge are the same line, but
        # floating point makes their exact intersection unreliable.
        shared = shapely.intersection(ring, shapely.buffer(geoms[code].boundary, 1e-9)).length
        if shared > best_length:
            best, best_length = code, shared
    return best

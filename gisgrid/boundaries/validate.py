"""Validate a grid set: geometry, codes, nesting, coverage of each parent, offsets.

Every check measures in metres, in the CGCS2000 3° Gauss–Krüger zone of the data
(never in degrees). A report is ``{"errors": [...], "warnings": [...]}``; each item
has ``kind``, ``codes`` (the grids concerned), ``message``, ``location`` ([lon, lat]
of the problem), ``level`` and, where an area applies, ``area_m2`` and ``width_m``.

Errors block an import (unless ``--on-invalid report``) and an activation;
warnings never block anything.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely
import sqlalchemy as sa
from shapely.errors import GEOSException
from sqlalchemy.orm import Session

from gisgrid.boundaries.codes import CODE_FORM, code_extends, code_form_problem, is_provisional, quoted_code
from gisgrid.crs import STORAGE_CRS, gauss_kruger_epsg, gcj02_to_wgs84, bd09_to_wgs84, wgs84_to_shifted

# A gap, overlap or overhang whose mean width (2·area/perimeter) is below this is a
# sliver: a digitising mismatch between neighbours, reported as a warning and
# repaired by ``--on-invalid fix``; a wider one is a real gap/overlap (an error).
SLIVER_WIDTH_M = 5.0
# Pieces thinner than this or smaller than NOISE_AREA_M2 are floating-point noise
# left by reprojection (a 1 mm strip along a 10 km edge is 10 m²), not problems.
NOISE_WIDTH_M = 0.05
NOISE_AREA_M2 = 1.0
# Statistical division codes (DOMAIN.md): county 6 + town 3 + village 3 digits (ASCII:
# ``\d`` would take full-width digits). Every code also has the form of codes.CODE_FORM.
CODE_PATTERNS: dict[str, str] = {"community": r"[0-9]{12}", "village": r"[0-9]{12}"}
# Offsets: a point of a layer's outline "fits" when it lies within OFFSET_FIT_M of its
# parents' outline. A layer fitting less than OFFSET_FITTING as it is, and at least
# OFFSET_MIN_FIT (and OFFSET_GAIN times better) once a GCJ-02/BD-09 shift is undone
# (or applied), is reported as shifted (GCJ-02 moves 300–700 m, BD-09 more).
OFFSET_FIT_M = 10.0
OFFSET_FITTING = 0.5
OFFSET_MIN_FIT = 0.35
OFFSET_GAIN = 2.0

ERROR_KINDS = {"invalid_geometry", "empty_geometry", "missing_code", "duplicate_code", "bad_code",
               "unknown_parent", "outside_parent", "gap", "overlap", "suspected_offset", "check_failed"}
# Report order within a level: what a planner fixes first comes first.
KIND_ORDER = ("empty_geometry", "invalid_geometry", "missing_code", "duplicate_code", "bad_code", "unknown_parent",
              "suspected_offset", "outside_parent", "gap", "overlap", "check_failed", "sliver")
WARNING_KINDS = {"sliver"}


def validate_generation(session: Session, generation: str | None = None, *,
                        sliver_width_m: float = SLIVER_WIDTH_M) -> dict:
    """Validate every grid of a generation (the active one when ``generation`` is None).

    Parameters
    ----------
    session
        Open session.
    generation
        Generation name.
    sliver_width_m
        Gaps/overlaps narrower than this are ``sliver`` warnings, wider ones errors.

    Returns
    -------
    dict
        ``{"generation": name, "grids": n, "errors": [...], "warnings": [...]}``.

    Examples
    --------
    Two sibling villages overlapping by a 100 m × 200 m strip:

    >>> validate_generation(session, "2027版")["errors"][0]  # doctest: +SKIP
    {'kind': 'overlap', 'codes': ['419901001001', '419901001002'], 'area_m2': 20000.0,
     'location': [113.71, 34.31], 'level': 3, 'message': 'grids 419901001001 and …'}
    """
    from gisgrid.db.queries import find_generation

    gen = find_generation(session, generation)
    frame = generation_frame(session, gen.id)
    report = validate_grids(frame, sliver_width_m=sliver_width_m)
    return {"generation": gen.name, "grids": len(frame), **report}


def generation_frame(session: Session, generation_id: int) -> gpd.GeoDataFrame:
    """All grids of a generation: code, name, level, kind, parent_code, geometry (EPSG:4490)."""
    rows = session.execute(sa.text(
        "SELECT g.code, g.name, g.level, g.kind, p.code AS parent_code, ST_AsBinary(g.geom) AS wkb "
        "FROM grid g LEFT JOIN grid p ON p.id = g.parent_id WHERE g.generation_id = :g "
        "ORDER BY g.level, g.code"), {"g": generation_id}).mappings().all()
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else []
    return gpd.GeoDataFrame({key: [r[key] for r in rows] for key in ("code", "name", "level", "kind",
                                                                    "parent_code")},
                            geometry=list(geoms), crs=STORAGE_CRS)


def validate_grids(frame: gpd.GeoDataFrame, *, sliver_width_m: float = SLIVER_WIDTH_M,
                   code_patterns: dict[str, str] | None = None, metric_epsg: int | None = None,
                   offsets: bool = True) -> dict:
    """Validate grids held in memory (EPSG:4490).

    Parameters
    ----------
    frame
        Columns ``code``, ``name``, ``level``, ``kind``, ``parent_code`` and the
        geometry; an optional ``feature`` column (the feature number in a file)
        is copied into the items.
    sliver_width_m
        Mean width below which a gap, overlap or overhang is a sliver warning.
    code_patterns
        Regular expression per kind that a code must match (default: 12 digits
        for communities and villages).
    metric_epsg
        The Gauss–Krüger zone to measure in (default: the zone of the frame's centre).
        A part of a generation checked on its own passes the whole generation's zone,
        so its areas are those of the whole check.
    offsets
        Look for a layer shifted as a whole (GCJ-02/BD-09). A layer-wide check: a part
        of a generation (:mod:`gisgrid.boundaries.neighbourhood`) leaves it out.

    Returns
    -------
    dict
        ``{"errors": [...], "warnings": [...]}``, errors first by level then kind.

    Every problem of the set is listed in one run: spatial checks use repaired
    copies (``make_valid``) of invalid polygons, and a GEOS operation that still
    fails is retried on precision-snapped copies, then reported as a
    ``check_failed`` error for the grids concerned instead of stopping the run.

    Examples
    --------
    A self-intersecting (bow-tie) grid:

    >>> validate_grids(frame)["errors"][0]["kind"]  # doctest: +SKIP
    'invalid_geometry'
    """
    checker = _Checker(frame, sliver_width_m, CODE_PATTERNS if code_patterns is None else code_patterns,
                       metric_epsg=metric_epsg)
    checker.run(offsets=offsets)
    errors = [i for i in checker.items if i["kind"] in ERROR_KINDS]
    warnings = [i for i in checker.items if i["kind"] not in ERROR_KINDS]
    return {"errors": errors, "warnings": warnings}


def check_features(frame: gpd.GeoDataFrame) -> list[dict]:
    """Problems of the features of one file on their own: empty or invalid
    geometry, missing or duplicate codes, codes that do not fit their pattern.

    ``frame`` as in :func:`validate_grids`, with a ``feature`` column.
    """
    checker = _Checker(frame, SLIVER_WIDTH_M, CODE_PATTERNS)
    checker.check_geometries()
    checker.check_codes()
    checker.attach_features()
    return [i for i in checker.items if i["kind"] in ERROR_KINDS]


def report_geojson(report: dict) -> dict:
    """The report's problems as a GeoJSON FeatureCollection (lon/lat) for the map.

    Each feature is the problem area when there is one (a gap, an overlap), else
    the point at ``location``; its properties are the item without geometry plus
    ``severity`` (``error`` or ``warning``).
    """
    features = []
    for severity in ("errors", "warnings"):
        for item in report.get(severity, []):
            geometry = item.get("_geometry")
            if geometry is None and item.get("location"):
                geometry = shapely.Point(item["location"])
            props = {k: v for k, v in item.items() if not k.startswith("_")}
            props["severity"] = severity[:-1]
            features.append({"type": "Feature", "properties": props,
                             "geometry": shapely.geometry.mapping(geometry) if geometry is not None else None})
    return {"type": "FeatureCollection", "features": features}


def write_report_geojson(report: dict, path: str | Path) -> Path:
    """Write :func:`report_geojson` to ``path`` (UTF-8)."""
    path = Path(path)
    path.write_text(json.dumps(report_geojson(report), ensure_ascii=False), encoding="utf-8")
    return path


def public_report(report: dict) -> dict:
    """The report without the internal problem geometries (for JSON output)."""
    clean = dict(report)
    for key in ("errors", "warnings"):
        if key in report:
            clean[key] = [{k: v for k, v in item.items() if not k.startswith("_")} for item in report[key]]
    return clean


def metric_zone(geoms) -> int:
    """The CGCS2000 Gauss–Krüger zone (EPSG) of the centre of ``geoms``' bounds (114°E when empty)."""
    lon = shapely.total_bounds(geoms)[[0, 2]].mean() if len(geoms) else 114.0
    return gauss_kruger_epsg(float(lon))


def mean_width(geom) -> float:
    """2·area/perimeter: the width of a long thin strip (half the side of a square)."""
    perimeter = shapely.length(geom)
    return float(2 * shapely.area(geom) / perimeter) if perimeter else 0.0


class _Checker:
    """One validation run.

    Overlays run on the stored lon/lat geometries: an edge is straight in lon/lat
    (as PostGIS stores it), and projecting first would bend long edges and invent
    slivers where a parent's edge passes through a child's vertex. Only the
    resulting pieces are projected, to measure their area and width in metres.
    """

    def __init__(self, frame: gpd.GeoDataFrame, sliver_width_m: float, code_patterns: dict[str, str], *,
                 metric_epsg: int | None = None):
        self.frame = frame.reset_index(drop=True)
        # Plain dicts: pandas row access costs ~0.1 ms each, seconds over 2,000 grids.
        self.rows = self.frame.drop(columns=self.frame.geometry.name).to_dict("records")
        self.sliver = sliver_width_m
        self.patterns = code_patterns
        self.items: list[dict] = []
        geoms = np.asarray(self.frame.geometry.values, dtype=object)
        self.geoms = geoms
        present = [g for g in geoms if g is not None and not g.is_empty]
        epsg = metric_epsg or metric_zone(present)
        self.to_metric = pyproj.Transformer.from_crs(STORAGE_CRS, f"EPSG:{epsg}", always_xy=True)
        self.usable = [False] * len(geoms)   # polygonal, non-empty (repaired copy if invalid)
        self.ll = [None] * len(geoms)        # valid polygonal lon/lat geometry
        # Per level whose layer looks shifted: the function that brings its grids onto
        # their parents, so gaps and overhangs are measured with the shift undone.
        self.aligned: dict[int, object] = {}
        # Feature number in the file, per row (None for grids already in the generation).
        column = self.frame["feature"] if "feature" in self.frame.columns else [None] * len(geoms)
        self.features = [int(f) if _present(f) else None for f in column]

    # -- helpers -------------------------------------------------------------------------
    def _metric(self, geom):
        return shapely.transform(geom, lambda xy: np.column_stack(self.to_metric.transform(xy[:, 0], xy[:, 1])))

    def _row(self, i: int) -> dict:
        return self.rows[i]

    def _label(self, i: int) -> str:
        """``feature 2 (code X, name)`` for a file, ``grid X (name)`` for a generation."""
        row = self._row(i)
        code = quoted_code(row["code"]) if _present(row["code"]) else None
        name = row.get("name") if _present(row.get("name")) else None
        if self.features[i] is not None:
            inner = ", ".join(x for x in (f"code {code}" if code else None, name) if x)
            return f"feature {self.features[i]}" + (f" ({inner})" if inner else "")
        text = f"grid {code}" if code else "a grid without code"
        return text + (f" ({name})" if name else "")

    def add(self, kind: str, codes: list, message: str, *, level=None, point=None, lonlat=None,
            area=None, piece=None, feature=None) -> None:
        """Record one item; ``point`` and ``piece`` are lon/lat geometries."""
        if lonlat is None and point is not None:
            lonlat = _point_lonlat(point)
        item = {"kind": kind, "codes": [c for c in codes if _present(c)], "message": message,
                "location": lonlat, "level": int(level) if level is not None else None}
        if area is not None:
            item["area_m2"] = round(float(area), 1)
        if feature is not None:
            item["feature"] = int(feature)
        if piece is not None:
            item["_geometry"] = piece
        self.items.append(item)

    # -- checks ----------------------------------------------------------------------------
    def run(self, offsets: bool = True) -> None:
        self.check_geometries()
        self.check_codes()
        if offsets:
            self.check_offsets()
        self.check_hierarchy()
        self.check_roots()
        self.attach_features()
        rank = {kind: n for n, kind in enumerate(KIND_ORDER)}
        self.items.sort(key=lambda i: (i["level"] or 0, rank.get(i["kind"], 99)))

    def attach_features(self) -> None:
        """Give every item the file's feature numbers of the grids it names."""
        by_code = defaultdict(list)
        for i, row in enumerate(self.rows):
            if self.features[i] is not None and _present(row["code"]):
                by_code[row["code"]].append(self.features[i])
        for item in self.items:
            if "features" not in item:
                found = [f for code in item["codes"] for f in by_code.get(code, [])]
                if item.get("feature") is not None and item["feature"] not in found:
                    found.insert(0, item["feature"])
                item["features"] = sorted(set(found), key=found.index)
            if item.get("feature") is None and item["features"]:
                item["feature"] = item["features"][0]

    def failed(self, what: str, members: list[int], exc: Exception, level=None) -> None:
        """A check GEOS could not compute, even on repaired copies: an error of those grids."""
        codes = [self._row(i)["code"] for i in members]
        where = next((self._where(i) for i in members if self._where(i)), None)
        labels = ", ".join(self._label(i) for i in members[:3]) + (" …" if len(members) > 3 else "")
        reason = str(exc).split(". This can occur")[0]
        self.add("check_failed", codes, f"{labels}: the {what} could not be computed ({reason}); "
                 "check these boundaries in the source GIS (overlapping or self-touching rings)",
                 level=level if level is not None else self._row(members[0])["level"], lonlat=where,
                 feature=self.features[members[0]])

    def check_geometries(self) -> None:
        for i, geom in enumerate(self.geoms):
            row = self._row(i)
            feature = self.features[i]
            level, code = row["level"], row["code"]
            if geom is None or geom.is_empty:
                self.add("empty_geometry", [code], f"{self._label(i)} has an empty geometry",
                         level=level, feature=feature)
                continue
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                self.add("invalid_geometry", [code], f"{self._label(i)} is a {geom.geom_type}; grids must be polygons",
                         level=level, lonlat=_point_lonlat(_safe_point(geom)), feature=feature)
                continue
            if not geom.is_valid:
                reason = shapely.is_valid_reason(geom)
                where = _reason_location(reason) or _point_lonlat(_safe_point(geom))
                label = f"feature {feature}" if feature is not None else self._label(i)
                self.add("invalid_geometry", [code],
                         f"{label}: {reason} — {self._label(i)}; repair it in the source GIS "
                         "or with --on-invalid fix",
                         level=level, lonlat=where, feature=feature)
                # The other checks see a repaired copy: one bad polygon must not hide
                # (or break) the gaps and overlaps of its neighbours.
                geom = repaired(geom)
                if geom.is_empty:
                    continue
            self.usable[i] = True
            self.ll[i] = geom
            metric = self._metric(geom)
            width = mean_width(metric)
            if width < self.sliver:
                self.add("sliver", [code], f"{self._label(i)} is a sliver, about {width:.2f} m wide",
                         level=level, point=geom.representative_point(), area=metric.area, feature=feature)

    def check_codes(self) -> None:
        frame = self.frame
        for i, row in enumerate(self.rows):
            if is_provisional(row["code"]):
                self.add("missing_code", [row["code"]], f"{self._label(i)} has only the provisional code "
                         f"{row['code']}: propose codes with `gisgrid grids code`",
                         level=row["level"], lonlat=self._where(i), feature=self.features[i])
            elif not _present(row["code"]):
                self.add("missing_code", [], f"{self._label(i).split(' (')[0]} has no code"
                         + (f" (name {row['name']})" if _present(row.get("name")) else ""),
                         level=row["level"], lonlat=self._where(i), feature=self.features[i])
        codes = frame["code"].where(frame["code"].map(_present))
        for code, group in frame[codes.notna()].groupby("code"):
            if len(group) > 1:
                self._duplicate(code, list(group.index))
        for i, row in enumerate(self.rows):
            code, parent = row["code"], row["parent_code"]
            if not _present(code) or is_provisional(code):
                continue
            problem = code_form_problem(code)
            if problem is not None:
                # Not a code at all: an import refuses it in every mode (load._unstorable).
                self.add("bad_code", [code], f"{self._label(i)}: its code {problem}; a grid code is {CODE_FORM}",
                         level=row["level"], lonlat=self._where(i), feature=self.features[i])
                self.items[-1]["_malformed"] = True
                continue
            if is_provisional(parent):
                continue
            if _present(parent) and not code_extends(str(code), str(parent)):
                self.add("bad_code", [code, parent],
                         f"{self._label(i)}: code {code} does not extend its parent's code {parent}",
                         level=row["level"], lonlat=self._where(i), feature=self.features[i])
                continue
            pattern = self.patterns.get(row.get("kind"))
            if pattern and not re.fullmatch(pattern, str(code)):
                self.add("bad_code", [code],
                         f"{self._label(i)}: a {row['kind']} code must match {pattern} "
                         f"(12-digit division code: county 6 + town 3 + village 3); got {code!r}",
                         level=row["level"], lonlat=self._where(i), feature=self.features[i])

    def _duplicate(self, code, members: list[int]) -> None:
        in_file = [i for i in members if self.features[i] is not None]
        stored = [i for i in members if self.features[i] is None]
        first = in_file[0] if in_file else members[0]
        if len(in_file) > 1:
            where = f"features {[self.features[i] for i in in_file]}"
        elif in_file:
            where = None
        else:
            where = f"{len(members)} grids: " + ", ".join(
                f"{self._row(i)['name']} (level {self._row(i)['level']})" for i in members)
        if where is not None:
            others = "; also by " + ", ".join(f"the level-{self._row(i)['level']} grid {self._row(i)['name']}"
                                              for i in stored) if in_file and stored else ""
            message = f"code {code} is used by {where}{others}"
        else:
            other = stored[0]
            message = (f"code {code} of feature {self.features[first]} is already used by the "
                       f"level-{self._row(other)['level']} grid {self._row(other)['name']}")
        item_features = [self.features[i] for i in in_file]
        self.add("duplicate_code", [code], message, level=self._row(first)["level"], lonlat=self._where(first),
                 feature=self.features[first])
        self.items[-1]["features"] = item_features

    def _where(self, i: int):
        geom = self.geoms[i]
        if geom is None or geom.is_empty:
            return None
        point = _safe_point(repaired(geom) if geom.geom_type in ("Polygon", "MultiPolygon") else geom)
        return _point_lonlat(point) if point is not None and not point.is_empty else None

    def _children_by_parent(self) -> dict[int, list[int]]:
        index = {}
        for i, row in enumerate(self.rows):
            if _present(row["code"]) and self.usable[i]:
                index.setdefault((row["code"], row["level"]), i)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, row in enumerate(self.rows):
            if not self.usable[i] or not _present(row["parent_code"]):
                continue
            parent = index.get((row["parent_code"], row["level"] - 1))
            if parent is None:
                parent = next((j for (c, _), j in index.items() if c == row["parent_code"]), None)
            if parent is not None:
                groups[parent].append(i)
        return groups

    def _geom(self, i: int):
        """Row ``i``'s valid lon/lat geometry, moved onto its parents when its layer is shifted."""
        align = self.aligned.get(int(self._row(i)["level"]))
        return self.ll[i] if align is None else align(i)

    def check_hierarchy(self) -> None:
        for parent, children in self._children_by_parent().items():
            level = self._row(children[0])["level"]
            pcode = self._row(parent)["code"]
            try:
                pgeom = self.ll[parent]
                shapely.prepare(pgeom)
            except GEOSException as exc:
                self.failed(f"parent {pcode}'s boundary", [parent], exc, level=level)
                continue
            note = " (measured with the layer's shift undone)" if level in self.aligned else ""
            for c in children:
                try:
                    child = self._geom(c)
                    if robust(shapely.covers, pgeom, child):
                        continue
                    outside = robust(shapely.difference, child, pgeom)
                except GEOSException as exc:
                    self.failed(f"overhang beyond parent {pcode}", [c], exc, level=level)
                    continue
                for piece in _pieces(outside):
                    self._classify(piece, "outside_parent", [self._row(c)["code"], pcode], level,
                                   f"{self._label(c)} extends beyond its parent {pcode}{note}")
            self._check_gaps(parent, pgeom, children, level, note)
            self._check_overlaps(children, level)

    def _check_gaps(self, parent: int, pgeom, children: list[int], level, note: str) -> None:
        pcode = self._row(parent)["code"]
        try:
            child_geoms = [self._geom(c) for c in children]
            covered = robust(shapely.union_all, child_geoms)
            uncovered = robust(shapely.difference, pgeom, covered)
        except GEOSException as exc:
            self.failed(f"coverage of parent {pcode}", [parent, *children], exc, level=level)
            return
        for piece in _pieces(uncovered):
            near = [self._row(c)["code"] for c, g in zip(children, child_geoms)
                    if _present(self._row(c)["code"]) and _dwithin(g, piece, _DEGREE_PER_M * max(self.sliver, 1.0))]
            self._classify(piece, "gap", [pcode, *near], level,
                           f"part of {pcode} is covered by none of its level-{level} grids"
                           + (f" (next to {', '.join(near)})" if near else "") + note)

    def check_roots(self) -> None:
        roots = [i for i, row in enumerate(self.rows)
                 if self.usable[i] and not _present(row["parent_code"])]
        by_level = defaultdict(list)
        for i in roots:
            by_level[self._row(i)["level"]].append(i)
        for level, members in by_level.items():
            self._check_overlaps(members, level)

    def _check_overlaps(self, members: list[int], level) -> None:
        if len(members) < 2:
            return
        geoms = [self._geom(i) for i in members]
        # Fast path: a valid coverage has no overlaps. An invalid one may only have
        # edges that do not match vertex for vertex, so measure the real overlaps.
        try:
            if shapely.coverage_is_valid(geoms):
                return
        except GEOSException:
            pass  # measured pair by pair below
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        array = np.asarray(geoms, dtype=object)
        # Only pairs whose interiors meet can overlap; neighbours that merely share
        # an edge are the common case and are dropped in one vectorised call.
        try:
            inner = shapely.relate_pattern(array[left], array[right], "T********")
            left, right = left[inner], right[inner]
            commons = list(shapely.intersection(array[left], array[right]))
        except GEOSException:
            commons = None  # pair by pair, so one failing pair is reported and the rest measured
        if commons is None:
            pairs = []
            for a, b in zip(left, right):
                try:
                    if robust(shapely.relate_pattern, array[a], array[b], "T********"):
                        pairs.append((a, b, robust(shapely.intersection, array[a], array[b])))
                except GEOSException as exc:
                    self.failed("overlap of neighbours", [members[a], members[b]], exc, level=level)
        else:
            pairs = list(zip(left, right, commons))
        for a, b, common in pairs:
            ca, cb = self._row(members[a])["code"], self._row(members[b])["code"]
            named = (f"grids {ca} and {cb}" if _present(ca) and _present(cb)
                     else f"{self._label(members[a])} and {self._label(members[b])}")
            for piece in _pieces(common):
                self._classify(piece, "overlap", [ca, cb], level, f"{named} overlap")

    def _classify(self, piece, kind: str, codes: list, level, message: str) -> None:
        metric = self._metric(piece)
        area, width = metric.area, mean_width(metric)
        if area < NOISE_AREA_M2 or width < NOISE_WIDTH_M:
            return
        where = _safe_point(piece)
        if width < self.sliver:
            self.add("sliver", codes, f"{message}: a sliver {_kind_word(kind)} about {width:.2f} m wide, "
                     f"{area:,.0f} m² (snap with --on-invalid fix)", level=level, point=where, area=area,
                     piece=piece)
            self.items[-1]["sliver_of"] = kind
        else:
            self.add(kind, codes, f"{message}: {area:,.0f} m², about {width:,.0f} m across", level=level,
                     point=where, area=area, piece=piece)
        self.items[-1]["width_m"] = round(float(width), 2)

    def check_offsets(self) -> None:
        """A whole layer shifted 300–700 m from its parent level, as GCJ-02/BD-09 data is.

        The gaps, overhangs and overlaps of a shifted layer are then measured with the
        shift undone, so the report still lists the layer's own problems.
        """
        by_level: dict[int, dict[int, list[int]]] = defaultdict(dict)
        for parent, children in self._children_by_parent().items():
            by_level[int(self._row(children[0])["level"])][parent] = children
        for level, groups in sorted(by_level.items()):
            parents = list(groups)
            children = [i for c in groups.values() for i in c]
            try:
                finding = self._offset(groups)
            except GEOSException as exc:
                self.failed(f"level-{level} layer's fit to level {level - 1}", sorted(children),
                            exc, level=level)
                continue
            if finding is None:
                continue
            which, system, moved, centre = finding
            # a set: a duplicate code is one grid code, and a feature without one names none
            codes = sorted({str(self._row(i)["code"]) for i in (children if which == "children" else parents)
                            if _present(self._row(i)["code"])})
            layer = level if which == "children" else level - 1
            self.aligned[level] = self._aligner(which, system)
            self.add("suspected_offset", codes,
                     f"level {layer} looks shifted about {moved:,.0f} m from level "
                     f"{level - 1 if which == 'children' else level}, as {system.upper()} data is: "
                     f"re-import level {layer} with --crs {system} (gaps and overhangs between "
                     f"levels {level - 1} and {level} below are measured with the shift undone)",
                     level=level, point=centre)

    def _aligner(self, which: str, system: str):
        """Row → its geometry moved the way that fits its parents (cached)."""
        move = _undo(system) if which == "children" else _redo(system)
        cache: dict[int, object] = {}

        def align(i: int):
            if i not in cache:
                cache[i] = repaired(move(self.ll[i]))
            return cache[i]
        return align

    def _offset(self, groups: dict[int, list[int]]):
        """Which layer looks shifted, by which system, how far, and the layer's centre; or None.

        Measured on points spaced evenly along the outer outline of each parent's
        children: the share of them within OFFSET_FIT_M of the parents' outlines, as
        they are and after undoing (or applying) a GCJ-02/BD-09 shift. Holes inside a
        parent (a real gap, a missing or broken grid) do not count, and a share ignores
        the stretches where an overhang or a missing grid runs along the parent's edge,
        so a shifted layer with several defects is still recognised (the area of the
        mismatch, used before, was swamped by them).
        """
        outlines, edges = [], []
        for parent, children in groups.items():
            covered = robust(shapely.union_all, [self.ll[i] for i in children])
            outlines += [shapely.get_exterior_ring(part) for part in _pieces(covered)]
            edges.append(self.ll[parent].boundary)
        xy = _outline_points(shapely.MultiLineString(outlines)) if outlines else np.empty((0, 2))
        if len(xy) == 0:
            return None
        edge = _segment_tree(self._metric(shapely.union_all(edges)))
        base = self._fit(xy, edge)
        if base >= OFFSET_FITTING:
            return None
        best = None
        for system in ("gcj02", "bd09"):
            for which, move in (("children", _undo_xy(system)), ("parents", _redo_xy(system))):
                moved = move(xy)
                score = self._fit(moved, edge)
                if best is None or score > best[0]:
                    best = (score, which, system, moved)
        score, which, system, moved = best
        if score < max(OFFSET_MIN_FIT, OFFSET_GAIN * base):
            return None
        before = np.column_stack(self.to_metric.transform(xy[:, 0], xy[:, 1]))
        after = np.column_stack(self.to_metric.transform(moved[:, 0], moved[:, 1]))
        shift = float(np.median(np.hypot(*(after - before).T)))
        centre = _safe_point(robust(shapely.union_all, [self.ll[i] for c in groups.values() for i in c]))
        return which, system, shift, centre

    def _fit(self, lonlat: np.ndarray, edge: shapely.STRtree) -> float:
        """The share of these lon/lat points within OFFSET_FIT_M of the outline segments in ``edge``."""
        x, y = self.to_metric.transform(lonlat[:, 0], lonlat[:, 1])
        near = edge.query(shapely.points(x, y), predicate="dwithin", distance=OFFSET_FIT_M)[0]
        return len(np.unique(near)) / len(lonlat)


def _segment_tree(lines) -> shapely.STRtree:
    """An index of the single segments of ``lines``: a point is within a distance of the lines
    when it is of one segment. (``dwithin`` against the whole outline of 2,000 grids, even
    prepared, took 7 s per call.)"""
    pieces = []
    for part in shapely.get_parts(lines):
        xy = shapely.get_coordinates(part)
        pieces.append(np.stack([xy[:-1], xy[1:]], axis=1))
    return shapely.STRtree(shapely.linestrings(np.concatenate(pieces)) if pieces else [])


def _outline_points(lines, count: int = 400) -> np.ndarray:
    """About ``count`` lon/lat points spaced evenly along ``lines``."""
    step = max(lines.length / count, 1e-7)
    return shapely.get_coordinates(shapely.segmentize(lines, step))


def _undo_xy(system: str):
    inverse = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}[system]
    return lambda xy: np.column_stack(inverse(xy[:, 0], xy[:, 1]))


def _redo_xy(system: str):
    return lambda xy: np.column_stack(wgs84_to_shifted(xy[:, 0], xy[:, 1], system))


def _undo(system: str):
    """lon/lat geometry in ``system`` → CGCS2000."""
    inverse = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}[system]
    return lambda geom: shapely.transform(geom, lambda xy: np.column_stack(inverse(xy[:, 0], xy[:, 1])))


def _redo(system: str):
    """CGCS2000 lon/lat geometry → shifted as ``system`` shifts it."""
    return lambda geom: shapely.transform(
        geom, lambda xy: np.column_stack(wgs84_to_shifted(xy[:, 0], xy[:, 1], system)))


def repaired(geom):
    """A valid polygonal copy of ``geom`` (``make_valid``, then the polygonal parts)."""
    if geom is None or geom.is_empty:
        return shapely.MultiPolygon()
    if geom.is_valid:
        return polygonal(geom)
    try:
        return polygonal(shapely.make_valid(geom))
    except GEOSException:
        return polygonal(shapely.make_valid(shapely.set_precision(geom, PRECISION_DEG)))


# Grid size for snapping coordinates when GEOS fails on the exact ones: 1e-9° ≈ 0.1 mm.
PRECISION_DEG = 1e-9


def robust(operation, *geoms, **kwargs):
    """``operation(*geoms)``; on a GEOS TopologyException retried on repaired copies,
    then on copies snapped to a 0.1 mm grid. Raises the last GEOSException if all fail.
    """
    try:
        return operation(*geoms, **kwargs)
    except GEOSException:
        pass
    fixes = (lambda g: _each(g, repaired),
             lambda g: _each(g, lambda x: repaired(shapely.set_precision(x, PRECISION_DEG))))
    error = None
    for fix in fixes:
        try:
            return operation(*[fix(g) for g in geoms], **kwargs)
        except GEOSException as exc:
            error = exc
    raise error


def _each(value, fix):
    if isinstance(value, (list, tuple, np.ndarray)):
        return [fix(g) for g in value]
    return fix(value) if isinstance(value, shapely.Geometry) else value


def _dwithin(a, b, distance: float) -> bool:
    try:
        return bool(robust(shapely.dwithin, a, b, distance))
    except GEOSException:
        return False


def _safe_point(geom):
    """A point on ``geom`` (a representative point; the centroid if GEOS cannot find one)."""
    try:
        return geom.representative_point()
    except GEOSException:
        return geom.centroid


# Degrees per metre, for "within a few metres" searches only (the longest degree, so
# it errs towards including a neighbour); never for measuring.
_DEGREE_PER_M = 1 / 85_000


def polygonal(geom):
    """The polygonal part of a geometry (what make_valid leaves of a polygon)."""
    if geom is None or geom.is_empty:
        return shapely.MultiPolygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.MultiPolygon()


def _pieces(geom) -> list:
    geom = polygonal(geom)
    return [] if geom.is_empty else list(shapely.get_parts(geom))


def _kind_word(kind: str) -> str:
    return {"gap": "gap", "overlap": "overlap", "outside_parent": "overhang"}[kind]


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and str(value).strip() != "" \
        and str(value) not in ("<NA>", "nan", "None")


def _point_lonlat(point) -> list[float]:
    return [round(point.x, 7), round(point.y, 7)]


def _reason_location(reason: str) -> list[float] | None:
    match = re.search(r"\[(-?[\d.eE+-]+) (-?[\d.eE+-]+)\]", reason)
    return [round(float(match.group(1)), 7), round(float(match.group(2)), 7)] if match else None

"""Edits of a draft generation: split, merge, move a base unit, replace a boundary.

Every edit (1) locks the grids it touches and checks the version the editor saw
(``grid.version``: a concurrent edit is refused, never overwritten), (2) changes
the geometry with exact overlays in lon/lat, (3) validates what it touched — the
changed grids, their neighbours and parents (:mod:`gisgrid.boundaries.neighbourhood`;
with ``validation="full"`` the whole generation, as activation does) — and refuses the
edit, with the report, when it adds any validation error (a gap, an overlap, a child
left outside its parent …), and (4) writes an ``audit_log`` row
with the grids before and after. Nothing is committed here: the caller commits
(``--commit``, or the web request) or rolls back.
"""

from __future__ import annotations

import json

import numpy as np
import shapely
import shapely.ops
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.boundaries.codes import _next_serial, check_code, serial_limit
from gisgrid.boundaries.generations import get_or_create_draft
from gisgrid.boundaries.locks import refuse_locked
from gisgrid.boundaries.neighbourhood import GridState, changed_ids, edit_scope, load_state, validate_touched
from gisgrid.boundaries.problem_text import describe_zh
from gisgrid.boundaries.repair import snap_slivers
from gisgrid.boundaries.validate import polygonal, public_report, validate_generation
from gisgrid.errors import Conflict, InputError, NotFound
from gisgrid.labels import KIND_LABELS

class EditRefused(Conflict):
    """An edit that would add validation errors; ``details`` holds the new errors."""


def split_grid(session: Session, generation: str, code: str, line, *, version: int | None = None,
               new_codes: list[str] | None = None, actor: str = "cli", max_vertices: int | None = None,
               validation: str = "touched", names: list[str] | None = None, keep_at=None) -> dict:
    """Split grid ``code`` along ``line`` (a LineString crossing it).

    The part first in reading order (north → south, west → east) keeps the code
    and identity — or, with ``keep_at`` (a lon/lat point), the part covering that
    point (the editor's undo of a merge gives the removed grid's code back to its
    own area); the others get ``new_codes`` or the next free codes under the
    parent. ``names`` names the first parts in that order (the others: the grid's
    name for the first, "…（分）" for the new ones). Children follow the part that holds their representative point (a
    child the line crosses is refused: split it first). A line of more than
    ``max_vertices`` vertices is refused before anything is read.

    Examples
    --------
    >>> split_grid(session, "2027版", "419901001002", LineString([(113.71, 34.29), (113.71, 34.33)]),
    ...            version=1)["codes"]  # doctest: +SKIP
    ['419901001002', '419901001021']
    """
    line = _geometry(line, ("LineString", "MultiLineString"), "line", max_vertices)
    for new in new_codes or []:
        check_code(new, "new code")
    gen_id, before_errors = _begin(session, generation, validation)
    grid = _lock(session, gen_id, code, version)
    # The pieces of the split, kept apart (a union would glue them back together).
    pieces = [piece for part in shapely.get_parts(grid["geom"])
              for piece in shapely.get_parts(shapely.ops.split(part, line)) if piece.geom_type == "Polygon"]
    pieces = _reading_order(pieces)
    if len(pieces) < 2:
        raise InputError(f"the line does not cut grid {code} in two; draw it across the grid, end to end",
                         zh=f"这条线没有把网格 {code} 分成两部分；请从网格外画起，横穿网格，到网格外结束")
    if keep_at is not None:
        point = _point(keep_at)
        pieces.sort(key=lambda piece: not piece.covers(point))
    if names is not None and len(names) > len(pieces):
        raise InputError(f"the line cuts grid {code} into {len(pieces)} parts; {len(names)} names were given",
                         zh=f"这条线把网格 {code} 分成 {len(pieces)} 部分，但给了 {len(names)} 个名称")
    codes = [code] + _codes_for(session, gen_id, grid, len(pieces) - 1, new_codes)
    _set_geometry(session, grid["id"], pieces[0])
    ids = [grid["id"]]
    for piece, new in zip(pieces[1:], codes[1:]):
        ids.append(_insert_like(session, grid, new, piece))
    if names is not None:
        for grid_id, name in zip(ids, names):
            session.execute(sa.text("UPDATE grid SET name = :n WHERE id = :i"), {"n": name, "i": grid_id})
    renumbered = _reparent_children(session, gen_id, grid, ids, codes)
    result = {"edit": "split", "code": code, "codes": codes,
              "areas_m2": [_area(session, i) for i in ids], "renumbered": renumbered}
    return _finish(session, generation, before_errors, actor, "grid.split", code,
                   {"grids": [_snapshot(grid)]}, result)


def merge_grids(session: Session, generation: str, codes: list[str], *,
                versions: dict[str, int] | None = None, actor: str = "cli", validation: str = "touched",
                name: str | None = None, recodes: dict[str, str] | None = None) -> dict:
    """Merge adjacent grids of one parent into the one with the lowest code.

    The others are removed; their children move to the merged grid, which is
    renamed ``name`` when one is given.  ``recodes`` ({current code: code}) gives children
    of the merged grid their codes back — the editor's undo of a split that renumbered the
    communities of the part it cut off (their codes follow the new street's).

    Examples
    --------
    >>> merge_grids(session, "2027版", ["419901001001", "419901001002"])["code"]  # doctest: +SKIP
    '419901001001'
    """
    if len(set(codes)) < 2:
        raise InputError(f"merge needs at least two different grid codes; got {codes}",
                         zh=f"合并至少需要两个不同的网格编码；收到 {len(set(codes))} 个")
    gen_id, before_errors = _begin(session, generation, validation)
    versions = versions or {}
    grids = [_lock(session, gen_id, c, versions.get(c)) for c in sorted(set(codes))]
    if len({(g["level"], g["parent_id"]) for g in grids}) > 1:
        raise InputError(f"grids {', '.join(sorted(codes))} are not siblings (same level and parent); "
                         "only siblings can be merged",
                         zh=f"{'、'.join(sorted(codes))} 不是同一上级下的同级网格；只能合并同级网格")
    if not _connected([g["geom"] for g in grids]):
        raise InputError(f"grids {', '.join(sorted(codes))} are not adjacent: each must share an edge "
                         "with another of them", zh=f"{'、'.join(sorted(codes))} 不相邻：每个网格都要与其中另一个共用一段边界")
    union = polygonal(shapely.union_all([g["geom"] for g in grids]))
    keep, others = grids[0], grids[1:]
    for current, wanted in (recodes or {}).items():
        check_code(wanted, "code to give back")
    _set_geometry(session, keep["id"], union)
    if name is not None:
        session.execute(sa.text("UPDATE grid SET name = :n WHERE id = :i"), {"n": name, "i": keep["id"]})
    for other in others:
        session.execute(sa.text("UPDATE grid SET parent_id = :k WHERE parent_id = :o"),
                        {"k": keep["id"], "o": other["id"]})
        session.execute(sa.text("DELETE FROM grid WHERE id = :o"), {"o": other["id"]})
    recoded = {}
    children = set(session.execute(sa.text("SELECT code FROM grid WHERE generation_id = :g AND parent_id = :k"),
                                   {"g": gen_id, "k": keep["id"]}).scalars())
    for current in recodes or {}:  # all checked first: a chain of recodes reaches no other grid
        if current not in children:
            raise InputError(f"{current} is not a child of the merged grid {keep['code']}; only its children are "
                             "given their codes back", zh=f"{current} 不是合并后网格 {keep['code']} 的下级网格，不能改回编码")
    if len(set((recodes or {}).values())) != len(recodes or {}) or set((recodes or {}).values()) & set(recodes or {}):
        raise InputError("recodes give two grids one code, or a code that another recode frees",
                         zh="改回编码（recodes）中有重复的编码，或把一个网格改成另一个待改网格的编码")
    for current, wanted in (recodes or {}).items():
        _recode_subtree(session, gen_id, current, wanted)
        recoded[current] = wanted
    result = {"edit": "merge", "code": keep["code"], "removed": [g["code"] for g in others],
              "area_m2": _area(session, keep["id"]), "recoded": recoded}
    return _finish(session, generation, before_errors, actor, "grid.merge", keep["code"],
                   {"grids": [_snapshot(g) for g in grids]}, result)


def rename_grid(session: Session, generation: str, code: str, name: str, *, version: int | None = None,
                actor: str = "cli", validation: str = "touched") -> dict:
    """Give grid ``code`` the name ``name``; its code, boundary and 四定 staff stay.

    Examples
    --------
    >>> rename_grid(session, "2027版", "419901001002", "新风社区", version=3)["old_name"]  # doctest: +SKIP
    '东风社区'
    """
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 100:
        raise InputError(f"the new name was {name[:20]!r}; expected 1 to 100 characters",
                         zh=f"新名称为 {name[:20]!r}；应为 1–100 个字，如“东风社区”")
    gen_id, before_errors = _begin(session, generation, validation)
    grid = _lock(session, gen_id, code, version)
    if grid["name"] == name:
        raise InputError(f"grid {code} is already named {name!r}", zh=f"网格 {code} 已经叫“{name}”")
    session.execute(sa.text("UPDATE grid SET name = :n, version = version + 1 WHERE id = :i"),
                    {"n": name, "i": grid["id"]})
    result = {"edit": "rename", "code": code, "name": name, "old_name": grid["name"]}
    return _finish(session, generation, before_errors, actor, "grid.rename", code, {"grid": _snapshot(grid)}, result)


def move_unit(session: Session, generation: str, unit_code: str, to_code: str, *,
              versions: dict[str, int] | None = None, new_code: str | None = None,
              actor: str = "cli", validation: str = "touched") -> dict:
    """Move base unit ``unit_code`` (e.g. a village) from its grid to the adjacent grid ``to_code``.

    The old grid loses the unit's area, the new one gains it. The unit's code must
    extend its new parent's: it gets ``new_code`` or the next free code under
    ``to_code`` (its own children's codes follow); the change is in the result.

    Examples
    --------
    >>> move_unit(session, "2027版", "419901001003", "419901002")["renumbered"]  # doctest: +SKIP
    {'419901001003': '419901002011'}
    """
    if new_code is not None:
        check_code(new_code, "new code")
    gen_id, before_errors = _begin(session, generation, validation)
    versions = versions or {}
    unit = _lock(session, gen_id, unit_code, versions.get(unit_code))
    source = _lock_id(session, unit["parent_id"], versions)
    target = _lock(session, gen_id, to_code, versions.get(to_code))
    if source is None:
        raise InputError(f"grid {unit_code} has no parent to move it from",
                         zh=f"网格 {unit_code} 没有上级网格，不能划转；只有社区/村等下级网格可以划转")
    if target["id"] == source["id"]:
        raise InputError(f"grid {unit_code} is already in {to_code}", zh=f"网格 {unit_code} 已属于 {to_code}")
    if target["level"] != source["level"] or target["parent_id"] != source["parent_id"]:
        raise InputError(f"grids {source['code']} and {to_code} are not siblings; a unit moves between "
                         "grids of the same parent", zh=f"{source['code']} 与 {to_code} 不是同级网格；只能在同一上级下划转")
    if shapely.intersection(unit["geom"].boundary, target["geom"].boundary).length == 0:
        raise InputError(f"grid {unit_code} does not border {to_code}; a unit moves to a neighbouring grid",
                         zh=f"网格 {unit_code} 与 {to_code} 不相邻；只能划转到相邻的上级网格")
    remaining = polygonal(shapely.difference(source["geom"], unit["geom"]))
    if remaining.is_empty:
        raise InputError(f"grid {unit_code} is all of {source['code']}; merge the grids instead",
                         zh=f"网格 {unit_code} 就是 {source['code']} 的全部；请改用合并")
    _set_geometry(session, source["id"], remaining)
    _set_geometry(session, target["id"], polygonal(shapely.union(target["geom"], unit["geom"])))
    code = new_code or _codes_for(session, gen_id, {**unit, "parent_id": target["id"], "parent_code": to_code,
                                                   "digits": len(unit_code) - len(source["code"])}, 1, None)[0]
    _recode_subtree(session, gen_id, unit_code, code)
    session.execute(sa.text("UPDATE grid SET parent_id = :t, version = version + 1 WHERE id = :u"),
                    {"t": target["id"], "u": unit["id"]})
    result = {"edit": "move_unit", "unit": code, "from": source["code"], "to": to_code,
              "renumbered": {unit_code: code} if code != unit_code else {}}
    return _finish(session, generation, before_errors, actor, "grid.move_unit", unit_code,
                   {"grids": [_snapshot(unit), _snapshot(source), _snapshot(target)]}, result)


def replace_geometry(session: Session, generation: str, code: str, geometry, *, snap_m: float = 5.0,
                     version: int | None = None, actor: str = "cli", max_vertices: int | None = None,
                     validation: str = "touched") -> dict:
    """Replace grid ``code``'s boundary; neighbours give way, slivers are snapped.

    Each vertex of the new boundary within ``snap_m`` metres of a neighbour's or
    the parent's vertex moves onto it, else onto their nearest edge; the result
    is clipped to the parent; neighbours lose what it takes; any gap or overlap
    still narrower than ``snap_m`` goes to the grid sharing the longest edge with
    it, so no sliver is left. (``shapely.snap`` onto densified neighbours was tried:
    it inserts their vertices and folds edges into self-intersections.) Area the
    grid gives up beyond that must be taken by a neighbour's edit first, or the
    edit is refused with the gap. A boundary of more than ``max_vertices`` vertices
    is refused before anything is read.

    Examples
    --------
    >>> replace_geometry(session, "2027版", "419901001002", drawn, snap_m=5, version=3)["snapped"]  # doctest: +SKIP
    2
    """
    if not 0 <= snap_m <= 100:
        raise InputError(f"snap tolerance was {snap_m} m; expected 0 to 100 m",
                         zh=f"吸附容差为 {snap_m} 米；应为 0–100 米")
    drawn = _geometry(geometry, ("Polygon", "MultiPolygon"), "geometry", max_vertices)
    gen_id, before_errors = _begin(session, generation, validation)
    grid = _lock(session, gen_id, code, version)
    if not drawn.is_valid:
        raise InputError(f"the new boundary of {code} is not valid: {shapely.is_valid_reason(drawn)}",
                         zh=f"{code} 的新边界无效（{_reason_zh(shapely.is_valid_reason(drawn))}）；请移动节点，使边界不自相交")
    siblings = _siblings(session, gen_id, grid)
    parent = _parent_geom(session, grid["parent_id"])
    edges = [s["geom"].boundary for s in siblings] + ([parent.boundary] if parent is not None else [])
    if edges and snap_m:
        drawn = polygonal(shapely.make_valid(_snap_vertices(drawn, shapely.union_all(edges),
                                                            snap_m * _DEGREE_PER_M)))
    if parent is not None:
        drawn = polygonal(shapely.intersection(drawn, parent))
    if drawn.is_empty:
        raise InputError(f"the new boundary of {code} lies outside its parent", zh=f"{code} 的新边界完全在上级网格之外")
    geoms = {code: drawn}
    for s in siblings:
        taken = polygonal(shapely.difference(s["geom"], drawn))
        if taken.is_empty:
            raise InputError(f"the new boundary of {code} covers all of {s['code']}; merge the grids instead",
                             zh=f"{code} 的新边界盖住了 {s['code']} 的全部；请改用合并")
        geoms[s["code"]] = taken
    changed, repairs = snap_slivers(parent, geoms, set(geoms), sliver_width_m=max(snap_m, 0.01))
    geoms.update(changed)
    by_code = {s["code"]: s for s in siblings} | {code: grid}
    touched = []
    for c, geom in geoms.items():
        if c == code or not geom.equals(by_code[c]["geom"]):
            _set_geometry(session, by_code[c]["id"], geom)
            touched.append(c)
    result = {"edit": "replace_geometry", "code": code, "changed": sorted(touched), "repairs": repairs,
              "area_m2": _area(session, grid["id"])}
    return _finish(session, generation, before_errors, actor, "grid.reshape", code,
                   {"grids": [_snapshot(grid)] + [_snapshot(by_code[c]) for c in touched if c != code]}, result)


# -- helpers -------------------------------------------------------------------------------

# Metres → degrees for snapping tolerances only (the longest degree here, so a
# tolerance in metres is never undershot); never for measuring.
_DEGREE_PER_M = 1 / 85_000


def _snap_vertices(geom, reference, tolerance: float):
    """Move each vertex of ``geom`` onto the nearest reference vertex, else edge, within ``tolerance``.

    Both lookups go through an STRtree (of the reference's vertices, and of its edges cut
    into two-point segments), so a vertex costs a tree descent, not a pass over every
    reference vertex: a 100,000-vertex boundary held a worker for minutes all-pairs. The
    result is the all-pairs one, coordinate for coordinate (tests/boundaries/test_edit_limits.py).
    """
    coords = shapely.get_coordinates(geom)
    ref_coords = shapely.get_coordinates(reference)
    if len(coords) == 0 or len(ref_coords) == 0:
        return geom
    points = shapely.points(coords)
    snapped = coords.copy()
    at_vertex, vertex = _nearest_within(points, shapely.points(ref_coords), tolerance)
    snapped[at_vertex] = ref_coords[vertex]
    segments = _segments(reference)
    at_edge, edge = _nearest_within(points, segments, tolerance)
    off_vertex = ~np.isin(at_edge, at_vertex)
    at_edge, edge = at_edge[off_vertex], edge[off_vertex]
    if len(at_edge):
        snapped[at_edge] = shapely.get_coordinates(shapely.shortest_line(points[at_edge], segments[edge]))[1::2]
    return shapely.transform(geom, lambda _: snapped)


def _nearest_within(points: np.ndarray, items: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(point indices, nearest item index of each) for the points within ``tolerance`` of an item.

    Of items equally near, the lowest index wins, as GEOS's own nearest-point search keeps
    the first minimum it meets.
    """
    if len(items) == 0:
        return np.array([], dtype=np.intp), np.array([], dtype=np.intp)
    # Every item within reach (the tree's envelope test plus GEOS's dwithin, with a little
    # slack so that its cut-off never decides a tie), then the same distance the all-pairs
    # search took the minimum of.  (STRtree.query_nearest with max_distance was ~20x slower.)
    point, item = shapely.STRtree(items).query(points, predicate="dwithin",
                                               distance=tolerance * (1 + 1e-9) + 1e-15)
    distance = shapely.distance(points[point], items[item])
    keep = distance <= tolerance
    point, item, distance = point[keep], item[keep], distance[keep]
    order = np.lexsort((item, distance, point))
    point, item = point[order], item[order]
    first = np.unique(point, return_index=True)[1]
    return point[first], item[first]


def _segments(lines) -> np.ndarray:
    """The two-point segments of every line (and polygon ring) in ``lines``, in their order."""
    parts = shapely.get_parts(lines)
    polygonal_parts = shapely.get_type_id(parts) == 3
    parts[polygonal_parts] = shapely.boundary(parts[polygonal_parts])
    parts = shapely.get_parts(parts)
    coords, index = shapely.get_coordinates(parts, return_index=True)
    same_line = index[:-1] == index[1:]
    return shapely.linestrings(np.stack([coords[:-1][same_line], coords[1:][same_line]], axis=1))


VALIDATIONS = ("touched", "full")


def _begin(session: Session, generation: str, validation: str = "touched") -> tuple[int, object]:
    """The draft's id and what the edit is compared with afterwards: the grids as they are
    (``touched``: :mod:`gisgrid.boundaries.neighbourhood` checks the changed part), or the
    signatures of every error of the whole generation (``full``)."""
    if validation not in VALIDATIONS:
        raise InputError(f"validation was {validation!r}; expected one of {', '.join(VALIDATIONS)}")
    gen = get_or_create_draft(session, generation) if generation else None
    if gen is None:
        raise InputError("give the draft generation to edit (--generation NAME)")
    if validation == "touched":
        return gen.id, load_state(session, gen.id)
    report = validate_generation(session, gen.name)
    return gen.id, {_signature(e) for e in report["errors"]}


def _check(session: Session, generation: str, before, what: str) -> tuple[dict, set]:
    """(the report after the edit, the error signatures it is compared with).

    Refuses the edit first when it changed a locked grid (:mod:`gisgrid.boundaries.locks`):
    with the grids as they were, exactly those that changed (a community re-parented by a
    split of its street too).
    """
    if isinstance(before, GridState):
        after = load_state(session, before.generation_id)
        ids = changed_ids(before, after)
        refuse_locked(session, generation, {state.rows[i]["code"] for state in (before, after)
                                            for i in ids if i in state.rows}, what)
        changed, parents = edit_scope(before, after, ids)
        report = validate_touched(after, changed, parents)
        if not report["errors"]:
            return report, set()  # nothing to compare: the common case costs one check
        earlier = validate_touched(before, changed, parents)
        return report, {_signature(e) for e in earlier["errors"]}
    return validate_generation(session, generation), before


def _finish(session: Session, generation: str, before, actor: str, action: str, code: str,
            snapshot: dict, result: dict) -> dict:
    session.flush()
    # The grids the edit names (the whole check below also finds those it re-parented).
    refuse_locked(session, generation, set(_codes_in(result)) | set(result.get("removed", [])) | {code},
                  action.split(".")[1])
    checked, before_errors = _check(session, generation, before, action.split(".")[1])
    report = public_report(checked)
    new = [e for e in report["errors"] if _signature(e) not in before_errors]
    if new:
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        more_zh = f"（另有 {len(new) - 1} 处）" if len(new) > 1 else ""
        raise EditRefused(f"{action.split('.')[1]} of {code} refused: {new[0]['message']}{more}; "
                          "nothing was changed", details=new,
                          zh=f"会造成边界问题：{describe_zh(new[0])}{more_zh}；未做任何修改")
    session.execute(sa.text(
        "INSERT INTO audit_log (actor, action, entity, entity_id, before, after) "
        "VALUES (:actor, :action, 'grid', :code, CAST(:before AS jsonb), CAST(:after AS jsonb))"),
        {"actor": actor, "action": action, "code": code, "before": json.dumps(snapshot, ensure_ascii=False),
         "after": json.dumps(result, ensure_ascii=False, default=str)})
    result["generation"] = generation
    result["validation"] = {"errors": report["errors"], "warnings": report["warnings"]}
    if "scope" in report:
        # What was checked: the problems naming these grids (the whole check comes before activation).
        result["validation"].update(scope=report["scope"], checked=report["checked"])
    result["versions"] = dict(session.execute(sa.text(
        "SELECT g.code, g.version FROM grid g JOIN generation n ON n.id = g.generation_id "
        "WHERE n.name = :n AND g.code = ANY(:codes)"), {"n": generation, "codes": _codes_in(result)}).all())
    return result


def _signature(item: dict) -> tuple:
    return item["kind"], tuple(sorted(item["codes"]))


def _codes_in(result: dict) -> list[str]:
    codes = set()
    for key in ("code", "unit", "from", "to"):
        if isinstance(result.get(key), str):
            codes.add(result[key])
    for key in ("codes", "changed"):
        codes.update(result.get(key, []))
    return sorted(codes)


_GRID = ("SELECT g.id, g.code, g.name, g.level, g.kind, g.parent_id, g.version, g.identity, g.source_crs, "
         "g.generation_id, p.code AS parent_code, ST_AsBinary(g.geom) AS wkb "
         "FROM grid g LEFT JOIN grid p ON p.id = g.parent_id ")


def _row(row) -> dict:
    grid = dict(row)
    grid["geom"] = shapely.from_wkb(bytes(grid.pop("wkb")))
    return grid


def _lock(session: Session, gen_id: int, code: str, version: int | None) -> dict:
    row = session.execute(sa.text(_GRID + "WHERE g.generation_id = :g AND g.code = :c FOR UPDATE OF g"),
                          {"g": gen_id, "c": code}).mappings().first()
    if row is None:
        raise NotFound(f"grid {code!r} does not exist in this generation", zh=f"此网格版本中没有网格“{str(code)[:100]}”")
    grid = _row(row)
    _check_version(grid, version)
    return grid


def _lock_id(session: Session, grid_id: int | None, versions: dict) -> dict | None:
    if grid_id is None:
        return None
    grid = _row(session.execute(sa.text(_GRID + "WHERE g.id = :i FOR UPDATE OF g"), {"i": grid_id}).mappings().one())
    _check_version(grid, versions.get(grid["code"]))
    return grid


def _check_version(grid: dict, version: int | None) -> None:
    if version is not None and int(version) != grid["version"]:
        raise Conflict(f"grid {grid['code']} was changed by someone else since you loaded it "
                       f"(version {grid['version']}, you had {version}); reload it and edit again",
                       zh=f"网格 {grid['code']} 在您打开后已被他人修改（现为第 {grid['version']} 版，您看到的是第 "
                          f"{version} 版）；请重新载入后再编辑")


def _siblings(session: Session, gen_id: int, grid: dict) -> list[dict]:
    rows = session.execute(sa.text(
        _GRID + "WHERE g.generation_id = :g AND g.level = :l AND g.id <> :i "
        "AND g.parent_id IS NOT DISTINCT FROM :p FOR UPDATE OF g"),
        {"g": gen_id, "l": grid["level"], "i": grid["id"], "p": grid["parent_id"]}).mappings().all()
    return [_row(r) for r in rows]


def _parent_geom(session: Session, parent_id: int | None):
    if parent_id is None:
        return None
    wkb = session.execute(sa.text("SELECT ST_AsBinary(geom) FROM grid WHERE id = :i"), {"i": parent_id}).scalar()
    return shapely.from_wkb(bytes(wkb))


# The editor's words for what a geometry argument is, in its error messages.
_WHAT_ZH = {"line": "拆分线（line）", "geometry": "新边界（geometry）"}


def _geometry(value, allowed: tuple[str, ...], what: str, max_vertices: int | None = None):
    if isinstance(value, (str, dict)):
        if max_vertices is not None and isinstance(value, dict):
            _check_vertex_count(_count_positions(value.get("geometry", value)), max_vertices, what)
        try:
            value = shapely.from_geojson(json.dumps(value)) if isinstance(value, dict) else (
                shapely.from_geojson(value) if value.lstrip().startswith("{") else shapely.from_wkt(value))
        except Exception:  # shapely raises GEOSException or ValueError for bad text
            raise InputError(f"{what} is not valid GeoJSON or WKT",
                             zh=f"{_WHAT_ZH.get(what, what)}不是有效的 GeoJSON 或 WKT") from None
    if getattr(value, "geom_type", None) == "Feature":
        value = value.geometry
    if not isinstance(value, shapely.Geometry) or value.is_empty or value.geom_type not in allowed:
        got = getattr(value, "geom_type", type(value).__name__)
        raise InputError(f"{what} was a {got}; expected {' or '.join(allowed)} in CGCS2000 lon/lat",
                         zh=f"{_WHAT_ZH.get(what, what)}为 {got}；应为国家 2000 经纬度的 {' 或 '.join(allowed)}")
    if max_vertices is not None:
        _check_vertex_count(int(shapely.get_num_coordinates(value)), max_vertices, what)
    return value


def _point(value) -> shapely.Point:
    """A ``[lon, lat]`` pair (the editor's ``keep_at``) as a point."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value))
    if not ok:
        raise InputError(f"keep_at was {str(value)[:40]!r}; expected [lon, lat] in CGCS2000 degrees",
                         zh=f"保留位置（keep_at）为 {str(value)[:40]!r}；应为国家 2000 经纬度 [经度, 纬度]")
    return shapely.Point(value)


def _count_positions(geometry) -> int:
    """Positions in a GeoJSON geometry's ``coordinates``, counted before shapely parses it."""
    count, stack = 0, [geometry]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.get(key) for key in ("coordinates", "geometries"))
        elif isinstance(item, list):
            if item and not isinstance(item[0], list):
                count += 1  # a position [x, y(, z)]
            else:
                stack.extend(item)
    return count


def _check_vertex_count(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise InputError(f"{what} has {count} vertices; at most {limit} are accepted "
                         "(GISGRID_MAX_EDIT_VERTICES): simplify it before posting",
                         zh=f"{_WHAT_ZH.get(what, what)}有 {count} 个节点；最多接受 {limit} 个"
                            "（GISGRID_MAX_EDIT_VERTICES）：请先简化")


def _multi(geom):
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])


def _set_geometry(session: Session, grid_id: int, geom) -> None:
    session.execute(sa.text("UPDATE grid SET geom = ST_GeomFromWKB(decode(:wkb, 'hex'), 4490), "
                            "version = version + 1 WHERE id = :i"),
                    {"wkb": shapely.to_wkb(_multi(polygonal(geom)), hex=True), "i": grid_id})


def _insert_like(session: Session, grid: dict, code: str, geom) -> int:
    return session.execute(sa.text(
        "INSERT INTO grid (generation_id, identity, level, kind, code, name, parent_id, geom, source_crs, "
        "source_file) VALUES (:g, gen_random_uuid(), :level, :kind, :code, :name, :parent, "
        "ST_GeomFromWKB(decode(:wkb, 'hex'), 4490), :crs, 'edit') RETURNING id"),
        {"g": grid["generation_id"], "level": grid["level"], "kind": grid["kind"], "code": code,
         "name": f"{grid['name']}（分）", "parent": grid["parent_id"], "crs": grid["source_crs"],
         "wkb": shapely.to_wkb(_multi(geom), hex=True)}).scalar()


def _codes_for(session: Session, gen_id: int, grid: dict, count: int, given: list[str] | None) -> list[str]:
    if given:
        if len(given) != count:
            raise InputError(f"{count} new codes are needed; {len(given)} were given ({', '.join(given)})",
                             zh=f"需要 {count} 个新编码，给了 {len(given)} 个（{'、'.join(given)}）")
        taken = session.execute(sa.text("SELECT code FROM grid WHERE generation_id = :g AND code = ANY(:c)"),
                                {"g": gen_id, "c": list(given)}).scalars().all()
        if taken:
            raise Conflict(f"codes {', '.join(taken)} are already used in this generation",
                           zh=f"编码 {'、'.join(taken)} 在此网格版本中已被使用")
        return list(given)
    parent_code = grid.get("parent_code")
    if parent_code is None:
        raise InputError(f"grid {grid['code']} has no parent to number new codes under; give the new codes",
                         zh=f"网格 {grid['code']} 没有上级网格，无法自动编号；请指定新编码")
    digits = grid.get("digits") or (len(grid["code"]) - len(parent_code)
                                    if grid["code"].startswith(parent_code) else 3)
    siblings = session.execute(sa.text("SELECT code, kind FROM grid WHERE generation_id = :g AND parent_id = :p"),
                               {"g": gen_id, "p": grid["parent_id"]}).all()
    kind = grid.get("kind")
    same_kind = [c for c, k in siblings if k == kind]
    first = _next_serial(parent_code, [c for c, _ in siblings], digits, kind, same_kind)
    if first + count - 1 > serial_limit(parent_code, digits, kind, same_kind):
        raise InputError(f"no free {digits}-digit {kind or ''} code is left under {parent_code}; give the new codes",
                         zh=f"{parent_code} 下已没有可用的{KIND_LABELS.get(kind, '')}编码；请指定新编码")
    return [f"{parent_code}{first + n:0{digits}d}" for n in range(count)]


def _reparent_children(session: Session, gen_id: int, grid: dict, ids: list[int], codes: list[str]) -> dict:
    """Children go to the part holding their representative point; those under a
    new part take its code as their prefix (returned as old → new)."""
    rows = session.execute(sa.text("""
        SELECT c.id, c.code, (SELECT p.id FROM grid p WHERE p.id = ANY(:ids)
                              AND ST_Covers(p.geom, ST_PointOnSurface(c.geom)) ORDER BY p.code LIMIT 1) AS part
        FROM grid c WHERE c.parent_id = :old ORDER BY c.code
    """), {"old": grid["id"], "ids": ids}).all()
    code_of = dict(zip(ids, codes))
    renumbered = {}
    for child_id, child_code, part in rows:
        if part is None or part == grid["id"]:
            continue
        session.execute(sa.text("UPDATE grid SET parent_id = :p WHERE id = :c"), {"p": part, "c": child_id})
        if child_code.startswith(grid["code"]):
            new = code_of[part] + child_code[len(grid["code"]):]
            _recode_subtree(session, gen_id, child_code, new)
            renumbered[child_code] = new
    return renumbered


def _recode_subtree(session: Session, gen_id: int, old: str, new: str) -> None:
    if old == new:
        return
    taken = session.execute(sa.text("SELECT 1 FROM grid WHERE generation_id = :g AND code = :c"),
                            {"g": gen_id, "c": new}).first()
    if taken:
        raise Conflict(f"code {new} is already used in this generation", zh=f"编码 {new} 在此网格版本中已被使用")
    session.execute(sa.text(
        "UPDATE grid SET code = :new || substr(code, :n + 1), version = version + 1 "
        "WHERE generation_id = :g AND left(code, :n) = :old"),
        {"new": new, "old": old, "n": len(old), "g": gen_id})


def _area(session: Session, grid_id: int) -> float:
    return float(session.execute(sa.text(
        "SELECT round(ST_Area(geom::geography)::numeric, 1) FROM grid WHERE id = :i"), {"i": grid_id}).scalar())


def _snapshot(grid: dict) -> dict:
    return {"code": grid["code"], "name": grid["name"], "version": grid["version"],
            "parent_code": grid.get("parent_code"), "geometry": json.loads(shapely.to_geojson(grid["geom"]))}


def _connected(geoms: list) -> bool:
    """Whether the grids form one group through shared edges (a shared corner is not enough)."""
    reached, frontier = {0}, [0]
    while frontier:
        i = frontier.pop()
        for j in range(len(geoms)):
            if j not in reached and shapely.intersection(geoms[i].boundary, geoms[j].boundary).length > 0:
                reached.add(j)
                frontier.append(j)
    return len(reached) == len(geoms)


def _reading_order(pieces: list) -> list:
    heights = sorted(p.bounds[3] - p.bounds[1] for p in pieces)
    band = heights[len(heights) // 2] / 2 or 1e-9
    top = max(p.bounds[3] for p in pieces)
    return sorted(pieces, key=lambda p: (round((top - p.representative_point().y) / band),
                                         p.representative_point().x))


def _reason_zh(reason: str) -> str:
    """GEOS's invalidity reason ("Self-intersection[113.7 34.3]") in Chinese, with its place."""
    words = {"Self-intersection": "自相交", "Ring Self-intersection": "环自相交", "Too few points": "节点太少",
             "Interior is disconnected": "内部不连通", "Hole lies outside shell": "内环在外环之外",
             "Nested shells": "外环嵌套", "Duplicate Rings": "重复的环"}
    head, _, place = reason.partition("[")
    return words.get(head.strip(), head.strip()) + (f"，位置 {place.rstrip(']')}" if place else "")

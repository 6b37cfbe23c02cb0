"""What a plan changes, in the words a planner uses: units moved between streets, grids merged and
split, boundaries redrawn, grids renamed, added or removed — each grid's employers, 职工 and 四定
staff before and after.

:func:`gisgrid.boundaries.diff.diff_generations` matches grids by code and reports each
difference; this reads those differences as events: a community whose parent changed is a
*move* (and the two streets' new outlines are its consequence, not reshapes of their own), a
new grid covering several old ones is a *merge*, old grids shared among new ones a *split*
(from the lineage by overlap), so a merge is not shown as one grid reshaped and others removed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.boundaries.diff import diff_generations

KIND_LABELS = {"move": "调整隶属", "merge": "合并", "split": "拆分", "reshape": "调整边界", "rename": "更名",
               "added": "新增", "removed": "撤销", "follows": "随下级调整"}


def _grids(session: Session, name: str) -> dict[str, dict]:
    rows = session.execute(sa.text("""
        SELECT g.code, g.name, g.level, g.identity::text AS identity, p.code AS parent_code,
               p.identity::text AS parent_identity FROM grid g
        JOIN generation n ON n.id = g.generation_id LEFT JOIN grid p ON p.id = g.parent_id
        WHERE n.name = :n"""), {"n": name}).mappings().all()
    return {r["code"]: dict(r) for r in rows}


def plan_changes(session: Session, old: str, new: str, *, figures: dict | None = None) -> dict:
    """Events from ``old`` to ``new`` and, per touched grid, its figures before and after.

    ``figures`` maps (generation name, code) → {"employers", "headcount", "staff"}; without it
    the balance of both (gisgrid.analysis.balance) is read.
    """
    diff = diff_generations(session, old, new)
    before, after = _grids(session, old), _grids(session, new)
    events: list[dict] = []
    kind_of: dict[str, str] = {}  # code in the new plan (or old, for removed) → its change
    merged_from: set[str] = set()
    split_parts: dict[str, list[str]] = {}
    for code, sources in diff["lineage"].items():
        merges = [s["code"] for s in sources if s["relation"] == "merge"]
        if merges:
            events.append({"kind": "merge", "code": code, "name": after.get(code, {}).get("name"),
                           "codes": sorted(merges)})
            kind_of[code] = "merge"
            merged_from.update(merges)
        for s in sources:
            if s["relation"] == "split":
                split_parts.setdefault(s["code"], []).append(code)
    # Grids that kept their identity have no lineage row: a removed grid mostly inside a new
    # one was merged into it; an added grid mostly cut from an old one was split from it.
    new_identities = {g["identity"] for g in after.values()}
    old_identities = {g["identity"] for g in before.values()}
    # A code given to another grid (a moved unit's old code reused by a split part) is a
    # different grid: the old one went, a new one came.
    reused = {c for c in before.keys() & after.keys() if before[c]["identity"] != after[c]["identity"]}
    removed = {g["code"] for g in diff["removed"] if before[g["code"]]["identity"] not in new_identities}
    removed |= {c for c in reused if before[c]["identity"] not in new_identities}
    added = {g["code"] for g in diff["added"] if after[g["code"]]["identity"] not in old_identities}
    added |= {c for c in reused if after[c]["identity"] not in old_identities}
    for code, into in _mostly_within(session, old, new, sorted(removed)).items():
        event = next((e for e in events if e["kind"] == "merge" and e["code"] == into), None)
        if event is None:
            event = {"kind": "merge", "code": into, "name": after.get(into, {}).get("name"), "codes": [into]}
            events.append(event)
        event["codes"] = sorted(set(event["codes"]) | {code})
        kind_of[into] = "merge"
        merged_from.add(code)
    for code, source in _mostly_within(session, new, old, sorted(added)).items():
        if source in after:  # the old grid kept its code and gave part of itself away
            split_parts.setdefault(source, []).append(code)
    for old_code, parts in sorted(split_parts.items()):
        parts = sorted(set(parts) | ({old_code} if old_code in after else set()))
        events.append({"kind": "split", "code": old_code, "name": before.get(old_code, {}).get("name"),
                       "codes": parts})
        for part in parts:
            kind_of.setdefault(part, "split")
    moved_parents: set[str] = set()
    # A unit given to another street keeps its identity (gisgrid.boundaries.edit.move_unit)
    # and usually gets a code under its new street: matched by identity, it is one move.
    old_by_identity = {g["identity"]: g for g in before.values()}
    moved_old: set[str] = set()
    for code, grid in sorted(after.items()):
        was = old_by_identity.get(grid["identity"])
        if was is None or code in kind_of or was["parent_identity"] == grid["parent_identity"]:
            continue
        frm, to = was["parent_code"], grid["parent_code"]
        events.append({"kind": "move", "code": code, "old_code": was["code"], "name": grid["name"], "from": frm,
                       "to": to, "from_name": before.get(frm, {}).get("name"), "to_name": after.get(to, {}).get("name")})
        kind_of[code] = "move"
        moved_old.add(was["code"])
        moved_parents.update(p for p in (frm, to) if p)
    for change in diff["changed"]:
        code, what = change["code"], set(change["changes"])
        if code in kind_of or code in reused:
            continue
        if "parent" in what:  # a new grid under another parent with this code: a move too
            frm, to = before[code]["parent_code"], after[code]["parent_code"]
            events.append({"kind": "move", "code": code, "old_code": code, "name": change["name"], "from": frm,
                           "to": to, "from_name": before.get(frm, {}).get("name"),
                           "to_name": after.get(to, {}).get("name")})
            kind_of[code] = "move"
            moved_parents.update(p for p in (frm, to) if p)
    for change in diff["changed"]:
        code, what = change["code"], set(change["changes"])
        if code in kind_of or code in reused:
            continue
        if "geometry" in what:
            kind = "follows" if code in moved_parents or code in _parents_of(kind_of, after) else "reshape"
            kind_of[code] = kind
            if kind == "reshape":
                events.append({"kind": "reshape", "code": code, "name": change["name"],
                               "area_change_m2": change["area_change_m2"]})
        elif "name" in what:
            kind_of[code] = "rename"
            events.append({"kind": "rename", "code": code, "name": change["name"],
                           "old_name": before[code]["name"]})
    for grid in diff["added"]:
        if grid["code"] not in kind_of:
            kind_of[grid["code"]] = "added"
            events.append({"kind": "added", "code": grid["code"], "name": grid["name"]})
    for grid in diff["removed"]:
        if grid["code"] not in merged_from and grid["code"] not in split_parts and grid["code"] not in moved_old:
            events.append({"kind": "removed", "code": grid["code"], "name": grid["name"]})
    if figures is None:
        figures = _figures(session, old) | _figures(session, new)
    touched = sorted((set(kind_of) | {e["code"] for e in events} | {c for e in events for c in e.get("codes", [])})
                     - (moved_old - set(after)))
    rows = []
    for code in touched:
        was, now = figures.get((old, code)), figures.get((new, code))
        grid = after.get(code) or before.get(code)
        rows.append({"code": code, "name": grid["name"], "level": grid["level"],
                     "change": kind_of.get(code) or ("removed" if code not in after else "merge"),
                     "before": was, "after": now})
    return {"old": old, "new": new, "events": events, "grids": rows, "kind_of": kind_of,
            "unchanged": diff["unchanged"], "employers_moved": diff["employers_moved"]}


def _mostly_within(session: Session, source: str, target: str, codes: list[str]) -> dict[str, str]:
    """Code in ``source`` → the grid of ``target`` (same level) holding over half its area."""
    if not codes:
        return {}
    rows = session.execute(sa.text("""
        SELECT DISTINCT ON (a.code) a.code, b.code AS other
        FROM grid a JOIN generation ga ON ga.id = a.generation_id AND ga.name = :source
        JOIN grid b ON b.level = a.level AND ST_Intersects(a.geom, b.geom)
        JOIN generation gb ON gb.id = b.generation_id AND gb.name = :target
        WHERE a.code = ANY(:codes)
          AND ST_Area(ST_Intersection(a.geom, b.geom)) > 0.5 * ST_Area(a.geom)
        ORDER BY a.code, ST_Area(ST_Intersection(a.geom, b.geom)) DESC"""),
        {"source": source, "target": target, "codes": codes}).all()
    return {r.code: r.other for r in rows if r.other != r.code}


def _parents_of(kind_of: dict[str, str], grids: dict[str, dict]) -> set[str]:
    """Parents of the grids a merge, split or move touched: their outlines follow."""
    return {grids[c]["parent_code"] for c in kind_of if c in grids and grids[c]["parent_code"]}


def _figures(session: Session, name: str) -> dict:
    from gisgrid.analysis.balance import generation_balance

    return {(name, g["code"]): {"employers": g["employers"], "headcount": g["headcount"],
                                "staff": sum(g["staff"].values())}
            for g in generation_balance(session, name)["grids"]}

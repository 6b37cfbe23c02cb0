"""Edits: split, merge, move a unit, replace a boundary — validated, versioned, audited."""

from __future__ import annotations

import json

import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import LineString, Polygon, box

from gisgrid.boundaries.edit import (
    EditRefused, merge_grids, move_unit, rename_grid, replace_geometry, split_grid,
)
from gisgrid.errors import Conflict, InputError
from tests.boundaries.defects import S1, S2, V1, V2, V3, V4, deg

V5 = "419999002003"


def _geom(session, code):
    wkb = session.execute(sa.text("SELECT ST_AsBinary(geom) FROM grid WHERE code = :c"), {"c": code}).scalar()
    return shapely.from_wkb(bytes(wkb)) if wkb is not None else None


def _same(a, b) -> bool:
    return shapely.hausdorff_distance(a, b) < 1e-9


def _line(x0, y0, x1, y1):
    return deg(LineString([(x0, y0), (x1, y1)]))


def test_split_keeps_the_code_for_the_first_part_and_numbers_the_next(draft):
    result = split_grid(draft, "draft", V3, _line(2.5, -0.5, 2.5, 2.5), version=1)
    assert result["codes"] == [V3, V5] and result["validation"]["errors"] == []
    assert _same(_geom(draft, V3), deg(box(2, 0, 2.5, 2))) and _same(_geom(draft, V5), deg(box(2.5, 0, 3, 2)))
    assert result["versions"][V3] == 2
    audit = draft.execute(sa.text("SELECT action, entity_id, before FROM audit_log")).one()
    assert audit[:2] == ("grid.split", V3) and audit[2]["grids"][0]["version"] == 1


def test_split_of_a_parent_moves_children_to_their_part(draft):
    result = split_grid(draft, "draft", S2, _line(3, -1, 3, 3), new_codes=["419999003"])
    assert result["renumbered"] == {V4: "419999003002"}   # said, never silent
    parents = dict(draft.execute(sa.text(
        "SELECT c.code, p.code FROM grid c JOIN grid p ON p.id = c.parent_id WHERE c.level = 3")).all())
    assert parents == {V1: S1, V2: S1, V3: S2, "419999003002": "419999003"}


def test_split_across_a_child_is_refused_with_the_report(draft):
    with pytest.raises(EditRefused) as refused:
        split_grid(draft, "draft", S2, _line(2.5, -1, 2.5, 3), new_codes=["419999003"])
    kinds = {(e["kind"], tuple(e["codes"])) for e in refused.value.details}
    assert ("outside_parent", (V3, S2)) in kinds or ("outside_parent", (V3, "419999003")) in kinds
    assert "nothing was changed" in refused.value.message


def test_stale_version_is_refused(draft):
    with pytest.raises(Conflict, match="changed by someone else .*version 1, you had 5"):
        split_grid(draft, "draft", V3, _line(2.5, -0.5, 2.5, 2.5), version=5)


def test_line_that_does_not_cut_is_refused(draft):
    with pytest.raises(InputError, match="does not cut grid"):
        split_grid(draft, "draft", V3, _line(5, 0, 5, 2))


def test_merge_adjacent_siblings(draft):
    result = merge_grids(draft, "draft", [V2, V1], versions={V1: 1, V2: 1})
    assert result["code"] == V1 and result["removed"] == [V2]
    assert _same(_geom(draft, V1), deg(box(0, 0, 2, 2))) and _geom(draft, V2) is None
    with pytest.raises(InputError, match="not siblings"):
        merge_grids(draft, "draft", [V1, V3])


def test_merge_needs_shared_edges(draft):
    split_grid(draft, "draft", V3, _line(2.5, -0.5, 2.5, 2.5))          # V3 | V5 | V4
    with pytest.raises(InputError, match="not adjacent"):
        merge_grids(draft, "draft", [V3, V4])


def test_move_unit_to_the_neighbouring_grid_renumbers_it(draft):
    with pytest.raises(InputError, match="does not border"):
        move_unit(draft, "draft", V1, S2)
    result = move_unit(draft, "draft", V2, S2)
    assert result["renumbered"] == {V2: V5} and result["validation"]["errors"] == []
    assert _same(_geom(draft, S1), deg(box(0, 0, 1, 2))) and _same(_geom(draft, S2), deg(box(1, 0, 4, 2)))


def test_reshape_takes_from_the_neighbour_and_snaps_to_the_parent_edge(draft):
    # ≈ 2 m short of the parent's north and west edges: snapped, no sliver left
    drawn = deg(box(2.00002, 0, 3.3, 1.99998))
    result = replace_geometry(draft, "draft", V3, drawn, snap_m=5, version=1)
    assert result["changed"] == [V3, V4] and result["validation"]["errors"] == []
    assert result["validation"]["warnings"] == []
    assert _same(_geom(draft, V4), deg(box(3.3, 0, 4, 2)))
    assert shapely.hausdorff_distance(_geom(draft, V3), deg(box(2, 0, 3.3, 2))) < 1e-9


def test_reshape_that_leaves_a_gap_is_refused(draft):
    with pytest.raises(EditRefused) as refused:
        replace_geometry(draft, "draft", V3, deg(box(2, 0, 2.5, 2)), snap_m=5)
    assert refused.value.details[0]["kind"] == "gap" and refused.value.details[0]["codes"][0] == S2


def test_active_generation_is_not_edited(run_cli, draft):
    run_cli("grids", "activate", "draft", "--commit")
    with pytest.raises(Conflict, match="is active"):
        split_grid(draft, "draft", V3, _line(2.5, -0.5, 2.5, 2.5))


def test_cli_split_dry_run_then_commit(run_cli, draft):
    line = _line(2.5, -0.5, 2.5, 2.5).wkt
    dry = json.loads(run_cli("grids", "split", V3, "--line", line, "--generation", "draft", "--json").output)
    assert dry["codes"] == [V3, V5] and dry["committed"] is False
    assert draft.execute(sa.text("SELECT count(*) FROM grid WHERE code = :c"), {"c": V5}).scalar() == 0
    run_cli("grids", "split", V3, "--line", line, "--generation", "draft", "--version", "1", "--commit")
    assert draft.execute(sa.text("SELECT count(*) FROM grid WHERE code = :c"), {"c": V5}).scalar() == 1
    stale = run_cli("grids", "split", V3, "--line", line, "--generation", "draft", "--version", "1", expect=1)
    assert "changed by someone else" in stale.output


def test_rename_keeps_code_and_boundary_and_is_audited(run_cli, draft, settings):
    from gisgrid.web import create_app

    name = lambda: draft.execute(sa.text("SELECT name, version FROM grid WHERE code = :c"), {"c": V3}).one()  # noqa: E731
    old_name, version = name()
    shape = _geom(draft, V3)
    dry = json.loads(run_cli("grids", "rename", V3, "新风社区", "--generation", "draft", "--json").output)
    assert dry["old_name"] == old_name and dry["committed"] is False and name() == (old_name, version)
    client = create_app({"TESTING": True}, settings=settings).test_client()
    answer = client.post(f"/api/generations/draft/grids/{V3}/rename", json={"name": " 新风社区 ", "version": version})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["versions"][V3] == version + 1 and name() == ("新风社区", version + 1)
    draft.commit()
    assert _same(_geom(draft, V3), shape)
    audit = draft.execute(sa.text("SELECT actor, before, after FROM audit_log WHERE action = 'grid.rename'")).one()
    assert audit[0] and audit[1]["grid"]["name"] == old_name and audit[2]["name"] == "新风社区"
    stale = client.post(f"/api/generations/draft/grids/{V3}/rename", json={"name": "旧名", "version": version})
    assert stale.status_code == 409 and "已被他人修改" in stale.get_json()["message"]
    same = client.post(f"/api/generations/draft/grids/{V3}/rename", json={"name": "新风社区"})
    assert same.status_code == 400 and "已经叫“新风社区”" in same.get_json()["message"]
    empty = client.post(f"/api/generations/draft/grids/{V3}/rename", json={"name": "  "})
    assert empty.status_code == 400 and "为空" in empty.get_json()["message"]
    with pytest.raises(InputError, match="1 to 100 characters"):
        rename_grid(draft, "draft", V3, "名" * 101)


def test_json_api_edits_and_conflicts(draft, settings):
    from gisgrid.web import create_app

    client = create_app({"TESTING": True}, settings=settings).test_client()
    line = json.loads(shapely.to_geojson(_line(2.5, -0.5, 2.5, 2.5)))
    ok = client.post(f"/api/generations/draft/grids/{V3}/split", json={"line": line, "version": 1})
    assert ok.status_code == 200 and ok.get_json()["codes"] == [V3, V5]
    stale = client.post(f"/api/generations/draft/grids/{V3}/split", json={"line": line, "version": 1})
    # the editor's people read Chinese: what happened, which grid, which versions
    assert stale.status_code == 409 and f"网格 {V3} 在您打开后已被他人修改" in stale.get_json()["message"]
    assert "第 2 版" in stale.get_json()["message"] and "第 1 版" in stale.get_json()["message"]
    gap = client.put(f"/api/generations/draft/grids/{V4}/geometry",
                     json={"geometry": json.loads(shapely.to_geojson(deg(box(3.5, 0, 4, 2)))), "snap_m": 5})
    refused = gap.get_json()
    assert gap.status_code == 409 and refused["details"][0]["kind"] == "gap"
    # the gap named in Chinese with its parent, its size and its neighbours; the CLI's English kept
    assert refused["message"].startswith("会造成边界问题：") and "未做任何修改" in refused["message"]
    detail = refused["details"][0]
    assert detail["message"].startswith(detail["codes"][0] + " 内约 ") and "不属于任何下级网格" in detail["message"]
    assert "平方米" in detail["message"] and "covered by none" in detail["message_en"]
    crossed = client.put(f"/api/generations/draft/grids/{V4}/geometry", json={"geometry": {
        "type": "Polygon", "coordinates": [[list(p) for p in deg(Polygon([(3, 0), (4, 2), (4, 0), (3, 2), (3, 0)])).exterior.coords]]}})
    assert crossed.status_code == 400 and f"{V4} 的新边界无效（自相交，位置 " in crossed.get_json()["message"]
    assert _same(_geom(draft, V4), deg(box(3, 0, 4, 2)))     # refused edit rolled back
    merged = client.post("/api/generations/draft/merge", json={"codes": [V3, V5]})
    assert merged.status_code == 200 and merged.get_json()["code"] == V3
    moved = client.post(f"/api/generations/draft/grids/{V2}/move", json={"to": S2})
    assert moved.status_code == 200 and moved.get_json()["renumbered"] == {V2: V5}
    assert client.get("/api/generations/draft/validation").get_json()["errors"] == []
    edits = draft.execute(sa.text("SELECT action, actor FROM audit_log WHERE action LIKE 'grid.%' "
                                  "ORDER BY id")).all()
    # Recorded as the logged-in user (the test client's admin), never a name from the body.
    assert edits == [("grid.split", "admin"), ("grid.merge", "admin"), ("grid.move_unit", "admin")]


def test_merge_gives_renumbered_children_their_codes_back(draft, settings):
    # The editor's undo of a street split that renumbered a community: merge with recodes.
    from gisgrid.web import create_app

    split = split_grid(draft, "draft", S2, _line(3, -1, 3, 3), new_codes=["419999003"])
    assert split["renumbered"] == {V4: "419999003002"}
    draft.commit()
    client = create_app({"TESTING": True}, settings=settings).test_client()
    bad = client.post("/api/generations/draft/merge", json={"codes": [S2, "419999003"], "recodes": {V1: "419999002009"}})
    assert bad.status_code == 400 and "不是合并后网格" in bad.get_json()["message"]
    wrong = client.post("/api/generations/draft/merge", json={"codes": [S2, "419999003"], "recodes": ["x"]})
    assert wrong.status_code == 400 and "recodes" in wrong.get_json()["message"]
    draft.rollback()
    answer = client.post("/api/generations/draft/merge",
                         json={"codes": [S2, "419999003"], "recodes": {"419999003002": V4}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["recoded"] == {"419999003002": V4}
    draft.rollback()
    parents = dict(draft.execute(sa.text(
        "SELECT c.code, p.code FROM grid c JOIN grid p ON p.id = c.parent_id WHERE c.level = 3")).all())
    assert parents == {V1: S1, V2: S1, V3: S2, V4: S2}
    assert client.get("/api/generations/draft/validation").get_json()["errors"] == []

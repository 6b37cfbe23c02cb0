"""Locked grids of a draft: every edit that would change one is refused by the server, nothing
written; unlocking lets it through; the CLI, the API and every session share the one lock."""

from __future__ import annotations

import json

import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import LineString, box

from gisgrid.boundaries.edit import merge_grids, move_unit, rename_grid, replace_geometry, split_grid
from gisgrid.boundaries.locks import GridLocked, grid_locks, set_locks
from gisgrid.errors import Conflict, InputError, NotFound
from tests.boundaries.defects import S1, S2, V1, V2, V3, V4, deg


def _line(x0, y0, x1, y1):
    return deg(LineString([(x0, y0), (x1, y1)]))


def _grids(session) -> list[tuple]:
    return session.execute(sa.text(
        "SELECT code, name, version, md5(ST_AsBinary(geom)) FROM grid ORDER BY code")).all()


def test_every_kind_of_edit_that_would_change_a_locked_grid_is_refused(draft):
    set_locks(draft, "draft", [V4, S1], locked=True, actor="甲规划员", reason="已与街道确认")
    draft.commit()
    before = _grids(draft)
    refused = [
        lambda: split_grid(draft, "draft", V4, _line(3.5, -0.5, 3.5, 2.5)),          # the grid itself
        lambda: rename_grid(draft, "draft", V4, "新名"),
        lambda: merge_grids(draft, "draft", [V3, V4]),                                 # merged away
        lambda: replace_geometry(draft, "draft", V3, deg(box(2, 0, 3.5, 2)), snap_m=5),  # the neighbour it takes from
        lambda: move_unit(draft, "draft", V2, S2),                                     # its street S1 loses V2
        lambda: split_grid(draft, "draft", S2, _line(3, -1, 3, 3), new_codes=["419999003"]),  # V4 re-parented
    ]
    for edit in refused:
        with pytest.raises(GridLocked) as locked:
            edit()
        draft.rollback()
        assert "locked grid" in locked.value.message and "nothing was changed" in locked.value.message
        assert "已锁定" in locked.value.zh and "甲规划员" in locked.value.zh and "未做任何修改" in locked.value.zh
        assert locked.value.status == 409
    assert _grids(draft) == before
    # Grids not locked are edited as usual.
    ok = split_grid(draft, "draft", V3, _line(2.5, -0.5, 2.5, 2.5))
    assert ok["validation"]["errors"] == []


def test_unlocking_lets_the_edit_through_and_both_are_audited(draft):
    first = set_locks(draft, "draft", [V4, V3], locked=True, actor="甲规划员")
    assert first["changed"] == [V3, V4] and set(first["locks"]) == {V3, V4}
    assert first["locks"][V4]["by"] == "甲规划员"
    again = set_locks(draft, "draft", [V4], locked=True, actor="乙规划员")
    assert again["changed"] == [] and again["unchanged"] == [V4]
    assert grid_locks(draft, "draft")[V4]["by"] == "甲规划员"   # the first locker stays
    draft.commit()
    with pytest.raises(GridLocked):
        rename_grid(draft, "draft", V4, "新名")
    draft.rollback()
    set_locks(draft, "draft", [V4], locked=False, actor="乙规划员")
    assert rename_grid(draft, "draft", V4, "新名")["name"] == "新名"
    audit = draft.execute(sa.text("SELECT action, actor, after FROM audit_log WHERE action LIKE 'grid.%lock' "
                                  "ORDER BY id")).all()
    assert [(a, b, c["codes"]) for a, b, c in audit] == [("grid.lock", "甲规划员", [V3, V4]),
                                                        ("grid.unlock", "乙规划员", [V4])]


def test_bad_lock_requests_say_what_and_write_nothing(run_cli, draft):
    with pytest.raises(NotFound) as unknown:
        set_locks(draft, "draft", [V4, "419999009009"], locked=True, actor="a")
    assert "419999009009" in unknown.value.zh and "未做任何修改" in unknown.value.zh
    assert grid_locks(draft, "draft") == {}
    with pytest.raises(InputError):
        set_locks(draft, "draft", [], locked=True, actor="a")
    with pytest.raises(NotFound):
        set_locks(draft, "没有这个稿", [V4], locked=True, actor="a")
    draft.commit()
    run_cli("grids", "activate", "draft", "--commit")
    with pytest.raises(Conflict, match="only a draft"):
        set_locks(draft, "draft", [V4], locked=True, actor="a")


def test_cli_locks_with_a_dry_run_and_then_refuses_its_own_edit(run_cli, draft):
    dry = json.loads(run_cli("grids", "lock", V4, "--generation", "draft", "--json").output)
    assert dry["changed"] == [V4] and dry["committed"] is False
    assert "locked after --commit" in run_cli("grids", "lock", V4, "--generation", "draft").output
    assert grid_locks(draft, "draft") == {}
    done = run_cli("grids", "lock", V4, "--generation", "draft", "--reason", "已定", "--commit")
    assert "locked 1 grid(s)" in done.output and V4 in done.output
    refused = run_cli("grids", "rename", V4, "新名", "--generation", "draft", "--commit", expect=1)
    assert "locked grid" in refused.output and V4 in refused.output
    run_cli("grids", "lock", V4, "--generation", "draft", "--unlock", "--commit")
    run_cli("grids", "rename", V4, "新名", "--generation", "draft", "--commit")
    assert draft.execute(sa.text("SELECT name FROM grid WHERE code = :c"), {"c": V4}).scalar() == "新名"


def test_api_locks_are_seen_by_another_session_and_refuse_its_edit(draft, settings):
    from gisgrid.web import create_app

    app = create_app({"TESTING": True}, settings=settings)
    first, second = app.test_client(), app.test_client()
    locked = first.post("/api/generations/draft/locks", json={"codes": [V4], "locked": True})
    assert locked.status_code == 200, locked.get_json()
    assert set(locked.get_json()["locks"]) == {V4}
    seen = second.get("/api/generations/draft/locks").get_json()["locks"]
    assert seen[V4]["by"] == "admin"   # the logged-in user, never a name from the body
    shape = json.loads(shapely.to_geojson(deg(box(2, 0, 3.5, 2))))
    answer = second.put(f"/api/generations/draft/grids/{V3}/geometry", json={"geometry": shape, "snap_m": 5})
    body = answer.get_json()
    assert answer.status_code == 409 and body["error"] == "GridLocked"
    assert "已锁定" in body["message"] and V4 in body["message"] and body["details"][0]["code"] == V4
    draft.rollback()
    assert shapely.hausdorff_distance(shapely.from_wkb(bytes(draft.execute(sa.text(
        "SELECT ST_AsBinary(geom) FROM grid WHERE code = :c"), {"c": V4}).scalar())), deg(box(3, 0, 4, 2))) < 1e-9
    bad = first.post("/api/generations/draft/locks", json={"codes": [V4], "locked": "yes"})
    assert bad.status_code == 400 and "true" in bad.get_json()["message"]
    unlocked = first.post("/api/generations/draft/locks", json={"codes": [V4], "locked": False})
    assert unlocked.status_code == 200 and unlocked.get_json()["locks"] == {}
    again = second.put(f"/api/generations/draft/grids/{V3}/geometry", json={"geometry": shape, "snap_m": 5})
    assert again.status_code == 200, again.get_json()


def test_an_import_into_the_draft_does_not_change_a_locked_grid(run_cli, draft, tmp_path):
    from tests.boundaries.defects import villages_with, write_layers

    set_locks(draft, "draft", [V4], locked=True, actor="甲规划员")
    draft.commit()
    renamed = write_layers(tmp_path / "again", villages=villages_with(V4, name="导入改名村"))
    refused = run_cli("grids", "import", renamed[3], "--level", "3", "--generation", "draft", "--commit", expect=1)
    assert "locked grid" in refused.output and V4 in refused.output
    assert draft.execute(sa.text("SELECT name FROM grid WHERE code = :c"), {"c": V4}).scalar() == "东河村"
    # Unlocked, the same file goes in.
    set_locks(draft, "draft", [V4], locked=False, actor="甲规划员")
    draft.commit()
    run_cli("grids", "import", renamed[3], "--level", "3", "--generation", "draft", "--commit")
    draft.rollback()
    assert draft.execute(sa.text("SELECT name FROM grid WHERE code = :c"), {"c": V4}).scalar() == "导入改名村"


def test_a_batch_of_edits_is_saved_together_or_not_at_all(draft, settings):
    from gisgrid.web import create_app

    client = create_app({"TESTING": True}, settings=settings).test_client()
    set_locks(draft, "draft", [V4], locked=True, actor="甲规划员")
    draft.commit()
    before = _grids(draft)
    half = client.post("/api/generations/draft/edits", json={"edits": [
        {"edit": "rename", "code": V3, "name": "甲村", "version": 1},
        {"edit": "rename", "code": V4, "name": "乙村"}]})
    body = half.get_json()
    assert half.status_code == 409 and body["error"] == "GridLocked"
    assert body["message"].startswith("第 2 步（共 2 步）未通过") and "整组编辑均未保存" in body["message"]
    draft.rollback()
    assert _grids(draft) == before                       # the first step is not left saved
    # Versions the page sent are those before the batch: checked at each grid's first step only.
    both = client.post("/api/generations/draft/edits", json={"edits": [
        {"edit": "rename", "code": V3, "name": "甲村", "version": 1},
        {"edit": "rename", "code": V3, "name": "丙村", "version": 1},
        {"edit": "move", "code": V2, "to": S2, "versions": {V2: 1, S1: 1, S2: 1}}]})
    assert both.status_code == 200, both.get_json()
    assert [e["edit"] for e in both.get_json()["edits"]] == ["rename", "rename", "move_unit"]
    stale = client.post("/api/generations/draft/edits", json={"edits": [
        {"edit": "rename", "code": V3, "name": "丁村", "version": 1}]})
    assert stale.status_code == 409 and "已被他人修改" in stale.get_json()["message"]
    bad = client.post("/api/generations/draft/edits", json={"edits": [{"edit": "drop", "code": V3}]})
    assert bad.status_code == 400 and "编辑类型" in bad.get_json()["message"]
    assert client.post("/api/generations/draft/edits", json={"edits": []}).status_code == 400
    draft.rollback()
    assert draft.execute(sa.text("SELECT name FROM grid WHERE code = :c"), {"c": V3}).scalar() == "丙村"


def test_the_editors_refusals_are_chinese_all_through(draft, settings):
    # Red-team finding: English sentences inside the Chinese messages of the edit API.
    import re as _re

    from gisgrid.web import create_app

    client = create_app({"TESTING": True}, settings=settings).test_client()
    english = _re.compile(r"[A-Za-z]{3,} [a-z]{2,} [a-z]{2,}")
    answers = [
        client.post("/api/generations/draft/merge", json={"codes": [S1, S2]}),          # children keep their codes
        client.post("/api/generations/draft/merge", json={"codes": [S1, S2], "recodes": {V3: "abc"}}),
        client.post(f"/api/generations/draft/grids/{V3}/split",
                    json={"line": json.loads(shapely.to_geojson(_line(2.5, -0.5, 2.5, 2.5))), "new_codes": [V4]}),
        client.post(f"/api/generations/draft/grids/{V3}/split",
                    json={"line": json.loads(shapely.to_geojson(_line(2.5, -0.5, 2.5, 2.5))), "new_codes": [V4, V1]}),
        client.post(f"/api/generations/draft/grids/{V3}/split",
                    json={"line": json.loads(shapely.to_geojson(_line(2.5, -0.5, 2.5, 2.5))), "new_codes": ["ab c"]}),
        client.post(f"/api/generations/draft/grids/{S1}/move", json={"to": S2}),
        client.post("/api/generations/draft/merge", json={"codes": [V3, V4], "recodes": {V1: "419999002009"}}),
    ]
    for answer in answers:
        body = answer.get_json()
        assert 400 <= answer.status_code < 500, body
        assert not english.search(body["message"]), body["message"]
    assert "未以上级网格编码" in answers[0].get_json()["message"]
    draft.rollback()
    assert client.get("/api/generations/没有这个稿/locks").status_code == 404

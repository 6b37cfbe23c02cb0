"""The planner's editor page /plan/<generation>: who sees it, what it loads, the names and conflicts
of its edits (API level, two sessions), and the whole path in Chromium (tests/web/test_plan_browser.py)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from gisgrid.maps.assets import find_external_links
from tests.auth_helpers import ensure_user, owner_engine


@pytest.fixture(scope="module")
def plan_app(demo_copy_app):
    app = demo_copy_app("plan_page")
    source = _active(app)
    answer = app.test_client(user="planner", role="planner").post(
        f"/api/generations/{source}/drafts", json={"name": "页面稿"})
    assert answer.status_code == 201, answer.get_json()
    return app


def _active(app) -> str:
    with owner_engine(app).connect() as conn:
        return conn.execute(sa.text("SELECT name FROM generation WHERE status = 'active'")).scalar()


def _neighbours(app, generation: str, level: int) -> tuple[str, str]:
    """Two sibling grids of ``level`` sharing an edge (lowest codes first)."""
    with owner_engine(app).connect() as conn:
        return tuple(conn.execute(sa.text("""
            SELECT a.code, b.code FROM grid a JOIN grid b ON a.parent_id = b.parent_id AND a.code < b.code
            JOIN generation n ON n.id = a.generation_id AND n.id = b.generation_id
            WHERE n.name = :n AND a.level = :l
              AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))::geography) > 100
            ORDER BY a.code, b.code LIMIT 1"""), {"n": generation, "l": level}).one())


def _grid(app, generation: str, code: str) -> dict:
    with owner_engine(app).connect() as conn:
        row = conn.execute(sa.text(
            "SELECT g.name, g.version, ST_AsGeoJSON(ST_PointOnSurface(g.geom)) AS inside, "
            "ST_XMin(g.geom) AS x0, ST_XMax(g.geom) AS x1, ST_Y(ST_PointOnSurface(g.geom)) AS y "
            "FROM grid g JOIN generation n ON n.id = g.generation_id WHERE n.name = :n AND g.code = :c"),
            {"n": generation, "c": code}).mappings().first()
    return dict(row) if row else None


@pytest.mark.parametrize("role", ["planner", "admin"])
def test_planners_and_admins_open_the_editor(plan_app, role):
    client = plan_app.test_client(user=f"plan-{role}", role=role)
    page = client.get("/plan/页面稿")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:300]
    assert "规划编辑：页面稿" in html and "新建草稿" in html and "划转社区/村" in html
    assert "/static/vendor/leaflet-geoman/leaflet-geoman.js" in html and "/static/js/plan.js" in html
    data = client.get("/plan/页面稿/grids.geojson").get_json()
    levels = {f["properties"]["level"] for f in data["features"]}
    assert levels == {2, 3} and all("version" in f["properties"] for f in data["features"])


def test_the_editor_page_has_no_external_asset_and_no_inline_script(plan_app):
    html = plan_app.test_client(user="planner", role="planner").get("/plan/页面稿").get_data(as_text=True)
    assert find_external_links(html) == []
    # the only inline script is the JSON configuration, which the browser does not run
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline and all('type="application/json"' in attrs for attrs in inline), inline


@pytest.mark.parametrize("role", ["leader", "inspector"])
def test_others_get_404(plan_app, role):
    with owner_engine(plan_app).connect() as conn:
        code = conn.execute(sa.text("SELECT code FROM grid WHERE level = 2 ORDER BY code LIMIT 1")).scalar()
    user = ensure_user(plan_app, f"plan-{role}", role, grid_codes=(code,) if role == "inspector" else ())
    client = plan_app.test_client(user=user, role=role)
    assert client.get("/plan/页面稿").status_code == 404
    assert client.get("/plan/页面稿/grids.geojson").status_code == 404
    assert client.get(f"/plan/{_active(plan_app)}").status_code == 404


def test_an_active_plan_shows_read_only_with_the_draft_button(plan_app):
    html = plan_app.test_client(user="planner", role="planner").get(f"/plan/{_active(plan_app)}").get_data(as_text=True)
    assert "只能查看" in html and "新建草稿" in html and "划转社区/村" not in html


def test_a_missing_generation_is_404_in_chinese(plan_app):
    page = plan_app.test_client(user="planner", role="planner").get("/plan/没有这个稿")
    assert page.status_code == 404 and "未找到" in page.get_data(as_text=True)


def test_split_and_merge_take_the_names_and_a_merge_is_undone_by_a_split(plan_app):
    planner = plan_app.test_client(user="planner", role="planner")
    keep, gone = _neighbours(plan_app, "页面稿", 3)
    a, b = _grid(plan_app, "页面稿", keep), _grid(plan_app, "页面稿", gone)
    merged = planner.post("/api/generations/页面稿/merge", json={
        "codes": [keep, gone], "name": "合并后社区", "versions": {keep: a["version"], gone: b["version"]}})
    assert merged.status_code == 200, merged.get_json()
    assert _grid(plan_app, "页面稿", keep)["name"] == "合并后社区" and _grid(plan_app, "页面稿", gone) is None
    # the inverse the editor sends: split along the old shared edge, the kept code where it was
    with owner_engine(plan_app).connect() as conn:
        line = conn.execute(sa.text("""
            SELECT ST_AsGeoJSON(ST_LineMerge(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))))
            FROM grid a, grid b JOIN generation n ON n.id = b.generation_id
            WHERE a.generation_id = b.generation_id AND n.name = :src AND a.code = :k AND b.code = :g"""),
            {"src": _active(plan_app), "k": keep, "g": gone}).scalar()
    import json

    inside = json.loads(a["inside"])["coordinates"]
    split = planner.post(f"/api/generations/页面稿/grids/{keep}/split", json={
        "line": json.loads(line), "keep_at": inside, "new_codes": [gone], "names": [a["name"], b["name"]],
        "version": _grid(plan_app, "页面稿", keep)["version"]})
    assert split.status_code == 200, split.get_json()
    assert split.json["codes"] == [keep, gone]
    assert _grid(plan_app, "页面稿", keep)["name"] == a["name"] and _grid(plan_app, "页面稿", gone)["name"] == b["name"]
    with owner_engine(plan_app).connect() as conn:
        same = conn.execute(sa.text("""
            SELECT bool_and(ST_Area(ST_SymDifference(d.geom, s.geom)::geography) < 1)
            FROM grid d JOIN generation dn ON dn.id = d.generation_id AND dn.name = '页面稿'
            JOIN grid s ON s.code = d.code JOIN generation sn ON sn.id = s.generation_id AND sn.name = :src
            WHERE d.code IN (:k, :g)"""), {"src": _active(plan_app), "k": keep, "g": gone}).scalar()
    assert same  # both grids have their old boundary back (within 1 m²)


@pytest.mark.parametrize("body, words", [
    ({"names": "甲"}, "各部分的名称"), ({"names": [""]}, "为空"), ({"names": [5]}, "各部分的名称中的名称"),
    ({"names": ["甲"] * 3}, "给了 3 个名称"), ({"keep_at": "x"}, "keep_at"), ({"keep_at": [1, True]}, "keep_at"),
])
def test_bad_split_names_and_keep_at_are_400(plan_app, body, words):
    planner = plan_app.test_client(user="planner", role="planner")
    code = _neighbours(plan_app, "页面稿", 3)[0]
    g = _grid(plan_app, "页面稿", code)
    line = {"type": "LineString", "coordinates": [[g["x0"] - 0.01, g["y"]], [g["x1"] + 0.01, g["y"]]]}
    answer = planner.post(f"/api/generations/页面稿/grids/{code}/split", json={"line": line, **body})
    assert answer.status_code == 400 and words in answer.json["message"], answer.get_json()
    assert _grid(plan_app, "页面稿", code)["version"] == g["version"]  # nothing was changed


def test_a_blank_merge_name_is_400(plan_app):
    keep, gone = _neighbours(plan_app, "页面稿", 3)
    answer = plan_app.test_client(user="planner", role="planner").post(
        "/api/generations/页面稿/merge", json={"codes": [keep, gone], "name": "  "})
    assert answer.status_code == 400 and "合并后的名称" in answer.json["message"]


def test_two_sessions_the_second_edit_is_a_conflict_and_nothing_is_lost(plan_app):
    """Two planners load the same grids; the first moves a unit, the second's edit of the
    same grid (with the version it saw) is refused with 409, and the first edit stands."""
    first = plan_app.test_client(user="planner", role="planner")
    second = plan_app.test_client(user="planner2", role="planner")
    seen = {f["properties"]["code"]: f["properties"] for f in
            second.get("/plan/页面稿/grids.geojson").get_json()["features"]}
    loaded = {f["properties"]["code"]: f["properties"] for f in
              first.get("/plan/页面稿/grids.geojson").get_json()["features"]}
    with owner_engine(plan_app).connect() as conn:
        unit, source, to = conn.execute(sa.text("""
            SELECT u.code, s.code, t.code FROM grid u JOIN grid s ON s.id = u.parent_id
            JOIN grid t ON t.parent_id = s.parent_id AND t.level = s.level AND t.id <> s.id
            JOIN generation n ON n.id = u.generation_id AND n.name = '页面稿'
            WHERE u.generation_id = t.generation_id AND u.level = 3
              AND ST_Length(ST_Intersection(ST_Boundary(u.geom), ST_Boundary(t.geom))) > 0
            ORDER BY u.code LIMIT 1""")).one()
    versions = {c: loaded[c]["version"] for c in (unit, source, to)}
    moved = first.post(f"/api/generations/页面稿/grids/{unit}/move", json={"to": to, "versions": versions})
    assert moved.status_code == 200, moved.get_json()
    # the second planner, on the boundaries loaded before, splits the street that took the unit
    g = _grid(plan_app, "页面稿", to)
    line = {"type": "LineString", "coordinates": [[g["x0"] - 0.01, g["y"]], [g["x1"] + 0.01, g["y"]]]}
    late = second.post(f"/api/generations/页面稿/grids/{to}/split",
                       json={"line": line, "version": seen[to]["version"], "names": ["甲", "乙"]})
    assert late.status_code == 409 and late.json["error"] == "Conflict"
    assert late.json["message"].startswith(f"网格 {to} 在您打开后已被他人修改") and "请重新载入" in late.json["message"]
    after = {f["properties"]["code"]: f["properties"] for f in
             second.get("/plan/页面稿/grids.geojson").get_json()["features"]}
    new_code = moved.json["unit"]
    assert unit not in after or after[unit]["parent_code"] != source
    assert after[new_code]["parent_code"] == to and after[to]["version"] > seen[to]["version"]
    with owner_engine(plan_app).connect() as conn:
        actor = conn.execute(sa.text(
            "SELECT actor FROM audit_log WHERE action = 'grid.move_unit' ORDER BY id DESC LIMIT 1")).scalar()
    assert "planner" in actor and "planner2" not in actor


def test_the_city_map_links_planners_to_the_editor(plan_app):
    source = _active(plan_app)
    html = plan_app.test_client(user="planner", role="planner").get("/").get_data(as_text=True)
    assert f"/plan/{source}" in html or "/plan/%E7" in html  # the name URL-quoted
    assert "规划编辑" in html
    leader = plan_app.test_client(user="plan-leader2", role="leader").get("/").get_data(as_text=True)
    assert "规划编辑" not in leader

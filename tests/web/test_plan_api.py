"""The planner's API: start a draft from a generation (POST …/drafts) and its balance (GET …/balance)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.auth_helpers import owner_engine


@pytest.fixture(scope="module")
def plan_app(demo_copy_app):
    return demo_copy_app("plan_api")


def _active(app) -> str:
    with owner_engine(app).connect() as conn:
        return conn.execute(sa.text("SELECT name FROM generation WHERE status = 'active'")).scalar()


def test_a_planner_starts_a_draft_and_the_audit_names_them(plan_app):
    source = _active(plan_app)
    answer = plan_app.test_client(user="planner", role="planner").post(
        f"/api/generations/{source}/drafts", json={"name": "2027规划稿", "actor": "someone else"})
    assert answer.status_code == 201, answer.get_json()
    assert answer.json["generation"] == "2027规划稿" and answer.json["from"] == source
    with owner_engine(plan_app).connect() as conn:
        counts = conn.execute(sa.text(
            "SELECT n.name, count(*), count(DISTINCT g.identity) FROM grid g JOIN generation n "
            "ON n.id = g.generation_id WHERE n.name IN (:a, '2027规划稿') GROUP BY n.name ORDER BY n.name"),
            {"a": source}).all()
        actor = conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'generation.draft'")).scalar()
    assert counts[0][1:] == counts[1][1:] and "planner" in actor and "someone" not in actor
    again = plan_app.test_client(user="planner", role="planner").post(
        f"/api/generations/{source}/drafts", json={"name": "2027规划稿"})
    assert again.status_code == 409 and "已存在" in again.json["message"]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": 5}, {"name": "x" * 101}])
def test_a_bad_name_is_400_in_chinese(plan_app, body):
    answer = plan_app.test_client(user="planner", role="planner").post(
        f"/api/generations/{_active(plan_app)}/drafts", json=body)
    assert answer.status_code == 400 and "草稿名称" in answer.json["message"]


def test_a_leader_may_not_start_a_draft_and_csrf_applies(plan_app):
    source = _active(plan_app)
    leader = plan_app.test_client(user="leader", role="leader")
    assert leader.post(f"/api/generations/{source}/drafts", json={"name": "领导稿"}).status_code == 403
    no_token = plan_app.test_client(user="planner", role="planner", csrf=False)
    assert no_token.post(f"/api/generations/{source}/drafts", json={"name": "无令牌"}).status_code == 400
    assert plan_app.test_client().post("/api/generations/没有/drafts", json={"name": "甲"}).status_code == 404


def test_the_balance_of_the_active_plan_and_of_a_draft(plan_app):
    source = _active(plan_app)
    planner = plan_app.test_client(user="planner", role="planner")
    planner.post(f"/api/generations/{source}/drafts", json={"name": "平衡稿"})
    active = planner.get(f"/api/generations/{source}/balance").json
    draft = planner.get("/api/generations/平衡稿/balance?level=3").json
    row = draft["grids"][0]
    assert {"code", "name", "level", "parent_code", "employers", "headcount", "key_supervision", "staff",
            "target", "deviation", "flags"} <= set(row)
    assert set(row["staff"]) == {"full_time", "part_time", "coordinator"}
    assert set(row["flags"]) == {"over_capacity", "understaffed", "not_contiguous", "empty"}
    assert {r["level"] for r in draft["grids"]} == {3}
    # the copy, counted by its own boundaries, holds the employers the active plan holds by assignment
    same = {r["code"]: r["employers"] for r in active["grids"] if r["level"] == 3}
    assert {r["code"]: r["employers"] for r in draft["grids"]} == same and sum(same.values()) > 0
    # and staff follow the identities into the copy
    assert sum(r["staff"]["coordinator"] for r in draft["grids"]) > 0


def test_balance_refusals(plan_app):
    source = _active(plan_app)
    assert plan_app.test_client().get(f"/api/generations/{source}/balance?level=9").status_code == 400
    assert plan_app.test_client().get("/api/generations/没有/balance").status_code == 404
    # an inspector sees some grids only: a whole plan's balance is outside their scope
    with owner_engine(plan_app).connect() as conn:
        inspector = conn.execute(sa.text(
            "SELECT username FROM app_user WHERE role = 'inspector' ORDER BY username LIMIT 1")).scalar()
    answer = plan_app.test_client(user=inspector, role="inspector").get(f"/api/generations/{source}/balance")
    assert answer.status_code == 404


def test_publishing_a_draft_schedules_or_activates_and_lists_the_staff_to_redo(demo_copy_app, monkeypatch):
    import datetime as dt

    from gisgrid import clock
    from gisgrid.db.engine import dispose_engines, get_engine

    app = demo_copy_app("publish_city")
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 12, 1))
    admin, planner = app.test_client(), app.test_client(user="planner")
    assert planner.post("/api/generations/示范市网格2026版/drafts", json={"name": "2027方案"}).status_code == 201
    assert planner.post("/api/generations/2027方案/publish", json={"effective_from": "2027-01-01"}).status_code == 403
    bad = admin.post("/api/generations/2027方案/publish", json={"effective_from": "2027/01/01"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    answer = admin.post("/api/generations/2027方案/publish", json={"effective_from": "2027-01-01"})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    report = answer.get_json()
    assert report["scheduled"] and report["in_force_until"] == "2026-12-31"
    assert report["to_reassign"] == []  # a copy keeps every grid's identity: the staff come along
    with get_engine(app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        import sqlalchemy as sa
        statuses = dict(conn.execute(sa.text("SELECT name, status FROM generation")).all())
        actor = conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'generation.publish'")).scalar()
    assert statuses == {"示范市网格2026版": "active", "2027方案": "scheduled"} and actor
    dispose_engines()


def test_the_changes_page_compares_a_draft_with_the_plan_in_force(demo_copy_app):
    from gisgrid.db.engine import dispose_engines

    app = demo_copy_app("changes_city")
    admin = app.test_client()
    assert admin.post("/api/generations/示范市网格2026版/drafts", json={"name": "对比草稿"}).status_code == 201
    same = admin.get("/plans/对比草稿/changes")
    assert same.status_code == 200 and "与现行方案相同" in same.get_data(as_text=True)
    page = app.test_client(user="leader").get("/plans/对比草稿/changes")
    assert page.status_code == 200 and "方案对比" in page.get_data(as_text=True)
    assert app.test_client(user="jc419901001-1").get("/plans/对比草稿/changes").status_code == 404
    assert admin.get("/plans/没有这个/changes").status_code == 404
    dispose_engines()


def test_an_admin_publishes_from_the_comparison_page(demo_copy_app, monkeypatch):
    """The form on /plans/<name>/changes: a date and the box that the changes were read; the
    answer says scheduled (or in force) and lists the staff to redo; planners and leaders see no
    form and may not post it; a missing box or a bad date changes nothing."""
    import datetime as dt

    from gisgrid import clock
    from gisgrid.db.engine import dispose_engines

    app = demo_copy_app("publish_form_city")
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 12, 1))
    admin, planner, leader = app.test_client(), app.test_client(user="planner"), app.test_client(user="leader")
    assert planner.post("/api/generations/示范市网格2026版/drafts", json={"name": "表单方案"}).status_code == 201
    page = admin.get("/plans/表单方案/changes").get_data(as_text=True)
    assert 'name="effective_from"' in page and "已核对上面的变化" in page and 'value="2026-12-01"' in page
    for other in (planner, leader):
        assert 'name="effective_from"' not in other.get("/plans/表单方案/changes").get_data(as_text=True)
        assert other.post("/plans/表单方案/publish", data={"effective_from": "2027-01-01", "checked": "1"}).status_code == 403

    def statuses():
        with owner_engine(app).connect() as conn:
            return dict(conn.execute(sa.text("SELECT name, status FROM generation")).all())

    unchecked = admin.post("/plans/表单方案/publish", data={"effective_from": "2027-01-01"})
    assert unchecked.status_code == 400 and "已核对" in unchecked.get_data(as_text=True)
    bad = admin.post("/plans/表单方案/publish", data={"effective_from": "明年", "checked": "1"})
    assert bad.status_code == 400 and "年-月-日" in bad.get_data(as_text=True)
    assert statuses()["表单方案"] == "draft"
    done = admin.post("/plans/表单方案/publish", data={"effective_from": "2027-01-01", "checked": "1"})
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "定于 2027-01-01 生效" in text and "需要重新安排的四定人员（0）" in text
    assert "至 2026-12-31" in text and "示范市网格2026版" in text
    assert statuses() == {"示范市网格2026版": "active", "表单方案": "scheduled"}
    again = admin.get("/plans/表单方案/changes").get_data(as_text=True)
    assert "已定于 2027-01-01 生效" in again and 'value="2027-01-01"' in again
    # the city map's picker lists the plans, the scheduled one with its date; it opens on it
    city = leader.get("/").get_data(as_text=True)
    assert '<option value="表单方案">表单方案（待生效，2027-01-01 起）</option>' in city
    assert '<option value="示范市网格2026版" selected>' in city
    draft_view = leader.get("/?generation=表单方案").get_data(as_text=True)
    assert '<option value="表单方案" selected>' in draft_view and "正在查看待生效版本" in draft_view
    assert 'class="gen-picker"' not in app.test_client(user="jc419901001-1").get("/my").get_data(as_text=True)
    dispose_engines()


def test_grid_pages_honour_the_plan_picked_on_the_city_page(demo_copy_app):
    """/grids/<code>?generation=<draft>: the draft's boundary and counts by its own boundaries, links
    that stay in the draft, the grid in force linked; a new grid says it is new; scoped users 404."""
    from gisgrid.db.engine import dispose_engines
    from gisgrid.maps import find_external_links

    app = demo_copy_app("plan_grid_city")
    admin = app.test_client()
    assert admin.post("/api/generations/示范市网格2026版/drafts", json={"name": "看图草稿"}).status_code == 201
    with owner_engine(app).connect() as conn:
        unit, street = conn.execute(sa.text("""
            SELECT u.code, s.code FROM grid u JOIN grid s ON s.id = u.parent_id
            JOIN generation n ON n.id = u.generation_id AND n.name = '看图草稿'
            WHERE u.level = 3 ORDER BY u.code LIMIT 1""")).one()
    balance = {r["code"]: r for r in admin.get("/api/generations/看图草稿/balance?level=2").get_json()["grids"]}
    page = admin.get(f"/grids/{street}?generation=看图草稿")
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text[:300]
    assert "看图草稿" in text and "按本版本边界" in text and f"{balance[street]['employers']} 家" in text
    assert f"/grids/{unit}?generation=" in text            # children stay in the draft
    assert f'href="/grids/{street}"' in text                # the grid in force, same identity
    assert "gisgridMap.employer" not in text and find_external_links(text) == []
    assert admin.get(f"/?generation=看图草稿").get_data(as_text=True).count("?generation=") > 5
    # A community split in the draft: its new part does not exist in the plan in force.
    with owner_engine(app).connect() as conn:
        x0, y0, x1, y1 = conn.execute(sa.text("""
            SELECT ST_XMin(g.geom), ST_YMin(g.geom), ST_XMax(g.geom), ST_YMax(g.geom) FROM grid g
            JOIN generation n ON n.id = g.generation_id AND n.name = '看图草稿' WHERE g.code = :c"""),
                                    {"c": unit}).one()
    mid = (x0 + x1) / 2
    line = {"type": "LineString", "coordinates": [[mid, y0 - 0.01], [mid, y1 + 0.01]]}
    split = admin.post(f"/api/generations/看图草稿/grids/{unit}/split", json={"line": line})
    assert split.status_code == 200, split.get_json()
    new = [c for c in split.get_json()["codes"] if c != unit][0]
    fresh = admin.get(f"/grids/{new}?generation=看图草稿").get_data(as_text=True)
    assert "现行版本中没有此网格" in fresh and "发布后需配置四定人员" in fresh
    # Scoped users, unknown plans and unknown grids: Chinese 404s.
    assert app.test_client(user="jc419901001-1").get(f"/grids/{street}?generation=看图草稿").status_code == 404
    missing = admin.get(f"/grids/{street}?generation=没有这个")
    assert missing.status_code == 404 and "没有这个" in missing.get_data(as_text=True)
    assert admin.get(f"/grids/{new}").status_code == 404    # not in the plan in force
    assert admin.get(f"/grids/{street}?generation=示范市网格2026版").status_code == 200  # the plan in force
    dispose_engines()


def test_new_codes_follow_the_kind_range_of_the_division_code(demo_copy_app):
    """统计用区划代码: 社区 001–199, 村 200–399. A split community's new part is numbered after the
    street's communities, a split village's after its villages (a 社区 once got 202)."""
    from gisgrid.db.engine import dispose_engines

    app = demo_copy_app("code_range_city")
    admin = app.test_client()
    assert admin.post("/api/generations/示范市网格2026版/drafts", json={"name": "编码稿"}).status_code == 201
    with owner_engine(app).connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT g.code, g.kind, ST_XMin(g.geom) x0, ST_YMin(g.geom) y0, ST_XMax(g.geom) x1, ST_YMax(g.geom) y1
            FROM grid g JOIN generation n ON n.id = g.generation_id AND n.name = '编码稿'
            JOIN grid p ON p.id = g.parent_id WHERE p.code = '419901001' ORDER BY g.code""")).mappings().all()
    communities = [r for r in rows if r["kind"] == "community"]
    villages = [r for r in rows if r["kind"] == "village"]
    assert communities and villages and int(villages[0]["code"][-3:]) >= 200

    def split(row) -> str:
        mid = (row["x0"] + row["x1"]) / 2
        line = {"type": "LineString", "coordinates": [[mid, row["y0"] - 0.01], [mid, row["y1"] + 0.01]]}
        answer = admin.post(f"/api/generations/编码稿/grids/{row['code']}/split", json={"line": line})
        assert answer.status_code == 200, answer.get_json()
        return [c for c in answer.get_json()["codes"] if c != row["code"]][0]

    community_code = split(communities[0])
    assert int(community_code[-3:]) == max(int(r["code"][-3:]) for r in communities) + 1 <= 199
    village_code = split(villages[0])
    assert int(village_code[-3:]) == max(int(r["code"][-3:]) for r in villages) + 1
    assert 200 <= int(village_code[-3:]) <= 399
    dispose_engines()


def test_a_plans_validation_and_locks_are_for_those_who_see_every_grid(demo_copy_app):
    """Red-team finding: inspectors read any draft's whole validation (codes, names, places) and
    its locks. Like the balance: 404 for a user who sees only some grids."""
    from gisgrid.db.engine import dispose_engines

    app = demo_copy_app("plan_scope_city")
    admin = app.test_client()
    assert admin.post("/api/generations/示范市网格2026版/drafts", json={"name": "范围稿"}).status_code == 201
    paths = ["/api/generations/范围稿/validation", "/api/generations/范围稿/validation.geojson",
             "/api/generations/范围稿/locks", "/?generation=范围稿"]
    for user in ("jc419901001-1", "xg419901001001-1"):
        client = app.test_client(user=user)
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 404, (user, path, answer.status_code)
            assert "范围稿" in answer.get_data(as_text=True)
    for path in paths:
        assert admin.get(path).status_code == 200, path
    assert app.test_client(user="leader").get(paths[1]).status_code == 200
    dispose_engines()

"""四定 in the web: admins assign and end staff on a grid; the account's scope follows at once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gisgrid.db.engine import dispose_engines, get_engine


@pytest.fixture(scope="module")
def staff_app(demo_copy_app):
    """The app on a copy of the demo city (staff changes would move other tests' scopes)."""
    yield demo_copy_app("staff_city")
    dispose_engines()


def test_assigning_and_ending_staff_moves_an_inspectors_scope(staff_app):
    inspector = staff_app.test_client(user="xg419901001001-1")
    assert inspector.get("/grids/419901001002").status_code == 404
    admin = staff_app.test_client()
    with get_engine(staff_app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        staff_id = conn.execute(sa.text("SELECT staff_id FROM app_user WHERE username = 'xg419901001001-1'")).scalar()
    added = admin.post("/grids/419901001002/staff", data={"staff_id": str(staff_id), "duty": "代管邻近社区"})
    assert added.status_code == 303
    assert inspector.get("/grids/419901001002").status_code == 200  # at once, same session
    page = admin.get(f"/staff/{staff_id}").get_data(as_text=True)
    assert "419901001002" in page and "代管邻近社区" in page and "在任" in page
    with get_engine(staff_app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        assignment = conn.execute(sa.text(
            "SELECT sg.id FROM staff_grid sg JOIN grid g ON g.identity = sg.grid_identity "
            "WHERE sg.staff_id = :s AND g.code = '419901001002'"), {"s": staff_id}).scalar()
    unconfirmed = admin.post(f"/staff/assignments/{assignment}/end", data={"grid": "419901001002"})
    assert unconfirmed.status_code == 400 and "卸任需确认" in unconfirmed.get_data(as_text=True)
    ended = admin.post(f"/staff/assignments/{assignment}/end", data={"grid": "419901001002", "confirm": "1"})
    assert ended.status_code == 303
    assert inspector.get("/grids/419901001002").status_code == 404


def test_new_staff_and_bad_input(staff_app):
    admin = staff_app.test_client()
    ok = admin.post("/grids/419901001003/staff", data={"name": "赵新人", "role": "coordinator", "phone": "13800000000"})
    assert ok.status_code == 303
    assert "赵新人" in admin.get("/grids/419901001003").get_data(as_text=True)
    for data, message in (({"name": "x", "role": "boss"}, "应为"), ({"name": ""}, "请填写人员姓名"),
                          ({"name": "x", "valid_from": "2026-12-01", "valid_to": "2026-01-01"}, "早于"),
                          ({"staff_id": "abc"}, "应为整数")):
        answer = admin.post("/grids/419901001003/staff", data=data)
        assert answer.status_code == 400 and message in answer.get_data(as_text=True), data


def test_only_admins_manage_staff_and_inspectors_see_only_their_staff(staff_app):
    leader = staff_app.test_client(user="leader")
    assert leader.post("/grids/419901001003/staff", data={"name": "x"}).status_code == 403
    inspector = staff_app.test_client(user="xg419901001001-1")
    assert inspector.post("/grids/419901001001/staff", data={"name": "x"}).status_code == 403
    with get_engine(staff_app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        own, other = conn.execute(sa.text("""
            SELECT (SELECT staff_id FROM app_user WHERE username = 'xg419901001001-2'),
                   (SELECT staff_id FROM app_user WHERE username = 'xg419901002003-1')""")).one()
    assert inspector.get(f"/staff/{own}").status_code == 200
    assert inspector.get(f"/staff/{other}").status_code == 404


def _assignment(app, username: str, code: str) -> int:
    with get_engine(app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        return conn.execute(sa.text(
            "SELECT sg.id FROM staff_grid sg JOIN grid g ON g.identity = sg.grid_identity "
            "JOIN generation n ON n.id = g.generation_id AND n.status = 'active' "
            "JOIN app_user u ON u.staff_id = sg.staff_id WHERE u.username = :u AND g.code = :c"),
            {"u": username, "c": code}).scalar()


def test_a_full_time_inspector_staffs_the_grids_below_their_own(staff_app):
    """定人员 from the street: its 专职监察员 staffs its communities, not the street, not elsewhere."""
    full_time = staff_app.test_client(user="jc419901001-1")  # 专职监察员 of street 419901001
    page = full_time.get("/grids/419901001004").get_data(as_text=True)
    assert "配置四定人员" in page and "卸任" in page
    added = full_time.post("/grids/419901001004/staff", data={"name": "钱协管", "role": "coordinator",
                                                              "duty": "<img src=x onerror=alert(1)>"})
    assert added.status_code == 303
    staffed = full_time.get("/grids/419901001004").get_data(as_text=True)
    assert "钱协管" in staffed and "&lt;img src=x onerror=alert(1)&gt;" in staffed
    with get_engine(staff_app.config["GISGRID_SETTINGS"].database_url).connect() as conn:
        actor = conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'staff.assign' "
                                     "ORDER BY id DESC LIMIT 1")).scalar()
    assert "jc419901001-1" in actor  # the logged-in user, never a name from the form
    # A coordinator of that community: ended by the street's inspector.
    coordinator = _assignment(staff_app, "xg419901001004-2", "419901001004")
    ended = full_time.post(f"/staff/assignments/{coordinator}/end", data={"grid": "419901001004", "confirm": "1"})
    assert ended.status_code == 303
    assert staff_app.test_client(user="xg419901001004-2").get("/grids/419901001004").status_code == 404
    # Their own street: seen, but staffed from the level above.
    own_page = full_time.get("/grids/419901001").get_data(as_text=True)
    assert "配置四定人员" not in own_page
    refused = full_time.post("/grids/419901001/staff", data={"name": "x"})
    assert refused.status_code == 403 and "由上级网格或系统管理员配置" in refused.get_data(as_text=True)
    colleague = _assignment(staff_app, "jc419901001-2", "419901001")
    assert full_time.post(f"/staff/assignments/{colleague}/end",
                          data={"grid": "419901001", "confirm": "1"}).status_code == 403
    # Another street: as if it did not exist.
    assert full_time.post("/grids/419901002001/staff", data={"name": "x"}).status_code == 404
    elsewhere = _assignment(staff_app, "xg419901002001-1", "419901002001")
    assert full_time.post(f"/staff/assignments/{elsewhere}/end",
                          data={"grid": "419901002001", "confirm": "1"}).status_code == 404


def test_part_time_inspectors_and_coordinators_do_not_staff(staff_app):
    for username, code in (("jc419901001-2", "419901001005"), ("xg419901001005-1", "419901001005")):
        client = staff_app.test_client(user=username)
        assert "配置四定人员" not in client.get(f"/grids/{code}").get_data(as_text=True)
        refused = client.post(f"/grids/{code}/staff", data={"name": "x"})
        assert refused.status_code == 403 and "专职监察员" in refused.get_data(as_text=True), username

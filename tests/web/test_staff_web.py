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

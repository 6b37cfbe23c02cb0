"""The demo's accounts: one per role and one per 四定 staff member, each able to log in."""

from __future__ import annotations

import stat

import pytest
import sqlalchemy as sa

from gisgrid.db.engine import get_engine
from gisgrid.demo.load import demo_password
from gisgrid.errors import InputError
from tests.auth_helpers import PASSWORD


def test_one_account_per_role_and_per_staff_member(demo_url):
    with get_engine(demo_url).connect() as conn:
        roles = dict(conn.execute(sa.text(
            "SELECT username, role FROM app_user WHERE username IN ('admin', 'planner', 'leader')")).all())
        staff, linked = conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM staff), (SELECT count(*) FROM app_user WHERE staff_id IS NOT NULL "
            "AND role = 'inspector')")).one()
        names = set(conn.execute(sa.text("SELECT username FROM app_user")).scalars())
    assert roles == {"admin": "admin", "planner": "planner", "leader": "leader"}
    assert staff == linked == 530  # 15 streets x 2 inspectors + 250 communities x 2 coordinators
    assert {"jc419901001-1", "jc419901001-2", "xg419901001001-1", "xg419901001001-2"} <= names


@pytest.mark.parametrize("username", ["admin", "planner", "leader", "jc419901001-1", "xg419901001001-2"])
def test_each_demo_account_logs_in_with_the_demo_password(demo_app, username):
    client = demo_app.test_client(user=None)
    client.log_in(username, PASSWORD)
    assert client.get("/", follow_redirects=True).status_code == 200  # an inspector lands on 我的网格


def test_the_demo_password_is_generated_once_into_a_private_file(tmp_path):
    first, path = demo_password(tmp_path, None)
    assert path == tmp_path / "demo-password" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_password(tmp_path, None) == (first, path)
    assert len(first) >= 10
    assert demo_password(tmp_path, "Chosen-demo-2026") == ("Chosen-demo-2026", None)
    with pytest.raises(InputError, match="至少 10"):
        demo_password(tmp_path, "short")

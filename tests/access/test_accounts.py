"""Accounts, sessions and the scope gate on a real PostGIS (the hand-drawn city)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.access import (
    LoginRefused, LoginThrottled, add_user, assign_grids, change_password, disable_user, log_in, reset_password,
    resolve_session, set_role, user_scope, visible_employer_ids,
)
from gisgrid.access.passwords import check_password_rules, verify_password
from gisgrid.db.engine import session_scope
from gisgrid.errors import InputError
from tests.fixtures import handdrawn

GOOD = "Kz7-grid-Pass"


@pytest.fixture
def city(run_cli, tmp_path, engine):
    return handdrawn.load_city(run_cli, tmp_path)


def _employer_ids(engine) -> dict[str, int]:
    with engine.connect() as con:
        return dict(con.execute(sa.text("SELECT credit_code, id FROM employer")).all())


@pytest.mark.parametrize("password, why", [
    ("short1!", "至少 10"), ("zhangsan-2026x", "用户名"), ("password123", "常见"), ("aaaaaaaaaaaa", "简单")])
def test_password_rules_name_what_to_change(password, why):
    with pytest.raises(InputError, match=why):
        check_password_rules(password, "zhangsan")


def test_generated_password_logs_in_and_must_be_changed(engine, city):
    with session_scope(engine) as s:
        account = add_user(s, "leader1", "leader", actor="test")
    assert account.password and len(account.password) == 16
    with session_scope(engine) as s:
        stored = s.execute(sa.text("SELECT password_hash, must_change_password FROM app_user")).one()
        token = log_in(s, "leader1", account.password, "127.0.0.1")
    assert stored.password_hash.startswith("$argon2id$") and stored.must_change_password
    assert account.password not in stored.password_hash
    with session_scope(engine) as s:
        user = resolve_session(s, token)
        assert user.role == "leader" and user.must_change_password
        change_password(s, user, account.password, GOOD)
    with session_scope(engine) as s:
        assert resolve_session(s, token).must_change_password is False  # the changing session lives on


def test_logout_role_change_password_reset_and_disable_end_sessions_at_once(engine, city):
    with session_scope(engine) as s:
        add_user(s, "planner1", "planner", actor="test", password=GOOD)
    for end in (lambda s: set_role(s, "planner1", "leader", actor="test"),
                lambda s: reset_password(s, "planner1", actor="test", password=GOOD + "x"),
                lambda s: disable_user(s, "planner1", actor="test")):
        with session_scope(engine) as s:
            password = s.execute(sa.text("SELECT 1")).scalar() and (GOOD + "x" if _reset(s) else GOOD)
            token = log_in(s, "planner1", password, "10.0.0.1")
        with session_scope(engine) as s:
            assert resolve_session(s, token) is not None
            end(s)
        with session_scope(engine) as s:
            assert resolve_session(s, token) is None
    with session_scope(engine) as s, pytest.raises(LoginRefused):
        log_in(s, "planner1", GOOD + "x", "10.0.0.1")  # disabled


def _reset(session) -> bool:
    return session.execute(sa.text(
        "SELECT count(*) FROM audit_log WHERE action = 'user.reset_password'")).scalar() > 0


def test_idle_and_lifetime_limits_end_a_session(engine, city):
    with session_scope(engine) as s:
        add_user(s, "leader2", "leader", actor="test", password=GOOD)
        token = log_in(s, "leader2", GOOD, None)
    with session_scope(engine) as s:
        s.execute(sa.text("UPDATE user_session SET last_seen_at = now() - interval '31 minutes'"))
    with session_scope(engine) as s:
        assert resolve_session(s, token) is None
        assert s.execute(sa.text("SELECT revoked_why FROM user_session")).scalar() == "idle"
    with session_scope(engine) as s:
        token = log_in(s, "leader2", GOOD, None)
        s.execute(sa.text("UPDATE user_session SET created_at = now() - interval '13 hours' WHERE revoked_at IS NULL"))
    with session_scope(engine) as s:
        assert resolve_session(s, token) is None
    with session_scope(engine) as s:
        assert resolve_session(s, "forged-token") is None


def test_failed_logins_are_throttled_per_account_and_recorded(engine, city):
    with session_scope(engine) as s:
        add_user(s, "leader3", "leader", actor="test", password=GOOD)
    for _ in range(5):
        with session_scope(engine) as s, pytest.raises(LoginRefused):
            log_in(s, "leader3", "wrong-password", "10.0.0.9")
    with session_scope(engine) as s, pytest.raises(LoginThrottled, match="分钟后再试"):
        log_in(s, "leader3", GOOD, "10.0.0.9")  # even the right password waits
    with session_scope(engine) as s:
        rows = s.execute(sa.text("SELECT action, address FROM audit_log WHERE action LIKE 'login%'")).all()
    assert [r.action for r in rows].count("login.failed") == 5 and {r.address for r in rows} == {"10.0.0.9"}


def test_unknown_user_and_wrong_password_get_the_same_answer(engine, city):
    with session_scope(engine) as s:
        add_user(s, "leader4", "leader", actor="test", password=GOOD)
    messages = []
    for name in ("leader4", "nobody"):
        with session_scope(engine) as s, pytest.raises(LoginRefused) as err:
            log_in(s, name, "wrong-password", None)
        messages.append(err.value.message)
    assert messages[0] == messages[1]


def test_inspector_scope_is_their_grids_and_below_and_follows_reassignment(engine, city):
    ids = _employer_ids(engine)
    with session_scope(engine) as s:
        account = add_user(s, "insp1", "inspector", actor="test", password=GOOD, grid_codes=("419999001001",))
    with session_scope(engine) as s:
        scope = user_scope(s, "inspector", account.staff_id)
        seen = visible_employer_ids(s, scope, list(ids.values()))
    with session_scope(engine) as s:
        codes = dict(s.execute(sa.text(
            "SELECT e.credit_code, g.code FROM employer e JOIN assignment a ON a.employer_id = e.id "
            "JOIN grid g ON g.id = a.grid_id")).all())
    assert scope.own_codes == ("419999001001",)
    # inside C1, and the points on its edge and vertex (the lowest code wins a shared boundary)
    assert seen == {ids[city[k]] for k in ("inside", "edge", "vertex")}
    assert seen == {ids[c] for c, g in codes.items() if g == "419999001001"}
    with session_scope(engine) as s:
        assign_grids(s, account.staff_id, ("419999001",), actor="test")
        wider = user_scope(s, "inspector", account.staff_id)
        seen_street = visible_employer_ids(s, wider, list(ids.values()))
    assert seen_street == {ids[c] for c, g in codes.items() if g.startswith("419999001")}
    with session_scope(engine) as s:
        s.execute(sa.text("UPDATE staff_grid SET valid_to = :d"), {"d": clock.today() - dt.timedelta(days=1)})
        assert user_scope(s, "inspector", account.staff_id).grid_ids == frozenset()


def test_roles_other_than_inspector_see_everything_and_planners_no_personal_fields(engine, city):
    with session_scope(engine) as s:
        for role in ("admin", "leader", "planner"):
            scope = user_scope(s, role, None)
            assert scope.everything
            assert scope.personal == (role != "planner")


def test_users_cli_is_a_dry_run_by_default_and_prints_the_password_once(run_cli, engine, city):
    dry = json.loads(run_cli("users", "add", "insp2", "--role", "inspector", "--grid", "419999002",
                             "--json").output)
    assert dry["committed"] is False and dry["password"] is None
    with engine.connect() as con:
        assert con.execute(sa.text("SELECT count(*) FROM app_user")).scalar() == 0
    done = json.loads(run_cli("users", "add", "insp2", "--role", "inspector", "--grid", "419999002",
                              "--name", "王五", "--commit", "--json").output)
    with engine.connect() as con:
        stored = con.execute(sa.text("SELECT password_hash FROM app_user WHERE username = 'insp2'")).scalar()
    assert verify_password(stored, done["password"])
    listed = json.loads(run_cli("users", "list", "--json").output)
    assert [u["username"] for u in listed] == ["insp2"] and listed[0]["staff_name"] == "王五"
    assert "password_hash" not in json.dumps(listed) and done["password"] not in json.dumps(listed)
    refused = run_cli("users", "add", "insp3", "--role", "inspector", expect=1)
    assert "--grid" in refused.output
    bad_role = run_cli("users", "add", "x1", "--role", "root", expect=1)
    assert "expected one of admin, planner, leader, inspector" in bad_role.output

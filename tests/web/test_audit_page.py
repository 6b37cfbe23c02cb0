"""The audit log page: every login, refusal and write, filtered; read-only; admins and leaders only."""

from __future__ import annotations

import pytest

from tests.auth_helpers import ensure_user


def test_admin_filters_the_log_by_user_action_grid_and_date(demo_app):
    ensure_user(demo_app, "audit-planner", "planner")
    planner = demo_app.test_client(user="audit-planner")
    assert planner.get("/exports").status_code == 403  # a refusal, audited
    admin = demo_app.test_client()
    page = admin.get("/admin/audit?user=audit-planner")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "审计日志" in text
    assert "access.refused" in text and "login" in text and "audit-planner" in text
    refused = admin.get("/admin/audit?user=audit-planner&action=access.refused").get_data(as_text=True)
    assert "access.refused" in refused and ">login<" not in refused
    assert "共 1 条" in refused
    assert "没有符合条件的记录" in admin.get("/admin/audit?user=audit-planner&until=2000-01-01").get_data(as_text=True)
    assert "没有符合条件的记录" in admin.get("/admin/audit?grid=999999999999").get_data(as_text=True)


@pytest.mark.parametrize("query", ["since=yesterday", "until=2026-13-01", "action=drop", "page=0"])
def test_bad_filters_are_400_in_chinese(demo_app, query):
    answer = demo_app.test_client().get(f"/admin/audit?{query}")
    assert answer.status_code == 400 and "应为" in answer.get_data(as_text=True)


def test_only_admins_and_leaders_read_it_and_nobody_writes_it(demo_app):
    ensure_user(demo_app, "audit-planner", "planner")
    assert demo_app.test_client(user="leader").get("/admin/audit").status_code == 200
    assert demo_app.test_client(user="audit-planner").get("/admin/audit").status_code == 403
    assert demo_app.test_client(user="jc419901001-1").get("/admin/audit").status_code == 403
    assert demo_app.test_client().post("/admin/audit").status_code == 405  # no way to change it

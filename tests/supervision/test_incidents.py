"""Incidents from the command line: a dry run, the chain of grids and staff reached, notes,
closing with a result, and the refusals."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.fixtures import handdrawn


def test_an_incident_reaches_its_chain(run_cli, tmp_path, engine):
    codes = handdrawn.load_city(run_cli, tmp_path)
    with engine.begin() as conn:
        staff = conn.execute(sa.text("INSERT INTO staff (name, role) VALUES ('街道监察员', 'part_time') RETURNING id")).scalar()
        identity = conn.execute(sa.text("SELECT identity FROM grid WHERE code = '419999001'")).scalar()
        conn.execute(sa.text("INSERT INTO staff_grid (staff_id, grid_identity, duty) VALUES (:s, :g, '巡查')"),
                     {"s": staff, "g": identity})
    args = ["incidents", "raise", "--employer", codes["inside"], "--kind", "collective_petition",
            "--title", "聚集讨薪", "--summary", "工人聚集", "--people", "25"]
    dry = json.loads(run_cli(*args, "--json").output)
    assert dry["committed"] is False and dry["grid_code"] == "419999001001"
    assert [c["code"] for c in dry["chain"]][:2] == ["419999001001", "419999001"]
    assert dry["chain"][1]["staff"] == ["街道监察员"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM incident")).scalar() == 0
    made = json.loads(run_cli(*args, "--commit", "--json").output)
    with engine.connect() as conn:
        flags, level = conn.execute(sa.text("SELECT key_flags, risk_level FROM employer WHERE credit_code = :c"),
                                    {"c": codes["inside"]}).one()
    assert "12个月内发生集体上访" in flags and level == 3  # key supervision at once
    assert "街道监察员" in run_cli(*args, "--commit").output  # the text names whom it reached
    run_cli("incidents", "note", str(made["id"]), "已到现场", "--commit")
    run_cli("incidents", "close", str(made["id"]), "--result", "已补发工资", "--commit")
    assert "已办结" in run_cli("incidents", "close", str(made["id"]), "--result", "x", expect=1).output
    assert "已办结" in run_cli("incidents", "note", str(made["id"]), "x", expect=1).output
    listed = json.loads(run_cli("incidents", "list", "--status", "closed", "--json").output)
    assert [r["id"] for r in listed] == [made["id"]] and listed[0]["notes"] == 1
    assert "二者选一" in run_cli("incidents", "raise", "--kind", "other", "--title", "t", "--summary", "s",
                                 expect=1).output
    assert "不存在" in run_cli("incidents", "raise", "--grid", "4199", "--kind", "other", "--title", "t",
                               "--summary", "s", expect=1).output
    assert "待定位" in run_cli("incidents", "raise", "--employer", codes["nowhere"], "--kind", "other",
                               "--title", "t", "--summary", "s", expect=1).output

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


def test_a_register_import_keeps_a_petitions_key_supervision(run_cli, tmp_path, engine):
    """The file knows nothing of the petition; the record does: re-importing the register must not
    drop the employer's key supervision until the daily flags run."""
    codes = handdrawn.load_city(run_cli, tmp_path)
    run_cli("incidents", "raise", "--employer", codes["inside"], "--kind", "collective_petition",
            "--title", "聚集讨薪", "--summary", "工人聚集", "--people", "25", "--commit")

    def flags():
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT key_flags, risk_level FROM employer WHERE credit_code = :c"),
                                {"c": codes["inside"]}).one()

    assert "集体上访" in flags()[0]
    register = tmp_path / "again.csv"
    handdrawn.write_employers(register)
    # Change a figure so that the row is updated (an unchanged row is left as it is anyway).
    register.write_text(register.read_text(encoding="utf-8-sig").replace(",10,10,10,", ",12,12,12,"),
                        encoding="utf-8-sig")
    report = json.loads(run_cli("employers", "import", register, "--commit", "--json").output)
    assert report["updated"] >= 1 and report["record_refreshed"] >= 1
    key_flags, level = flags()
    assert "12个月内发生集体上访" in key_flags and level == 3

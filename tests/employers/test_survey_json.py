"""Survey history as json (migration 0004): the record as surveyed, read back whole."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from gisgrid.db.migrate import alembic_config
from tests.fixtures.tables import truncate_employers
from gisgrid.employers.identifiers import make_credit_code
from gisgrid.employers.queries import find_employer

HEADER = "单位名称,统一社会信用代码,地址,职工人数,诚信等级,调查日期,经度,纬度"


def _import(run_cli, path, rows):
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode("utf-8"))
    return json.loads(run_cli("employers", "import", path, "--commit", "--json").output)


def _data_type(conn) -> str:
    return conn.execute(sa.text("SELECT data_type FROM information_schema.columns "
                                "WHERE table_name = 'employer_survey' AND column_name = 'data'")).scalar()


def test_survey_data_is_json_and_reads_back_typed(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 41)
    rows = [f'"甲""引号""公司",{code},和平路\\1号,12,B,2026-03-01,113.705,34.305']
    assert _import(run_cli, tmp_path / "a.csv", rows)["imported"] == 1
    with engine.connect() as conn:
        assert _data_type(conn) == "json"
    with Session(engine) as session:
        history = find_employer(session, code)["history"]
    data = history[0]["data"]
    assert data["name"] == '甲"引号"公司' and data["address"] == "和平路\\1号"
    assert data["headcount"] == 12 and data["lon"] == 113.705 and data["lat"] == 34.305
    assert data["surveyed_on"] == "2026-03-01" and data["integrity_grade"] == "B" and data["org_code"] is None
    # A re-import writes no survey; a changed record writes the next one.
    assert _import(run_cli, tmp_path / "a.csv", rows)["imported"] == 0
    changed = [rows[0].replace(",12,B,2026-03-01", ",15,B,2026-09-01")]
    assert _import(run_cli, tmp_path / "b.csv", changed)["updated"] == 1
    with Session(engine) as session:
        history = find_employer(session, code)["history"]
    assert [h["data"]["headcount"] for h in history] == [12, 15]


def test_migration_0004_converts_survey_data_both_ways(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 42)
    _import(run_cli, tmp_path / "a.csv", [f"乙公司,{code},和平路2号,7,A,2026-02-01,113.7,34.3"])
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT data FROM employer_survey")).scalar()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    with engine.connect() as conn:
        assert _data_type(conn) == "jsonb"
        assert conn.execute(sa.text("SELECT data FROM employer_survey")).scalar() == before
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with engine.connect() as conn:
        assert _data_type(conn) == "json"
        assert conn.execute(sa.text("SELECT data FROM employer_survey")).scalar() == before


def _snapshot(engine) -> dict:
    """Everything a first import writes, less the clock."""
    with engine.connect() as conn:
        employers = [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, credit_code, org_code, name, address, legal_rep, hr_contact, phone, industry, ownership, "
            "headcount, contracts_signed, insured, wage_arrears_months, fee_arrears_months, complaints_12m, "
            "opened_on, surveyed_on, ST_AsEWKT(geom), source_crs, located_by, location_precision, "
            "located_at IS NULL, status, risk_level, risk_rule, credit_code_status, integrity_grade, grade_year, "
            "key_flags, placed_by, name_key FROM employer ORDER BY id"))]
        surveys = [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, employer_id, surveyed_on, source, data::text FROM employer_survey ORDER BY id"))]
        grades = [tuple(r) for r in conn.execute(sa.text(
            "SELECT employer_id, year, grade, source FROM employer_grade ORDER BY 1, 2"))]
        cells = [tuple(r) for r in conn.execute(sa.text("SELECT * FROM employer_cell ORDER BY z, cx, cy"))]
    return {"employers": employers, "surveys": surveys, "grades": grades, "cells": cells}


def test_first_import_into_empty_table_writes_what_the_general_merge_writes(run_cli, tmp_path, engine,
                                                                            monkeypatch):
    from gisgrid.employers import register

    good = make_credit_code("419999", 51)
    rows = [f"甲公司,{good},和平路1号,10,A,2026-03-01,113.705,34.305",
            f"乙公司,{good[:-1] + ('0' if good[-1] != '0' else '1')},和平路2号,5,,2026-04-01,113.71,34.31",
            "丙店,,和平路3号,3,C,,,",
            "丁店,,和平路4号,,B,2025-12-01,113.72,34.32"]
    path = tmp_path / "r.csv"
    merge = register._merge_sql
    monkeypatch.setattr(register, "_merge_sql", lambda *a: "SELECT 1 / 0")  # the all-new statement alone
    lean = _import(run_cli, path, rows)
    monkeypatch.setattr(register, "_merge_sql", merge)
    first = _snapshot(engine)
    with engine.begin() as conn:
        truncate_employers(conn, "employer_survey", "employer_grade", "employer_cell", restart=True)
    # The all-new statement as it runs when the table was filled meanwhile: it writes nothing.
    monkeypatch.setattr(register, "_MERGE_ALL_NEW",
                        register._MERGE_ALL_NEW.replace("NOT EXISTS", "EXISTS"))
    general = _import(run_cli, path, rows)
    assert {k: v for k, v in lean.items() if k != "warnings"} == {k: v for k, v in general.items()
                                                                  if k != "warnings"}
    assert lean["imported"] == 4 and _snapshot(engine) == first
    assert len(first["surveys"]) == 4 and len(first["grades"]) == 3

"""Loading checked rows: awkward text survives COPY, the bulk path restores what it changes."""

from __future__ import annotations

import json

import sqlalchemy as sa

from gisgrid.employers.identifiers import make_credit_code

HEADER = "单位名称,统一社会信用代码,地址,职工人数,调查日期,经度,纬度"


def _write(path, rows):
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode("utf-8"))
    return path


def _import(run_cli, path, *args):
    return json.loads(run_cli("employers", "import", path, *args, "--json").output)


def test_tabs_backslashes_and_null_markers_survive_the_load(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 31)
    path = _write(tmp_path / "a.csv", [
        f'"甲\t公司","{code}","C:\\\\路\\N 1号",10,2026-03-01,113.705,34.305',
        '"  乙公司 ","","\\N",,,,',
    ])
    report = _import(run_cli, path, "--commit")
    assert report["imported"] == 2
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(sa.text(
            "SELECT e.name, e.address, e.headcount, e.surveyed_on, s.data FROM employer e "
            "JOIN employer_survey s ON s.employer_id = e.id"))}
    first, second = rows["甲\t公司"], rows["乙公司"]
    assert first.address == "C:\\\\路\\N 1号" and first.headcount == 10 and str(first.surveyed_on) == "2026-03-01"
    assert first.data["address"] == first.address and first.data["lon"] == 113.705
    assert second.address == "\\N" and second.headcount is None and second.data["credit_code"] is None
    again = _import(run_cli, path, "--commit")
    assert (again["imported"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_bulk_load_rebuilds_survey_index_and_restores_settings(run_cli, tmp_path, engine, monkeypatch):
    from gisgrid.employers import register

    monkeypatch.setattr(register, "BULK_REBUILD_ROWS", 2)
    rows = [f"企业{i},{make_credit_code('419999', 200 + i)},和平路{i}号,{i + 1},2026-01-0{i + 1},113.7{i},34.3{i}"
            for i in range(3)]
    report = _import(run_cli, _write(tmp_path / "r.csv", rows), "--commit")
    assert report["imported"] == 3
    with engine.connect() as conn:
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes "
                                           "WHERE tablename IN ('employer', 'employer_survey')")).scalars())
        ids = conn.execute(sa.text("SELECT id FROM employer ORDER BY id")).scalars().all()
        survey_ids = conn.execute(sa.text("SELECT employer_id FROM employer_survey ORDER BY 1")).scalars().all()
    assert {"employer_geom_gix", "employer_name_key_ix", "employer_credit_code_uq",
            "ix_employer_survey_employer_id"} <= indexes
    assert ids == survey_ids
    # A second bulk import of the same codes matches them (unique index rebuilt) and changes nothing.
    again = _import(run_cli, _write(tmp_path / "r.csv", rows), "--commit")
    assert (again["imported"], again["unchanged"]) == (0, 3)


def test_load_register_restores_work_mem(engine, monkeypatch):
    import pandas as pd

    from gisgrid.db.engine import session_scope
    from gisgrid.employers import register

    monkeypatch.setattr(register, "BULK_REBUILD_ROWS", 1)
    frame = pd.DataFrame({"name": ["甲"], "credit_code": [make_credit_code("419999", 301)]},
                         index=pd.Index([2], name="row"))
    good, _, _ = register.validate_register(frame)
    with session_scope(engine) as session:
        before = session.execute(sa.text("SHOW work_mem")).scalar()
        loaded = register.load_register(session, good, "t.csv")
        assert session.execute(sa.text("SHOW work_mem")).scalar() == before
    assert loaded["imported"] == 1 and len(loaded["changed_ids"]) == 1

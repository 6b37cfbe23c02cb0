"""Loading checked rows: awkward text survives COPY, the bulk path restores what it changes."""

from __future__ import annotations

import json

import sqlalchemy as sa

from gisgrid.employers.identifiers import make_credit_code

HEADER = "单位名称,统一社会信用代码,地址,职工人数,调查日期,经度,纬度"


def _write(path, rows, grade: bool = False):
    header = HEADER + ",诚信等级" if grade else HEADER
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode("utf-8"))
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


def _index_definitions(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN ('employer', 'employer_survey', 'employer_grade')"
        )).scalars())


def test_bulk_load_rebuilds_indexes_and_keys_as_they_were(run_cli, tmp_path, engine, monkeypatch):
    from gisgrid.employers import register

    monkeypatch.setattr(register, "BULK_REBUILD_ROWS", 2)
    before = _index_definitions(engine)
    assert any("employer_pkey" in d for d in before) and any("employer_grade_pkey" in d for d in before)
    rows = [f"企业{i},{make_credit_code('419999', 200 + i)},和平路{i}号,{i + 1},2026-01-0{i + 1},113.7{i},34.3{i},A"
            for i in range(3)]
    # Into empty tables: secondary indexes and primary keys are dropped and built again.
    report = _import(run_cli, _write(tmp_path / "r.csv", rows, grade=True), "--commit")
    assert report["imported"] == 3
    assert _index_definitions(engine) == before
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM employer ORDER BY id")).scalars().all()
        survey_ids = conn.execute(sa.text("SELECT employer_id FROM employer_survey ORDER BY 1")).scalars().all()
        grades = conn.execute(sa.text("SELECT count(*) FROM employer_grade")).scalar()
    assert ids == survey_ids and grades == 3
    # A second bulk import of the same codes matches them (unique index rebuilt) and changes nothing.
    again = _import(run_cli, _write(tmp_path / "r.csv", rows, grade=True), "--commit")
    assert (again["imported"], again["unchanged"]) == (0, 3)
    # A bulk import larger than the table, not into an empty one: the indexes are rebuilt, the
    # keys kept, and a grade of the same year is replaced (ON CONFLICT needs the key).
    more = [r[:-1] + "B" for r in rows] + [
        f"新企业{i},{make_credit_code('419999', 300 + i)},和平路{i}号,1,2026-02-01,113.7,34.3,C" for i in range(4)]
    third = _import(run_cli, _write(tmp_path / "r.csv", more, grade=True), "--commit")
    assert (third["imported"], third["updated"]) == (4, 3)
    assert _index_definitions(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT string_agg(grade, '' ORDER BY employer_id) FROM employer_grade")
                            ).scalar() == "BBBCCCC"


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

"""Importing the employer register: bad rows are reported by row and column, good rows load once."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from gisgrid.employers.identifiers import make_credit_code

HEADER = "单位名称,统一社会信用代码,地址,职工人数,签订劳动合同人数,参加社会保险人数,欠薪月数,欠费月数,开业日期,经度,纬度,坐标系"


def _row(name, code, head="10", signed="10", insured="10", wage="0", fee="0", opened="2020-01-01",
         lon="113.705", lat="34.305", crs="CGCS2000"):
    return ",".join([name, code, f"{name}地址", head, signed, insured, wage, fee, opened, lon, lat, crs])


def _write(path, rows, encoding="utf-8-sig"):
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def test_bad_rows_are_reported_with_row_and_column(run_cli, tmp_path, engine):
    good = make_credit_code("419999", 1)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [
        _row("甲公司", good),                                   # row 2: fine
        _row("乙公司", bad_check),                              # row 3: check character wrong
        _row("丙公司", make_credit_code("419999", 2), signed="12"),  # row 4: contracts above headcount
        _row("丁公司", make_credit_code("419999", 3), head="-1"),    # row 5: negative headcount
        _row("戊公司", make_credit_code("419999", 4), opened="2020-13-45"),  # row 6: impossible date
        _row("己公司", make_credit_code("419999", 5), lon="34.3", lat="113.7"),  # row 7: swapped
        _row("庚公司", good),                                   # row 8: duplicate of row 2
        _row("", make_credit_code("419999", 6)),                # row 9: no name
    ]
    path = _write(tmp_path / "register.csv", rows)
    report = json.loads(run_cli("employers", "import", path, "--commit", "--json").output)
    found = {(p["row"], p["reason"]) for p in report["rejected"]}
    assert found == {(3, "bad_credit_code"), (4, "above_headcount"), (5, "bad_number"), (6, "bad_date"),
                     (7, "outside_china"), (8, "duplicate_in_file"), (9, "missing_name")}
    by_row = {p["row"]: p for p in report["rejected"]}
    assert by_row[3]["column"] == "统一社会信用代码" and bad_check in by_row[3]["message"]
    assert by_row[4]["column"] == "签订劳动合同人数"
    assert report["imported"] == 1 and report["rows"] == 8
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM employer")).scalars().all() == ["甲公司"]


def test_reimport_changes_nothing_and_update_keeps_history(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 7)
    path = _write(tmp_path / "a.csv", [_row("甲公司", code)])
    run_cli("employers", "import", path, "--commit")
    again = json.loads(run_cli("employers", "import", path, "--commit", "--json").output)
    assert (again["imported"], again["updated"], again["unchanged"]) == (0, 0, 1)
    changed = _write(tmp_path / "b.csv", [_row("甲公司", code, wage="3")])
    report = json.loads(run_cli("employers", "import", changed, "--commit", "--json").output)
    assert report["updated"] == 1
    with engine.connect() as conn:
        level, rule = conn.execute(sa.text("SELECT risk_level, risk_rule FROM employer")).one()
        surveys = conn.execute(sa.text("SELECT count(*) FROM employer_survey")).scalar()
    assert level == 3 and rule.startswith("欠薪2个月及以上")
    assert surveys == 2


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030", "gbk"])
def test_encodings_are_detected(run_cli, tmp_path, engine, encoding):
    path = _write(tmp_path / "enc.csv", [_row("测试用人单位", make_credit_code("419999", 8))], encoding)
    report = json.loads(run_cli("employers", "import", path, "--json").output)
    assert report["imported"] == 1 and report["rejected"] == []


def test_dry_run_writes_nothing(run_cli, tmp_path, engine):
    path = _write(tmp_path / "a.csv", [_row("甲公司", make_credit_code("419999", 9))])
    assert "dry run" in run_cli("employers", "import", path).output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 0


def test_codes_stay_text_in_xlsx(run_cli, tmp_path, engine):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    code = make_credit_code("419999", 10)
    sheet.append(["甲公司", code, "地址", 10, 10, 10, 0, 0, "2020-01-01", 113.705, 34.305, "CGCS2000"])
    book.save(tmp_path / "r.xlsx")
    run_cli("employers", "import", tmp_path / "r.xlsx", "--commit")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT credit_code FROM employer")).scalar() == code


def test_unsupported_file_type(run_cli, tmp_path):
    (tmp_path / "r.doc").write_text("x")
    assert "expected .csv or .xlsx" in run_cli("employers", "import", tmp_path / "r.doc", expect=1).output

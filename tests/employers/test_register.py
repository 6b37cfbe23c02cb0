"""Importing the employer register: each bad-row kind reported by row and column, good rows load once."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from gisgrid.employers.identifiers import make_credit_code

HEADER = "单位名称,统一社会信用代码,地址,职工人数,签订劳动合同人数,参加社会保险人数,欠薪月数,欠费月数,开业日期,经度,纬度,坐标系"


def _row(name, code, head="10", signed="10", insured="10", wage="0", fee="0", opened="2020-01-01",
         lon="113.705", lat="34.305", crs="CGCS2000", address=None):
    return ",".join([name, code, address if address is not None else f"{name}地址", head, signed, insured,
                     wage, fee, opened, lon, lat, crs])


def _write(path, rows, encoding="utf-8-sig", header=HEADER):
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def _bad_check(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def _import(run_cli, path, *args):
    return json.loads(run_cli("employers", "import", path, *args, "--json").output)


@pytest.mark.parametrize("change, reason, column", [
    ({"name": ""}, "missing_name", "单位名称"),
    ({"name": "甲" * 201}, "too_long", "单位名称"),
])
def test_each_rejecting_kind(run_cli, tmp_path, engine, change, reason, column):
    fields = {"name": "甲公司", "code": make_credit_code("419999", 1), **change}
    name, code = fields.pop("name"), fields.pop("code")
    path = _write(tmp_path / "r.csv", [_row("乙公司", make_credit_code("419999", 2)), _row(name, code, **fields)])
    report = _import(run_cli, path, "--commit")
    assert [(p["row"], p["reason"], p["column"]) for p in report["rejected"]] == [(3, reason, column)]
    assert report["imported"] == 1 and report["rows"] == 2
    assert set(report["rejected"][0]) == {"row", "column", "reason", "message"}


@pytest.mark.parametrize("code, says, org_code", [
    ("91410000ABC", "不是18位", None),
    ("9141000060003734IL", "不是18位", None),
    ("9.14199018430463E+17", "Excel", None),
    ("410100000012345", "15位工商注册号", None),
    ("60003734-1", "组织机构代码", "600037341"),
])
def test_a_code_that_is_no_code_is_warned_and_the_firm_imported_without_it(run_cli, tmp_path, engine, code, says,
                                                                          org_code):
    path = _write(tmp_path / "r.csv", [_row("甲公司", code)])
    report = _import(run_cli, path, "--commit")
    assert report["rejected"] == [] and report["imported"] == 1
    assert [(p["row"], p["reason"]) for p in report["warnings"]] == [(2, "credit_code_format")]
    assert says in report["warnings"][0]["message"] and "补录" in report["warnings"][0]["message"]
    with engine.connect() as conn:
        assert tuple(conn.execute(sa.text("SELECT credit_code, org_code FROM employer")).one()) == (None, org_code)


def test_a_code_excel_cut_to_000_is_suspect_even_when_its_check_passes(run_cli, tmp_path, engine):
    # all-digit codes ending in 000 that pass GB 32100 by chance (1 in 31)
    import itertools
    from gisgrid.employers.identifiers import is_valid_credit_code

    lucky = next(c for c in (f"91419901{n:07d}000" for n in itertools.count()) if is_valid_credit_code(c))
    report = _import(run_cli, _write(tmp_path / "r.csv", [_row("甲公司", lucky)]), "--commit")
    assert [(p["reason"]) for p in report["warnings"]] == ["credit_code_check"]
    assert "Excel" in report["warnings"][0]["message"] and "--accept-code" in report["warnings"][0]["message"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT credit_code_status FROM employer")).scalar() == "check_failed"


@pytest.mark.parametrize("change, reason, column, field", [
    ({"head": "-1"}, "bad_number", "职工人数", "headcount"),
    ({"head": "十个"}, "bad_number", "职工人数", "headcount"),
    ({"head": "10.5"}, "bad_number", "职工人数", "headcount"),
    ({"wage": "999"}, "bad_number", "欠薪月数", "wage_arrears_months"),
    ({"signed": "12"}, "above_headcount", "签订劳动合同人数", "contracts_signed"),
    ({"insured": "11"}, "above_headcount", "参加社会保险人数", "insured"),
    ({"opened": "2020-13-45"}, "bad_date", "开业日期", "opened_on"),
    ({"opened": "2099-01-01"}, "impossible_date", "开业日期", "opened_on"),
])
def test_each_value_that_cannot_be_right_is_left_out_and_the_firm_kept(run_cli, tmp_path, engine, change, reason,
                                                                      column, field):
    code = make_credit_code("419999", 1)
    path = _write(tmp_path / "r.csv", [_row("乙公司", make_credit_code("419999", 2)), _row("甲公司", code, **change)])
    report = _import(run_cli, path, "--commit")
    assert report["rejected"] == [] and report["imported"] == 2
    assert [(p["row"], p["reason"], p["column"]) for p in report["warnings"]] == [(3, reason, column)]
    assert "未导入" in report["warnings"][0]["message"]
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT {field} FROM employer WHERE credit_code = :c"), {"c": code}).scalar() \
            is None
    # The same firm on file already: a bad value in a later survey leaves its stored value.
    good = _write(tmp_path / "good.csv", [_row("甲公司", code)])
    run_cli("employers", "import", good, "--commit")
    with engine.connect() as conn:
        stored = conn.execute(sa.text(f"SELECT {field} FROM employer WHERE credit_code = :c"), {"c": code}).scalar()
    assert stored is not None
    again = _import(run_cli, _write(tmp_path / "bad.csv", [_row("甲公司", code, **change)]), "--commit")
    assert [p["reason"] for p in again["warnings"]] == [reason]
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT {field} FROM employer WHERE credit_code = :c"), {"c": code}).scalar() \
            == stored


@pytest.mark.parametrize("change, reason", [
    ({"lon": "abc"}, "bad_coordinates"),
    ({"lon": "200", "lat": "95"}, "outside_china"),
    ({"lon": "34.305", "lat": "113.705"}, "swapped_coordinates"),
    ({"crs": "火星"}, "unsupported_crs"),
])
def test_coordinate_problems_keep_the_row(run_cli, tmp_path, engine, change, reason):
    path = _write(tmp_path / "r.csv", [_row("甲公司", make_credit_code("419999", 1), **change)])
    report = _import(run_cli, path, "--commit")
    assert report["rejected"] == [] and report["imported"] == 1
    assert [(p["row"], p["reason"]) for p in report["warnings"]] == [(2, reason)]
    with engine.connect() as conn:
        lon, located_by = conn.execute(sa.text("SELECT ST_X(geom), located_by FROM employer")).one()
    if reason == "swapped_coordinates":
        assert (round(lon, 3), located_by) == (113.705, "given")
    else:
        assert (lon, located_by) == (None, "none")
        assert report["unlocated"] == 1 and report["unlocated_rows"][0]["row"] == 2


def test_duplicates_in_file(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 1)
    rows = [_row("甲公司", code), _row("甲公司", code),                      # rows 2, 3: same code
            _row("乙 公司", "", address="和平路1号"), _row("乙公司", "无", address="和平路 1号"),  # 4, 5: same name+address
            _row("丙公司", make_credit_code("419999", 3), address="x"),
            _row("丙公司", _bad_check(make_credit_code("419999", 4)), address="x")]  # 7: same firm, other code
    report = _import(run_cli, _write(tmp_path / "r.csv", rows), "--commit")
    assert {(p["row"], p["reason"]) for p in report["rejected"]} == {(3, "duplicate_in_file"),
                                                                   (5, "duplicate_in_file")}
    assert "第 2 行" in report["rejected"][0]["message"]
    assert {(p["row"], p["reason"]) for p in report["warnings"]} == {(7, "possible_duplicate"),
                                                                   (7, "credit_code_check")}


def test_failed_check_is_a_warning_until_accepted_with_a_reason(run_cli, tmp_path, engine):
    bad = _bad_check(make_credit_code("419999", 1))
    path = _write(tmp_path / "r.csv", [_row("甲公司", bad)])
    report = _import(run_cli, path, "--commit")
    assert report["rejected"] == [] and report["imported"] == 1
    assert [(w["row"], w["reason"], w["column"]) for w in report["warnings"]] == [(2, "credit_code_check",
                                                                                   "统一社会信用代码")]
    assert f"--accept-code {bad}" in report["warnings"][0]["message"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT credit_code_status FROM employer")).scalar() == "check_failed"
    assert "needs --reason" in run_cli("employers", "import", path, "--accept-code", bad, expect=1).output
    good = make_credit_code("419999", 2)
    assert "passes" in run_cli("employers", "import", path, "--accept-code", good, "--reason", "x",
                               expect=1).output
    report = _import(run_cli, path, "--accept-code", bad, "--reason", "福建试点早期代码，已核营业执照",
                     "--actor", "王监察", "--commit")
    assert report["warnings"] == [] and report["accepted_codes"][0]["accepted_by"] == "王监察"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT credit_code_status FROM employer")).scalar() == "accepted"
        who, why = conn.execute(sa.text("SELECT accepted_by, reason FROM credit_code_acceptance")).one()
        audit = conn.execute(sa.text("SELECT actor, action, entity_id FROM audit_log")).one()
    assert (who, why) == ("王监察", "福建试点早期代码，已核营业执照")
    assert tuple(audit) == ("王监察", "accept_credit_code", bad)
    assert _import(run_cli, path, "--commit")["warnings"] == []  # the acceptance lasts


def test_org_code_checks(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 1)
    header = HEADER + ",组织机构代码"
    rows = [_row("甲公司", code) + f",{code[8:16]}-{code[16]}",       # matches positions 9–17
            _row("乙公司", make_credit_code("419999", 2)) + ",60003734-2",  # GB 11714 check fails
            _row("丙公司", make_credit_code("419999", 3)) + ",60003734-1"]  # valid, but another firm's
    report = _import(run_cli, _write(tmp_path / "r.csv", rows, header=header), "--commit")
    assert [(w["row"], w["reason"]) for w in report["warnings"]] == [(3, "org_code_check"), (4, "org_code_mismatch")]
    assert report["imported"] == 3


def test_reimport_changes_nothing_and_update_keeps_history(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 7)
    path = _write(tmp_path / "a.csv", [_row("甲公司", code), _row("无码店", "", address="和平路2号")])
    run_cli("employers", "import", path, "--commit")
    again = _import(run_cli, path, "--commit")
    assert (again["imported"], again["updated"], again["unchanged"]) == (0, 0, 2)
    changed = _write(tmp_path / "b.csv", [_row("甲公司", code, wage="3"),
                                          _row("无码店", "", address="和平路 2 号", head="12", signed="12",
                                               insured="12")])
    report = _import(run_cli, changed, "--commit")
    assert (report["imported"], report["updated"]) == (0, 2)
    with engine.connect() as conn:
        level, rule, flags = conn.execute(sa.text(
            "SELECT risk_level, risk_rule, key_flags FROM employer WHERE credit_code = :c"), {"c": code}).one()
        surveys = conn.execute(sa.text("SELECT count(*) FROM employer_survey")).scalar()
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 2
    assert level == 3 and rule.startswith("欠薪2个月及以上") and "欠薪或欠费2个月及以上" in flags
    assert surveys == 4


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030", "gbk"])
def test_encodings_are_detected(run_cli, tmp_path, engine, encoding):
    path = _write(tmp_path / "enc.csv", [_row("测试用人单位", make_credit_code("419999", 8))], encoding)
    report = _import(run_cli, path)
    assert report["imported"] == 1 and report["rejected"] == []


def test_encoding_can_be_given(run_cli, tmp_path, engine):
    path = _write(tmp_path / "enc.csv", [_row("测试用人单位", make_credit_code("419999", 8))], "gbk")
    assert _import(run_cli, path, "--encoding", "gbk")["encoding"] == "gbk"
    assert "cannot be decoded as utf-8" in run_cli("employers", "import", path, "--encoding", "utf-8",
                                                   expect=1).output


def test_english_aliases_and_title_row_in_csv(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 9)
    text = ("Employer register 2026,,\n\nname,credit_code,phone,headcount,insured,longitude,latitude\n"
            f"Acme,{code},03715551234,10,10,113.705,34.305\n")
    (tmp_path / "en.csv").write_text(text, encoding="utf-8")
    report = _import(run_cli, tmp_path / "en.csv", "--commit")
    assert report["header_row"] == 3 and report["imported"] == 1
    with engine.connect() as conn:
        assert tuple(conn.execute(sa.text("SELECT name, credit_code, phone FROM employer")).one()) == (
            "Acme", code, "03715551234")


@pytest.mark.parametrize("suffix, content", [
    (".json", '{"name": "企业名", "credit_code": "代码", "headcount": "人数"}'),
    (".csv", "column,header\nname,企业名\ncredit_code,代码\nheadcount,人数\n"),
])
def test_mapping_file(run_cli, tmp_path, engine, suffix, content):
    code = make_credit_code("419999", 10)
    (tmp_path / "odd.csv").write_text(f"企业名,代码,人数\n甲公司,{code},5\n", encoding="utf-8")
    (tmp_path / f"map{suffix}").write_text(content, encoding="utf-8")
    assert "no known header" in run_cli("employers", "import", tmp_path / "odd.csv", expect=1).output
    report = _import(run_cli, tmp_path / "odd.csv", "--mapping", tmp_path / f"map{suffix}", "--commit")
    assert report["imported"] == 1 and report["columns"]["credit_code"] == "代码"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT headcount FROM employer")).scalar() == 5


def test_dry_run_writes_nothing(run_cli, tmp_path, engine):
    path = _write(tmp_path / "a.csv", [_row("甲公司", make_credit_code("419999", 9))])
    assert "dry run" in run_cli("employers", "import", path).output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 0


def test_json_contract(run_cli, tmp_path, engine):
    path = _write(tmp_path / "a.csv", [_row("甲公司", make_credit_code("419999", 9))])
    report = _import(run_cli, path)
    assert {"rows", "imported", "updated", "rejected", "warnings", "unlocated"} <= set(report)


def test_unsupported_file_type(run_cli, tmp_path):
    (tmp_path / "r.doc").write_text("x")
    assert "expected .csv or .xlsx" in run_cli("employers", "import", tmp_path / "r.doc", expect=1).output


def test_register_without_codes_and_with_chinese_dates(run_cli, tmp_path, engine):
    (tmp_path / "r.csv").write_text("单位名称,地址,开业日期,调查日期\n甲店,和平路1号,2020年1月2日,2026/3/4\n"
                                    "乙店,和平路2号,2020.01.05,20260306\n", encoding="utf-8")
    report = _import(run_cli, tmp_path / "r.csv", "--commit")
    assert report["rejected"] == [] and report["imported"] == 2
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT opened_on, surveyed_on FROM employer ORDER BY opened_on")).all()
    assert [(str(a), str(b)) for a, b in rows] == [("2020-01-02", "2026-03-04"), ("2020-01-05", "2026-03-06")]


def test_bulk_import_rebuilds_the_indexes_it_dropped(run_cli, tmp_path, engine, monkeypatch):
    from gisgrid.employers import register

    monkeypatch.setattr(register, "BULK_REBUILD_ROWS", 2)
    rows = [_row(f"企业{i}", make_credit_code("419999", 100 + i)) for i in range(3)]
    report = _import(run_cli, _write(tmp_path / "r.csv", rows), "--commit")
    assert report["imported"] == 3
    with engine.connect() as conn:
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'employer'")).scalars())
    assert {"employer_geom_gix", "employer_name_key_ix", "employer_credit_code_uq"} <= indexes


def test_unmapped_and_ragged_columns_keep_rows_aligned(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 5)
    (tmp_path / "r.csv").write_text(
        "序号,单位名称,备注,统一社会信用代码,其他,其他2\n"
        f"1,甲公司,老厂,{code},x,y\n"
        "2,乙公司\n"                       # a short line
        "3,丙公司,,,a,b,c,多出来的备注\n", encoding="utf-8")  # a long line
    report = _import(run_cli, tmp_path / "r.csv", "--commit")
    assert report["rows"] == 3 and report["imported"] == 3 and report["rejected"] == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM employer WHERE credit_code = :c"), {"c": code}).scalar() \
            == "甲公司"

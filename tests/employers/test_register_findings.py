"""Re-imports of real registers: one firm twice in a file, older surveys, columns a file lacks."""

from __future__ import annotations

import json

import sqlalchemy as sa

from gisgrid.employers.identifiers import make_credit_code

HEADER = "单位名称,统一社会信用代码,地址,经济类型,职工人数,调查日期,诚信等级,经度,纬度,坐标系"


def _write(path, rows, header=HEADER):
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode("utf-8"))
    return path


def _import(run_cli, path, *args):
    return json.loads(run_cli("employers", "import", path, *args, "--json").output)


def _record(engine, code):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT e.*, ST_X(e.geom) AS lon, (SELECT count(*) FROM employer_survey s "
                                    "WHERE s.employer_id = e.id) AS surveys FROM employer e "
                                    "WHERE credit_code = :c"), {"c": code}).mappings().one()


def test_codeless_row_of_a_coded_firm_is_a_duplicate_and_reimports_change_nothing(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 11)
    path = _write(tmp_path / "r.csv", [
        f"永安泰商贸有限公司,{code},人民路52号,有限责任公司,259,2026-01-17,A,113.52,34.31,CGCS2000",
        "永安泰商贸有限公司,,人民路 52号,有限责任公司,197,2026-06-18,A,113.56,34.45,CGCS2000",
    ])
    first = _import(run_cli, path, "--commit")
    assert first["imported"] == 1
    assert [(p["row"], p["reason"], p["column"]) for p in first["rejected"]] == [(3, "duplicate_in_file", "单位名称")]
    assert "第 2 行" in first["rejected"][0]["message"] and code in first["rejected"][0]["message"]
    for _ in range(2):  # was: "1 updated", then a CardinalityViolation on the grade upsert
        again = _import(run_cli, path, "--commit")
        assert (again["imported"], again["updated"], again["unchanged"]) == (0, 0, 1)
    assert _record(engine, code)["headcount"] == 259


def test_of_two_rows_with_one_code_the_latest_survey_is_kept(run_cli, tmp_path, engine):
    code, other = make_credit_code("419999", 12), make_credit_code("419999", 13)
    path = _write(tmp_path / "r.csv", [
        f"腾伟宾馆,{code},南大街11号,有限责任公司,10,2026-01-05,,113.57,34.25,CGCS2000",
        f"腾伟宾馆,{code},南大街11号,有限责任公司,20,2026-11-15,,113.57,34.25,CGCS2000",
        f"别家,{other},北大街1号,有限责任公司,5,,,113.57,34.25,CGCS2000",
        f"别家,{other},北大街1号,有限责任公司,6,,,113.57,34.25,CGCS2000",
    ])
    report = _import(run_cli, path, "--commit")
    assert [(p["row"], p["reason"]) for p in report["rejected"]] == [(2, "duplicate_in_file"), (5, "duplicate_in_file")]
    assert "保留第 3 行" in report["rejected"][0]["message"] and "较新" in report["rejected"][0]["message"]
    assert _record(engine, code)["headcount"] == 20 and _record(engine, other)["headcount"] == 5


def test_a_column_the_file_lacks_leaves_the_stored_value(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 14)
    run_cli("employers", "import", _write(tmp_path / "a.csv", [
        f"中荣宾馆,{code},府前街37号,外商投资企业,111,2026-01-13,,113.70,34.36,CGCS2000"]), "--commit")
    narrow = _write(tmp_path / "b.csv", [f"中荣宾馆,{code},府前街37号,111,2026-01-13,,113.70,34.36,CGCS2000"],
                    header=HEADER.replace("经济类型,", ""))
    report = _import(run_cli, narrow, "--commit")
    assert (report["updated"], report["unchanged"]) == (0, 1)
    assert _record(engine, code)["ownership"] == "外商投资企业"
    # A changed value in a column it has is written; the missing one is still kept.
    changed = _write(tmp_path / "c.csv", [f"中荣宾馆,{code},府前街37号,120,2026-03-01,,113.70,34.36,CGCS2000"],
                     header=HEADER.replace("经济类型,", ""))
    assert _import(run_cli, changed, "--commit")["updated"] == 1
    record = _record(engine, code)
    assert (record["ownership"], record["headcount"], record["surveys"]) == ("外商投资企业", 120, 2)


def test_an_older_survey_joins_the_history_without_replacing_the_record(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 15)
    run_cli("employers", "import", _write(tmp_path / "new.csv", [
        f"至聚旅社,{code},纬一路56号,个体工商户,8,2026-06-10,A,113.85,34.44,CGCS2000"]), "--commit")
    old = _write(tmp_path / "old.csv", [f"至聚旅社,{code},纬一路56号,个体工商户,108,2025-01-10,C,113.80,34.40,CGCS2000"])
    report = _import(run_cli, old, "--commit")
    assert (report["imported"], report["updated"], report["unchanged"]) == (0, 0, 1)
    assert [(p["row"], p["reason"]) for p in report["warnings"]] == [(2, "older_survey")]
    assert "2025-01-10" in report["warnings"][0]["message"] and "2026-06-10" in report["warnings"][0]["message"]
    record = _record(engine, code)
    assert (record["headcount"], record["integrity_grade"], round(record["lon"], 2), record["surveys"]) \
        == (8, "A", 113.85, 2)
    shown = json.loads(run_cli("employers", "show", code, "--json").output)
    assert sorted(str(h["surveyed_on"]) for h in shown["history"]) == ["2025-01-10", "2026-06-10"]
    _import(run_cli, old, "--commit")  # the same old file again: no second copy of that survey
    assert _record(engine, code)["surveys"] == 2


def test_a_hand_placement_after_the_survey_outranks_its_coordinates(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 16)
    path = _write(tmp_path / "r.csv", [f"南凯木器,{code},体育路104号,个体工商户,5,2026-04-17,,113.71,34.30,CGCS2000"])
    run_cli("employers", "import", path, "--commit")
    run_cli("employers", "place", code, "113.75", "34.35", "--actor", "李协管员", "--commit")
    again = _import(run_cli, path, "--commit")
    assert (again["updated"], again["unchanged"]) == (0, 1)
    record = _record(engine, code)
    assert (round(record["lon"], 2), record["located_by"]) == (113.75, "manual")
    # A survey made after the placement brings new coordinates: they win.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE employer SET located_at = '2026-05-01' WHERE credit_code = :c"), {"c": code})
    later = _write(tmp_path / "later.csv", [
        f"南凯木器,{code},体育路104号,个体工商户,5,2026-06-01,,113.72,34.31,CGCS2000"])
    assert _import(run_cli, later, "--commit")["updated"] == 1
    assert _record(engine, code)["located_by"] == "given"


def test_usual_headers_are_recognised_and_unknown_ones_are_named(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 17)
    header = "序号,单位名称,统一社会信用代码/注册号,住所,职工总人数,东经,北纬,坐标类型,劳动保障诚信等级,所属网格,备注"
    path = _write(tmp_path / "r.csv", [f"1,永兴机械厂,{code},建设路8号,40,113.71,34.31,CGCS2000,B,龙湖镇第三网格,"],
                  header=header)
    report = _import(run_cli, path, "--commit")
    assert report["imported"] == 1 and report["rejected"] == []
    assert [(p["row"], p["column"], p["reason"]) for p in report["warnings"]] == [(1, "所属网格", "unknown_column")]
    assert "--mapping" in report["warnings"][0]["message"]
    record = _record(engine, code)
    assert (record["address"], record["headcount"], round(record["lon"], 2), record["integrity_grade"]) \
        == ("建设路8号", 40, 113.71, "B")


def test_a_file_without_codes_or_places_says_what_that_means(run_cli, tmp_path, engine):
    path = _write(tmp_path / "r.csv", ["永兴机械厂,40"], header="单位名称,职工人数")
    report = _import(run_cli, path, "--commit")
    assert report["imported"] == 1
    assert [(p["column"], p["reason"]) for p in report["warnings"]] == [
        ("统一社会信用代码", "missing_column"), ("地址", "missing_column"), ("经度", "missing_column")]


def test_an_overlong_value_is_left_out_with_its_row_and_column(run_cli, tmp_path, engine):
    code = make_credit_code("419999", 18)
    phones = "13800000001、13800000002、0371-66666666（办公室）"
    path = _write(tmp_path / "r.csv", [f"永兴机械厂,{code},{phones},40"], header="单位名称,统一社会信用代码,联系电话,职工人数")
    report = _import(run_cli, path, "--commit")  # was: StringDataRightTruncation and the whole SQL
    assert report["imported"] == 1
    too_long = [p for p in report["warnings"] if p["reason"] == "too_long"]
    assert [(p["row"], p["column"]) for p in too_long] == [(2, "联系电话")] and "40" in too_long[0]["message"]
    assert _record(engine, code)["phone"] is None


def test_dates_as_people_and_excel_type_them(run_cli, tmp_path, engine):
    rows = [f"企业{i},{make_credit_code('419999', 40 + i)},{text}" for i, text in
            enumerate(["43900", "2019年5月", "２０２０年３月５日", "2020.3.5", "20200305", "2020年3月5号"])]
    report = _import(run_cli, _write(tmp_path / "r.csv", rows, header="单位名称,统一社会信用代码,开业日期"), "--commit")
    assert [p for p in report["warnings"] if p["reason"] in ("bad_date", "impossible_date")] == []
    with engine.connect() as conn:
        dates = conn.execute(sa.text("SELECT opened_on::text FROM employer ORDER BY name")).scalars().all()
    assert dates == ["2020-03-10", "2019-05-01", "2020-03-05", "2020-03-05", "2020-03-05", "2020-03-05"]


def test_a_code_new_to_the_register_fills_in_the_firm_filed_without_one(run_cli, tmp_path, engine):
    header = "单位名称,统一社会信用代码,地址,职工人数"
    run_cli("employers", "import", _write(tmp_path / "a.csv", ["永兴机械厂,,建设路8号,40"], header=header), "--commit")
    code = make_credit_code("419999", 19)
    report = _import(run_cli, _write(tmp_path / "b.csv", [f"永兴机械厂,{code},建设路 8号,41"], header=header), "--commit")
    assert (report["imported"], report["updated"]) == (0, 1)
    record = _record(engine, code)
    assert (record["headcount"], record["surveys"]) == (41, 2)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 1


def test_a_new_code_for_a_name_and_address_on_file_is_warned(run_cli, tmp_path, engine):
    header = "单位名称,统一社会信用代码,地址,职工人数"
    first, second = make_credit_code("419999", 20), make_credit_code("419999", 21)
    run_cli("employers", "import", _write(tmp_path / "a.csv", [f"永兴机械厂,{first},建设路8号,40"], header=header),
            "--commit")
    report = _import(run_cli, _write(tmp_path / "b.csv", [f"永兴机械厂,{second},建设路8号,40"], header=header),
                     "--commit")
    assert report["imported"] == 1
    twins = [p for p in report["warnings"] if p["reason"] != "missing_column"]
    assert [(p["row"], p["reason"]) for p in twins] == [(2, "possible_duplicate")] and first in twins[0]["message"]


def test_gauss_kruger_metres_import_with_their_crs_and_are_recognised_without(run_cli, tmp_path, engine):
    from pyproj import Transformer

    x, y = Transformer.from_crs(4490, 4547, always_xy=True).transform(113.7, 34.3)
    code = make_credit_code("419999", 22)
    path = _write(tmp_path / "r.csv", [f"永兴机械厂,{code},{x:.2f},{y:.2f}"], header="单位名称,统一社会信用代码,经度,纬度")
    dry = _import(run_cli, path)
    hint = [p for p in dry["warnings"] if p["reason"] == "outside_china"]
    assert len(hint) == 1 and "--crs EPSG:4547" in hint[0]["message"]  # was: dropped, no hint
    report = _import(run_cli, path, "--crs", "EPSG:4547", "--commit")  # was: dropped as outside China
    assert [p["reason"] for p in report["warnings"] if p["reason"] != "missing_column"] == []
    record = _record(engine, code)
    assert (round(record["lon"], 6), record["source_crs"], record["located_by"]) == (113.7, "EPSG:4547", "given")

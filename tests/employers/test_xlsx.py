"""An XLSX shaped like a real government form: title rows, merged two-level header, numbers typed as numbers."""

from __future__ import annotations

import datetime as dt
import json

import openpyxl
import sqlalchemy as sa

from gisgrid.employers.identifiers import make_credit_code
from gisgrid.employers.reading import read_register


def _form(path, rows):
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "填表说明"
    notes.append(["本表由社区协管员填写，每半年更新一次。"])
    sheet = book.create_sheet("登记表")
    sheet.append(["示范市用人单位劳动保障信息调查登记表"])
    sheet.merge_cells("A1:J1")
    sheet.append(["填报单位：示范市文昌街道（盖章）", None, None, None, None, None, "填报日期：2026年10月"])
    # two-level header: single headers merged down over rows 3–4, group titles across
    sheet.append(["序号", "单位名称", "统一社会信用代码\n（18位）", "联系电话", "用工情况", None, None,
                  "诚信等级", "位置", None])
    sheet.append([None, None, None, None, "职工人数（人）", "签订劳动合同人数", "参保人数", None, "经度", "纬度"])
    for col in "ABCDH":
        sheet.merge_cells(f"{col}3:{col}4")
    sheet.merge_cells("E3:G3")
    sheet.merge_cells("I3:J3")
    for row in rows:
        sheet.append(row)
    sheet.append([])
    sheet.append(["合计", None, None, None, None])
    book.save(path)
    return path


def test_government_form_is_read(tmp_path):
    code = make_credit_code("419999", 1)
    path = _form(tmp_path / "登记表.xlsx", [
        [1, "甲公司", code, 3715551234, 12, 12, 10, "B", 113.705, 34.305],
        [2, "乙商店", make_credit_code("419999", 2), "0371-5551234", 3, 3, 3, None, None, None],
    ])
    frame = read_register(path)
    assert frame.attrs["sheet"] == "登记表" and frame.attrs["header_row"] == 4
    assert frame.index.tolist()[:2] == [5, 6]
    first = frame.loc[5]
    assert (first["name"], first["credit_code"], first["phone"], first["headcount"], first["insured"],
            first["integrity_grade"], first["lon"]) == ("甲公司", code, "3715551234", "12", "10", "B", "113.705")
    assert frame.loc[6, "phone"] == "0371-5551234"
    assert frame.attrs["columns"]["credit_code"] == "统一社会信用代码\n（18位）"


def test_government_form_imports_with_sheet_row_numbers(run_cli, tmp_path, engine):
    path = _form(tmp_path / "登记表.xlsx", [
        [1, "甲公司", make_credit_code("419999", 1), 13800000000, 12, 12, 10, "C", 113.705, 34.305],
        [2, "乙商店", make_credit_code("419999", 2), None, 3, 4, 3, None, None, None],   # signed > headcount
        [3, "丙工厂", make_credit_code("419999", 3), None, 30, 30, 30, "A", dt.datetime(2026, 1, 1), 34.3],
    ])
    report = json.loads(run_cli("employers", "import", path, "--commit", "--json").output)
    assert report["rejected"] == []
    assert [(p["row"], p["reason"], p["column"]) for p in report["warnings"]] == [
        (4, "missing_column", "地址"), (6, "above_headcount", "签订劳动合同人数"), (7, "bad_coordinates", "经度/纬度")]
    assert report["rows"] == 3 and report["imported"] == 3   # the 合计 line holds no register column
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT phone, integrity_grade, risk_level, key_flags FROM employer "
                                   "WHERE name = '甲公司'")).one()
        grades = conn.execute(sa.text("SELECT grade FROM employer_grade ORDER BY grade")).scalars().all()
    assert tuple(row) == ("13800000000", "C", 3, "诚信等级C级及以下")
    assert grades == ["A", "C"]

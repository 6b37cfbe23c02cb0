"""Reading register files as the red team found them: several sheets, hidden sheets, a wrong
<dimension>, non-record rows, text layouts, a truncated last line, line breaks in cells, headers."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import pytest

from gisgrid.employers.reading import SHEET_ROWS, column_of_header, read_register
from gisgrid.errors import InputError

HEADER = ["单位名称", "统一社会信用代码", "地址", "职工人数"]


def _firm(i: int) -> list:
    return [f"示范市测试{i:03d}有限公司", f"91419901MA{i:07d}X", f"示范市和平路{i}号", 10 + i]


def _book(path, sheets: dict[str, list[list]], hidden=()):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def _csv(path, lines: list[str], encoding="utf-8", end="\n"):
    path.write_bytes(("\n".join(lines) + end).encode(encoding))
    return path


# 1. several sheets, hidden sheets (#1, #2)

def test_every_sheet_with_a_register_header_is_read(tmp_path):
    path = _book(tmp_path / "two.xlsx", {
        "东苑社区": [HEADER, _firm(1), _firm(2), _firm(3)],
        "填表说明": [["本表每半年更新一次"]],
        "顺河社区": [["顺河社区用人单位登记表"], ["序号", "单位名称", "地址", "联系电话/手机"],
                  [1, "示范市顺河甲店", "顺河路1号", "13800000000"], [2, "示范市顺河乙店", "顺河路2号", None]],
    })
    frame = read_register(path)
    assert frame.index.tolist() == [2, 3, 4, SHEET_ROWS + 3, SHEET_ROWS + 4]
    assert frame.index.name == "row"
    assert frame.attrs["sheets"] == ["东苑社区", "顺河社区"]
    assert frame.attrs["sheet"] == "东苑社区" and frame.attrs["header_row"] == 1
    assert frame.attrs["header_rows"] == [1, 2]
    assert frame.at[SHEET_ROWS + 3, "phone"] == "13800000000"
    assert frame.at[SHEET_ROWS + 3, "credit_code"] is None or str(frame.at[SHEET_ROWS + 3, "credit_code"]) == "<NA>"
    assert frame.at[2, "headcount"] == "11"
    assert set(frame.attrs["columns"]) == {"name", "credit_code", "address", "headcount", "phone"}
    assert frame.attrs["columns"]["phone"] == "联系电话/手机"
    assert frame.attrs["ignored_columns"] == []


def test_one_sheet_still_names_its_sheet_in_a_list(tmp_path):
    frame = read_register(_book(tmp_path / "one.xlsx", {"登记表": [HEADER, _firm(1)]}))
    assert frame.attrs["sheets"] == ["登记表"] and frame.attrs["sheet"] == "登记表"
    assert frame.index.tolist() == [2]


def test_a_hidden_sheet_does_not_win_over_the_visible_register(tmp_path):
    old = ["单位名称", "统一社会信用代码", "地址", "法定代表人", "联系电话", "行业", "经济类型", "职工人数"]
    path = _book(tmp_path / "hidden.xlsx", {
        "2026年登记": [HEADER, _firm(1), _firm(2)],
        "2024年底册（勿删）": [old, _firm(7) + ["吴芳", "1", "制造业", "私营企业"]],
    }, hidden={"2024年底册（勿删）"})
    frame = read_register(path)
    assert frame.attrs["sheets"] == ["2026年登记"]
    assert frame.attrs["ignored_sheets"] == ["2024年底册（勿删）"]
    assert frame["name"].tolist() == ["示范市测试001有限公司", "示范市测试002有限公司"]


def test_hidden_sheets_are_read_when_no_visible_sheet_has_a_register(tmp_path):
    path = _book(tmp_path / "only_hidden.xlsx", {
        "说明": [["请勿修改隐藏的工作表"]],
        "数据": [HEADER, _firm(1)],
    }, hidden={"数据"})
    frame = read_register(path)
    assert frame.attrs["sheets"] == ["数据"]
    assert len(frame) == 1


# 2. a wrong <dimension> record (#3)

def _with_dimension(path, ref: str):
    """Rewrite every sheet's <dimension> as some exporting programs write it."""
    data = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                content = re.sub(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>'.encode(), content)
                assert f'<dimension ref="{ref}"/>'.encode() in content
            target.writestr(item, content)
    path.write_bytes(data.getvalue())
    return path


@pytest.mark.parametrize("ref", ["A1", "A1:B3"])
def test_a_wrong_dimension_record_loses_no_row_or_column(tmp_path, ref):
    path = _book(tmp_path / "dim.xlsx", {"Sheet": [HEADER] + [_firm(i) for i in range(1, 11)]})
    _with_dimension(path, ref)
    frame = read_register(path)
    assert len(frame) == 10
    assert frame.at[11, "headcount"] == "20" and frame.at[11, "address"] == "示范市和平路10号"


# 3. rows that are no records (#5, #13)

def test_section_total_signature_and_note_rows_are_skipped_with_reasons(tmp_path):
    path = _book(tmp_path / "sections.xlsx", {"Sheet": [
        ["示范市用人单位登记表"],
        ["序号"] + HEADER,
        [None, "一、东苑社区（共2家）"],
        [1] + _firm(1),
        [2] + _firm(2),
        [None, "小计", None, None, 21],
        ["（二）顺河社区"],
        [3] + _firm(3),
        ["合计", None, None, None, 34],
        [None, "总 计：3家"],
        [],
        ["填表人：张丽\u3000\u3000审核人：王强\u3000\u3000填表日期：2026年10月8日"],
        [None, "单位负责人：李强"],
        ["注：1.经济类型按《关于划分企业登记注册类型的规定》填写；2.本表一式两份。"],
        [None, "说明：无"],
        [None, "XX街道（共12家）"],
    ]})
    frame = read_register(path)
    assert frame["name"].tolist() == ["示范市测试001有限公司", "示范市测试002有限公司", "示范市测试003有限公司"]
    skipped = {r["row"]: (r["reason"], r["text"]) for r in frame.attrs["skipped_rows"]}
    assert skipped == {
        3: ("section", "一、东苑社区（共2家）"), 6: ("total", "小计"), 7: ("section", "（二）顺河社区"),
        9: ("total", "合计"), 10: ("total", "总 计：3家"), 11: ("blank", ""),
        12: ("signature", "填表人：张丽\u3000\u3000审核人：王强\u3000\u3000填表日期：2026年10月8日"),
        13: ("signature", "单位负责人：李强"),
        14: ("note", "注：1.经济类型按《关于划分企业登记注册类型的规定》填写；2.本表一式两份。"[:60]),
        15: ("note", "说明：无"), 16: ("section", "XX街道（共12家）"),
    }
    assert all(len(r["text"]) <= 60 for r in frame.attrs["skipped_rows"])


def test_firms_whose_names_look_like_those_rows_stay_records(tmp_path):
    names = ["合计餐饮店", "一品香饭店", "小计便利店", "总计划设计院", "注册会计师事务所", "说明书印刷厂",
             "一二三超市", "第一百货商店", "审核会计服务部", "填表人力资源服务公司", "制表机械厂", "复核检测中心",
             "共享单车运营中心", "（一）家政服务部"]
    rows = [HEADER] + [[n, None, f"示范市和平路{i}号", 3] for i, n in enumerate(names)]
    frame = read_register(_book(tmp_path / "firms.xlsx", {"Sheet": rows}))
    assert frame["name"].tolist() == names
    assert frame.attrs["skipped_rows"] == []


def test_a_pasted_page_title_and_header_are_skipped(tmp_path):
    path = _csv(tmp_path / "pages.csv", ["示范市用人单位登记表,,,", ",".join(HEADER), "甲公司,,和平路1号,5",
                                         "示范市用人单位登记表,,,", "填报单位：文昌街道（盖章）,,,", ",".join(HEADER),
                                         "乙公司,,和平路2号,6", "示范市精密仪表,,,"])
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司", "乙公司", "示范市精密仪表"]
    assert [(r["row"], r["reason"]) for r in frame.attrs["skipped_rows"]] == [
        (4, "section"), (5, "signature"), (6, "header_repeat")]


def test_a_mapping_applies_to_every_sheet(tmp_path):
    path = _book(tmp_path / "m.xlsx", {"甲": [["企业名", "人数"], ["甲公司", 5]], "乙": [["人数", "企业名"], [6, "乙公司"]]})
    frame = read_register(path, mapping={"企业名": "name", "人数": "headcount"})
    assert frame["name"].tolist() == ["甲公司", "乙公司"] and frame["headcount"].tolist() == ["5", "6"]
    assert frame.index.tolist() == [2, SHEET_ROWS + 2]


def test_a_section_title_needs_to_stand_alone(tmp_path):
    # "一、东苑社区" with an address and a headcount is a record someone numbered, not a title
    frame = read_register(_book(tmp_path / "t.xlsx", {"Sheet": [HEADER, ["一、东苑社区", None, "东苑路1号", 5]]}))
    assert frame["name"].tolist() == ["一、东苑社区"]


def test_a_total_with_a_credit_code_stays_a_record(tmp_path):
    frame = read_register(_book(tmp_path / "t.xlsx", {"Sheet": [HEADER, ["合计", "91419901MA0000001X", "x", 1]]}))
    assert len(frame) == 1 and frame.attrs["skipped_rows"] == []


def test_repeated_header_and_totals_in_a_csv(tmp_path):
    path = _csv(tmp_path / "pages.csv", [
        ",".join(HEADER), "甲公司,91419901MA0000001X,和平路1号,5",
        ",".join(HEADER), "乙公司,91419901MA0000002X,和平路2号,6",
        "合计,,,11", ",,,", "填表人：张丽,,审核人：王强,",
    ])
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司", "乙公司"]
    assert frame.attrs["skipped_rows"] == [
        {"row": 3, "reason": "header_repeat", "text": "单位名称"}, {"row": 5, "reason": "total", "text": "合计"},
        {"row": 6, "reason": "blank", "text": ""}, {"row": 7, "reason": "signature", "text": "填表人：张丽"}]


def test_a_repeated_header_without_code_or_number_columns_is_no_firm(tmp_path):
    path = _csv(tmp_path / "r.csv", ["单位名称,地址", "甲公司,和平路1号", "单位名称,地址", "乙公司,和平路2号"])
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司", "乙公司"]
    assert [r["reason"] for r in frame.attrs["skipped_rows"]] == ["header_repeat"]


def test_text_only_in_ignored_columns_is_listed(tmp_path):
    path = _csv(tmp_path / "r.csv", ["序号,单位名称,地址,备注", "1,甲公司,和平路1号,", ",,,见附件",
                                     "制表人：王强,,,"])
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司"]
    assert frame.attrs["skipped_rows"] == [{"row": 3, "reason": "blank", "text": "见附件"},
                                           {"row": 4, "reason": "signature", "text": "制表人：王强"}]


def test_empty_lines_after_the_last_row_are_not_listed(tmp_path):
    path = _csv(tmp_path / "r.csv", [",".join(HEADER), "甲公司,,和平路1号,5", ",,,", "乙公司,,和平路2号,6"]
                + [",,,"] * 500 + [""])
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司", "乙公司"]
    assert frame.attrs["skipped_rows"] == [{"row": 3, "reason": "blank", "text": ""}]
    book = _book(tmp_path / "r.xlsx", {"Sheet": [HEADER, _firm(1)] + [[None, None, " "]] * 100})
    assert read_register(book).attrs["skipped_rows"] == []


# 4. text layouts (#10)

def test_excel_unicode_text_utf16_tab_separated(tmp_path):
    lines = ["\t".join(HEADER), "甲公司\t91419901MA0000001X\t和平路1号\t5", "乙公司\t\t和平路2号\t6"]
    path = tmp_path / "unicode.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))  # BOM + UTF-16 LE, as Excel writes it
    for encoding in (None, "utf-16"):
        frame = read_register(path, encoding)
        assert frame["name"].tolist() == ["甲公司", "乙公司"]
        assert frame.at[2, "credit_code"] == "91419901MA0000001X" and frame.at[3, "headcount"] == "6"
        assert frame.attrs["encoding"] == "utf-16" and frame.attrs["separator"] == "\t"


def test_utf16_without_a_bom(tmp_path):
    path = tmp_path / "le.txt"
    path.write_bytes(("\t".join(HEADER) + "\r\n甲公司\t\t和平路1号\t5\r\n").encode("utf-16-le"))
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司"] and frame.attrs["encoding"] == "utf-16-le"


@pytest.mark.parametrize("sep", ["\t", ";"])
def test_tab_and_semicolon_separated_files(tmp_path, sep):
    lines = ["示范市用人单位登记表", sep.join(HEADER), sep.join(["甲公司", "91419901MA0000001X", "和平路1号，东侧", "5"])]
    frame = read_register(_csv(tmp_path / "s.csv", lines, "utf-8-sig"))
    assert frame.attrs["separator"] == sep and frame.attrs["header_row"] == 2
    assert frame.loc[3, ["name", "address", "headcount"]].tolist() == ["甲公司", "和平路1号，东侧", "5"]


def test_a_comma_file_with_semicolons_in_cells_stays_comma_separated(tmp_path):
    frame = read_register(_csv(tmp_path / "c.csv", [",".join(HEADER), "甲公司;总部,,和平路1号;2号,5"]))
    assert frame.attrs["separator"] == ","
    assert frame.at[2, "name"] == "甲公司;总部" and frame.at[2, "address"] == "和平路1号;2号"


@pytest.mark.parametrize("name", ["register.csv", "register.txt"])
def test_an_xlsx_named_csv_is_read_as_xlsx(tmp_path, name):
    _book(tmp_path / "real.xlsx", {"Sheet": [HEADER, _firm(1)]})
    path = tmp_path / name
    path.write_bytes((tmp_path / "real.xlsx").read_bytes())
    frame = read_register(path)
    assert frame.attrs["sheets"] == ["Sheet"] and frame["name"].tolist() == ["示范市测试001有限公司"]


def test_a_csv_named_xlsx_is_read_as_text(tmp_path):
    frame = read_register(_csv(tmp_path / "r.xlsx", [",".join(HEADER), "甲公司,,和平路1号,5"], "gbk"))
    assert frame["name"].tolist() == ["甲公司"] and frame.attrs["encoding"] == "gb18030"


@pytest.mark.parametrize("name", ["old.xls", "old.csv", "old.xlsx"])
def test_an_old_binary_xls_is_refused_with_advice(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    with pytest.raises(InputError, match=r"旧版 \.xls.*另存为 \.xlsx 或 CSV"):
        read_register(path)


def test_a_web_page_saved_as_xls_is_refused_with_advice(tmp_path):
    path = tmp_path / "export.xls"
    path.write_bytes("<html><table><tr><td>单位名称</td></tr></table></html>".encode("utf-8"))
    with pytest.raises(InputError, match="网页.*另存为 .xlsx 或 CSV"):
        read_register(path)


@pytest.mark.parametrize("content", [b"", b"  \r\n\n ", b"\xef\xbb\xbf", "\r\n".encode("utf-16")])
@pytest.mark.parametrize("name", ["empty.csv", "empty.xlsx"])
def test_an_empty_file_says_so(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match="文件为空"):
        read_register(path)


def test_a_file_with_only_a_header_has_no_rows(tmp_path):
    for path in (_csv(tmp_path / "h.csv", [",".join(HEADER)]), _csv(tmp_path / "h2.csv", [",".join(HEADER)], end=""),
                 _book(tmp_path / "h.xlsx", {"Sheet": [HEADER]})):
        frame = read_register(path)
        assert len(frame) == 0 and frame.attrs["rejected_rows"] == [] and frame.attrs["skipped_rows"] == []


# 5. a truncated last row (#11)

def test_a_last_line_cut_short_is_rejected(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_bytes(("单位名称,统一社会信用代码,地址,联系电话,行业,职工人数\n"
                      "甲公司,91419901MA0000001X,和平路1号,0371,制造业,5\n"
                      "乙公司,91419901MA0000002X,和平路2号,0371").encode("utf-8"))
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司"]
    assert frame.attrs["rejected_rows"] == [{"row": 3, "column": "联系电话", "reason": "truncated_row",
                                             "message": "文件末行不完整，可能未完整保存或上传：请重新导出/上传完整文件"}]


def test_a_file_ending_inside_an_open_quote_is_rejected(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_bytes(('单位名称,地址,职工人数\n甲公司,"和平路1号,东侧",5\n乙公司,"和平路2号\n东').encode("gbk"))
    frame = read_register(path)
    assert frame["name"].tolist() == ["甲公司"] and frame.at[2, "address"] == "和平路1号,东侧"
    assert [(r["row"], r["column"], r["reason"]) for r in frame.attrs["rejected_rows"]] == [(3, "地址",
                                                                                            "truncated_row")]
    assert "重新导出" in frame.attrs["rejected_rows"][0]["message"]


def test_a_complete_last_line_without_a_line_end_is_kept(tmp_path):
    frame = read_register(_csv(tmp_path / "ok.csv", [",".join(HEADER), "甲公司,,和平路1号,5"], end=""))
    assert frame["name"].tolist() == ["甲公司"] and frame.attrs["rejected_rows"] == []


# 6. line breaks typed in cells, wide spaces (#12)

def test_line_breaks_inside_cells_are_removed(tmp_path):
    path = _book(tmp_path / "breaks.xlsx", {"Sheet": [
        HEADER,
        ["示范市巳90\n000010餐饮店", None, "示范市新华街道\r\n工人社区金水路5号", 5],
        ["\u3000示范市甲公司\xa0", None, "Room 5\nBuilding A", "\u30007\u3000"],
        ["Demo\nTrading Co.", None, "\n", 1],
    ]})
    frame = read_register(path)
    assert frame["name"].tolist() == ["示范市巳90000010餐饮店", "示范市甲公司", "Demo Trading Co."]
    assert frame["address"].tolist()[:2] == ["示范市新华街道工人社区金水路5号", "Room 5Building A"]
    assert frame.at[4, "address"] == "" or str(frame.at[4, "address"]) in ("<NA>", "")
    assert frame.at[3, "headcount"] == "7"


def test_line_breaks_in_quoted_csv_cells(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes('单位名称,地址\n"甲\n公司","和平路\r\n1号"\n'.encode("utf-8"))
    frame = read_register(path)
    assert frame.loc[2, ["name", "address"]].tolist() == ["甲公司", "和平路1号"]


# 7. header aliases (#4)

@pytest.mark.parametrize("header,column", [
    ("联系电话/手机", "phone"), ("劳动合同签订人数", "contracts_signed"), ("已签劳动合同人数", "contracts_signed"),
    ("从业人员数", "headcount"), ("法定代表人姓名", "legal_rep"), ("开业（成立）日期", "opened_on"),
    ("社会信用代码/组织机构代码", "credit_code"), ("劳资员", "hr_contact"), ("劳资专管员", "hr_contact"),
    ("用人单位", "name"), ("Company Name", "name"), ("Company", "name"), ("USCC", "credit_code"),
    ("Address", "address"), ("Phone", "phone"), ("Employees", "headcount"), ("Longitude", "lon"),
    ("参加社保人数", "insured"), ("单位名称（盖章）", "name"), ("统一社会信用代码\n（18位）", "credit_code"),
])
def test_common_headers_are_recognised(header, column):
    assert column_of_header(header) == column


@pytest.mark.parametrize("header", ["备注", "序号", "联系人及电话", "注册号", "名称", "从业人员", "所在社区（村）"])
def test_ambiguous_headers_are_not_guessed(header):
    assert column_of_header(header) is None


def test_english_headers_are_read(tmp_path):
    frame = read_register(_csv(tmp_path / "en.csv", ["Company Name,USCC,Address,Phone,Employees,Longitude,Latitude",
                                                     "Demo Co.,91419901MA0000001X,1 Main St,0371,5,113.7,34.3"]))
    assert frame.loc[2, ["name", "credit_code", "phone", "headcount", "lon"]].tolist() == [
        "Demo Co.", "91419901MA0000001X", "0371", "5", "113.7"]

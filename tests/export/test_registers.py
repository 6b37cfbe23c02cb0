"""Registers (一格一册) and the 四定 roster, read back as a person's spreadsheet would be."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from gisgrid.errors import InputError, NotFound
from gisgrid.export.registers import (
    HEADER_ROW, MAIN_COLUMNS, MORE_COLUMNS, REGISTER_COLUMNS, SIGN_OFF, export_registers, export_roster, register_flags,
)

TODAY = dt.date(2026, 11, 20)


def _db_employers(session, grid_code: str) -> dict[str, str | None]:
    """name|id → credit code for every employer assigned inside a grid, straight from SQL."""
    rows = session.execute(sa.text("""
        WITH RECURSIVE scope AS (
            SELECT g.id FROM grid g JOIN generation n ON n.id = g.generation_id
            WHERE n.status = 'active' AND g.code = :code
            UNION ALL SELECT g.id FROM grid g JOIN scope s ON g.parent_id = s.id)
        SELECT e.id, e.credit_code FROM assignment a JOIN employer e ON e.id = a.employer_id
        JOIN generation n ON n.id = a.generation_id AND n.status = 'active'
        WHERE a.grid_id IN (SELECT id FROM scope)
    """), {"code": grid_code}).all()
    return {r.id: r.credit_code for r in rows}


def test_register_one_sheet_per_community_with_codes_as_text(demo_session, tmp_path):
    path = tmp_path / "xinhua.xlsx"
    report = export_registers(demo_session, path, grid_code="419901001", today=TODAY)
    assert report["level"] == 3 and len(report["sheets"]) == 20
    book = openpyxl.load_workbook(path)
    # 目录, then each community's register and its continuation sheet (the other fields)
    assert book.sheetnames[0] == "目录" and len(book.sheetnames) == 1 + 2 * 20
    total = 0
    for i, sheet_info in enumerate(report["sheets"]):
        ws, more = book.worksheets[1 + 2 * i], book.worksheets[2 + 2 * i]
        code = sheet_info["code"]
        assert ws.title.startswith(code) and more.title.startswith(code) and more.title.endswith(" 续")
        assert ws.cell(1, 1).value.startswith(f"{code} ")
        assert "四定人员：" in ws.cell(3, 1).value and "协管员" in ws.cell(3, 1).value
        assert [c.value for c in ws[HEADER_ROW + 1]] == [c[0] for c in MAIN_COLUMNS]
        assert [c.value for c in more[HEADER_ROW + 1]] == [c[0] for c in MORE_COLUMNS]
        expected = _db_employers(demo_session, code)
        data = list(ws.iter_rows(min_row=HEADER_ROW + 2, max_row=HEADER_ROW + 1 + len(expected), values_only=True))
        rest = list(more.iter_rows(min_row=HEADER_ROW + 2, max_row=HEADER_ROW + 1 + len(expected), values_only=True))
        assert len(data) == len(rest) == len(expected) == sheet_info["employers"]
        credit = [row[1] for row in data]
        assert sorted(c for c in credit if c) == sorted(c for c in expected.values() if c)
        assert [r[:2] for r in rest] == [(r[0], r[2]) for r in data]  # the sheets pair by 序号 and name
        assert all(isinstance(r[10], dt.datetime) for r in data if r[10] is not None)  # 调查日期 is a date
        for cell in ws.iter_rows(min_row=HEADER_ROW + 2, max_row=HEADER_ROW + 1 + len(expected), min_col=2, max_col=2):
            if cell[0].value is not None:
                assert cell[0].data_type == "s" and len(cell[0].value) == 18
        risk = {row[11] for row in data}
        assert risk <= {"低风险", "一般风险", "较高风险", "高风险"}
        # every field of the survey form is on one of the two sheets
        assert {c[0] for c in MAIN_COLUMNS} | {c[0] for c in MORE_COLUMNS} == {c[0] for c in REGISTER_COLUMNS}
        for sheet in (ws, more):
            # the foot: who filled it in, who checked it, the date
            assert sheet.cell(HEADER_ROW + 3 + len(expected), 1).value == SIGN_OFF
            _assert_prints_readably(sheet)
        total += len(data)
    assert total == len(_db_employers(demo_session, "419901001")) == report["employers"]


def _assert_prints_readably(ws, paper: str = "A4", header_row: int = HEADER_ROW) -> None:
    """Read the print set-up back: A4 landscape, header repeated, one page wide, and the
    scale that fitting the columns' widths to the page gives times the cells' font ≥ 9 pt."""
    from gisgrid.export.printing import PAPERS, fit_scale

    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == PAPERS[paper][0]
    assert ws.print_title_rows == f"${header_row + 1}:${header_row + 1}"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (1, None)
    assert ws.page_setup.fitToHeight == 0
    # xlsxwriter stores a width w as (7w + 5) / 7 characters; fit_scale takes w.
    # openpyxl keeps neighbouring columns of one width as one dimension (min..max)
    stored = [dim.width for dim in ws.column_dimensions.values() for _ in range(dim.min, dim.max + 1)]
    widths = [(w * 7 - 5) / 7 for w in stored]
    scale = fit_scale(widths, paper, margin_in=float(ws.page_margins.left))
    assert float(ws.page_margins.left) == float(ws.page_margins.right)
    fonts = {cell.font.sz for row in ws.iter_rows(min_row=header_row + 1, max_row=header_row + 30) for cell in row
             if cell.value is not None}
    assert fonts and min(fonts) * scale >= 9, (scale, fonts)


def test_register_of_the_whole_city_covers_every_assigned_employer(demo_session, tmp_path):
    report = export_registers(demo_session, tmp_path / "all.xlsx", today=TODAY)
    assigned = demo_session.execute(sa.text(
        "SELECT count(*) FROM assignment a JOIN generation n ON n.id = a.generation_id "
        "WHERE n.status = 'active' AND a.grid_id IS NOT NULL")).scalar()
    assert len(report["sheets"]) == 250 and report["employers"] == assigned
    book = openpyxl.load_workbook(tmp_path / "all.xlsx", read_only=True)
    assert book.sheetnames[-2:] == ["未落入网格", "未落入网格 续"]
    outside = [r for r in book["未落入网格"].iter_rows(min_row=HEADER_ROW + 2, values_only=True)
               if isinstance(r[0], int)]  # numbered rows, not the sign-off line
    total = demo_session.execute(sa.text("SELECT count(*) FROM employer")).scalar()
    assert len(outside) == total - assigned  # with them the register lists every employer


def test_register_split_writes_one_file_per_grid(demo_session, tmp_path):
    out = tmp_path / "split"
    report = export_registers(demo_session, out, grid_code="419901002", split=True, today=TODAY)
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == len(report["sheets"]) > 1
    assert all(name.startswith("419901002") and name.endswith(".xlsx") for name in files)
    ws = openpyxl.load_workbook(out / files[0]).worksheets[0]
    assert ws.cell(1, 1).value.startswith(files[0].split("_")[0])


def test_register_at_street_level_puts_descendants_on_the_street_sheet(demo_session, tmp_path):
    report = export_registers(demo_session, tmp_path / "s.xlsx", grid_code="419901001", level=2, today=TODAY)
    assert [s["code"] for s in report["sheets"]] == ["419901001"]
    assert report["employers"] == len(_db_employers(demo_session, "419901001"))


@pytest.mark.parametrize("kwargs, error", [
    ({"grid_code": "nope"}, NotFound),
    ({"level": 7}, InputError),
    ({"grid_code": "419901001001", "level": 2}, InputError),
])
def test_register_refuses_bad_requests(demo_session, tmp_path, kwargs, error):
    with pytest.raises(error):
        export_registers(demo_session, tmp_path / "x.xlsx", **kwargs)


def test_register_flags():
    frame = pd.DataFrame({"risk_level": [3, 0, 1], "surveyed_on": [dt.date(2026, 10, 1), None, dt.date(2026, 1, 1)],
                          "lon": [113.7, 113.7, None]})
    assert register_flags(frame, TODAY).tolist() == ["重点监管", "超过半年未调查", "超过半年未调查；未定位"]


def test_roster_lists_every_grid_with_its_staff(demo_session, tmp_path):
    path = tmp_path / "roster.xlsx"
    report = export_roster(demo_session, path, today=TODAY)
    ws = openpyxl.load_workbook(path).worksheets[0]
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(rows) == report["rows"]
    assert [c.value for c in ws[4]][:6] == ["网格编码", "网格名称", "级别", "类型", "姓名", "职务"]
    people = [r for r in rows if r[4] != "未配备"]
    assert len(people) == report["people"] == 2 * 265  # demo: two people per street and community
    assert {r[5] for r in people} == {"专职监察员", "兼职监察员", "协管员"}
    assert all(isinstance(r[0], str) for r in rows)
    assert [r[0] for r in rows if r[4] == "未配备"] == ["419901"]  # the city grid itself has nobody
    phones = [c.value for c in ws["G"][4:] if c.value]
    assert phones and all(isinstance(p, str) and p.startswith("1") and len(p) == 11 for p in phones)
    assert ws.print_title_rows == "$4:$4" and ws.page_setup.orientation == "landscape"
    _assert_prints_readably(ws, header_row=3)  # it printed at ≈ 7.5 pt before


def test_cli_register_and_roster(demo_cli, tmp_path):
    out = tmp_path / "r.xlsx"
    result = demo_cli("export", "register", "-o", out, "--grid", "419901001001", "--json")
    assert '"employers"' in result.output and out.exists()
    demo_cli("export", "roster", "-o", tmp_path / "ro.xlsx")
    assert (tmp_path / "ro.xlsx").exists()
    bad = demo_cli("export", "register", "-o", tmp_path / "r.csv", expect=1)
    assert "expected a .xlsx path" in bad.output
    split = demo_cli("export", "register", "-o", tmp_path / "dir", "--grid", "419901003", "--split")
    assert "files in" in split.output

"""The statistics table (网格统计表) as filed: title, unit, date, totals, A4 print set-up read back."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest

from gisgrid.config import Settings
from gisgrid.export.printing import PAPERS, fit_scale
from gisgrid.export.statistics import HEADER_TOP, export_statistics

TODAY = dt.date(2026, 11, 20)


def _printed_pt(ws) -> float:
    """Smallest font of the table times the scale fitting its columns to the page width gives."""
    # openpyxl keeps neighbouring columns of one width as one dimension (min..max)
    stored = [dim.width for dim in ws.column_dimensions.values() for _ in range(dim.min, dim.max + 1)]
    widths = [(w * 7 - 5) / 7 for w in stored]
    scale = fit_scale(widths, "A4", margin_in=float(ws.page_margins.left))
    fonts = {c.font.sz for row in ws.iter_rows(min_row=HEADER_TOP + 1) for c in row
             if c.value is not None}
    return min(fonts) * scale


@pytest.mark.parametrize("kwargs, title, rows, total_name", [
    ({"level": 2}, "示范市劳动保障监察网格统计表", 15, "合计（示范市）"),
    ({"level": 3}, "示范市劳动保障监察网格统计表", 250, "合计（示范市）"),   # with the 上级网格 column
    ({"grid_code": "419901001"}, "新华街道劳动保障监察网格统计表", 20, "合计（新华街道）"),
])
def test_xlsx_is_titled_totalled_and_prints_readably(demo_session, demo_settings, tmp_path, kwargs, title, rows,
                                                     total_name):
    path = tmp_path / "统计表.xlsx"
    report = export_statistics(demo_session, path, settings=demo_settings, today=TODAY, **kwargs)
    assert report["grids"] == rows and report["title"] == title
    ws = openpyxl.load_workbook(path).worksheets[0]
    assert ws["A1"].value == title
    assert ws["A2"].value.startswith("填报单位：示范市人力资源和社会保障局") and "数据日期：2026-11-20" in ws["A2"].value
    body = [r for r in ws.iter_rows(min_row=HEADER_TOP + 3, values_only=True)
            if r[0] and (str(r[0]).isdigit() or str(r[1] or "").startswith("合计"))]
    assert len(body) == rows + 1 and body[-1][1] == total_name
    employers_col = 3 if kwargs.get("level") == 3 else 2
    assert sum(r[employers_col] for r in body[:-1]) == body[-1][employers_col]
    footer = [r[0] for r in ws.iter_rows(values_only=True) if r[0] and str(r[0]).startswith("填表人")]
    assert footer and "审核人" in footer[0] and "日期" in footer[0]
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == PAPERS["A4"][0]
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == f"${HEADER_TOP + 1}:${HEADER_TOP + 2}"
    assert _printed_pt(ws) >= 9


def test_csv_and_cli(demo_cli, tmp_path):
    out = tmp_path / "s.csv"
    demo_cli("export", "stats", "-o", out, "--grid", "419901002")
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert table[0][:3] == ["网格编码", "网格名称", "用人单位（家）"] and table[-1][1] == "合计（文昌街道）"
    bad = demo_cli("export", "stats", "-o", tmp_path / "s.pdf", expect=1)
    assert "应为 .xlsx 或 .csv 文件" in bad.output
    bad = demo_cli("export", "stats", "-o", out, "--level", "7", expect=1)
    assert "本网格版本有第 1、2、3 级" in bad.output


def test_settings_name_the_unit(demo_session, tmp_path):
    settings = Settings(home=tmp_path, issuer="某县人社局", city_name="某县")
    export_statistics(demo_session, tmp_path / "x.xlsx", level=2, settings=settings, today=TODAY)
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx").worksheets[0]
    assert ws["A1"].value == "示范市劳动保障监察网格统计表"  # the city grid's own name
    assert ws["A2"].value.startswith("填报单位：某县人社局")

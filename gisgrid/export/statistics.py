"""The statistics table (网格统计表) for filing: XLSX ready to print, or CSV.

The XLSX carries the title (``示范市劳动保障监察网格统计表``), the filing unit (填报单位, the
issuer), the data date (数据日期) and generation, two header rows (the groups and the
columns), one row per grid, the parent's totals row, notes on how each figure is counted,
and 填表人 / 审核人 / 日期 lines. Print set-up: A4 landscape, one page wide at ≥ 90 % (10 pt
text prints at ≥ 9 pt), the header rows repeated on every page, page numbers. Every name is
written as text, never as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import IO

import numpy as np
from sqlalchemy.orm import Session

from gisgrid.analysis.stats import STAT_COLUMNS, GridStatistics, grid_statistics
from gisgrid.config import Settings
from gisgrid.errors import InputError
from gisgrid.export.data import describe_target, find_export_generation
from gisgrid.export.printing import open_workbook, print_on

__all__ = ["export_statistics", "write_statistics_sheet", "statistics_title", "FORMATS"]

FORMATS = (".xlsx", ".csv")
FONT_PT = 10
CODE_W, NAME_W, PARENT_W, VALUE_W, WIDE_W = 11, 10, 8, 6, 8
WIDE = {"headcount"}  # a city's workers run to seven digits
HEADER_TOP = 4  # rows 0-3: title, unit and date, scope, blank
NOTES = (
    "说明：1. 各项均含下级网格；四定人员为数据日期在岗人员，一人负责多个网格的只计一次；",
    "2. 劳动合同签订率、社会保险参保率 = 签订（参保）人数 ÷ 职工人数，只计两项都填报的单位；“—”为无数据；",
    "3. 待受理投诉为尚未决定受理与否的投诉，超期为已过 5 个工作日受理期限；在办案件为未结案件，超期为已过办结期限（含延长）。",
)


def statistics_title(stats: GridStatistics, city_name: str) -> str:
    """``示范市劳动保障监察网格统计表`` (the city) or ``新华街道劳动保障监察网格统计表``."""
    parent = stats.parent
    return f"{parent['name'] if parent is not None else city_name}劳动保障监察网格统计表"


def export_statistics(session: Session, path: str | Path | IO[bytes], level: int | None = None,
                      grid_code: str | None = None, settings: Settings | None = None,
                      generation: str | None = None, today: dt.date | None = None, fmt: str | None = None) -> dict:
    """Write the statistics of the grids of ``level`` (inside ``grid_code``) as XLSX or CSV.

    Parameters
    ----------
    path : str, Path or binary file
        ``.xlsx`` or ``.csv`` (a stream needs ``fmt``).
    level, grid_code
        As :func:`gisgrid.analysis.stats.grid_statistics`.
    fmt : {".xlsx", ".csv"}, optional
        Default: the suffix of ``path``.

    Returns
    -------
    dict
        ``path``, ``level``, ``grids`` (rows), ``parent`` (code of the totals row), ``title``.

    Examples
    --------
    >>> export_statistics(session, "/tmp/统计表.xlsx", level=2)["grids"]   # doctest: +SKIP
    15
    """
    settings = settings or Settings(home=Path("."))
    fmt = (fmt or Path(str(describe_target(path))).suffix).lower()
    if fmt not in FORMATS:
        raise InputError(f"输出文件为 {describe_target(path)!r}；应为 .xlsx 或 .csv 文件")
    gen = find_export_generation(session, generation)
    stats = grid_statistics(session, gen.id, level, within=grid_code, today=today,
                            stale_months=settings.stale_months)
    title = statistics_title(stats, settings.city_name)
    if fmt == ".csv":
        data = statistics_csv(stats)
        if isinstance(path, (str, Path)):
            Path(path).write_bytes(data)
        else:
            path.write(data)
    else:
        with open_workbook(path) as book:
            write_statistics_sheet(book, stats, title, settings.issuer)
    return {"path": describe_target(path), "level": stats.level, "grids": int(len(stats.rows)),
            "parent": stats.parent["code"] if stats.parent is not None else None, "title": title,
            "generation": gen.name, "format": fmt.lstrip(".")}


def _with_parent(stats: GridStatistics) -> bool:
    """A parent column when the rows lie in more than one grid (communities of the whole city)."""
    return stats.rows["parent_code"].nunique() > 1


def table_widths(stats: GridStatistics) -> list[float]:
    """Column widths of the printed table (character units)."""
    return [CODE_W, NAME_W, *([PARENT_W] if _with_parent(stats) else []),
            *[WIDE_W if c.key in WIDE else VALUE_W for c in STAT_COLUMNS]]


def _cell(column, value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return round(float(value), 1) if column.is_share else int(value)


def write_statistics_sheet(book, stats: GridStatistics, title: str, issuer: str, sheet_name: str | None = None):
    """Add the statistics of ``stats`` as one printable sheet of ``book`` (xlsxwriter)."""
    base = {"font_name": "宋体", "font_size": FONT_PT, "valign": "vcenter"}
    fmt = {
        "title": book.add_format({**base, "bold": True, "font_size": 16, "align": "center"}),
        "meta": book.add_format(base),
        "head": book.add_format({**base, "bold": True, "bg_color": "#DDE5EC", "border": 1, "text_wrap": True,
                                 "align": "center"}),
        "text": book.add_format({**base, "border": 1, "num_format": "@", "text_wrap": True}),
        "int": book.add_format({**base, "border": 1, "num_format": "#,##0"}),
        "pct": book.add_format({**base, "border": 1, "num_format": "0.0"}),
        "total_text": book.add_format({**base, "border": 1, "bold": True, "bg_color": "#F3F6F9", "num_format": "@"}),
        "total_int": book.add_format({**base, "border": 1, "bold": True, "bg_color": "#F3F6F9",
                                      "num_format": "#,##0"}),
        "total_pct": book.add_format({**base, "border": 1, "bold": True, "bg_color": "#F3F6F9", "num_format": "0.0"}),
        "note": book.add_format({**base, "text_wrap": True, "valign": "top"}),
    }
    sheet = book.add_worksheet((sheet_name or "网格统计")[:31])
    parent_col = _with_parent(stats)
    widths = table_widths(stats)
    last = len(widths) - 1
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width)
    sheet.merge_range(0, 0, 0, last, title, fmt["title"])
    sheet.set_row(0, 24)
    sheet.merge_range(1, 0, 1, last, f"填报单位：{issuer}    数据日期：{stats.on.isoformat()}    "
                      f"网格版本：{stats.generation}", fmt["meta"])
    scope = stats.parent["name"] if stats.parent is not None else "全部网格"
    sheet.merge_range(2, 0, 2, last, f"范围：{scope}    统计单元：第 {stats.level} 级网格（{stats.level_label}），"
                      f"共 {len(stats.rows)} 个", fmt["meta"])
    top, sub = HEADER_TOP, HEADER_TOP + 1
    fixed = ["网格编码", "网格名称", *(["上级网格"] if parent_col else [])]
    for col, head in enumerate(fixed):
        sheet.merge_range(top, col, sub, col, head, fmt["head"])
    first = len(fixed)
    groups: list[tuple[str, int, int]] = []
    for i, column in enumerate(STAT_COLUMNS):
        col = first + i
        if groups and groups[-1][0] == column.group:
            groups[-1] = (column.group, groups[-1][1], col)
        else:
            groups.append((column.group, col, col))
        unit = "（%）" if column.is_share else f"（{column.unit}）"
        sheet.write_string(sub, col, column.label + unit, fmt["head"])
    for group, start, end in groups:
        if start == end:
            sheet.write_string(top, start, group, fmt["head"])
        else:
            sheet.merge_range(top, start, top, end, group, fmt["head"])
    sheet.set_row(sub, 58)
    row = sub + 1
    for code, record in stats.rows.iterrows():
        sheet.write_string(row, 0, str(code), fmt["text"])
        sheet.write_string(row, 1, str(record["name"]), fmt["text"])
        if parent_col:
            sheet.write_string(row, 2, str(record["parent_name"] or ""), fmt["text"])
        _write_values(sheet, row, first, record, fmt, "")
        row += 1
    total = stats.total
    label = f"合计（{total['name']}）" if stats.parent is not None else "合计"
    sheet.write_string(row, 0, str(total["code"]), fmt["total_text"])
    sheet.write_string(row, 1, label, fmt["total_text"])
    if parent_col:
        sheet.write_blank(row, 2, None, fmt["total_text"])
    _write_values(sheet, row, first, total, fmt, "total_")
    row += 2
    for note in NOTES:
        sheet.merge_range(row, 0, row, last, note, fmt["note"])
        sheet.set_row(row, 26)
        row += 1
    row += 1
    sheet.merge_range(row, 0, row, last, "填表人：__________        审核人：__________        "
                      "日期：______年____月____日", fmt["meta"])
    print_on(sheet, "A4", (top, sub), "")
    sheet.freeze_panes(sub + 1, 2)
    return sheet


def _write_values(sheet, row: int, first: int, record, fmt: dict, prefix: str) -> None:
    for i, column in enumerate(STAT_COLUMNS):
        value = _cell(column, record[column.key])
        style = fmt[prefix + ("pct" if column.is_share else "int")]
        if value is None:
            sheet.write_string(row, first + i, "—", style)
        else:
            sheet.write_number(row, first + i, value, style)


def statistics_csv(stats: GridStatistics) -> bytes:
    """The table as CSV (UTF-8 with BOM for Excel); formula-looking text gets a leading ``'``."""
    parent_col = _with_parent(stats)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["网格编码", "网格名称", *(["上级网格"] if parent_col else []),
                     *[c.label + ("（%）" if c.is_share else f"（{c.unit}）") for c in STAT_COLUMNS]])

    def line(code, name, parent, record):
        values = ["" if _cell(c, record[c.key]) is None else _cell(c, record[c.key]) for c in STAT_COLUMNS]
        return [_safe(str(code)), _safe(str(name)), *([_safe(str(parent or ""))] if parent_col else []), *values]

    for code, record in stats.rows.iterrows():
        writer.writerow(line(code, record["name"], record["parent_name"], record))
    total = stats.total
    writer.writerow(line(total["code"], f"合计（{total['name']}）" if stats.parent is not None else "合计", "", total))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe(text: str) -> str:
    # A cell that a spreadsheet would read as a formula is written as text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

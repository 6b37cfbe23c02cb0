"""Employer registers per grid (一格一册) as XLSX, ready to print.

One sheet per grid (or one file per grid with ``split``), headed by the grid's code, name
and 四定 staff, then one row per employer with the survey form's fields, the risk level
(Chinese label), the rule that set it and flags. Credit codes, organisation codes and
phone numbers are written as text: Excel would keep only 15 digits of a number and drop
leading zeros.

Printed at a readable size: the fields an upper level reads (:data:`MAIN_COLUMNS`: code,
name, address, legal representative, phone, industry, workers, contracts, insured, survey
date, risk, flags) fill one A4 landscape width at ≥ 90 % (10 pt text prints at ≥ 9 pt);
the other fields (:data:`MORE_COLUMNS`) are on a continuation sheet (``…续``) with the same
序号 and name, so the two read side by side. Both end with 填表人 / 审核人 / 日期
lines; the header row repeats on every page.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import IO

import pandas as pd
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.config import DEFAULT_STALE_MONTHS, StaffingRule
from gisgrid.access.staffing import DEFAULT_RULES, staffing_check
from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.errors import InputError
from gisgrid.export.data import (
    describe_target,
    KIND_LABELS, ROLE_LABELS, find_export_generation, find_grid, grid_levels, read_employers, read_grids,
    read_staff, read_unassigned_employers,
)
from gisgrid.export.printing import open_workbook, print_on

__all__ = ["REGISTER_COLUMNS", "MAIN_COLUMNS", "MORE_COLUMNS", "SIGN_OFF", "export_registers", "register_flags",
           "write_register_books"]

#: (header, source column, width, kind): kind "text" is always written as a string.
REGISTER_COLUMNS = [
    ("序号", None, 5, "int"),
    ("统一社会信用代码", "credit_code", 21, "text"),
    ("组织机构代码", "org_code", 12, "text"),
    ("单位名称", "name", 28, "text"),
    ("单位地址", "address", 30, "text"),
    ("法定代表人", "legal_rep", 9, "text"),
    ("劳资联系人", "hr_contact", 9, "text"),
    ("联系电话", "phone", 13, "text"),
    ("行业", "industry", 14, "text"),
    ("经济类型", "ownership", 12, "text"),
    ("职工人数", "headcount", 7, "int"),
    ("签订劳动合同人数", "contracts_signed", 8, "int"),
    ("参加社会保险人数", "insured", 8, "int"),
    ("欠薪月数", "wage_arrears_months", 6, "int"),
    ("欠缴社保费月数", "fee_arrears_months", 7, "int"),
    ("开业日期", "opened_on", 11, "date"),
    ("调查日期", "surveyed_on", 11, "date"),
    ("风险等级", "risk_label", 9, "text"),
    ("风险依据", "risk_rule", 30, "text"),
    ("标记", "flags", 18, "text"),
    ("经度", "lon", 11, "float"),
    ("纬度", "lat", 10, "float"),
]
#: The printed register (sheet 1 of each grid): what an upper level reads, one A4 width.
MAIN_COLUMNS = [
    ("序号", None, 4, "int"),
    ("统一社会信用代码", "credit_code", 18, "text"),
    ("单位名称", "name", 21, "text"),
    ("单位地址", "address", 21, "text"),
    ("法定代表人", "legal_rep", 7, "text"),
    ("联系电话", "phone", 11, "text"),
    ("行业", "industry", 9, "text"),
    ("职工人数", "headcount", 6, "int"),
    ("签订劳动合同人数", "contracts_signed", 6, "int"),
    ("参加社会保险人数", "insured", 6, "int"),
    ("调查日期", "surveyed_on", 10, "date"),
    ("风险等级", "risk_label", 7, "text"),
    ("标记", "flags", 18, "text"),
]
#: The continuation sheet: the same 序号 and name, then every other field.
MORE_COLUMNS = [
    ("序号", None, 4, "int"),
    ("单位名称", "name", 24, "text"),
    ("组织机构代码", "org_code", 11, "text"),
    ("劳资联系人", "hr_contact", 8, "text"),
    ("经济类型", "ownership", 12, "text"),
    ("欠薪月数", "wage_arrears_months", 6, "int"),
    ("欠缴社保费月数", "fee_arrears_months", 6, "int"),
    ("开业日期", "opened_on", 10, "date"),
    ("风险依据", "risk_rule", 34, "text"),
    ("经度", "lon", 10, "float"),
    ("纬度", "lat", 9, "float"),
]
#: Sign-off line at the foot of every register sheet.
SIGN_OFF = "填表人：____________        审核人：____________        日期：________年______月______日"
_WRAPPED = {"name", "address", "risk_rule", "industry", "ownership"}
HEADER_ROW = 5  # rows 0-4 carry the grid heading
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def register_flags(frame: pd.DataFrame, today: dt.date, stale_months: int = DEFAULT_STALE_MONTHS) -> pd.Series:
    """Flags a person should see beside each employer (Chinese, ``；``-separated).

    Examples
    --------
    >>> f = pd.DataFrame({"risk_level": [3, 0], "surveyed_on": [dt.date(2026, 1, 1), None], "lon": [113.7, None]})
    >>> register_flags(f, dt.date(2026, 11, 1)).tolist()
    ['重点监管；超过半年未调查', '超过半年未调查；未定位']
    """
    surveyed = pd.to_datetime(frame.get("surveyed_on"), errors="coerce")
    stale = surveyed.isna() | (surveyed < pd.Timestamp(today) - pd.DateOffset(months=stale_months))
    parts = [
        (frame["risk_level"].fillna(0).astype(int) >= 3, "重点监管"),
        (stale, "超过半年未调查" if stale_months == 6 else f"超过{stale_months}个月未调查"),
        (frame.get("lon", pd.Series(index=frame.index, dtype=float)).isna(), "未定位"),
    ]
    flags = pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)
    for mask, text in parts:
        for idx in mask.index[mask.fillna(False).astype(bool)]:
            flags[idx].append(text)
    return flags.map("；".join)


def export_registers(session: Session, path: str | Path | IO[bytes], grid_code: str | None = None,
                     level: int | None = None, split: bool = False, generation: str | None = None,
                     today: dt.date | None = None, stale_months: int = DEFAULT_STALE_MONTHS) -> dict:
    """Write the employer register of every grid of ``level`` (inside ``grid_code``).

    Parameters
    ----------
    path : str, Path or binary file
        An ``.xlsx`` file; with ``split`` a directory that receives one file per grid.
    grid_code : str, optional
        Only grids inside this one (or this grid alone when it is at ``level``).
    level : int, optional
        Level of the grids that get a register; default the finest level present (the
        grids employers are assigned to), or ``grid_code``'s own level if it is finer.
    split : bool
        One file per grid (``<code>_<name>.xlsx``) in the directory ``path``.

    Returns
    -------
    dict
        ``path``, ``files``, ``sheets`` (one per grid: code, name, employers), ``employers``.

    Examples
    --------
    >>> export_registers(session, "/tmp/registers.xlsx", grid_code="419901001")  # doctest: +SKIP
    {'path': '/tmp/registers.xlsx', 'files': ['/tmp/registers.xlsx'], 'sheets': [...], 'employers': 4187}

    A grid code that does not exist raises ``NotFound``; ``split`` with a file object
    raises ``InputError``.
    """
    today = today or clock.today()
    gen = find_export_generation(session, generation)
    levels = grid_levels(session, gen)
    if not levels:
        raise InputError(f"generation {gen.name!r} has no grids")
    scope = find_grid(session, gen, grid_code) if grid_code else None
    if level is None:
        level = max(levels[-1], scope["level"]) if scope else levels[-1]
    if level not in levels:
        raise InputError(f"level was {level!r}; this generation has levels {levels}")
    grids = read_grids(session, gen, level=level, within_code=grid_code)
    if scope and scope["level"] > level:
        raise InputError(f"grid {grid_code!r} is at level {scope['level']}; --level was {level}; expected "
                         f"{scope['level']} or finer")
    if grids.empty:
        raise InputError(f"no level-{level} grids inside {grid_code or 'the city'}")
    employers = read_employers(session, gen, grid_code)
    employers = _attach_register_grid(session, gen, employers, grids)
    staff = read_staff(session, gen, grid_code, on=today)
    outside = read_unassigned_employers(session, gen) if grid_code is None and not split else None
    meta = {"generation": gen.name, "today": today, "stale_months": stale_months}
    sheets, files = write_register_books(path, grids, employers, staff, meta, outside=outside, split=split)
    return {"path": describe_target(path), "files": files, "level": level, "generation": gen.name,
            "sheets": sheets, "employers": int(sum(s["employers"] for s in sheets))}


def write_register_books(path, grids, employers: pd.DataFrame, staff: pd.DataFrame, meta: dict,
                         outside: pd.DataFrame | None = None, split: bool = False) -> tuple[list, list]:
    """Write the registers of ``grids`` from frames already read (``employers`` with its
    ``register_code``): one workbook at ``path`` (目录, each grid's two sheets, ``outside``), or
    with ``split`` one workbook per grid in the directory ``path``. Returns (sheets, files)."""
    employers = employers.copy()
    employers["risk_label"] = employers["risk_level"].map(lambda v: RISK_LEVELS.get(int(v), ("",))[0])
    employers["flags"] = register_flags(employers, meta["today"], meta["stale_months"])
    cells = _prepare_cells(employers)
    staff = _staff_by_grid(staff)
    rows_of = {code: positions for code, positions in employers.groupby("register_code", sort=False).indices.items()}
    sheets, files = [], []
    if split:
        if not isinstance(path, (str, Path)):
            raise InputError("--split writes one file per grid; give a directory path, not a stream")
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        for grid in grids.itertuples():
            fname = out / f"{grid.code}_{_safe(grid.name)}.xlsx"
            with _workbook(fname) as book:
                sheets.append(_write_grid_sheet(book, grid, cells, rows_of.get(grid.code, ()), staff, meta))
            files.append(str(fname))
        return sheets, files
    with _workbook(path, len(employers)) as book:
        _write_index_sheet(book, grids, meta, len(outside) if outside is not None else None)
        for grid in grids.itertuples():
            sheets.append(_write_grid_sheet(book, grid, cells, rows_of.get(grid.code, ()), staff, meta))
        if outside is not None:
            _write_outside_sheet(book, outside, meta)
    files.append(describe_target(path))
    return sheets, files


def _attach_register_grid(session, gen, employers: pd.DataFrame, grids) -> pd.DataFrame:
    """Map each employer's assigned (finest) grid to its ancestor at the register level."""
    everything = read_grids(session, gen)
    parent = dict(zip(everything["id"], everything["parent_code"]))
    by_code = dict(zip(everything["code"], everything["id"]))
    wanted = set(grids["code"])
    code_of = dict(zip(everything["id"], everything["code"]))
    owner: dict[int, str | None] = {}
    for gid in employers["grid_id"].unique():
        node = int(gid)
        while node is not None and code_of.get(node) not in wanted:
            pcode = parent.get(node)
            node = by_code.get(pcode) if pcode else None
        owner[int(gid)] = code_of.get(node) if node is not None else None
    employers = employers.copy()
    employers["register_code"] = employers["grid_id"].map(lambda g: owner[int(g)])
    return employers


def _safe(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "_", name)[:40]


#: Up to this many employers a register's sheets are assembled in memory (faster, ~2 kB each).
IN_MEMORY_ROWS = 100_000


def _workbook(target, rows: int = 0):
    return open_workbook(target, in_memory=rows <= IN_MEMORY_ROWS)


def _formats(book) -> dict:
    cache = getattr(book, "_gisgrid_formats", None)
    if cache is None:
        base = {"font_name": "宋体", "font_size": FONT_PT, "valign": "vcenter"}
        cache = {
            "title": book.add_format({**base, "bold": True, "font_size": 14, "align": "center"}),
            "meta": book.add_format({**base, "text_wrap": True}),
            "head": book.add_format({**base, "bold": True, "bg_color": "#DDE5EC", "border": 1, "text_wrap": True,
                                     "align": "center"}),
            "text": book.add_format({**base, "border": 1, "num_format": "@"}),
            "wrap": book.add_format({**base, "border": 1, "text_wrap": True, "num_format": "@"}),
            "int": book.add_format({**base, "border": 1, "num_format": "0"}),
            "float": book.add_format({**base, "border": 1, "num_format": "0.000000"}),
            "date": book.add_format({**base, "border": 1, "num_format": "yyyy-mm-dd"}),
            "risk3": book.add_format({**base, "border": 1, "font_color": "#C62828", "bold": True}),
            "warn": book.add_format({**base, "border": 1, "font_color": "#C62828", "text_wrap": True}),
            "link": book.add_format({**base, "border": 1, "font_color": "#1565C0", "underline": 1}),
            "sign": book.add_format({**base}),
            # 配备情况 below / above the staffing standard (roster)
            "short": book.add_format({**base, "border": 1, "bold": True, "font_color": "#B71C1C",
                                      "bg_color": "#FDE0DC"}),
            "surplus": book.add_format({**base, "border": 1, "font_color": "#E65100", "bg_color": "#FFF3E0"}),
        }
        book._gisgrid_formats = cache
    return cache


#: Font of every register cell (points); printed at the sheets' fit-to-width scale (≥ 0.9).
FONT_PT = 10
LINE_PT = 13.5  # one line of 10-pt text
MORE_SUFFIX = " 续"


def _sheet_name(code: str, name: str, used: set, suffix: str = "") -> str:
    candidate = _SHEET_FORBIDDEN.sub("_", f"{code} {name}")[:31 - len(suffix)] + suffix
    if candidate in used:
        candidate = _SHEET_FORBIDDEN.sub("_", code)[:31 - len(suffix)] + suffix
    used.add(candidate)
    return candidate


def _prepare_cells(frame: pd.DataFrame) -> dict:
    """Every register field of every employer as a plain Python list (None where empty), and
    the per-row styles of the risk and flag columns: written row by row without pandas."""
    cells = {}
    for _, source, _, kind in REGISTER_COLUMNS + OUTSIDE_EXTRA:
        if source is None or source not in frame:
            continue
        column = frame[source]
        missing = column.isna().to_numpy()
        if kind == "date":
            # Excel's day serial (days since 1899-12-30) with a date format: what write_datetime
            # stores, computed for the whole column at once instead of per cell.
            days = (pd.to_datetime(column, errors="coerce") - pd.Timestamp("1899-12-30")).dt.days
            values = [None if m else int(d) for m, d in zip(missing | days.isna().to_numpy(), days.fillna(0))]
        elif kind == "text":
            values = [None if m else str(v) for m, v in zip(missing, column.tolist())]
        elif kind == "float":
            values = [None if m else float(v) for m, v in zip(missing, column.tolist())]
        else:
            values = [None if m else int(v) for m, v in zip(missing, column.tolist())]
        cells[source] = values
    cells["_high_risk"] = (frame["risk_level"].fillna(0).astype(int) >= 3).tolist()
    for source in _WRAPPED | {"flags"}:
        if source in cells:
            cells["_px_" + source] = [_text_pixels(v) for v in cells[source]]
    return cells


def _text_pixels(text: str | None) -> float:
    """Width of ``text`` in 10-pt 宋体 at 96 dpi: a CJK character 13.3 px, any other 6.7 px."""
    if not text:
        return 0.0
    wide = (len(text.encode("utf-8")) - len(text)) // 2  # CJK: 3 UTF-8 bytes each
    return 13.3 * wide + 6.7 * (len(text) - wide)


def _line_counts(columns, cells: dict, positions) -> dict[int, int]:
    """Position → lines its tallest wrapped cell needs (only those above one): row heights are
    set, because a spreadsheet does not grow a row for wrapped text it did not lay out itself."""
    wrapped = [(cells["_px_" + source], 7 * width + 5 - 6) for _, source, width, _ in columns
               if source and "_px_" + source in cells]
    tall = {}
    for pos in positions:
        lines = max((-(-px[pos] // room) for px, room in wrapped), default=1)
        if lines > 1:
            tall[pos] = int(lines)
    return tall


def _column_writers(sheet, columns, fmt: dict, cells: dict) -> list:
    writers = []
    text, number = _cell_writers(sheet)
    kinds = {"text": text, "int": number, "float": number,
             "date": number}  # dates as day serials (_prepare_cells), in the date format
    for col, (_, source, _, kind) in enumerate(columns):
        style = fmt["wrap"] if source in _WRAPPED else fmt["warn"] if source == "flags" else \
            fmt[kind] if kind != "text" else fmt["text"]
        writers.append((col, source, cells.get(source) if source else None, kinds[kind], style))
    return writers


def _cell_writers(sheet):
    """(write text, write number) taking (row, col, value, format).

    xlsxwriter's public write_string/write_number first test whether the cell is given in A1
    notation; a register's half-million cells are all (row, col), and the methods behind them
    (pinned xlsxwriter 3.x) save ≈ 0.3 s on 20,000 employers. Falls back to the public ones.
    """
    return (getattr(sheet, "_write_string", sheet.write_string), getattr(sheet, "_write_number", sheet.write_number))


def _write_rows(sheet, first_row: int, positions, columns, cells: dict, fmt: dict) -> int:
    """One row per position of ``cells``; returns the row after the last."""
    writers = _column_writers(sheet, columns, fmt, cells)
    blank, number, write_blank, write_number = fmt["text"], fmt["int"], sheet.write_blank, _cell_writers(sheet)[1]
    high, risk3 = cells["_high_risk"], fmt["risk3"]
    tall = _line_counts(columns, cells, positions)
    row = first_row
    for n, pos in enumerate(positions, start=1):
        if pos in tall:
            sheet.set_row(row, LINE_PT * tall[pos] + 2)
        for col, source, values, write, style in writers:
            if source is None:
                write_number(row, col, n, number)
                continue
            value = values[pos]
            if value is None:
                write_blank(row, col, None, blank)
            elif source == "risk_label" and high[pos]:
                write(row, col, value, risk3)
            else:
                write(row, col, value, style)
        row += 1
    return row


def _write_head(sheet, columns, fmt: dict) -> None:
    for col, (head, _, width, _) in enumerate(columns):
        sheet.write_string(HEADER_ROW, col, head, fmt["head"])
        sheet.set_column(col, col, width)
    sheet.set_row(HEADER_ROW, 40)


def _write_foot(sheet, row: int, last_col: int, fmt: dict) -> None:
    sheet.merge_range(row + 1, 0, row + 1, last_col, SIGN_OFF, fmt["sign"])
    sheet.set_row(row + 1, 24)


OUTSIDE_SHEET = "未落入网格"
OUTSIDE_EXTRA = [("最近网格", "nearest_code", 13, "text"), ("距离（米）", "distance_m", 9, "float")]


def _write_outside_sheet(book, outside: pd.DataFrame, meta: dict) -> None:
    """Employers outside every grid or not located: the register is complete only with them."""
    fmt = _formats(book)
    outside = outside.copy()
    outside["risk_label"] = outside["risk_level"].map(lambda v: RISK_LEVELS.get(int(v), ("",))[0])
    outside["flags"] = register_flags(outside, meta["today"], meta["stale_months"])
    cells = _prepare_cells(outside)
    title = "未落入任何网格或未定位的用人单位"
    # The main fields without industry and workers' counts, then where the point lies.
    main = [c for c in MAIN_COLUMNS if c[1] not in ("industry", "contracts_signed", "insured")] + OUTSIDE_EXTRA
    for name, columns, heading in ((OUTSIDE_SHEET, main, title),
                                   (OUTSIDE_SHEET + MORE_SUFFIX, MORE_COLUMNS, title + "（续表：其余字段）")):
        sheet = book.add_worksheet(name)
        last = len(columns) - 1
        sheet.merge_range(0, 0, 0, last, heading, fmt["title"])
        sheet.merge_range(1, 0, 1, last, f"共 {len(outside)} 家：请核实坐标或调整网格边界。网格版本：{meta['generation']}",
                          fmt["meta"])
        _write_head(sheet, columns, fmt)
        end = _write_rows(sheet, HEADER_ROW + 1, range(len(outside)), columns, cells, fmt)
        _write_foot(sheet, end, last, fmt)
        _print_setup(sheet, heading, HEADER_ROW)


def _write_index_sheet(book, grids, meta: dict, outside: int | None = None) -> None:
    fmt = _formats(book)
    sheet = book.add_worksheet("目录")
    sheet.merge_range(0, 0, 0, 6, f"用人单位登记册目录（{meta['generation']}，导出日期 {meta['today'].isoformat()}）",
                      fmt["title"])
    heads = ["网格编码", "网格名称", "类型", "上级网格", "用人单位（家）", "登记册", "续表（其余字段）"]
    for col, (head, width) in enumerate(zip(heads, (15, 20, 8, 15, 12, 30, 30))):
        sheet.write(2, col, head, fmt["head"])
        sheet.set_column(col, col, width)
    used = {"目录"}
    for row, grid in enumerate(grids.itertuples(), start=3):
        sheet.write_string(row, 0, grid.code, fmt["text"])
        sheet.write_string(row, 1, grid.name, fmt["text"])
        sheet.write_string(row, 2, KIND_LABELS.get(grid.kind, grid.kind), fmt["text"])
        sheet.write_string(row, 3, grid.parent_code or "", fmt["text"])
        sheet.write_number(row, 4, int(grid.employers), fmt["int"])
        for col, suffix in ((5, ""), (6, MORE_SUFFIX)):
            target = _sheet_name(grid.code, grid.name, used, suffix)
            sheet.write_url(row, col, f"internal:'{target}'!A1", fmt["link"], string=target)
    if outside is not None:
        row = 3 + len(grids)
        sheet.write_string(row, 1, OUTSIDE_SHEET, fmt["text"])
        sheet.write_number(row, 4, outside, fmt["int"])
        sheet.write_url(row, 5, f"internal:'{OUTSIDE_SHEET}'!A1", fmt["link"], string=OUTSIDE_SHEET)
        sheet.write_url(row, 6, f"internal:'{OUTSIDE_SHEET}{MORE_SUFFIX}'!A1", fmt["link"],
                        string=OUTSIDE_SHEET + MORE_SUFFIX)
    _print_setup(sheet, "用人单位登记册目录", 2)


def _print_setup(sheet, title: str, header_row: int) -> None:
    print_on(sheet, "A4", (header_row, header_row), title)
    sheet.freeze_panes(header_row + 1, 0)


def _staff_by_grid(staff: pd.DataFrame) -> dict:
    """Grid code → its staff rows with a person (grouped once, not filtered per grid)."""
    present = staff[staff["person"].notna()]
    return {code: part for code, part in present.groupby("grid_code", sort=False)}


_NOBODY = pd.DataFrame(columns=["person", "role", "phone", "duty"])


def _write_grid_sheet(book, grid, cells: dict, positions, staff: dict, meta: dict) -> dict:
    """The grid's register (MAIN_COLUMNS) and its continuation sheet (MORE_COLUMNS)."""
    fmt = _formats(book)
    used = getattr(book, "_gisgrid_sheet_names", None)
    if used is None:
        used = book._gisgrid_sheet_names = {"目录"}
    people = staff.get(grid.code, _NOBODY)
    title = f"{grid.code} {grid.name} 用人单位登记册（一格一册）"
    staff_text = "；".join(
        f"{p.person}（{ROLE_LABELS.get(p.role, p.role)}，{p.phone or '无电话'}）：{p.duty or ''}"
        for p in people.itertuples()) or "未配备"
    risk = cells.get("risk_label", [])
    counts = {label: 0 for label, _ in RISK_LEVELS.values()}
    for pos in positions:
        if risk[pos] in counts:
            counts[risk[pos]] += 1
    risk_text = "，".join(f"{label} {n} 家" for label, n in counts.items())
    about = (f"网格编码：{grid.code}    网格名称：{grid.name}    类型：{KIND_LABELS.get(grid.kind, grid.kind)}    "
             f"上级网格：{grid.parent_code or '无'} {grid.parent_name or ''}    网格版本：{meta['generation']}")
    for suffix, columns, heading in (("", MAIN_COLUMNS, title),
                                     (MORE_SUFFIX, MORE_COLUMNS, title.replace("（一格一册）", "（续表：其余字段）"))):
        sheet = book.add_worksheet(_sheet_name(grid.code, grid.name, used, suffix))
        last_col = len(columns) - 1
        sheet.merge_range(0, 0, 0, last_col, heading, fmt["title"])
        sheet.merge_range(1, 0, 1, last_col, about, fmt["meta"])
        sheet.set_row(1, 28)
        if suffix:
            sheet.merge_range(2, 0, 2, last_col, "本表与登记册按序号逐行对应，列出登记册未印的其余字段。", fmt["meta"])
        else:
            sheet.merge_range(2, 0, 2, last_col, f"四定人员：{staff_text}", fmt["meta"])
            sheet.set_row(2, 30 if len(people) else None)
        sheet.merge_range(3, 0, 3, last_col, f"用人单位共 {len(positions)} 家（{risk_text}）    "
                          f"导出日期：{meta['today'].isoformat()}", fmt["meta"])
        _write_head(sheet, columns, fmt)
        end = _write_rows(sheet, HEADER_ROW + 1, positions, columns, cells, fmt)
        if len(positions) and not suffix:
            sheet.autofilter(HEADER_ROW, 0, end - 1, last_col)
        _write_foot(sheet, end, last_col, fmt)
        _print_setup(sheet, heading, HEADER_ROW)
    return {"code": grid.code, "name": grid.name, "employers": int(len(positions)), "staff": int(len(people))}


def export_roster(session: Session, path: str | Path | IO[bytes], grid_code: str | None = None,
                  generation: str | None = None, today: dt.date | None = None,
                  staff_minimums: tuple[StaffingRule, ...] = DEFAULT_RULES) -> dict:
    """Write the 四定 roster: every grid with its person, role, phone, duty, task and start date.

    Grids with nobody in force on ``today`` get one row marked 未配备, so gaps are visible.
    The last column, 配备情况, holds each grid's standing against the staffing standard
    ``staff_minimums`` (``settings.staff_minimums``; :func:`gisgrid.access.staffing.staffing_check`):
    达标, 不足（应≥2，现1） highlighted red, 超编（应≤3，现4） orange, — without a standard; the
    line above the header counts the grids below it.

    Examples
    --------
    >>> export_roster(session, "/tmp/roster.xlsx")["unstaffed"], _["understaffed"]   # doctest: +SKIP
    (1, 0)
    """
    today = today or clock.today()
    gen = find_export_generation(session, generation)
    staff = read_staff(session, gen, grid_code, on=today)
    wanted = set(staff["grid_code"])
    standing = {r["code"]: r for r in staffing_check(session, gen.id, on=today, rules=staff_minimums)
                if r["code"] in wanted}
    # Narrow enough to print one A4 landscape page wide at ≥ 9 pt (the long texts wrap).
    heads = [("网格编码", 13), ("网格名称", 14), ("级别", 5), ("类型", 6), ("姓名", 8), ("职务", 10),
             ("联系电话", 12), ("所在单位", 12), ("职责（定责）", 26), ("任务（定任务）", 22), ("起始日期", 11),
             ("配备情况", 12)]
    wrapped = {1: None, 7: None, 8: None, 9: None, 11: None}  # column → its text on this row
    title = f"劳动保障监察网格“四定”人员花名册（{gen.name}）"
    under = sum(1 for r in standing.values() if r["status"] == "under")
    over = sum(1 for r in standing.values() if r["status"] == "over")
    standard = "；".join(f"{'/'.join(KIND_LABELS.get(k, k) for k in rule.kinds)}"
                        f"{'/'.join(f'第{n}级' for n in rule.levels)} {rule.describe()}" for rule in staff_minimums)
    with _workbook(path) as book:
        fmt = _formats(book)
        sheet = book.add_worksheet("四定人员")
        last = len(heads) - 1
        sheet.merge_range(0, 0, 0, last, title, fmt["title"])
        sheet.merge_range(1, 0, 1, last, f"定人、定区域（网格）、定职责、定任务    导出日期：{today.isoformat()}    "
                          f"人员配备不足的网格 {under} 个" + (f"，超编 {over} 个" if over else "")
                          + (f"（配备标准：{standard}）" if standard else "（未设配备标准）"), fmt["meta"])
        sheet.set_row(1, 30)
        header = 3
        for col, (head, width) in enumerate(heads):
            sheet.write(header, col, head, fmt["head"])
            sheet.set_column(col, col, width)
        unstaffed = 0
        for row, p in enumerate(staff.itertuples(), start=header + 1):
            texts = {**wrapped, 1: p.grid_name, 11: (standing.get(p.grid_code) or {}).get("text")}
            if not pd.isna(p.person):
                texts.update({7: p.unit, 8: p.duty, 9: p.task})
            _fit_row(sheet, row, texts, heads)
            sheet.write_string(row, 0, p.grid_code, fmt["text"])
            sheet.write_string(row, 1, p.grid_name, fmt["wrap"])
            sheet.write_number(row, 2, int(p.level), fmt["int"])
            sheet.write_string(row, 3, KIND_LABELS.get(p.kind, p.kind), fmt["text"])
            _write_standing(sheet, row, 11, standing.get(p.grid_code), fmt)
            if pd.isna(p.person):
                unstaffed += 1
                sheet.write_string(row, 4, "未配备", fmt["warn"])
                for col in range(5, 11):
                    sheet.write_blank(row, col, None, fmt["text"])
                continue
            for col, value in enumerate((p.person, ROLE_LABELS.get(p.role, p.role), p.phone, p.unit, p.duty, p.task),
                                        start=4):
                sheet.write_string(row, col, "" if value is None or pd.isna(value) else str(value),
                                   fmt["wrap"] if col >= 7 else fmt["text"])
            if p.valid_from is None or pd.isna(p.valid_from):
                sheet.write_blank(row, 10, None, fmt["text"])
            else:
                sheet.write_datetime(row, 10, pd.Timestamp(p.valid_from).to_pydatetime(), fmt["date"])
        sheet.autofilter(header, 0, header + len(staff), last)
        _print_setup(sheet, title, header)
    people = int(staff["person"].notna().sum())
    return {"path": describe_target(path), "generation": gen.name, "rows": int(len(staff)),
            "people": people, "grids": int(staff["grid_code"].nunique()), "unstaffed": unstaffed,
            "understaffed": under, "overstaffed": over}


def _fit_row(sheet, row: int, texts: dict, heads) -> None:
    """Give ``row`` the height its longest wrapped text needs (as :func:`_line_counts`)."""
    lines = max((-(-_text_pixels(str(t)) // (7 * heads[col][1] + 5 - 6)) for col, t in texts.items()
                 if t is not None and not pd.isna(t)), default=1)
    if lines > 1:
        sheet.set_row(row, LINE_PT * lines + 2)


def _write_standing(sheet, row: int, col: int, standing: dict | None, fmt: dict) -> None:
    """配备情况 of one roster row: red fill when under the standard, orange when over."""
    if standing is None:
        sheet.write_blank(row, col, None, fmt["text"])
        return
    style = {"under": fmt["short"], "over": fmt["surplus"]}.get(standing["status"], fmt["text"])
    sheet.write_string(row, col, standing["text"], style)

"""Benchmark: the 一格一册 register of 20,000 employers (DESIGN.md budget: ≤ 4 s).

    python benchmarks/register.py [--employers 20000] [--grids 250] [--repeat 3] [--out /tmp/reg.xlsx]

Generates a synthetic city (grids, employers with every register field, two staff per grid)
and times what ``gisgrid export register -o x.xlsx`` does after reading them:
:func:`gisgrid.export.registers.write_register_books` — flags, each grid's register and its
continuation sheet, row heights, 目录, sign-off lines, the XLSX written and zipped. The
database read is not part of it (≈ 0.4 s for 20,000 employers on the demo city).

Beside it, in the same run, the floor: xlsxwriter writing the same number of cells (the same
strings, numbers and dates, one format, no heading) into the same number of sheets. The
ratio is what the register's own work costs; the floor moves with the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gisgrid.export.registers import MAIN_COLUMNS, MORE_COLUMNS, write_register_books  # noqa: E402

INDUSTRIES = ["制造业", "建筑业", "批发和零售业", "住宿和餐饮业", "居民服务业", "信息传输软件和信息技术服务业"]
OWNERSHIP = ["有限责任公司", "私营企业", "个体工商户", "股份有限公司"]


def make_city(employers: int, grids: int, rng: np.random.Generator):
    codes = [f"419988{1 + i // 20:03d}{1 + i % 20:03d}" for i in range(grids)]
    grid_frame = pd.DataFrame({
        "code": codes, "name": [f"第{i + 1}社区" for i in range(grids)], "kind": "community", "level": 3,
        "parent_code": [c[:9] for c in codes], "parent_name": "某街道", "employers": 0,
    })
    register = rng.choice(codes, employers)
    n = np.arange(employers)
    heads = rng.integers(1, 400, employers)
    frame = pd.DataFrame({
        "grid_id": 1, "register_code": register, "id": n,
        "credit_code": pd.array([f"91419988MA{i:07d}X" for i in n], dtype="string"),
        "org_code": pd.array([None] * employers, dtype="string"),
        "name": [f"示范市第{i}号商贸有限公司" for i in n],
        "address": [f"示范市某街道某社区东大街{i % 300}号{i % 7}楼" for i in n],
        "legal_rep": [f"张{i % 97}" for i in n], "hr_contact": [f"李{i % 89}" for i in n],
        "phone": pd.array([f"13{i:09d}" for i in n], dtype="string"),
        "industry": rng.choice(INDUSTRIES, employers), "ownership": rng.choice(OWNERSHIP, employers),
        "headcount": heads, "contracts_signed": (heads * 0.9).astype(int), "insured": (heads * 0.93).astype(int),
        "wage_arrears_months": rng.integers(0, 3, employers), "fee_arrears_months": rng.integers(0, 3, employers),
        "opened_on": pd.to_datetime("2005-01-01") + pd.to_timedelta(rng.integers(0, 7000, employers), unit="D"),
        "surveyed_on": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 330, employers), unit="D"),
        "status": "active", "risk_level": rng.integers(0, 4, employers),
        "risk_rule": rng.choice(["无异常", "欠薪 2 个月及以上", "一年内投诉 2 次及以上"], employers),
        "located_by": "survey", "location_precision": "point",
        "lon": 113.7 + rng.random(employers) / 10, "lat": 34.3 + rng.random(employers) / 10,
    })
    frame["opened_on"] = frame["opened_on"].dt.date
    frame["surveyed_on"] = frame["surveyed_on"].dt.date
    staff = pd.DataFrame({
        "grid_id": 1, "grid_code": pd.array(np.repeat(codes, 2), dtype="string"), "grid_name": "x", "level": 3,
        "kind": "community", "person": [f"协管员{i}" for i in range(2 * grids)], "role": "coordinator",
        "phone": pd.array([f"138{i:08d}" for i in range(2 * grids)], dtype="string"), "unit": "某社区",
        "duty": "信息采集、动态更新", "task": "巡查", "valid_from": dt.date(2026, 1, 1), "valid_to": None,
    })
    return grid_frame, frame, staff


def write_floor(path: Path, frame: pd.DataFrame, sheets: int) -> None:
    """xlsxwriter alone: the same cells (both sheets' columns), one format, no heading."""
    columns = [c for c in MAIN_COLUMNS + MORE_COLUMNS]
    values = {src: frame[src].tolist() for _, src, _, _ in columns if src in frame}
    values["risk_label"] = frame["risk_level"].astype(str).tolist()
    values["flags"] = frame["risk_rule"].tolist()
    book = xlsxwriter.Workbook(path, {"strings_to_numbers": False, "strings_to_formulas": False,
                                      "strings_to_urls": False})
    cell = book.add_format({"border": 1})
    per = -(-len(frame) // sheets)
    for part in range(sheets):
        for block in (MAIN_COLUMNS, MORE_COLUMNS):
            sheet = book.add_worksheet()
            for row in range(part * per, min(len(frame), (part + 1) * per)):
                for col, (_, src, _, kind) in enumerate(block):
                    value = row if src is None else values[src][row]
                    if kind == "date":
                        sheet.write_datetime(row - part * per, col, dt.datetime.combine(value, dt.time()), cell)
                    elif kind == "text":
                        sheet.write_string(row - part * per, col, str(value), cell)
                    else:
                        sheet.write_number(row - part * per, col, float(value), cell)
    book.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employers", type=int, default=20_000)
    parser.add_argument("--grids", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    grids, employers, staff = make_city(args.employers, args.grids, np.random.default_rng(20261203))
    out = args.out or Path(tempfile.mkdtemp(prefix="gisgrid-bench-")) / "register.xlsx"
    meta = {"generation": "基准版", "today": dt.date(2026, 12, 3), "stale_months": 6}
    cells = args.employers * (len(MAIN_COLUMNS) + len(MORE_COLUMNS))
    print(f"{args.employers:,} employers in {args.grids} grids, {cells:,} cells on {2 * args.grids} sheets → {out}")
    register, floor = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        write_register_books(out, grids, employers, staff, meta)
        register.append(time.perf_counter() - start)
        start = time.perf_counter()
        write_floor(out.with_name("floor.xlsx"), employers, args.grids)
        floor.append(time.perf_counter() - start)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    best, base = min(register), min(floor)
    print(f"register (best of {args.repeat}): {best:.2f} s   budget 4 s: {'ok' if best <= 4 else 'OVER'}")
    print(f"xlsxwriter floor, same cells:  {base:.2f} s   ratio {best / base:.2f} ×   "
          f"({out.stat().st_size / 1e6:.1f} MB; load average {load:.1f})")


if __name__ == "__main__":
    main()

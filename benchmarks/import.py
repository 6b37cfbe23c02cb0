"""Benchmark: register import end to end (parse, validate, COPY, merge) in rows per second.

    python benchmarks/import.py [--rows 1000000] [--keep]

Generates a register CSV (UTF-8 with BOM, the survey form's Chinese headers, valid credit
codes, a few faults: bad check characters, negative headcounts, duplicates, GCJ-02 rows)
over a synthetic county of one level-1 grid, loads the grid into a throwaway PostGIS
cluster (or GISGRID_DATABASE_URL when set), then times, in one transaction committed at
the end, what ``gisgrid employers import PATH --commit`` does before assignment:
:func:`read_register`, :func:`validate_register` (with the territory) and
:func:`load_register`. Prints each phase and the rate (DESIGN.md budget: ≥ 50,000 rows/s).
A second import of the same file is timed too (every row unchanged).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from assign import close_database, database  # noqa: E402  (throwaway cluster)
from gisgrid.crs import wgs84_to_shifted  # noqa: E402
from gisgrid.db.engine import session_scope  # noqa: E402
from gisgrid.employers.identifiers import make_credit_code  # noqa: E402
from gisgrid.employers.queries import load_territory  # noqa: E402
from gisgrid.employers.register import load_register, read_register, validate_register  # noqa: E402

X0, Y0, SPAN = 113.55, 34.20, 0.35
BUDGET = 50_000


def write_register(path: Path, rows: int, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    codes = np.array([make_credit_code("419988", i) for i in range(rows)], dtype=object)
    head = np.clip(rng.lognormal(3, 1.1, rows).astype(int), 1, 30_000)
    signed = np.where(rng.random(rows) < 0.15, (head * rng.uniform(0.2, 1, rows)).astype(int), head)
    lon, lat = rng.uniform(X0, X0 + SPAN, rows), rng.uniform(Y0, Y0 + SPAN, rows)
    crs = np.full(rows, "CGCS2000", dtype=object)
    gcj = rng.random(rows) < 0.02
    lon[gcj], lat[gcj] = wgs84_to_shifted(lon[gcj], lat[gcj], "gcj02")
    crs[gcj] = "GCJ02"
    codes[rng.random(rows) < 0.001] = "91419988MA000CT71M"  # duplicates (and a bad check)
    head = head.astype(object)
    head[rng.random(rows) < 0.001] = "-1"
    frame = pd.DataFrame({
        "单位名称": np.char.add("基准企业", np.arange(rows).astype(str)),
        "统一社会信用代码": codes,
        "地址": np.char.add("基准市某街道某社区和平路", np.arange(rows).astype(str)),
        "法定代表人": "张三", "劳资联系人": "李四",
        "联系电话": (13_000_000_000 + rng.integers(0, 10**9, rows)).astype(str),
        "行业": "制造业", "经济类型": "有限责任公司",
        "职工人数": head, "签订劳动合同人数": signed, "参加社会保险人数": signed,
        "欠薪月数": np.where(rng.random(rows) < 0.04, rng.integers(1, 7, rows), 0),
        "欠费月数": np.where(rng.random(rows) < 0.06, rng.integers(1, 13, rows), 0),
        "投诉次数（12个月）": np.where(rng.random(rows) < 0.02, rng.integers(1, 5, rows), 0),
        "诚信等级": rng.choice(["A", "A", "A", "B", "C"], rows),
        "开业日期": (np.datetime64("2000-01-01") + rng.integers(0, 9_000, rows)).astype(str),
        "调查日期": (np.datetime64("2026-01-01") + rng.integers(0, 280, rows)).astype(str),
        "经度": np.char.mod("%.6f", lon), "纬度": np.char.mod("%.6f", lat), "坐标系": crs,
    })
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def add_territory(engine) -> None:
    with session_scope(engine) as session:
        gen = session.execute(sa.text("INSERT INTO generation (name, status) VALUES ('bench', 'active') "
                                      "RETURNING id")).scalar()
        session.execute(sa.text("""
            INSERT INTO grid (generation_id, identity, level, kind, code, name, geom)
            VALUES (:g, gen_random_uuid(), 1, 'city', '419988', '基准市',
                    ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)))
        """), {"g": gen, "x0": X0, "y0": Y0, "x1": X0 + SPAN, "y1": Y0 + SPAN})


def time_import(engine, path: Path) -> dict:
    times = {}
    start = time.perf_counter()
    frame = read_register(path)
    times["parse"] = time.perf_counter() - start
    with session_scope(engine) as session:
        mark = time.perf_counter()
        territory = load_territory(session)
        good, rejected, warnings = validate_register(frame, territory=territory)
        times["validate"] = time.perf_counter() - mark
        mark = time.perf_counter()
        loaded = load_register(session, good, path.name)
        times["copy+merge"] = time.perf_counter() - mark
        mark = time.perf_counter()
    times["commit"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - start
    return {"times": times, "rows": len(frame), "rejected": len({p["row"] for p in rejected}),
            "warnings": len(warnings), **{k: v for k, v in loaded.items() if k != "changed_ids"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the cluster running")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gisgrid-bench-register-"))
    start = time.perf_counter()
    path = write_register(workdir / "register.csv", args.rows)
    print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")
    engine, cluster = database()  # the product's own server settings: fsync stays on
    # Others may be using the machine: the rate means little without its load.
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
          + f" on {os.cpu_count()} CPUs")
    try:
        add_territory(engine)
        for label in ("first import", "re-import (unchanged)"):
            result = time_import(engine, path)
            t = result["times"]
            rate = result["rows"] / t["total"]
            print(f"{label}: {result['rows']:,} rows → {result['imported']:,} new, {result['updated']:,} updated, "
                  f"{result['unchanged']:,} unchanged, {result['rejected']:,} rejected, "
                  f"{result['warnings']:,} warnings")
            print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
            print(f"  rate: {rate:,.0f} rows/s (budget ≥ {BUDGET:,}: {'OK' if rate >= BUDGET else 'OVER BUDGET'}); "
                  "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    finally:
        engine.dispose()
        close_database(cluster, keep=args.keep)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

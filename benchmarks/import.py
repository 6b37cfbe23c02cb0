"""Benchmark: register import end to end (parse, validate, COPY, merge) in rows per second.

    python benchmarks/import.py [--rows 1000000] [--repeat 3] [--keep]

Generates a register CSV (UTF-8 with BOM, the survey form's Chinese headers, valid credit
codes, a few faults: bad check characters, negative headcounts, duplicates, GCJ-02 rows)
over a synthetic county of one level-1 grid, loads the grid into a throwaway PostGIS
cluster (or GISGRID_DATABASE_URL when set), then times, in one transaction committed at
the end, what ``gisgrid employers import PATH --commit`` does before assignment:
:func:`read_register`, :func:`validate_register` (with the territory and the accepted
codes) and :func:`load_register`. A second import of the same file is timed too (every row
unchanged). Each pair runs ``--repeat`` times (the employer tables emptied before each
first import); the medians are printed per phase (parse, validate, copy, analyze, merge,
indexes, commit) with their rates, the Python process's CPU seconds beside the wall clock
(the rest is the server, or other load), and whether the DESIGN.md budget (≥ 50,000 rows/s
end to end) is met.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
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
from gisgrid.employers.queries import accepted_codes, load_territory  # noqa: E402
from gisgrid.employers.reading import read_register  # noqa: E402
from gisgrid.employers.register import load_register, validate_register  # noqa: E402

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
    """One import as the CLI runs it (before assignment): wall and CPU seconds per phase."""
    wall, cpu = {}, {}

    def lap(name: str, mark: tuple[float, float]) -> tuple[float, float]:
        now = (time.perf_counter(), time.process_time())
        wall[name], cpu[name] = now[0] - mark[0], now[1] - mark[1]
        return now

    start = mark = (time.perf_counter(), time.process_time())
    frame = read_register(path)
    mark = lap("parse", mark)
    with session_scope(engine) as session:
        traced = trace_functions(session)
        territory = load_territory(session)
        good, rejected, warnings = validate_register(frame, accepted_codes=accepted_codes(session),
                                                     territory=territory)
        mark = lap("validate", mark)
        steps: dict = {}
        loaded = load_register(session, good, path.name, timings=steps)
        mark = lap("load", mark)
        # Time inside triggers on employer (e.g. map-cell counts), part of copy/merge above.
        triggers = dict(session.execute(sa.text(
            "SELECT funcname, total_time / 1000 FROM pg_stat_xact_user_functions "
            "WHERE funcname LIKE 'employer%'")).all()) if traced else None
        mark = (time.perf_counter(), time.process_time())
    lap("commit", mark)
    for step in ("copy", "analyze", "merge", "indexes"):
        wall[step] = steps.get(step, 0.0)
    wall["total"] = time.perf_counter() - start[0]
    cpu["total"] = time.process_time() - start[1]
    return {"wall": wall, "cpu": cpu, "triggers": triggers, "rows": len(frame),
            "rejected": len({p["row"] for p in rejected}), "warnings": len(warnings),
            **{k: v for k, v in loaded.items() if k not in ("changed_ids", "warnings")}}


def trace_functions(session) -> bool:
    """Count the time spent in PL/pgSQL functions (triggers) in this transaction, if allowed."""
    try:
        with session.begin_nested():
            session.execute(sa.text("SET LOCAL track_functions = 'pl'"))  # superuser only
        return True
    except sa.exc.DBAPIError:
        return False


PHASES = ("parse", "validate", "copy", "analyze", "merge", "indexes", "commit")


def report(label: str, runs: list[dict]) -> float:
    """Print the medians of a list of runs; return the median rate."""
    result = runs[-1]
    rows = result["rows"]
    median = {k: statistics.median(r["wall"][k] for r in runs) for k in (*PHASES, "load", "total")}
    cpu = {k: statistics.median(r["cpu"][k] for r in runs) for k in ("parse", "validate", "load", "total")}
    rate = rows / median["total"]
    print(f"{label}: {rows:,} rows → {result['imported']:,} new, {result['updated']:,} updated, "
          f"{result['unchanged']:,} unchanged, {result['rejected']:,} rejected, {result['warnings']:,} warnings "
          f"(median of {len(runs)}; each run's total: "
          + ", ".join(f"{r['wall']['total']:.2f}" for r in runs) + " s)")
    for phase in PHASES:
        seconds = median[phase]
        extra = f", Python CPU {cpu[phase]:.2f} s" if phase in cpu else ""
        if phase == "copy":
            extra = ", Python formats while the server parses"
        print(f"  {phase:9s} {seconds:6.2f} s  {rows / seconds if seconds else float('inf'):>12,.0f} rows/s{extra}")
    print(f"  (load = copy + analyze + merge + indexes: {median['load']:.2f} s, Python CPU {cpu['load']:.2f} s)")
    if all(r["triggers"] is not None for r in runs):
        names = sorted({name for r in runs for name in r["triggers"]})
        spent = {name: statistics.median(r["triggers"].get(name, 0.0) for r in runs) for name in names}
        print("  of which in trigger functions on employer (part of merge; a function's time includes "
              "the functions it calls): "
              + (", ".join(f"{name} {seconds:.2f} s" for name, seconds in spent.items() if seconds >= 0.005)
                 or "none"))
    print(f"  total     {median['total']:6.2f} s  {rate:>12,.0f} rows/s, Python CPU {cpu['total']:.2f} s — "
          f"budget ≥ {BUDGET:,} rows/s: {'MET' if rate >= BUDGET else 'NOT MET'}")
    return rate


# What a first import has to write, as the tables' own indexes (rebuilt after the load).
FLOOR_INDEXES = (
    "ALTER TABLE floor_employer ADD PRIMARY KEY (id)",
    "CREATE INDEX ON floor_employer USING gist (geom)",
    "CREATE INDEX ON floor_employer (name_key)",
    "CREATE UNIQUE INDEX ON floor_employer (credit_code) WHERE credit_code IS NOT NULL",
    "ALTER TABLE floor_employer_survey ADD PRIMARY KEY (id)",
    "CREATE INDEX ON floor_employer_survey (employer_id)",
    "ALTER TABLE floor_employer_grade ADD PRIMARY KEY (employer_id, year)",
)


def time_floor(engine) -> dict:
    """The baseline of this run: the server alone storing what the first import stored.

    The rows the import wrote to ``employer``, ``employer_survey`` and ``employer_grade``
    are read back (COPY TO, not timed), then COPYed into empty copies of those tables made
    in a transaction (so WAL is written as for the real tables) and their indexes built,
    then rolled back. No parsing, checking, matching, map-cell counts or spatial order: a
    floor below which no import of these rows into this database can go on this machine,
    however its Python side is written and overlapped.
    """
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            dumps = {}
            for table in ("employer", "employer_survey", "employer_grade"):
                buffer = io.BytesIO()
                cur.copy_expert(f"COPY {table} TO STDOUT", buffer)
                dumps[table] = buffer.getvalue()
            raw.commit()
            seconds = {}
            start = time.perf_counter()
            for table, data in dumps.items():
                mark = time.perf_counter()
                cur.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING DEFAULTS)")
                cur.copy_expert(f"COPY floor_{table} FROM STDIN", io.BytesIO(data), size=1 << 20)
                seconds[f"copy {table}"] = time.perf_counter() - mark
            mark = time.perf_counter()
            for statement in FLOOR_INDEXES:
                cur.execute(statement)
            seconds["indexes"] = time.perf_counter() - mark
            seconds["total"] = time.perf_counter() - start
            raw.rollback()
    finally:
        raw.close()
    return seconds


# The statement-level trigger functions on employer (their time includes what they call).
TRIGGER_FUNCTIONS = ("employer_cells_inserted", "employer_cells_updated", "employer_cells_deleted")


def report_floor(runs: list[dict], rows: int, rate: float, cells: float | None) -> None:
    """Print the baseline's medians, what it leaves of the budget, and the import as a ratio of it."""
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    ceiling = rows / median["total"]
    print(f"baseline (same run): the server alone storing the first import's rows — COPY into bare "
          f"copies of the tables + their index builds, median of {len(runs)}:")
    for step, seconds in median.items():
        if step != "total":
            print(f"  {step:24s} {seconds:6.2f} s")
    print(f"  total                    {median['total']:6.2f} s  = at most {ceiling:,.0f} rows/s for any import "
          f"of these rows into this database on this machine")
    budget = rows / BUDGET
    print(f"  the budget ({BUDGET:,} rows/s = {budget:.2f} s) leaves {budget - median['total']:+.2f} s beyond it for "
          f"reading, checking, matching and merging, even were they overlapped perfectly with the server")
    if cells is not None:
        floor = median["total"] + cells
        print(f"  with the map-cell counts the map tiles need (trigger time in the first import, {cells:.2f} s): "
              f"{floor:.2f} s = at most {rows / floor:,.0f} rows/s")
    print(f"  first import / baseline: {ceiling / rate:.2f}× the baseline's time")


def clear_employers(engine) -> None:
    with session_scope(engine) as session:
        session.execute(sa.text("TRUNCATE employer, employer_survey, employer_grade RESTART IDENTITY CASCADE"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            sa.text("VACUUM ANALYZE employer, employer_survey, employer_grade"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="first import + re-import pairs (medians)")
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
        first, again, floor = [], [], []
        for i in range(args.repeat):
            if i:
                clear_employers(engine)
            first.append(time_import(engine, path))
            floor.append(time_floor(engine))
            again.append(time_import(engine, path))
            print(f"run {i + 1}: first import {first[-1]['wall']['total']:.2f} s, "
                  f"re-import {again[-1]['wall']['total']:.2f} s; load average "
                  + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
        rate = report("first import", first)
        report("re-import (unchanged)", again)
        cells = statistics.median(sum(v for k, v in (r["triggers"] or {}).items() if k in TRIGGER_FUNCTIONS)
                                  for r in first) if all(r["triggers"] is not None for r in first) else None
        report_floor(floor, first[-1]["rows"], rate, cells)
    finally:
        engine.dispose()
        close_database(cluster, keep=args.keep)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

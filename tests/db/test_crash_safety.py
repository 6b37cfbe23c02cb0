"""kill -9 in the middle of a write leaves nothing half-written, and a rerun succeeds.

``gisgrid employers import … --commit`` of a register large enough for the bulk path
(staging COPY, index and key drops, one merge, index rebuilds, assignment) and
``gisgrid grids activate … --commit`` (status switch and the whole reassignment, built
as a new partition) run as real processes. The test watches the server's
``pg_stat_activity`` and sends SIGKILL the moment the process's backend runs the
statement of the phase under test. Afterwards, once the orphaned backend has finished
its statement and rolled back, every table holds exactly the rows it held before, the
employer indexes and constraints that the bulk path drops are all there again, and
the same command run again completes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pytest

from gisgrid.employers.identifiers import make_credit_code
from tests.fixtures import handdrawn

ROWS = 120_000          # above BULK_REBUILD_ROWS (100,000): the path that drops and rebuilds indexes
WAIT_S = 180            # bound of every wait: the phase to start, the orphan to roll back

IMPORT_PHASES = {   # the statement the command's backend runs when it is killed (LIKE pattern)
    "copy": "%COPY _stage%",
    "merge": "%WITH changed AS%",
    "index rebuild": "%CREATE %INDEX employer_%",
    "assignment": "%INSERT INTO _new%",
}
ACTIVATE_PHASES = {
    "status switch and the join": "%CREATE TABLE assignment_g%_next AS%",
    "nearest grid of those outside": "%INSERT INTO assignment_g%_next (employer_id, generation_id, grid_id, nearest%",
}


def write_register(path: Path, rows: int = ROWS, seed: int = 11) -> Path:
    """A register of ``rows`` employers spread over the hand-drawn city (a few outside it)."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-0.1, 3.1, rows), rng.uniform(0, 2, rows)
    serial = np.arange(rows)
    pd.DataFrame({
        "单位名称": np.char.add("压测企业", serial.astype(str)),
        "统一社会信用代码": [make_credit_code("419999", int(i)) for i in serial],
        "地址": np.char.add("测试市和平路", serial.astype(str)),
        "职工人数": rng.integers(1, 500, rows), "签订劳动合同人数": 1, "参加社会保险人数": 1,
        "欠薪月数": 0, "欠费月数": 0,
        "经度": np.char.mod("%.6f", handdrawn.X0 + x * handdrawn.UNIT),
        "纬度": np.char.mod("%.6f", handdrawn.Y0 + y * handdrawn.UNIT),
        "坐标系": "CGCS2000",
    }).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def snapshot(url: str) -> dict:
    """Row count of every table, the indexes and constraints, the generations' states."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")
        tables = [t for (t,) in cur.fetchall()]
        counts = {}
        for table in tables:
            cur.execute(f'SELECT count(*) FROM {table}')   # names from pg_class, not from input
            counts[table] = cur.fetchone()[0]
        cur.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                    "ORDER BY 1, 2")
        indexes = cur.fetchall()
        cur.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2")
        constraints = cur.fetchall()
        cur.execute("SELECT name, status, effective_from FROM generation ORDER BY name")
        generations = cur.fetchall()
    conn.close()
    return {"counts": counts, "indexes": indexes, "constraints": constraints, "generations": generations}


def _gisgrid() -> str:
    script = Path(sys.executable).parent / "gisgrid"
    return str(script) if script.exists() else shutil.which("gisgrid")


def kill_during(url: str, cli_env: dict, args: list[str], pattern: str) -> str:
    """Run ``gisgrid ARGS``; SIGKILL it while its backend runs a statement LIKE ``pattern``.

    Returns the statement it was killed in. Fails if the process ends first or the
    phase does not start within WAIT_S.
    """
    env = {**os.environ, **cli_env}
    # to a file, not a pipe: a register's warnings fill a pipe and block the command
    output = open(Path(cli_env["GISGRID_HOME"]).parent / "killed-output.txt", "w+b")
    proc = subprocess.Popen([_gisgrid(), *args], env=env, stdout=output, stderr=subprocess.STDOUT)
    watch = psycopg2.connect(url)
    watch.autocommit = True
    try:
        deadline = time.monotonic() + WAIT_S
        with watch.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute("SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE %s", (pattern,))
                found = cur.fetchone()
                if found:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return found[0]
                if proc.poll() is not None:
                    output.seek(0)
                    pytest.fail(f"{args} ended (exit {proc.returncode}) before a statement like {pattern!r}:\n"
                                f"{output.read().decode()[-2000:]}")
                time.sleep(0.005)
        pytest.fail(f"no statement like {pattern!r} within {WAIT_S} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        watch.close()
        output.close()


def wait_for_orphans(url: str) -> None:
    """Until no other backend is connected: the killed client's one finishes its statement,
    finds the connection gone and rolls back."""
    conn = psycopg2.connect(url)
    conn.autocommit = True   # else the server answers every poll from the transaction's first snapshot
    with conn.cursor() as cur:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            cur.execute("SELECT pid, state, wait_event_type, wait_event, application_name, left(query, 120) "
                        "FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            others = cur.fetchall()
            if not others:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the killed command's backend was still there after {WAIT_S} s: {others}")
    conn.close()


@pytest.fixture
def city(run_cli, tmp_path, engine):
    """The hand-drawn city imported and active as generation 2026."""
    (tmp_path / "grids").mkdir()
    for level, path in handdrawn.write_grid_files(tmp_path / "grids").items():
        run_cli("grids", "import", path, "--level", level, "--generation", "2026", "--commit")
    run_cli("grids", "activate", "2026", "--effective-from", "2026-01-01", "--commit")
    return tmp_path / "grids"


@pytest.mark.parametrize("phase", list(IMPORT_PHASES))
def test_employer_import_killed_mid_way_leaves_nothing(run_cli, city, db_url, cli_env, engine, tmp_path, phase):
    register = write_register(tmp_path / "register.csv")
    from gisgrid.db.engine import dispose_engines

    dispose_engines()   # the fixtures' pooled connections would count as orphans
    before = snapshot(db_url)
    statement = kill_during(db_url, cli_env, ["employers", "import", str(register), "--commit"],
                            IMPORT_PHASES[phase])
    wait_for_orphans(db_url)
    after = snapshot(db_url)
    assert after == before, f"killed in {statement[:80]!r}"
    done = run_cli("employers", "import", register, "--commit", "--json")
    assert '"imported": 120000' in done.output
    again = snapshot(db_url)
    assert again["counts"]["employer"] == ROWS
    assert again["indexes"] == before["indexes"] and again["constraints"] == before["constraints"]


@pytest.mark.parametrize("phase", list(ACTIVATE_PHASES))
def test_activation_killed_mid_way_leaves_the_old_generation_active(run_cli, city, db_url, cli_env, tmp_path,
                                                                    phase):
    run_cli("employers", "import", write_register(tmp_path / "register.csv"), "--commit")
    (tmp_path / "next").mkdir()
    for level, path in sorted(handdrawn.write_grid_files(tmp_path / "next").items()):
        run_cli("grids", "import", path, "--level", level, "--generation", "2027", "--commit")
    from gisgrid.db.engine import dispose_engines

    dispose_engines()
    before = snapshot(db_url)
    assert dict((n, s) for n, s, _ in before["generations"]) == {"2026": "active", "2027": "draft"}
    statement = kill_during(db_url, cli_env, ["grids", "activate", "2027", "--effective-from", "2026-07-01",
                                              "--commit"], ACTIVATE_PHASES[phase])
    wait_for_orphans(db_url)
    after = snapshot(db_url)
    assert after == before, f"killed in {statement[:80]!r}"
    done = run_cli("grids", "activate", "2027", "--effective-from", "2026-07-01", "--commit", "--json")
    assert '"committed": true' in done.output
    again = snapshot(db_url)
    assert {n: s for n, s, _ in again["generations"]} == {"2026": "retired", "2027": "active"}
    partitions = {t: n for t, n in again["counts"].items() if t.startswith("assignment_g")}
    assert sorted(partitions.values()) == [ROWS, ROWS]   # every employer, in both generations

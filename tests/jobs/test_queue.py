"""The queue itself: its schema from migration 0005, the worker as a process, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from gisgrid.db.engine import get_engine
from gisgrid.db.migrate import alembic_config
from gisgrid.jobs.exports import get_job, request_export
from gisgrid.jobs.queue import PROCRASTINATE_SCHEMA
from tests.jobs.conftest import DIAGRAM


def test_migration_0005_holds_the_installed_procrastinate_schema():
    from procrastinate.schema import SchemaManager

    newest = max(p.name for p in Path(SchemaManager.get_migrations_path()).glob("*.sql"))
    # A procrastinate release with a newer schema migration needs a new Alembic revision.
    assert newest.startswith(PROCRASTINATE_SCHEMA), newest


def test_migration_0005_down_and_up(db_url):
    engine = get_engine(db_url)
    objects = ("SELECT (SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%'), "
               "(SELECT count(*) FROM pg_type WHERE typname LIKE 'procrastinate%'), "
               "to_regclass('export_job') IS NOT NULL")
    with engine.begin() as conn:
        before = conn.execute(sa.text(objects)).one()
        command.downgrade(alembic_config(conn), "0004")
        assert tuple(conn.execute(sa.text(objects)).one()) == (0, 0, False)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        assert conn.execute(sa.text(objects)).one() == before
    assert before[0] > 10 and before[2]


def _env(settings) -> dict:
    return {**os.environ, "GISGRID_DATABASE_URL": settings.database_url, "GISGRID_HOME": str(settings.home)}


def _gisgrid(*args) -> list[str]:
    return [sys.executable, "-c", "from gisgrid.cli import main; main()", *args]


def test_a_worker_started_later_runs_the_job_queued_while_none_ran(city_session, city_settings):
    job, _ = request_export(city_session, city_settings, "diagram", dict(DIAGRAM), "10.3.3.3")
    city_session.commit()
    time.sleep(1)
    assert get_job(city_session, job["id"])["status"] == "queued"  # nobody is working
    worker = subprocess.Popen(_gisgrid("jobs", "worker"), env=_env(city_settings), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            city_session.rollback()
            if get_job(city_session, job["id"])["status"] in ("done", "failed"):
                break
            time.sleep(0.5)
        assert get_job(city_session, job["id"])["status"] == "done"
        assert worker.poll() is None  # a worker waits for the next job
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err[-2000:]
    assert "worker stopped: 1 export(s) done, 0 failed" in out
    listed = subprocess.run(_gisgrid("jobs", "list", "--json"), env=_env(city_settings), capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["status"], r["progress"], r["requester"]) for r in rows] == [
        (job["id"], "done", "3/3 完成", "10.3.3.3")]


def test_jobs_list_text_and_status_filter(run_cli, engine, settings):
    from sqlalchemy.orm import Session

    assert run_cli("jobs", "list").output.strip() == "no export jobs"
    with Session(engine) as session:
        session.execute(sa.text("INSERT INTO export_job (kind, params, digest, requester, status, error) VALUES "
                                "('package', '{}', 'x', '10.0.0.1', 'failed', '导出失败（测试）')"))
        session.commit()
    text = run_cli("jobs", "list").output
    assert "package" in text and "failed" in text and "导出失败（测试）" in text
    assert json.loads(run_cli("jobs", "list", "--status", "done", "--json").output) == []
    bad = run_cli("jobs", "list", "--status", "lost", expect=2)
    assert "lost" in bad.output


def test_the_worker_child_of_serve_runs_at_a_lower_cpu_priority(city_settings, monkeypatch):
    """On a busy machine the web server's pages get the CPU before the exports (issue 10)."""
    from gisgrid.jobs.queue import WORKER_NICE, start_worker_process

    # The child reads its settings from the environment, as under `gisgrid serve`.
    monkeypatch.setenv("GISGRID_DATABASE_URL", city_settings.database_url)
    monkeypatch.setenv("GISGRID_HOME", str(city_settings.home))
    worker = start_worker_process(city_settings)
    try:
        child = os.getpriority(os.PRIO_PROCESS, worker.process.pid)
        assert child == min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE)
        assert worker.process.poll() is None
    finally:
        worker.stop(timeout=60)

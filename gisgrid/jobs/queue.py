"""The job queue: procrastinate on gisgrid's own PostgreSQL, and the worker that drains it.

procrastinate keeps its queue in tables of the gisgrid database (migration 0005): a job is
a row, a worker takes the next one with ``SELECT … FOR UPDATE SKIP LOCKED`` and is woken by
``LISTEN/NOTIFY`` when a row is inserted, so a job queued while no worker ran is simply
waiting when one starts. Jobs are put on the queue with SQL inside the transaction that
records them (:func:`defer_in_session`): the web request's export row and its queue entry
are committed together or not at all, and a worker never sees a job whose row is not there.

The worker runs one job at a time per process (matplotlib's rc settings are process-wide,
so two diagrams must not draw in one process at once); run more ``gisgrid jobs worker``
processes for more at once. ``gisgrid serve`` starts one as its child
(:func:`start_worker_process`), so heavy exports never run on the web server's threads, and
at a lower CPU priority (nice :data:`WORKER_NICE`), so that on a busy machine the pages come
first and the exports take the time left over.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import signal
import subprocess
import sys

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gisgrid.config import Settings

__all__ = ["PROCRASTINATE_SCHEMA", "QUEUE", "EXPORT_TASK", "WORKER_NICE", "defer_in_session", "make_queue_app",
           "run_worker", "start_worker_process"]

log = logging.getLogger(__name__)

#: The newest procrastinate schema migration that migration 0005 contains (see its note).
PROCRASTINATE_SCHEMA = "03.04.00"
QUEUE = "exports"
EXPORT_TASK = "gisgrid.export"
#: A worker that has not beaten for this long is gone; its running jobs are queued again.
STALLED_AFTER_S = 30.0
#: How much nicer than ``gisgrid serve`` its worker child runs (Unix nice, 0–19).
WORKER_NICE = 10

_DEFER = sa.text("""
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[
    ROW(:queue, :task, 0, NULL, NULL, CAST(:args AS jsonb), NULL::timestamptz)
]::procrastinate_job_to_defer_v1[]))
""")


def defer_in_session(session: Session, task: str, **kwargs) -> int:
    """Queue ``task(**kwargs)`` inside ``session``'s transaction; return the queue job id.

    The worker is notified when the transaction commits (procrastinate's insert trigger
    sends ``NOTIFY``), not before.
    """
    return int(session.execute(_DEFER, {"queue": QUEUE, "task": task, "args": json.dumps(kwargs)}).scalar_one())


def libpq_url(url: str) -> str:
    """``postgresql://…`` for psycopg 3 from an SQLAlchemy URL (``postgresql+psycopg2://…``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_queue_app(settings: Settings):
    """A procrastinate App on the gisgrid database with gisgrid's tasks registered."""
    import procrastinate

    from gisgrid.db.engine import database_url, prepare_database
    from gisgrid.jobs.exports import run_export_job

    engine = prepare_database(settings)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url(settings)), min_size=1, max_size=4))

    @app.task(name=EXPORT_TASK, queue=QUEUE)
    def export(export_id: int) -> str:
        return run_export_job(engine, settings, export_id)

    return app


async def _retry_stalled_jobs(app) -> int:
    """Queue again the export jobs of workers that stopped beating (killed mid-job)."""
    stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, task_name=EXPORT_TASK,
                                                    seconds_since_heartbeat=STALLED_AFTER_S)
    for job in stalled:
        log.warning("export job %s of a stopped worker is queued again", job.id)
        await app.job_manager.retry_job(job)
    return len(list(stalled))


def switch_scheduled_plan(settings: Settings) -> dict | None:
    """A plan published with a future effective date takes effect on its day by itself: the
    worker of ``gisgrid serve`` checks every :data:`STALLED_AFTER_S` seconds (a cheap query
    until the day comes; then the switch and the reassignment, in one transaction)."""
    from gisgrid.boundaries.generations import switch_and_reassign
    from gisgrid.db.engine import database_url, get_engine, session_scope

    # The worker prepared the database when it started (make_queue_app).
    with session_scope(get_engine(database_url(settings))) as session:
        report = switch_and_reassign(session)
    if report is not None:
        log.warning("the scheduled plan %r took effect from %s", report["generation"], report["effective_from"])
    return report


def run_worker(settings: Settings, *, wait: bool = True, concurrency: int = 1) -> None:
    """Run a worker on the export queue.

    ``wait=False`` works off every job that is queued now and returns (tests, cron);
    ``wait=True`` runs until SIGINT/SIGTERM, finishing the running job first.
    """
    app = make_queue_app(settings)

    async def watch_stalled():
        while True:
            await asyncio.sleep(STALLED_AFTER_S)
            try:
                await _retry_stalled_jobs(app)
            except Exception:  # a passing database error: the next round tries again
                log.exception("looking for stalled export jobs failed")
            try:
                await asyncio.to_thread(switch_scheduled_plan, settings)
            except Exception:
                log.exception("switching to a scheduled plan failed; the next round tries again")

    async def main():
        async with app.open_async():
            await _retry_stalled_jobs(app)
            await asyncio.to_thread(switch_scheduled_plan, settings)
            watcher = asyncio.create_task(watch_stalled()) if wait else None
            try:
                await app.run_worker_async(queues=[QUEUE], concurrency=concurrency, wait=wait,
                                           install_signal_handlers=wait, delete_jobs="successful",
                                           stalled_worker_timeout=STALLED_AFTER_S)
            finally:
                if watcher is not None:
                    watcher.cancel()

    asyncio.run(main())


class WorkerProcess:
    """A ``gisgrid jobs worker`` child process, stopped with its parent."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # the worker finishes or aborts its job and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _prepare_child() -> None:  # pragma: no cover - runs in the child before exec
    # A plain page must not wait for a diagram being drawn: with 2 CPUs and the web
    # server, PostgreSQL and the worker all busy, the kernel now gives the web server
    # the CPU first (benchmarks/exports_load.py).
    os.nice(WORKER_NICE)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_worker_process(settings: Settings) -> WorkerProcess:
    """Start ``gisgrid jobs worker`` as a child of this process (``gisgrid serve``).

    The child inherits the environment, so it reads the same settings; it runs in its own
    interpreter (heavy exports hold no lock the web threads need), :data:`WORKER_NICE` nicer
    than this process, and gets SIGTERM when this process ends, however it ends.
    """
    command = [sys.executable, "-c", "from gisgrid.cli import main; main()", "jobs", "worker"]
    process = subprocess.Popen(command, preexec_fn=_prepare_child if os.name == "posix" else None)
    worker = WorkerProcess(process)
    atexit.register(worker.stop)
    log.info("export worker started (pid %s, nice +%s) for %s", process.pid, WORKER_NICE, settings.home)
    return worker

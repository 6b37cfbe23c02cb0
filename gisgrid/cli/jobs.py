"""`gisgrid jobs …`: the background worker and the list of export jobs."""

from __future__ import annotations

import time

import click

from gisgrid.cli.base import Context, cli, json_option

STATUSES = ("queued", "running", "done", "failed")


@cli.group()
def jobs() -> None:
    """Background jobs (long exports) in PostgreSQL: worker, list."""


@jobs.command("worker")
@click.option("--once", is_flag=True, help="Work off the jobs queued now, then exit (default: run until stopped).")
@json_option
@click.pass_obj
def jobs_worker(ctx: Context, once: bool):
    """Run the export jobs of the queue (``gisgrid serve`` starts one of these itself).

    It changes no data of its own: it builds the files that the web app's requests queued,
    so it needs no ``--commit``. Stop it with Ctrl+C or SIGTERM; the running job finishes.
    """
    from gisgrid.db.engine import session_scope
    from gisgrid.jobs.exports import list_jobs
    from gisgrid.jobs.queue import run_worker

    ctx.engine  # start and migrate the database first: errors are one line, not a traceback
    started = time.time()
    if not once:
        click.echo("gisgrid export worker running (Ctrl+C to stop)", err=True)
    run_worker(ctx.settings, wait=not once)
    with session_scope(ctx.engine) as session:
        finished = [j for j in list_jobs(session, limit=1000)
                    if j["finished_at"] is not None and j["finished_at"].timestamp() >= started]
    summary = {"done": sum(j["status"] == "done" for j in finished),
               "failed": sum(j["status"] == "failed" for j in finished),
               "jobs": [{"id": j["id"], "kind": j["kind"], "status": j["status"], "error": j["error"]}
                        for j in finished]}
    return summary, f"worker stopped: {summary['done']} export(s) done, {summary['failed']} failed"


@jobs.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_obj
def jobs_list(ctx: Context, status: str | None, limit: int):
    """Export jobs, newest first: kind, state, progress, who asked, the file or the error."""
    from gisgrid.db.engine import session_scope
    from gisgrid.jobs.exports import list_jobs

    with session_scope(ctx.engine) as session:
        rows = list_jobs(session, status=status, limit=limit)
    data = [{k: j[k] for k in ("id", "kind", "label", "status", "progress", "requester", "queue_status",
                                "file_name", "size", "error", "created_at", "started_at", "finished_at")}
            for j in rows]
    lines = [f"{j['id']:>6}  {j['kind']:<8} {j['status']:<7} {j['progress'] or '-':<22} "
             f"{j['requester']:<15} {j['created_at']:%Y-%m-%d %H:%M:%S}  {j['file_name'] or j['error'] or ''}"
             for j in rows]
    return data, "\n".join(lines) if lines else "no export jobs"

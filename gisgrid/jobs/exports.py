"""Long exports as background jobs: request (stored result, limit, queue), run, results.

:func:`request_export` is what the web app calls. It answers from a stored result when one
with the same digest exists (:mod:`gisgrid.jobs.digest`: same data, settings, date and
parameters), joins a job already queued or running for the same digest, refuses a client
that already has ``export_jobs_per_client`` jobs open (:class:`TooManyJobs`, HTTP 429), and
otherwise records an ``export_job`` row and queues it, in one transaction.

:func:`run_export_job` is what the worker runs: it reads the data in one snapshot
(REPEATABLE READ), stores the digest of that snapshot with the file, reports its steps in
the row as it goes (``3/11 网格图集``), and writes a failure as one Chinese sentence.
Files live under ``GISGRID_HOME/exports/<job id>/``; the newest
``export_results_kept`` results of each kind are kept, older ones deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.config import Settings
from gisgrid.errors import DatabaseError, GisgridError, InputError, NotFound

__all__ = ["KINDS", "TooManyJobs", "request_export", "run_export_job", "get_job", "list_jobs",
           "result_path", "results_dir", "output_settings", "download_name", "cleanup_results"]

log = logging.getLogger(__name__)

OPEN = ("queued", "running")


class TooManyJobs(GisgridError):
    """The client already has as many heavy exports queued or running as it may."""

    status = 429


@dataclass(frozen=True)
class ExportKind:
    label: str
    steps: int | None
    run: Callable


def _issued_on(params: dict) -> dt.date:
    return dt.date.fromisoformat(params["issued_on"])


def _run_diagram(session, target: Path, p: dict, settings: Settings, step, atlas: bool = False) -> None:
    from gisgrid.export.diagram import export_diagram

    step(2, "绘制网格图集" if atlas else "绘制网格图")
    export_diagram(session, target, level=p.get("level"), grid_code=p.get("grid"), paper=p["paper"],
                   employers=bool(p.get("employers")), atlas=atlas, settings=settings,
                   fmt="pdf" if atlas else p["format"], colour_by=p.get("colour"), issued_on=_issued_on(p))


def _run_atlas(session, target, p, settings, step) -> None:
    _run_diagram(session, target, p, settings, step, atlas=True)


def _run_register(session, target: Path, p: dict, settings: Settings, step) -> None:
    from gisgrid.export.registers import export_registers

    step(2, "生成登记册")
    export_registers(session, target, grid_code=p.get("grid"), level=p.get("level"), today=_issued_on(p),
                     stale_months=settings.stale_months)


def _run_package(session, target: Path, p: dict, settings: Settings, step) -> None:
    from gisgrid.export.package import export_package

    export_package(session, target, level=p["level"], paper=p["paper"], settings=settings,
                   today=_issued_on(p), progress=lambda i, n, label: step(1 + i, label))


def _package_steps() -> int:
    from gisgrid.export.package import PACKAGE_STEPS

    return PACKAGE_STEPS + 2


#: The exports that run as jobs. Steps: 1 核对数据, the export's own, last 保存文件.
KINDS: dict[str, ExportKind] = {
    "package": ExportKind("上报材料包", None, _run_package),  # 1 + export_package's + 1: steps_of()
    "atlas": ExportKind("网格图集", 3, _run_atlas),
    "diagram": ExportKind("网格划分示意图", 3, _run_diagram),
    "register": ExportKind("用人单位登记册（全市）", 3, _run_register),
}


def steps_of(kind: str) -> int:
    return _package_steps() if kind == "package" else KINDS[kind].steps


def output_settings(settings: Settings) -> dict:
    """The settings that change an export's output: they travel with the job (JSON) and are
    part of its digest, so a changed staffing standard makes a new roster and package."""
    import dataclasses

    return {"city_name": settings.city_name, "issuer": settings.issuer, "stale_months": settings.stale_months,
            "staff_minimums": [{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(rule).items()}
                               for rule in settings.staff_minimums]}  # as JSON gives them back


def _job_settings(settings: Settings, carried: dict) -> Settings:
    """The worker's settings with what travelled with the job (see :func:`output_settings`)."""
    from gisgrid.config import StaffingRule

    carried = dict(carried)
    if "staff_minimums" in carried:
        carried["staff_minimums"] = tuple(
            StaffingRule(**{k: tuple(v) if isinstance(v, list) else v for k, v in rule.items()})
            for rule in carried["staff_minimums"])
    return settings.with_(**carried)


def download_name(kind: str, params: dict) -> str:
    """The file name a person gets, e.g. ``网格上报材料_20261202.zip``."""
    from gisgrid.analysis.indicators import INDICATORS

    colour = params.get("colour")
    if kind == "package":
        name, ext = "网格上报材料", "zip"
    elif kind == "register":
        name, ext = "用人单位登记册" + (f"_{params['grid']}" if params.get("grid") else ""), "xlsx"
    elif kind == "atlas":
        name, ext = (f"{INDICATORS[colour].label}分级图集" if colour else "网格图集"), "pdf"
    else:
        name = (f"{INDICATORS[colour].label}分级图" if colour else "网格划分示意图")
        name, ext = name + (f"_{params['grid']}" if params.get("grid") else ""), params["format"]
    return f"{name}_{_issued_on(params).strftime('%Y%m%d')}.{ext}"


def results_dir(settings: Settings) -> Path:
    return settings.home / "exports"


def result_path(settings: Settings, job: dict) -> Path | None:
    """The stored file of a finished job, or None when it is not (or no longer) there."""
    if job.get("status") != "done" or not job.get("file_path"):
        return None
    path = results_dir(settings) / job["file_path"]
    return path if path.is_file() else None


# -- requesting ---------------------------------------------------------------------------

_JOB_COLUMNS = ("id, kind, params, digest, requester, status, step, steps, step_label, error, queue_job_id, "
                "file_name, file_path, size, created_at, started_at, finished_at")


def _job(row) -> dict | None:
    if row is None:
        return None
    job = dict(row)
    job["label"] = KINDS[job["kind"]].label
    job["progress"] = f"{job['step']}/{job['steps']} {job['step_label'] or ''}".strip() if job["step"] else ""
    return job


def get_job(session: Session, job_id: int) -> dict | None:
    """One export job as a dict (``label`` and ``progress`` text added), or None."""
    row = session.execute(sa.text(f"SELECT {_JOB_COLUMNS} FROM export_job WHERE id = :id"),
                          {"id": job_id}).mappings().first()
    return _job(row)


def list_jobs(session: Session, status: str | None = None, limit: int = 50) -> list[dict]:
    """The newest export jobs first, with the queue's own state (``queue_status``)."""
    rows = session.execute(sa.text(
        f"SELECT {', '.join('e.' + c.strip() for c in _JOB_COLUMNS.split(','))}, q.status::text AS queue_status "
        "FROM export_job e LEFT JOIN procrastinate_jobs q ON q.id = e.queue_job_id "
        "WHERE CAST(:status AS text) IS NULL OR e.status = :status ORDER BY e.id DESC LIMIT :limit"),
        {"status": status, "limit": limit}).mappings()
    return [_job(r) for r in rows]


def _lock(session: Session, key: str) -> None:
    session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def request_export(session: Session, settings: Settings, kind: str, params: dict, requester: str,
                   today: dt.date | None = None) -> tuple[dict, bool]:
    """Find or queue the export ``kind`` with ``params``; return ``(job, queued_now)``.

    ``params`` are the export's own, already checked (level, grid, paper, format, colour,
    employers); the issue date and :func:`output_settings` are added here. The caller
    commits. Raises :class:`TooManyJobs` when ``requester`` already has
    ``settings.export_jobs_per_client`` jobs queued or running.

    Examples
    --------
    >>> job, new = request_export(session, settings, "package", {"level": 2, "paper": "A3"},
    ...                           "127.0.0.1")                               # doctest: +SKIP
    >>> job["status"], new                                                   # doctest: +SKIP
    ('queued', True)

    The same request again before anything changed gives the same job (``new`` False),
    and once it is done, the stored result.
    """
    from gisgrid.export.data import find_export_generation
    from gisgrid.jobs.digest import export_digest
    from gisgrid.jobs.queue import EXPORT_TASK, defer_in_session

    if kind not in KINDS:
        raise InputError(f"导出类型为 {kind!r}；应为 {'、'.join(KINDS)} 之一")
    params = {**params, "issued_on": (today or clock.today()).isoformat(), "settings": output_settings(settings)}
    gen = find_export_generation(session)
    digest = export_digest(session, gen.id, kind, params)
    # One digest is built once at a time, and one requester's count is checked and raised
    # atomically: two identical clicks make one job, K+1 parallel requests do not make K+1.
    _lock(session, f"export:{kind}:{digest}")
    _lock(session, f"requester:{requester}")
    for job in _jobs_with_digest(session, kind, digest):
        if job["status"] in OPEN or result_path(settings, job):
            return job, False
    open_jobs = session.execute(sa.text(
        "SELECT count(*) FROM export_job WHERE requester = :r AND status IN ('queued', 'running')"),
        {"r": requester}).scalar_one()
    limit = settings.export_jobs_per_client
    if open_jobs >= limit:
        raise TooManyJobs(f"您已有 {open_jobs} 个导出正在排队或生成，每个用户最多同时 {limit} 个"
                          f"（GISGRID_EXPORT_JOBS_PER_CLIENT）；请等其中一个完成后再试")
    job_id = session.execute(sa.text(
        "INSERT INTO export_job (kind, params, digest, requester, steps, step_label) "
        "VALUES (:kind, CAST(:params AS jsonb), :digest, :r, :steps, '排队中') RETURNING id"),
        {"kind": kind, "params": _json(params), "digest": digest, "r": requester,
         "steps": steps_of(kind)}).scalar_one()
    queue_id = defer_in_session(session, EXPORT_TASK, export_id=job_id)
    session.execute(sa.text("UPDATE export_job SET queue_job_id = :q WHERE id = :id"), {"q": queue_id, "id": job_id})
    return get_job(session, job_id), True


def _jobs_with_digest(session: Session, kind: str, digest: str) -> list[dict]:
    rows = session.execute(sa.text(
        f"SELECT {_JOB_COLUMNS} FROM export_job WHERE kind = :kind AND digest = :digest "
        "AND status IN ('queued', 'running', 'done') ORDER BY (status = 'done') DESC, id DESC"),
        {"kind": kind, "digest": digest}).mappings()
    return [_job(r) for r in rows]


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# -- running ------------------------------------------------------------------------------

def run_export_job(engine: Engine, settings: Settings, export_id: int) -> str:
    """Build the file of export job ``export_id`` (the worker's task); return its path.

    A job that is gone or already done is left alone (a queue entry delivered twice).
    """
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT kind, params, status FROM export_job WHERE id = :id FOR UPDATE"),
                           {"id": export_id}).mappings().first()
        if row is None or row["status"] == "done":
            return "nothing to do"
        conn.execute(sa.text("UPDATE export_job SET status = 'running', started_at = now(), step = 0, "
                             "error = NULL, finished_at = NULL WHERE id = :id"), {"id": export_id})
    kind, params = row["kind"], row["params"]
    steps = steps_of(kind)
    step = _progress_reporter(engine, export_id, steps)
    folder = results_dir(settings) / str(export_id)
    try:
        step(1, "核对数据")
        job_settings = _job_settings(settings, params["settings"])
        name = download_name(kind, params)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        digest = _export_in_one_snapshot(engine, kind, params, job_settings, target, step)
        step(steps, "保存文件")
        with engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE export_job SET status = 'done', digest = :digest, file_name = :name, file_path = :path, "
                "size = :size, step = :steps, step_label = '完成', finished_at = now() WHERE id = :id"),
                {"digest": digest, "name": name, "path": f"{export_id}/{name}", "size": target.stat().st_size,
                 "steps": steps, "id": export_id})
    except BaseException as exc:
        message = failure_message(exc)
        log.error("export job %s (%s) failed: %s", export_id, kind, message, exc_info=not isinstance(
            exc, GisgridError))
        shutil.rmtree(folder, ignore_errors=True)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE export_job SET status = 'failed', error = :error, finished_at = now() "
                                 "WHERE id = :id"), {"error": message, "id": export_id})
        raise
    cleanup_results(engine, settings, kind)
    return str(target)


def _export_in_one_snapshot(engine: Engine, kind: str, params: dict, settings: Settings, target: Path,
                            step) -> str:
    from gisgrid.export.data import find_export_generation
    from gisgrid.jobs.digest import export_digest

    with Session(engine) as session:
        # One snapshot for the digest and every read of the export: the digest stored
        # with the file describes exactly the rows in it, whatever is written meanwhile.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        gen = find_export_generation(session)
        digest = export_digest(session, gen.id, kind, params)
        KINDS[kind].run(session, target, params, settings, step)
        session.rollback()
    return digest


def _progress_reporter(engine: Engine, export_id: int, steps: int):
    def step(number: int, label: str) -> None:
        with engine.begin() as conn:  # its own transaction: visible while the export reads on
            conn.execute(sa.text("UPDATE export_job SET step = :n, steps = :steps, step_label = :label "
                                 "WHERE id = :id"), {"n": number, "steps": steps, "label": label, "id": export_id})
    return step


def failure_message(exc: BaseException) -> str:
    """One Chinese sentence for a failed job (details of internal errors go to the log)."""
    if isinstance(exc, NotFound):
        return f"找不到导出所需的数据，可能在排队期间已被修改或删除（{exc.message}）"
    if isinstance(exc, InputError):
        return f"导出参数无法使用（{exc.message}）"
    if isinstance(exc, (DatabaseError, sa.exc.OperationalError)):
        return "导出时无法访问数据库，请稍后重试"
    if isinstance(exc, GisgridError):
        return f"导出失败（{exc.message}）"
    if isinstance(exc, OSError):
        return (f"无法写入导出文件（{exc.strerror or type(exc).__name__}）；"
                "请检查 GISGRID_HOME 下 exports 目录的空间和权限")
    if isinstance(exc, (KeyboardInterrupt, SystemExit)) or type(exc).__name__ in ("JobAborted", "CancelledError"):
        return "导出被中断（服务停止），请重新导出"
    return f"导出时发生内部错误（{type(exc).__name__}），详情已记入服务器日志；请稍后重试或联系管理员"


def cleanup_results(engine: Engine, settings: Settings, kind: str) -> list[int]:
    """Delete all but the newest ``export_results_kept`` finished and failed jobs of ``kind``
    (rows and files); return the ids deleted."""
    with engine.begin() as conn:
        rows = conn.execute(sa.text("""
            WITH ranked AS (
                SELECT id, row_number() OVER (PARTITION BY status ORDER BY finished_at DESC, id DESC) AS n
                FROM export_job WHERE kind = :kind AND status IN ('done', 'failed'))
            DELETE FROM export_job WHERE id IN (SELECT id FROM ranked WHERE n > :keep) RETURNING id"""),
            {"kind": kind, "keep": settings.export_results_kept}).scalars().all()
    for job_id in rows:
        shutil.rmtree(results_dir(settings) / str(job_id), ignore_errors=True)
    return list(rows)

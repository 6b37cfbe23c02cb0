"""Export pages: ``/exports`` lists the exports, each with a download button.

The long exports — every diagram (PNG/PDF, single or atlas), the whole-city register and the
filing package — are background jobs (:mod:`gisgrid.jobs.exports`): the request answers at
once, ``202`` with the job and its status URL (``200`` with the download when an identical
export of unchanged data is stored already), a worker process builds the file, the page
polls the status and offers the download. A client may have ``export_jobs_per_client`` heavy
exports open; the next answers ``429``. Quick ones stay plain downloads built in the request:
the register of one grid and the 四定 roster.

Starting a job writes (a job row, then a file), so it takes a POST with the CSRF token, as
every write does; the export page's forms post. A GET of a job-starting address (an old
bookmark, a link in a note) answers a page with the same choices and a button that posts
them, and JSON clients ``405`` with how to ask. The quick downloads answer GET and POST.

Without JavaScript a form submission gets a status page that reloads itself until the
file is ready.
"""

from __future__ import annotations

import io
import re

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file, url_for

from gisgrid import clock
from gisgrid.analysis.indicators import INDICATORS
from gisgrid.errors import GisgridError, InputError, MethodNotAllowed, NotFound
from gisgrid.export.data import find_export_generation, grid_levels, list_grid_choices
from gisgrid.export.diagram import PAPERS
from gisgrid.jobs.exports import get_job, request_export, result_path
from gisgrid.web.auth import require_grid_code, scope
from gisgrid.web.db import get_session

bp = Blueprint("exports", __name__, url_prefix="/exports")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIMETYPES = {"png": "image/png", "pdf": "application/pdf", "xlsx": XLSX, "zip": "application/zip"}
#: Seconds a status page without JavaScript waits before it looks again.
REFRESH_S = 3
_CJK = re.compile(r"[\u3400-\u9fff]")
_KIND_LABELS = {"diagram": "网格划分示意图", "atlas": "网格图集", "register": "全市用人单位登记册",
                "package": "上报材料包"}
#: The choices of the export forms (the rest of a query string is ignored, as by the exports).
_FIELD_LABELS = {"level": "级别", "grid": "范围（网格编码）", "paper": "纸张", "format": "格式", "colour": "着色",
                 "employers": "叠加用人单位风险", "atlas": "图集"}
_STATUS_TEXT = {"queued": "排队中", "running": "正在生成", "done": "已完成", "failed": "生成失败"}


def requester_key(req) -> str:
    """Who a heavy export counts against (the per-user limit): the logged-in user's id.

    The address only where there is no user (never on a gated route).
    """
    from flask import g

    user = g.get("user")
    return f"user:{user.id}" if user is not None else (req.remote_addr or "unknown")


def _settings():
    return current_app.config["GISGRID_SETTINGS"]


def _wants_json() -> bool:
    """JSON unless the client prefers a page (a browser following a link or a form)."""
    accept = request.accept_mimetypes
    return not accept["text/html"] > accept["application/json"]


@bp.errorhandler(GisgridError)
def _export_error(exc: GisgridError):
    """JSON for the export page's script (it shows ``message``, in Chinese); pages for people."""
    from gisgrid.web.errors import _render

    if _wants_json():
        message = exc.message if _CJK.search(exc.message or "") else f"导出请求有误：{exc.message}"
        response = jsonify({**exc.as_dict(), "message": message})
        response.status_code = exc.status
    else:
        response = _render(exc.status, exc.message, exc.as_dict())
    if isinstance(exc, MethodNotAllowed):
        response.headers["Allow"] = "POST"
    return response


def _arg(name: str, default: str = "") -> str:
    """A choice of the export form: from the posted form, or the query string of a GET."""
    return request.values.get(name, default)


def _level(default: int | None) -> int | None:
    raw = _arg("level")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 6:
        raise InputError(f"级别为 {raw[:10]!r}；应为 1–6 的整数")
    return int(raw)


def _paper(default: str) -> str:
    paper = _arg("paper", default)
    if paper not in PAPERS:
        raise InputError(f"纸张为 {paper[:10]!r}；应为 {'、'.join(PAPERS)}")
    return paper


def _grid() -> str | None:
    code = _arg("grid").strip() or None
    if code is not None and len(code) > 32:
        raise InputError(f"网格编码为 {code[:40]!r}…；最长 32 个字符")
    return code


def _scoped_grid(code: str | None) -> str | None:
    """The grid an export of a scoped user (an inspector) covers: one of theirs, never the city.

    Without ``grid`` it is their own grid when they have one; with several, they choose.
    The jobs run in the worker as the owner, outside row-level security: this is the check.
    """
    if scope().everything:
        return code
    if code is None:
        own = scope().own_codes
        if len(own) != 1:
            raise InputError("请在“范围”中选择您负责的网格之一" if own else "您的账号目前没有负责的网格，无法导出")
        code = own[0]
    require_grid_code(get_session(), code)
    return code


def _existing_grid(code: str | None) -> str | None:
    """Refuse an unknown grid code now (404), not minutes later in the job."""
    if code is not None:
        from gisgrid.export.data import find_grid

        session = get_session()
        generation = find_export_generation(session)
        try:
            find_grid(session, generation, code)
        except NotFound:
            raise NotFound(f"网格编码 {code!r} 在网格版本“{generation.name}”中不存在；请从“范围”列表中选择") from None
    return code


def _colour() -> str | None:
    colour_by = _arg("colour") or None
    if colour_by is not None and colour_by not in INDICATORS:
        raise InputError(f"着色为 {colour_by[:20]!r}；应为 {'、'.join(INDICATORS)} 之一，或留空（相邻异色）")
    return colour_by


def _send(buffer: io.BytesIO, name: str, ext: str):
    buffer.seek(0)
    stamp = clock.today().strftime("%Y%m%d")
    return send_file(buffer, mimetype=MIMETYPES[ext], as_attachment=True, download_name=f"{name}_{stamp}.{ext}")


def _shown_choice(name: str, value: str) -> str:
    """A form choice as the export page words it (the value itself when it is not one of them)."""
    if name in ("employers", "atlas"):
        return "是" if value == "1" else "否"
    if name == "colour":
        return INDICATORS[value].label if value in INDICATORS else (value or "相邻网格异色")
    if name == "level" and value.isdigit():
        return f"第{value}级"
    if name == "grid":
        return value or "全市"
    return value


def job_view(job: dict) -> dict:
    """What the page's script reads about a job."""
    done = job["status"] == "done"
    return {"id": job["id"], "kind": job["kind"], "label": job["label"], "status": job["status"],
            "step": job["step"], "steps": job["steps"], "step_label": job["step_label"],
            "progress": job["progress"], "error": job["error"], "file_name": job["file_name"],
            "size": job["size"], "status_url": url_for("exports.job_status", job_id=job["id"]),
            "download_url": url_for("exports.job_download", job_id=job["id"]) if done else None}


def _start(kind: str, params: dict):
    if request.method != "POST":
        if _wants_json():
            raise MethodNotAllowed("开始导出会在服务器上生成文件，须用 POST 请求（表单字段 csrf_token 或请求头 "
                                   "X-CSRFToken）；请在导出页面点击按钮")
        # A bookmark or a link: the same choices, one click to start (a GET never writes).
        return render_template("export_start.html", label=_KIND_LABELS[kind], action=request.path,
                               fields=[(k, _FIELD_LABELS[k], v, _shown_choice(k, v))
                                       for k, v in request.args.items(multi=True) if k in _FIELD_LABELS])
    session = get_session()
    job, _ = request_export(session, _settings(), kind, params, requester_key(request))
    session.commit()  # the worker must see the row before this answer reaches the client
    view = job_view(job)
    if not _wants_json():
        target = view["download_url"] or view["status_url"]
        return redirect(target, 303)
    response = jsonify({**view, "stored": job["status"] == "done"})
    response.status_code = 200 if job["status"] == "done" else 202
    response.headers["Location"] = view["status_url"]
    return response


@bp.get("")
def index():
    session = get_session()
    generation = find_export_generation(session)
    levels = grid_levels(session, generation)
    grids = [g for g in list_grid_choices(session, generation) if g["level"] >= 2]
    if not scope().everything:
        import sqlalchemy as sa

        visible = set(session.execute(sa.text("SELECT code FROM grid WHERE id = ANY(:ids)"),
                                      {"ids": sorted(scope().grid_ids)}).scalars())
        grids = [g for g in grids if g["code"] in visible]
    return render_template("exports.html", generation=generation, levels=levels, grids=grids, papers=list(PAPERS),
                           indicators=INDICATORS)


@bp.route("/diagram", methods=["GET", "POST"])
def diagram():
    fmt = _arg("format", "pdf")
    if fmt not in ("png", "pdf"):
        raise InputError(f"格式为 {fmt[:10]!r}；应为 png 或 pdf")
    atlas = _arg("atlas") == "1"
    params = {"level": _level(None), "grid": _scoped_grid(_grid()), "paper": _paper("A4"), "colour": _colour(),
              "employers": _arg("employers") == "1", "format": "pdf" if atlas else fmt}
    _existing_grid(params["grid"])
    return _start("atlas" if atlas else "diagram", params)


@bp.route("/register", methods=["GET", "POST"])
def register():
    grid = _scoped_grid(_grid())
    level = _level(None)
    if grid is None:  # the whole city: thousands of rows, a job
        return _start("register", {"grid": None, "level": level})
    from gisgrid.export.registers import export_registers

    buffer = io.BytesIO()
    export_registers(get_session(), buffer, grid_code=grid, level=level, stale_months=_settings().stale_months)
    return _send(buffer, f"用人单位登记册_{grid}", "xlsx")


@bp.route("/roster", methods=["GET", "POST"])
def roster():
    from gisgrid.export.registers import export_roster

    buffer = io.BytesIO()
    export_roster(get_session(), buffer, grid_code=_scoped_grid(_grid()), staff_minimums=_settings().staff_minimums)
    return _send(buffer, "四定人员花名册", "xlsx")


@bp.route("/package", methods=["GET", "POST"])
def package():
    if not scope().everything:
        from gisgrid.errors import Forbidden

        raise Forbidden("上报材料（全市网格图、登记册、花名册）由领导或系统管理员导出；请导出您负责网格的登记册或网格图")
    return _start("package", {"level": _level(2), "paper": _paper("A3")})


def _job_or_404(job_id: int) -> dict:
    """The job, if it exists and this user may have its file: their own, or one of their grids."""
    job = get_job(get_session(), job_id)
    if job is None:
        abort(404)
    if not scope().everything and job["requester"] != requester_key(request):
        grid = (job.get("params") or {}).get("grid")
        if job["kind"] == "package" or grid is None:
            abort(404)
        try:
            require_grid_code(get_session(), grid)
        except NotFound:
            abort(404)
    return job


@bp.get("/jobs/<int:job_id>")
def job_status(job_id: int):
    job = _job_or_404(job_id)
    if _wants_json():
        return jsonify(job_view(job))
    return render_template("export_job.html", job=job_view(job), status_text=_STATUS_TEXT[job["status"]],
                           refresh=REFRESH_S if job["status"] in ("queued", "running") else None)


@bp.get("/jobs/<int:job_id>/download")
def job_download(job_id: int):
    job = _job_or_404(job_id)
    path = result_path(_settings(), job)
    if path is None:
        if job["status"] == "done":  # its file was removed from GISGRID_HOME/exports
            raise NotFound("该导出文件已不在服务器上，请重新导出")
        raise NotFound(f"该导出尚未完成（{_STATUS_TEXT.get(job['status'], job['status'])}），完成后才能下载")
    ext = path.suffix.lstrip(".")
    return send_file(path, mimetype=MIMETYPES.get(ext), as_attachment=True, download_name=job["file_name"])

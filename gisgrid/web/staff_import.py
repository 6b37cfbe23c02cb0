"""四定 staff import in the web: upload a roster, read the dry run's report, confirm.

The file is kept server-side between the preview and the confirmation, under
``GISGRID_HOME/uploads/staff-import/`` as ``<user id>-<random token>`` (0600, with a small
JSON note of its name and SHA-256): the confirm form carries only the token, a token is
only found for the user who uploaded it, and its file is deleted when committed or after
:data:`KEEP_HOURS`. The commit checks the whole file again against the database as it is
then, so a change made between preview and confirmation is never overwritten blindly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, current_app, g, render_template, request

from gisgrid.access.staff_import import StaffImportRefused, import_staff
from gisgrid.errors import InputError
from gisgrid.labels import ROLE_LABELS
from gisgrid.web.auth import actor_label
from gisgrid.web.db import commit_change, get_session

bp = Blueprint("staff_import", __name__, url_prefix="/admin/staff")
KEEP_HOURS = 2
_TOKEN = re.compile(r"[0-9a-f]{32}")
_NAME_CHARS = 120


@bp.get("/import")
def form():
    """The upload form."""
    return render_template("staff_import.html", report=None, token=None, role_labels=ROLE_LABELS)


@bp.post("/import")
def upload():
    """A new file: keep it and show the dry run. ``token`` + ``commit=1``: import the kept file."""
    token = request.form.get("token")
    if request.form.get("commit") == "1":
        return _commit(token)
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        raise InputError("请选择要导入的花名册文件（XLSX 或 CSV，表头同“四定”人员花名册导出）")
    token, path, name = _keep(sent)
    try:
        report = import_staff(get_session(), path, actor=actor_label(), filename=name)
    except StaffImportRefused as refused:
        _forget(token)  # nothing to confirm: the file must be corrected and sent again
        return render_template("staff_import.html", report=refused.report, refused=refused.message, token=None,
                               role_labels=ROLE_LABELS)
    except InputError:
        _forget(token)
        raise
    return render_template("staff_import.html", report=report, token=token, role_labels=ROLE_LABELS)


def _commit(token: str | None):
    path, name = _kept(token)
    try:
        report = commit_change(lambda: import_staff(get_session(), path, actor=actor_label(), commit=True,
                                                    filename=name))
    except StaffImportRefused as refused:
        # The database changed since the preview (or the file did): nothing was written.
        _forget(token)
        page = render_template("staff_import.html", report=refused.report, refused=refused.message, token=None,
                               role_labels=ROLE_LABELS)
        return page, 400
    _forget(token)
    return render_template("staff_import.html", report=report, token=None, role_labels=ROLE_LABELS)


def _folder() -> Path:
    folder = Path(current_app.config["GISGRID_SETTINGS"].home) / "uploads" / "staff-import"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _keep(upload) -> tuple[str, Path, str]:
    """Save an uploaded file for this user under a new token; drop files older than KEEP_HOURS."""
    folder = _folder()
    cutoff = time.time() - KEEP_HOURS * 3600
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except FileNotFoundError:  # another request removed it first
            pass
    token = secrets.token_hex(16)
    path = folder / f"{g.user.id}-{token}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        upload.save(out)
    name = Path(upload.filename.replace("\\", "/")).name[:_NAME_CHARS] or "upload"
    note = {"name": name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(note, ensure_ascii=False), encoding="utf-8")
    return token, path, name


def _kept(token: str | None) -> tuple[Path, str]:
    """The file this user kept under ``token`` (and its name), unchanged since the preview."""
    if not token or not _TOKEN.fullmatch(token):
        raise InputError("确认导入缺少有效的文件标识：请重新上传花名册并预览")
    path = _folder() / f"{g.user.id}-{token}"
    try:
        note = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        data = path.read_bytes()
    except (OSError, ValueError):
        raise InputError(f"预览的文件已不在服务器上（已导入，或超过 {KEEP_HOURS} 小时）：请重新上传花名册并预览") from None
    if hashlib.sha256(data).hexdigest() != note.get("sha256"):
        raise InputError("服务器上保存的文件与预览时不同：请重新上传花名册并预览")
    return path, str(note.get("name") or "upload")


def _forget(token: str | None) -> None:
    if token and _TOKEN.fullmatch(token):
        path = _folder() / f"{g.user.id}-{token}"
        for part in (path, path.with_suffix(".json")):
            part.unlink(missing_ok=True)

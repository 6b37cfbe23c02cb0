"""The command-line core: the top-level group, the shared context, ``--json`` and the error guard.

Commands that write do a dry run unless given ``--commit``; every command takes
``--json``; errors exit non-zero with one clear line. With ``--json`` an error is one
JSON document on stdout, ``{"error": {"kind": …, "message": …, "details": […]}}``,
and nothing on stderr, so a script reads stdout whatever happened.

Anything unexpected (a bug, a library failing on odd input) becomes one line naming
the command, the file and the feature where known, and the log file under
``GISGRID_HOME`` (``log/gisgrid-cli.log``, created 0600) that holds the traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import tempfile
import traceback
from pathlib import Path

import click

from gisgrid.config import Settings, load_settings
from gisgrid.errors import GisgridError

LOG_NAME = "gisgrid-cli.log"


class Context:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from gisgrid.db.engine import prepare_database

            self._engine = prepare_database(self.settings)
        return self._engine


def json_option(func):
    """Add ``--json`` and print the command's returned dict/list as text or JSON."""

    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @functools.wraps(func)
    def wrapper(*args, as_json: bool, **kwargs):
        result = func(*args, **kwargs)
        if result is None:
            return
        data, text = result
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            click.echo(text)

    return wrapper


class CommandError(click.ClickException):
    """A GisgridError on its way out: one line on stderr, exit status 1."""

    def __init__(self, message: str, *, kind: str = "error", details: list | None = None):
        super().__init__(message)
        self.kind = kind
        self.details = details or []

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def error_document(kind: str, message: str, details: list | None = None) -> dict:
    """The ``--json`` form of an error."""
    return {"error": {"kind": kind, "message": message, "details": details or []}}


def echo_error_json(kind: str, message: str, details: list | None = None) -> None:
    click.echo(json.dumps(error_document(kind, message, details), ensure_ascii=False, indent=2, default=str))


class GisgridGroup(click.Group):
    """The last resort: every error of a subcommand leaves as one line (or one JSON document).

    GisgridErrors carry their own message; click's usage errors keep theirs; anything
    else is logged with its traceback and summed up in one line, exit status 1.
    """

    def invoke(self, ctx: click.Context):
        tokens = [*getattr(ctx, "_protected_args", []), *ctx.args]
        as_json = _wants_json(tokens)
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            if not as_json:
                raise
            echo_error_json(getattr(exc, "kind", "usage"), exc.format_message(), getattr(exc, "details", []))
            raise click.exceptions.Exit(exc.exit_code) from None
        except GisgridError as exc:
            if as_json:
                echo_error_json(exc.kind, exc.message, exc.details)
                raise click.exceptions.Exit(1) from None
            raise CommandError(exc.message, kind=exc.kind, details=exc.details) from None
        except Exception as exc:  # noqa: BLE001 — the guard: nothing unexpected leaves as a traceback
            message = unexpected_message(ctx, tokens, exc)
            if as_json:
                echo_error_json("internal", message, [{"exception": type(exc).__name__, "reason": _reason(exc)}])
                raise click.exceptions.Exit(1) from None
            raise CommandError(message, kind="internal") from None


def _wants_json(tokens: list[str]) -> bool:
    for token in tokens:
        if token == "--":
            return False
        if token == "--json":
            return True
    return False


def unexpected_message(ctx: click.Context, tokens: list[str], exc: BaseException) -> str:
    """One line for an unexpected exception; its traceback goes to the CLI log."""
    command = " ".join(["gisgrid", *_command_words(tokens)])
    files = [t for t in tokens if not t.startswith("-") and _is_file(t)]
    where = "".join(f" {note}" for note in getattr(exc, "__notes__", []) if note)
    log = log_traceback(ctx, command, tokens, exc)
    subject = f"{command} {Path(files[0]).name}" if files else command
    logged = f"the traceback is in {log}" if log else "the traceback could not be logged"
    return (f"{subject} failed unexpectedly{where}: {type(exc).__name__}: {_reason(exc)}; {logged} "
            "(please report it with that file)")


def _command_words(tokens: list[str]) -> list[str]:
    words = []
    for token in tokens:
        if token.startswith("-") or len(words) == 2:
            break
        words.append(token)
    return words


def _is_file(token: str) -> bool:
    try:
        return len(token) < 4096 and Path(token).is_file()
    except OSError:
        return False


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text.split(". This can occur")[0][:300] or "(no message)"


def log_traceback(ctx: click.Context, command: str, tokens: list[str], exc: BaseException) -> Path | None:
    """Append the traceback to ``GISGRID_HOME/log/gisgrid-cli.log`` (0600); its path, or None."""
    home = ctx.obj.settings.home if isinstance(ctx.obj, Context) else None
    candidates = [Path(home) / "log" / LOG_NAME] if home else []
    candidates.append(Path(tempfile.gettempdir()) / f"gisgrid-cli-{os.getuid()}.log")
    text = (f"--- {dt.datetime.now().astimezone().isoformat(timespec='seconds')} {command} "
            f"{' '.join(tokens)}\n" + "".join(traceback.format_exception(exc)))
    for path in candidates:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(path, 0o600)
            return path
        except OSError:
            continue
    return None


@click.group(cls=GisgridGroup)
@click.version_option(package_name="gisgrid")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """gisgrid — 劳动保障监察网格化管理 GIS service."""
    try:
        ctx.obj = Context(load_settings())
    except GisgridError as exc:
        raise CommandError(exc.message, kind=exc.kind) from None

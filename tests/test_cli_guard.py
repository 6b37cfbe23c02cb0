"""The CLI guard (gisgrid/cli/base.py): nothing unexpected leaves a command as a traceback.

An unexpected exception becomes one stderr line naming the command, the file and the
log (GISGRID_HOME/log/gisgrid-cli.log, 0600) that holds the traceback, exit status 1;
with ``--json`` it is ``{"error": {"kind", "message", "details"}}`` on stdout. A
GisgridError keeps its own message and kind and logs nothing.

The failure is injected into ``read_grid_file``, which ``gisgrid grids import`` calls
before it opens the database, so these tests need no cluster.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gisgrid.errors import InputError, NotFound

MESSAGE = "坐标串解析失败：第 3 个要素"


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def grid_path(tmp_path) -> Path:
    path = tmp_path / "村界.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    return path


@pytest.fixture
def invoke(home):
    from gisgrid.cli import cli

    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, [str(a) for a in args], env={"GISGRID_HOME": str(home)},
                             catch_exceptions=False)

    return run


def _raise(exc: BaseException):
    def read_grid_file(*args, **kwargs):
        raise exc
    return read_grid_file


@pytest.fixture
def boom(monkeypatch):
    monkeypatch.setattr("gisgrid.boundaries.read.read_grid_file", _raise(RuntimeError(MESSAGE)))


def _log(home: Path) -> Path:
    return home / "log" / "gisgrid-cli.log"


def test_unexpected_error_is_one_line_naming_command_file_and_log(invoke, boom, home, grid_path):
    result = invoke("grids", "import", grid_path, "--level", "3")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: gisgrid grids import 村界.geojson failed unexpectedly")
    assert f"RuntimeError: {MESSAGE}" in line
    assert str(_log(home)) in line
    assert "Traceback" not in result.output


def test_traceback_is_logged_to_a_private_file(invoke, boom, home, grid_path):
    invoke("grids", "import", grid_path, "--level", "3")
    log = _log(home)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and f"RuntimeError: {MESSAGE}" in text
    assert "gisgrid grids import" in text and "--level 3" in text
    invoke("grids", "import", grid_path, "--level", "3")
    assert log.read_text(encoding="utf-8").count("Traceback") == 2   # appended, never truncated


def test_unexpected_error_with_json_is_one_document_on_stdout(invoke, boom, home, grid_path):
    result = invoke("grids", "import", grid_path, "--level", "3", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert set(error) == {"kind", "message", "details"}
    assert error["kind"] == "internal"
    assert "gisgrid grids import 村界.geojson failed unexpectedly" in error["message"]
    assert str(_log(home)) in error["message"]
    assert error["details"] == [{"exception": "RuntimeError", "reason": MESSAGE}]


def test_exception_notes_say_where(invoke, monkeypatch, grid_path):
    exc = ValueError("bad ring")
    exc.add_note("at feature 7")
    monkeypatch.setattr("gisgrid.boundaries.read.read_grid_file", _raise(exc))
    line = invoke("grids", "import", grid_path, "--level", "3").stderr.strip()
    assert "failed unexpectedly at feature 7: ValueError: bad ring" in line


@pytest.mark.parametrize("exc, kind", [
    (InputError("字段 代码 不存在：可用字段 名称, 上级代码"), "input"),
    (NotFound("没有名为 2027版 的网格版本"), "not_found"),
])
def test_known_error_keeps_its_message_and_kind(invoke, monkeypatch, home, grid_path, exc, kind):
    monkeypatch.setattr("gisgrid.boundaries.read.read_grid_file", _raise(exc))
    text = invoke("grids", "import", grid_path, "--level", "3")
    assert text.exit_code == 1 and text.stdout == ""
    assert text.stderr == f"error: {exc.message}\n"
    as_json = invoke("grids", "import", grid_path, "--level", "3", "--json")
    assert as_json.exit_code == 1 and as_json.stderr == ""
    assert json.loads(as_json.stdout) == {"error": {"kind": kind, "message": exc.message, "details": []}}
    assert not _log(home).exists()   # a known error is not a bug: no traceback kept


def test_usage_error_keeps_clicks_message_and_exit_2(invoke, grid_path):
    result = invoke("grids", "import", grid_path, "--level", "three")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'three' is not a valid integer" in result.stderr
    as_json = invoke("grids", "import", grid_path, "--level", "three", "--json")
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["error"]["kind"] == "usage"


def test_console_entry_point_in_a_real_process(home, grid_path):
    """``gisgrid.cli:main`` as the console script runs it: exit 1, one line, no traceback."""
    script = ("import sys, gisgrid.boundaries.read as read\n"
              "def boom(*a, **k): raise KeyError('坐标')\n"
              "read.read_grid_file = boom\n"
              "from gisgrid.cli import main\n"
              "main(sys.argv[1:])\n")
    done = subprocess.run([sys.executable, "-c", script, "grids", "import", str(grid_path), "--level", "3"],
                          capture_output=True, text=True, timeout=120,
                          env={"GISGRID_HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "gisgrid grids import 村界.geojson failed unexpectedly: KeyError: '坐标'" in done.stderr
    assert "Traceback" in _log(home).read_text(encoding="utf-8")

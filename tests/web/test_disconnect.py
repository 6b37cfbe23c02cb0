"""A client that hangs up in the middle of a large download leaves the server as it was.

A raw socket (a small receive buffer, so the server is still writing when it goes) sends a
logged-in request for a large answer — the city's employer GeoJSON (~6 MB, more than the
socket buffers hold, so the server is cut off mid-write), a street's register workbook —
reads a few bytes and closes (plainly, or with a reset). Afterwards the server
answers the next requests in full, the export queue is as before (no job row added or left
running), the web role holds no open transaction, and the app logged no error.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import struct
import time
from urllib.parse import urlsplit

import openpyxl
import pytest
import sqlalchemy as sa

from gisgrid.db.engine import get_engine
from tests.auth_helpers import session_cookie
from tests.live import serve_live
from tests.jobs.conftest import city_client, city_settings, city_url  # noqa: F401  (fixtures)

LARGE = ["/api/employers.geojson", "/exports/register?grid=419901001"]


def _hang_up(port: int, path: str, cookie: str, *, reset: bool) -> bytes:
    """Send ``path``, read the first bytes of the answer, close the connection; return those bytes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server cannot write it all ahead
    sock.settimeout(120)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
                 "Connection: close\r\n\r\n".encode("ascii"))
    got = b""
    while len(got) < 2048:
        chunk = sock.recv(2048 - len(got))
        if not chunk:
            break
        got += chunk
    if reset:  # an abortive close: RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return got


def _get(port: int, path: str, cookie: str) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type") or ""
    finally:
        conn.close()


def _jobs(demo_url) -> list[tuple]:
    with get_engine(demo_url).connect() as conn:
        return conn.execute(sa.text("SELECT id, status, finished_at IS NULL FROM export_job ORDER BY id")).all()


def _open_transactions(demo_url) -> list[tuple]:
    with get_engine(demo_url).connect() as conn:
        return conn.execute(sa.text(
            "SELECT pid, usename, state, left(query, 80) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state IN ('idle in transaction', 'idle in transaction (aborted)', 'active')")).all()


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_a_client_hanging_up_mid_download_leaves_the_server_answering(demo_app, demo_url, caplog, reset):
    name, token = session_cookie(demo_app, "admin")
    cookie = f"{name}={token}"
    jobs_before = _jobs(demo_url)
    with get_engine(demo_url).connect() as conn:
        located = conn.execute(sa.text("SELECT count(*) FROM employer WHERE geom IS NOT NULL")).scalar()
    with caplog.at_level(logging.WARNING), serve_live(demo_app) as url:
        port = urlsplit(url).port
        for path in LARGE:
            head = _hang_up(port, path, cookie, reset=reset)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]  # logged in, and the answer had begun
        for path in LARGE * 2:  # again, while the hung-up answers may still be being written off
            _hang_up(port, path, cookie, reset=reset)
        # The next requests are answered in full.
        status, body, kind = _get(port, "/api/employers.geojson", cookie)
        assert status == 200 and "geo+json" in kind
        # More than the server's socket send buffer (tcp_wmem max 4 MiB) and the client's 4 KiB
        # window hold: the server was still writing this answer when the client hung up.
        assert len(body) > 4_500_000, len(body)
        assert len(json.loads(body)["features"]) == located
        status, body, kind = _get(port, "/exports/register?grid=419901001", cookie)
        assert status == 200 and "spreadsheetml" in kind and body[:2] == b"PK"
        assert openpyxl.load_workbook(io.BytesIO(body)).worksheets  # a whole workbook, not a cut one
        status, body, _ = _get(port, "/grids/419901001", cookie)
        assert status == 200 and "419901001".encode() in body
    # Nothing half-done: the export queue as before, no transaction of the app left open.
    assert _jobs(demo_url) == jobs_before
    deadline = time.monotonic() + 10
    while _open_transactions(demo_url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_transactions(demo_url) == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [(r.name, r.getMessage()[:200]) for r in errors]


def test_hanging_up_mid_download_of_a_finished_package(city_client, city_settings, city_url, caplog):  # noqa: F811
    """The filing package, built by the worker, downloaded from its job: the client goes after
    2 KiB; the stored file is untouched, the job stays done, and the next download is whole."""
    import zipfile

    from gisgrid.jobs.queue import run_worker

    job = city_client.post("/exports/package?level=2&paper=A4", headers={"Accept": "application/json"}).json
    run_worker(city_settings, wait=False)
    status = city_client.get(job["status_url"], headers={"Accept": "application/json"}).json
    assert status["status"] == "done", status
    app = city_client.application
    name, token = session_cookie(app, "admin")
    cookie = f"{name}={token}"
    download = status["download_url"]
    with caplog.at_level(logging.WARNING), serve_live(app) as url:
        port = urlsplit(url).port
        for reset in (False, True, False):
            head = _hang_up(port, download, cookie, reset=reset)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
        code, body, kind = _get(port, download, cookie)
    assert code == 200 and "zip" in kind and status["size"] == len(body)
    assert zipfile.ZipFile(io.BytesIO(body)).testzip() is None  # a whole archive
    assert _jobs(city_url)[-1][1] == "done"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [(r.name, r.getMessage()[:200]) for r in errors]

"""What the benchmarks that run the product as a person does share: a free port, the
``gisgrid`` command as a subprocess, waiting for ``gisgrid serve`` to answer, and p50/p95.

Only loopback addresses are contacted; every wait is bounded.
"""

from __future__ import annotations

import http.client
import math
import socket
import statistics
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gisgrid(*args: str) -> list[str]:
    """The command line of ``gisgrid ARGS…`` in this Python."""
    return [sys.executable, "-c", "from gisgrid.cli import main; main()", *args]


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of sorted ``ordered`` (as benchmarks/maps.py)."""
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def percentiles(values: list[float]) -> dict:
    """n, p50, p95 and max of durations in seconds, reported in milliseconds."""
    ordered = sorted(values)
    return {"n": len(values), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(percentile(ordered, 0.95) * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


def wait_until_up(port: int, process: subprocess.Popen, seconds: float = 300) -> None:
    """Until ``gisgrid serve`` on ``port`` answers its login page (exit if it died or never does)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gisgrid serve exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", "/login")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"gisgrid serve did not answer within {seconds:g} s")

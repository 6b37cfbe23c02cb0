"""Benchmark: a plain page while ten clients ask for heavy exports at once.

Runs the product as a person runs it: ``gisgrid demo`` loads the demonstration city (20,000
employers) into a private cluster under --home, then ``gisgrid serve`` (waitress, 8 threads,
with its export worker as a child process) serves it on a free local port. In one run it
times ``/grids/<code>`` --samples times alone (the baseline), then sends 10 heavy export
requests at once — each from its own loopback address (127.0.0.2 …), as ten clients would,
each a different export (packages, atlases, whole-city register, diagrams) so that none is a
stored result or the same job — and times the same page again while the worker builds them.
It reports the plain page's p50/p95 with and without the load, how fast the heavy requests
were answered, and how far the jobs got. Budget: the plain page ≤ 1 s at p95 under the load.

The app requires a login: the demo's accounts get GISGRID_DEMO_PASSWORD (--password), and
every client logs in over HTTP through the login form (benchmarks/weblogin.py). The page is
timed as ``planner``; the ten heavy clients are ten different users — ``admin``, ``leader``
and eight leaders ``bench-exporter-1`` … made with ``gisgrid users add … --password-stdin
--commit`` — so the per-user export limit (GISGRID_EXPORT_JOBS_PER_CLIENT, default 2, counted
per logged-in user) is left at its default and never refuses one of them.

Only loopback addresses are contacted; every loop is bounded in count and time.

    python benchmarks/exports_load.py [--home DIR] [--samples 40] [--load-seconds 240] [--grid 419901001]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served import free_port, gisgrid, percentiles, wait_until_up  # noqa: E402
from weblogin import log_in, log_in_for_writes  # noqa: E402

HEAVY = [
    "/exports/package?level=2&paper=A3",
    "/exports/package?level=2&paper=A4",
    "/exports/diagram?atlas=1&paper=A3",
    "/exports/diagram?atlas=1&paper=A4&colour=risk_share",
    "/exports/register",
    "/exports/diagram?format=pdf&paper=A3",
    "/exports/diagram?format=png&level=3&paper=A4",
    "/exports/diagram?format=pdf&paper=A4&employers=1",
    "/exports/diagram?format=png&paper=A4&colour=insured_rate",
    "/exports/diagram?format=pdf&paper=A3&colour=contract_rate",
]


#: The accounts of the ten heavy clients: the demo's admin and leader, then leaders made here.
EXPORTERS = ["admin", "leader"] + [f"bench-exporter-{i}" for i in range(1, len(HEAVY) - 1)]
PAGE_USER = "planner"  # grids.read: may open grid pages, never exports
COOKIES: dict[str, str] = {}  # user name -> Cookie header of its login session
TOKENS: dict[str, str] = {}  # user name -> CSRF token (starting an export is a POST)


def get(port: int, path: str, source: str = "127.0.0.1", timeout: float = 120,
        user: str | None = PAGE_USER, method: str = "GET") -> tuple[int, bytes, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    headers = {"Accept": "application/json"}
    if user is not None and user in COOKIES:
        headers["Cookie"] = COOKIES[user]
    if method == "POST" and user in TOKENS:
        headers["X-CSRFToken"] = TOKENS[user]
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status, body, time.perf_counter() - start


def time_page(port: int, path: str, samples: int, until=None, pause: float = 0.25,
              since: float | None = None, slow: list | None = None) -> list[float]:
    """Time ``path`` ``samples`` times; with ``slow``, also record (seconds after ``since``, ms) of each."""
    times = []
    for _ in range(samples):
        sent = time.perf_counter()
        status, _, seconds = get(port, path)
        assert status == 200, (path, status)
        times.append(seconds)
        if slow is not None:
            slow.append((round(sent - since, 1), round(seconds * 1000, 1)))
        if until is not None and until():
            break
        time.sleep(pause)
    return times


def heavy_client(port: int, index: int, path: str, deadline: float, results: list) -> None:
    source, user = f"127.0.0.{2 + index}", EXPORTERS[index]
    status, body, answered = get(port, path, source, user=user, method="POST")
    record = {"path": path, "client": source, "user": user, "status": status, "answered_s": round(answered, 3)}
    results[index] = record
    if status not in (200, 202):
        record["error"] = body[:200].decode("utf-8", "replace")
        return
    job = json.loads(body)
    record["job"] = job["id"]
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1.0)
        _, body, _ = get(port, job["status_url"], source, user=user)
        job = json.loads(body)
        record["progress"] = job["progress"]
    record["final"] = job["status"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="GISGRID_HOME to use (default: a new temporary one)")
    parser.add_argument("--db-port", type=int, help="port of its private cluster (default: a free one)")
    parser.add_argument("--samples", type=int, default=40, help="plain-page requests per phase")
    parser.add_argument("--load-seconds", type=float, default=240, help="longest time to time the page under load")
    parser.add_argument("--grid", default="419901001", help="the grid page to time (/grids/CODE)")
    parser.add_argument("--password", default="Bench-demo-2026",
                        help="GISGRID_DEMO_PASSWORD of the demo's accounts and of the accounts made here")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="gisgrid-exports-load-"))
    env = {**os.environ, "GISGRID_HOME": str(home), "GISGRID_DB_PORT": str(args.db_port or free_port()),
           "GISGRID_DEMO_PASSWORD": args.password}
    env.pop("GISGRID_DATABASE_URL", None)
    print(f"GISGRID_HOME={home}; loading the demo city …", flush=True)
    subprocess.run(gisgrid("demo"), env=env, check=True, stdout=subprocess.DEVNULL)
    for name in EXPORTERS[2:]:
        subprocess.run(gisgrid("users", "add", name, "--role", "leader", "--password-stdin", "--commit"), env=env,
                       input=args.password + "\n", text=True, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen(gisgrid("serve", "--port", str(port)), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(port, server)
        COOKIES[PAGE_USER] = log_in(port, PAGE_USER, args.password)
        for index, name in enumerate(EXPORTERS):
            COOKIES[name], TOKENS[name] = log_in_for_writes(port, name, args.password, source=f"127.0.0.{2 + index}")
        page = f"/grids/{args.grid}"
        time_page(port, page, 3)  # warm up: imports, caches, connections
        baseline = time_page(port, page, args.samples)

        results: list = [None] * len(HEAVY)
        deadline = time.monotonic() + args.load_seconds
        clients = [threading.Thread(target=heavy_client, args=(port, i, path, deadline, results))
                   for i, path in enumerate(HEAVY)]
        load_started = time.perf_counter()
        for client in clients:
            client.start()

        def jobs_over() -> bool:
            return all(not c.is_alive() for c in clients) or time.monotonic() > deadline

        time.sleep(0.5)  # let the ten requests land first
        samples: list = []
        loaded = time_page(port, page, 100_000, until=jobs_over, since=load_started, slow=samples)
        for client in clients:
            client.join(timeout=max(0.0, deadline - time.monotonic()) + 60)
        load_seconds = time.perf_counter() - load_started
    finally:
        server.send_signal(signal.SIGTERM)  # its worker child gets SIGTERM with it
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        subprocess.run(gisgrid("db", "down"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    done = [r for r in results if r and r.get("final") == "done"]
    answered = [r["answered_s"] for r in results if r]
    report = {
        "page": page,
        "plain_page_alone": percentiles(baseline),
        "plain_page_under_10_heavy_exports": percentiles(loaded),
        "heavy_requests_answered": percentiles(answered),
        "heavy_statuses": sorted({r["status"] for r in results if r}),
        "jobs_done_during_load": len(done), "load_window_s": round(load_seconds, 1),
        # When the slow ones came (s after the heavy requests were sent, ms): a burst at the start
        # points at the requests themselves, a spread at the worker's exports.
        "slowest_under_load": sorted(samples, key=lambda s: -s[1])[:8],
        "jobs": results,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    p95 = report["plain_page_under_10_heavy_exports"]["p95_ms"]
    verdict = "within" if p95 <= 1000 else "OVER"
    print(f"plain page p50/p95: alone {report['plain_page_alone']['p50_ms']}/{report['plain_page_alone']['p95_ms']} ms, "
          f"under 10 heavy exports {report['plain_page_under_10_heavy_exports']['p50_ms']}/{p95} ms "
          f"({verdict} the 1 s budget); heavy requests answered in p95 "
          f"{report['heavy_requests_answered']['p95_ms']} ms; {len(done)}/{len(HEAVY)} jobs done in "
          f"{report['load_window_s']} s")


if __name__ == "__main__":
    main()

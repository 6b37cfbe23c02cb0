"""Benchmark: the demo served by ``gisgrid serve`` (waitress) under 20 concurrent logged-in clients.

Runs the product as a person runs it: ``gisgrid demo`` loads the demonstration city (20,000
employers) into a private cluster under --home, with GISGRID_DEMO_PASSWORD (--password) as
the demo accounts' password; ``gisgrid serve`` serves it on a free local port. Each of
--clients clients (default 20) logs in over HTTP through the login form
(benchmarks/weblogin.py) from its own loopback address 127.0.0.<n>, as admin, leader or a
street inspector ``jc<street>-1`` (scoped to that street), and then, for --seconds (bounded
also by --max-requests per client), sends a mix of what people open: the city page (an
inspector's own-grids list ``/my?all=1``), grid pages, employer GeoJSON of a grid, employer tiles
(z10–z12 cells, z14–z15 points), search, and employer pages, choosing its next request at
random (seeded) among the paths its account may see. It reports p50/p95/max per kind, the
statuses seen, and every error (a status other than 200/204 — a search's redirect to its one
hit excepted, not to the login — or a failed connection): there must be none.

Only loopback addresses are contacted; every loop is bounded in count and time.

    python benchmarks/load.py [--home DIR] [--clients 20] [--seconds 60] [--max-requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served import free_port, gisgrid, percentiles, wait_until_up  # noqa: E402
from weblogin import log_in  # noqa: E402

from gisgrid.config import Settings  # noqa: E402
from gisgrid.db.cluster import LocalCluster  # noqa: E402


def tile(z: int, lon: float, lat: float) -> str:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"/tiles/employers/{z}/{x}/{y}.pbf"


def plan(url: str, streets_per_inspector: int = 1) -> dict:
    """What the clients ask for, read from the demo database (as its owner, once, before the load)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            gen = conn.execute(sa.text("SELECT id FROM generation WHERE status = 'active'")).scalar_one()
            grids = conn.execute(sa.text(
                "SELECT g.id, g.code, g.name, g.level, ST_X(ST_PointOnSurface(g.geom)) AS lon, "
                "ST_Y(ST_PointOnSurface(g.geom)) AS lat FROM grid g WHERE g.generation_id = :g ORDER BY g.code"),
                {"g": gen}).mappings().all()
            employers = conn.execute(sa.text(
                "SELECT e.id, e.credit_code, e.name, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, g.code AS grid "
                "FROM employer e JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :g "
                "JOIN grid g ON g.id = a.grid_id WHERE e.geom IS NOT NULL ORDER BY e.id"),
                {"g": gen}).mappings().all()
            inspectors = conn.execute(sa.text(
                "SELECT username FROM app_user WHERE role = 'inspector' AND username LIKE 'jc%-1' "
                "ORDER BY username")).scalars().all()
    finally:
        engine.dispose()
    return {"grids": [dict(g) for g in grids], "employers": [dict(e) for e in employers],
            "inspectors": list(inspectors)}


def paths_for(data: dict, street: str | None, rng: random.Random) -> dict[str, list[str]]:
    """Paths per kind for an account that sees everything (street None) or one street's grids."""
    grids = [g for g in data["grids"] if street is None or g["code"].startswith(street)]
    employers = [e for e in data["employers"] if street is None or e["grid"].startswith(street)]
    sample = rng.sample(employers, min(200, len(employers)))
    named = rng.sample(employers, min(20, len(employers)))
    return {
        # An inspector's "/" redirects to "/my", and that to their grid when they have one: the list.
        "city page": ["/"] if street is None else ["/my?all=1"],
        "grid page": [f"/grids/{g['code']}" for g in grids],
        "geojson": [f"/api/employers.geojson?grid={g['code']}" for g in grids if g["level"] >= 3] or
                   [f"/api/employers.geojson?grid={g['code']}" for g in grids],
        "tile": [tile(z, e["lon"], e["lat"]) for e in sample[:40] for z in (10, 11, 12, 14, 15)],
        "search": [f"/search?q={quote(text)}" for text in
                   [g["code"][:6] for g in grids[:5]] + [e["name"][:2] for e in named]],
        "employer page": [f"/employers/{quote(e['credit_code'] or str(e['id']))}" for e in sample],
    }


def request(port: int, path: str, cookie: str, source: str, timeout: float = 60) -> tuple[int, str, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status, response.getheader("Location") or "", time.perf_counter() - start


LOCK = threading.Lock()


def client(port: int, index: int, cookie: str, paths: dict[str, list[str]], until: float, max_requests: int,
           seed: int, out: dict) -> None:
    rng = random.Random(seed * 1000 + index)
    source = f"127.0.0.{2 + index}"
    kinds = list(paths)
    for _ in range(max_requests):
        if time.monotonic() > until:
            break
        kind = rng.choice(kinds)
        path = rng.choice(paths[kind])
        try:
            status, location, seconds = request(port, path, cookie, source)
        except (OSError, http.client.HTTPException) as exc:
            with LOCK:
                    out["errors"].append({"client": index, "kind": kind, "path": path, "error": repr(exc)[:200]})
            continue
        with LOCK:
            out["times"].setdefault(kind, []).append(seconds)
            out["statuses"][status] = out["statuses"].get(status, 0) + 1
            # A search with one hit answers with a redirect to it: fine, unless it is to the login.
            redirect = status in (302, 303) and kind == "search" and not location.split("?")[0].endswith("/login")
            if status not in (200, 204) and not redirect:
                out["errors"].append({"client": index, "kind": kind, "path": path, "status": status})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="GISGRID_HOME to use (default: a new temporary one)")
    parser.add_argument("--db-port", type=int, help="port of its private cluster (default: a free one)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients send requests")
    parser.add_argument("--max-requests", type=int, default=2000, help="most requests per client")
    parser.add_argument("--password", default="Bench-demo-2026", help="GISGRID_DEMO_PASSWORD of the demo accounts")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if not 1 <= args.clients <= 200:
        raise SystemExit("--clients must be 1–200")

    home = args.home or Path(tempfile.mkdtemp(prefix="gisgrid-load-"))
    db_port = args.db_port or free_port()
    env = {**os.environ, "GISGRID_HOME": str(home), "GISGRID_DB_PORT": str(db_port),
           "GISGRID_DEMO_PASSWORD": args.password}
    env.pop("GISGRID_DATABASE_URL", None)
    print(f"GISGRID_HOME={home}; loading the demo city …", flush=True)
    subprocess.run(gisgrid("demo"), env=env, check=True, stdout=subprocess.DEVNULL)
    data = plan(LocalCluster(Settings(home=home, db_port=db_port)).url)
    rng = random.Random(args.seed)
    # Accounts: admin and leader see the city; the rest are street inspectors (their scope).
    accounts: list[tuple[str, str | None]] = [("admin", None), ("leader", None)]
    inspectors = data["inspectors"]
    for i in range(args.clients - 2):
        name = inspectors[i % len(inspectors)] if inspectors else "admin"
        accounts.append((name, name[2:].rsplit("-", 1)[0] if inspectors else None))
    accounts = accounts[:args.clients]

    port = free_port()
    log_path = home / "serve-load.log"
    log = open(log_path, "wb")
    server = subprocess.Popen(gisgrid("serve", "--port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT)
    out: dict = {"times": {}, "statuses": {}, "errors": []}
    try:
        wait_until_up(port, server)
        cookies = [log_in(port, name, args.password, source=f"127.0.0.{2 + i}") for i, (name, _) in enumerate(accounts)]
        paths = [paths_for(data, street, rng) for _, street in accounts]
        for i, cookie in enumerate(cookies[:3]):  # warm up: imports, templates, connections
            for kind, ps in paths[i].items():
                request(port, ps[0], cookie, f"127.0.0.{2 + i}")
        started = time.perf_counter()
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(port, i, cookies[i], paths[i], until, args.max_requests,
                                                         args.seed, out)) for i in range(len(accounts))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.seconds + 180)
        elapsed = time.perf_counter() - started
        hung = sum(thread.is_alive() for thread in threads)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        subprocess.run(gisgrid("db", "down"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    total = sum(len(t) for t in out["times"].values())
    app_errors = [line for line in log_path.read_text("utf-8", "replace").splitlines()
                  if "Traceback" in line or " ERROR " in line or "Exception" in line]
    report = {
        "clients": len(accounts), "accounts": sorted({name for name, _ in accounts}),
        "seconds": round(elapsed, 1), "requests": total, "requests_per_s": round(total / elapsed, 1),
        "per_kind": {kind: percentiles(t) for kind, t in sorted(out["times"].items())},
        "statuses": {str(k): v for k, v in sorted(out["statuses"].items())},
        "errors": len(out["errors"]), "first_errors": out["errors"][:10], "clients_still_running": hung,
        "server_log": str(log_path), "server_log_error_lines": app_errors[:10],
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    line = ", ".join(f"{k} {v['p50_ms']}/{v['p95_ms']}" for k, v in report["per_kind"].items())
    print(f"{len(accounts)} clients, {total} requests in {report['seconds']} s: p50/p95 ms {line}; "
          f"errors {len(out['errors'])} (must be 0)")
    if out["errors"] or hung:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Benchmark the web map: initial HTML size at 1,000 vs 1,000,000 employers, and vector tiles.

Loads the demonstration city (grids from data/shapes through the normal import functions,
1,000 employers) into a throwaway PostGIS cluster (or GISGRID_DATABASE_URL when set — it is
then modified), measures the size of ``/``, then adds employers up to --employers (copies
of the demo employers jittered by up to ~300 m, written with one INSERT, reassigned by
:func:`gisgrid.analysis.assign.assign_employers`) and measures ``/`` again and the time of
--tiles employer tiles per zoom at city zoom (z10–z12 unless --zooms) through the Flask endpoint,
printing p50/p95/max per zoom.  Budget: tile p95 ≤ 100 ms.

The app requires a login and connects as the web role (row-level security, migration 0007,
applies to it; the throwaway cluster makes that role, an external database needs
GISGRID_WEB_DATABASE_URL, else the app falls back to the owner and RLS is not measured).
Clients get a login session made directly (gisgrid.access.start_session), as ``admin``.

Then the scope's cost (--scoped N, 0 to skip): the same requests — the street page
/grids/<--street>, /api/employers.geojson?grid=<street>, and employer tiles at z10–z12 and
z14 over that street — as ``admin`` (sees everything) and as the street's inspector
``jc<street>-1`` (the scope gate, RLS on ``employer.grid_id`` and, below z13, the per-grid
cells of ``employer_grid_cell`` summed over their grids; migration 0008), interleaved, N of each; p50/p95 per kind for both and the inspector/admin ratio
at p95. Budget: ≤ 1.10 (the gate and RLS cost ≤ 10 % at p95). Admin runs under RLS too (its
policy is a ``gisgrid_sees_all()`` test per row); admin with RLS against the pre-RLS code
cannot be measured in one run, so only admin against inspector is compared.

--pages (on by default; --no-pages to skip) opens the city page ``/`` and the street page
/grids/<--street> in headless Chromium (/usr/bin/chromium) at 1,000 and at --pages-at employers
(default 20,000) and reports what each moved (HTML, scripts and data, decoded bytes, i.e. before
gzip) and when it settled (the last resource or long task, followed by 700 ms of quiet),
median of --page-runs. Baseline in the same run: the same pages drawing employers as
clustered GeoJSON (GISGRID_MAP_TILES_ABOVE past the count), as every page did before issue 15.
Budget: ≤ 1.5 MB and ≤ 1.5 s at 20,000 employers.

--explain prints the tile queries' plans through the web role (GiST index used or not, how the
policies are evaluated).

    python benchmarks/maps.py [--employers 1000000] [--pages-at 20000] [--page-runs 3] [--tiles 50] [--zooms 10 11 12 13] [--scoped 40] [--explain]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from assign import close_database, database  # noqa: E402  (throwaway cluster, same as benchmarks/assign.py)

from gisgrid.analysis.assign import assign_employers  # noqa: E402
from gisgrid.access import start_session  # noqa: E402
from gisgrid.config import Settings, load_settings  # noqa: E402
from gisgrid.db.engine import session_scope  # noqa: E402
from gisgrid.demo.load import load_demo  # noqa: E402
from gisgrid.web import create_app  # noqa: E402


PASSWORD = "Bench-demo-2026"
_APP: dict = {}


def app_settings(home: Path, cluster) -> Settings:
    """The app's settings: the throwaway cluster (its web role), or the environment's database."""
    if cluster is not None:
        return Settings(home=cluster.home, db_port=cluster.port)
    return dataclasses.replace(load_settings(), home=home)


def the_app(home: Path, cluster):
    if "app" not in _APP:
        _APP["app"] = create_app({"TESTING": True}, settings=app_settings(home, cluster))
    return _APP["app"]


def logged_in_client(engine, app, username: str):
    """A test client of ``app`` with a new login session of ``username`` (made with the owner)."""
    from gisgrid.web.auth import cookie_name

    with session_scope(engine) as session:
        user_id = session.execute(sa.text("SELECT id FROM app_user WHERE username = :u"),
                                  {"u": username}).scalar_one()
        token = start_session(session, user_id, "127.0.0.1")
    client = app.test_client()
    client.set_cookie(cookie_name(app), token)
    return client


def page_size(engine, home: Path, cluster) -> tuple[int, float, bool]:
    client = logged_in_client(engine, the_app(home, cluster), "admin")
    start = time.perf_counter()
    response = client.get("/")
    assert response.status_code == 200, response.status_code
    body = response.get_data()
    return len(body), time.perf_counter() - start, b"/tiles/employers/" in body


# Settled: no resource and no long task for 700 ms; then what the page moved, decoded.
_SETTLE_JS = """() => new Promise(resolve => {
    let last = performance.now();
    new PerformanceObserver(list => {
        for (const e of list.getEntries()) { last = Math.max(last, e.startTime + e.duration); }
    }).observe({entryTypes: ['longtask', 'resource']});
    const check = () => {
        if (performance.now() - last < 700) { setTimeout(check, 100); return; }
        const nav = performance.getEntriesByType('navigation')[0];
        let bytes = nav.decodedBodySize, end = last;
        for (const r of performance.getEntriesByType('resource')) { bytes += r.decodedBodySize; end = Math.max(end, r.responseEnd); }
        resolve({settle: end, bytes, html: nav.decodedBodySize});
    };
    setTimeout(check, 100);
})"""


def browser_pages(engine, home: Path, cluster, paths: list[str], runs: int) -> dict[tuple[str, str], dict]:
    """{(variant, path): {"bytes", "html", "settle"}} for the app as configured and the GeoJSON baseline."""
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server
    import threading

    from gisgrid.web.auth import cookie_name

    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    base_settings = app_settings(home, cluster)
    variants = {"now": base_settings,
                "baseline (GeoJSON clusters)": dataclasses.replace(base_settings, map_tiles_above=10**9)}
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        for variant, settings in variants.items():
            app = create_app({"TESTING": True}, settings=settings)
            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_port}"
            with session_scope(engine) as session:
                user_id = session.execute(sa.text("SELECT id FROM app_user WHERE username = 'admin'")).scalar_one()
                token = start_session(session, user_id, "127.0.0.1")
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.add_cookies([{"name": cookie_name(app), "value": token, "url": url}])
            try:
                for path in paths:
                    seen = []
                    for _ in range(runs + 1):  # the first run warms the server's caches
                        page = context.new_page()
                        page.goto(url + path, wait_until="load")
                        seen.append(page.evaluate(_SETTLE_JS))
                        page.close()
                    seen = seen[1:]
                    results[(variant, path)] = {
                        "bytes": statistics.median(r["bytes"] for r in seen),
                        "html": statistics.median(r["html"] for r in seen),
                        "settle": statistics.median(r["settle"] for r in seen) / 1000}
            finally:
                context.close()
                server.shutdown()
        browser.close()
    return results


def report_pages(results: dict, employers: int) -> None:
    for (variant, path), r in results.items():
        print(f"{path} at {employers:,} employers, {variant}: {r['bytes'] / 1e6:.2f} MB moved "
              f"(HTML {r['html'] / 1e6:.2f} MB), settled {r['settle']:.2f} s")
    for (variant, path), r in results.items():
        if variant == "now":
            b = results[("baseline (GeoJSON clusters)", path)]
            print(f"{path} at {employers:,}: {r['bytes'] / b['bytes']:.2f} x the baseline's bytes, "
                  f"{r['settle'] / b['settle']:.2f} x its settle time (budget ≤ 1.5 MB, ≤ 1.5 s)")


def grow(engine, total: int) -> float:
    start = time.perf_counter()
    with session_scope(engine) as session:
        have = session.execute(sa.text("SELECT count(*) FROM employer")).scalar()
        session.execute(sa.text("""
            INSERT INTO employer (name, geom, risk_level)
            SELECT '基准单位' || i,
                   ST_SetSRID(ST_MakePoint(ST_X(e.geom) + (random() - 0.5) * 0.006,
                                           ST_Y(e.geom) + (random() - 0.5) * 0.006), 4490),
                   e.risk_level
            FROM generate_series(1, :n) i
            JOIN (SELECT row_number() OVER () - 1 AS k, geom, risk_level FROM employer
                  WHERE geom IS NOT NULL) e ON e.k = i % :have
        """), {"n": total - have, "have": have})
        assign_employers(session)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return time.perf_counter() - start


def tile_addresses(z: int, minx: float, miny: float, maxx: float, maxy: float) -> list[tuple[int, int, int]]:
    n_ = 2**z
    x0, x1 = int((minx + 180) / 360 * n_), int((maxx + 180) / 360 * n_)
    ys = [int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n_) for lat in (maxy, miny)]
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(ys[0], ys[1] + 1)]


def time_tiles(engine, home: Path, cluster, n: int, zooms=(10, 11, 12)) -> dict[int, list[float]]:
    """Seconds per tile request, ``n`` requests per zoom over the tiles covering the employers."""
    client = logged_in_client(engine, the_app(home, cluster), "admin")
    with engine.connect() as conn:
        minx, miny, maxx, maxy = conn.execute(sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM employer) t")).one()
    times: dict[int, list[float]] = {}
    for z in zooms:
        addresses = tile_addresses(z, minx, miny, maxx, maxy)
        addresses = (addresses * (n // len(addresses) + 1))[:n]
        client.get("/tiles/employers/%d/%d/%d.pbf" % addresses[0])  # warm the connection
        times[z] = []
        for z_, x, y in addresses:
            start = time.perf_counter()
            response = client.get(f"/tiles/employers/{z_}/{x}/{y}.pbf")
            times[z].append(time.perf_counter() - start)
            assert response.status_code in (200, 204) and len(response.data) <= 500_000, (z_, x, y)
    return times


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def scoped_requests(engine, street: str) -> list[tuple[str, list[str]]]:
    """(kind, paths) of the admin/inspector comparison: the street's page, GeoJSON and tiles."""
    with engine.connect() as conn:
        minx, miny, maxx, maxy = conn.execute(sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(g.geom) AS e "
            "FROM grid g JOIN generation n ON n.id = g.generation_id AND n.status = 'active' WHERE g.code = :c) t"),
            {"c": street}).one()
    kinds = [("page", [f"/grids/{street}"]), ("geojson", [f"/api/employers.geojson?grid={street}"])]
    for z in (10, 11, 12, 14):
        kinds.append((f"tile z{z}", [f"/tiles/employers/{z}/{x}/{y}.pbf"
                                     for _, x, y in tile_addresses(z, minx, miny, maxx, maxy)]))
    return kinds


def time_scoped(engine, home: Path, cluster, street: str, n: int) -> dict[str, dict[str, list[float]]]:
    """Seconds per request as admin and as the street's inspector, interleaved, ``n`` each per kind."""
    app = the_app(home, cluster)
    inspector = f"jc{street}-1"
    clients = {"admin": logged_in_client(engine, app, "admin"),
               "inspector": logged_in_client(engine, app, inspector)}
    kinds = scoped_requests(engine, street)
    times: dict[str, dict[str, list[float]]] = {kind: {"admin": [], "inspector": []} for kind, _ in kinds}
    sizes: dict[tuple[str, str], int] = {}
    for who, client in clients.items():  # warm both (connections, templates, caches)
        for kind, paths in kinds:
            response = client.get(paths[0])
            assert response.status_code in (200, 204), (who, paths[0], response.status_code)
    for i in range(n):
        # Alternate who goes first, so neither always runs right after the other's request.
        order = ("admin", "inspector") if i % 2 == 0 else ("inspector", "admin")
        for kind, paths in kinds:
            path = paths[i % len(paths)]
            for who in order:
                start = time.perf_counter()
                response = clients[who].get(path)
                body = response.get_data()
                times[kind][who].append(time.perf_counter() - start)
                assert response.status_code in (200, 204), (who, path, response.status_code)
                sizes[kind, who] = sizes.get((kind, who), 0) + len(body)
    for kind, by in times.items():
        for who in ("admin", "inspector"):
            by[who + " bytes"] = [sizes.get((kind, who), 0) / max(1, n)]
    return times


def report_scoped(times: dict[str, dict[str, list[float]]], street: str) -> None:
    print(f"scope cost, street {street}: admin vs inspector jc{street}-1, interleaved "
          "(admin with RLS against the pre-RLS code is not measurable in one run; not compared)")
    worst = 0.0
    for kind, by in times.items():
        a, i = by["admin"], by["inspector"]
        ratio = percentile(i, 0.95) / percentile(a, 0.95)
        worst = max(worst, ratio)
        print(f"  {kind:<8} ({len(a)} each): admin p50 {statistics.median(a) * 1000:.1f} / p95 "
              f"{percentile(a, 0.95) * 1000:.1f} ms, inspector p50 {statistics.median(i) * 1000:.1f} / p95 "
              f"{percentile(i, 0.95) * 1000:.1f} ms; ratio at p95 {ratio:.2f} "
              f"({'within' if ratio <= 1.10 else 'OVER'} 1.10); mean bytes admin {by['admin bytes'][0]:,.0f}, "
              f"inspector {by['inspector bytes'][0]:,.0f}")
    print(f"  worst inspector/admin ratio at p95: {worst:.2f} (budget ≤ 1.10)")


def explain_scoped(engine, home: Path, cluster, street: str) -> None:
    """EXPLAIN ANALYZE of the tile queries through the web role, as admin and as the inspector.

    Prints each plan's scan lines: whether ``employer.geom``'s GiST index is used, and how the
    row-level security policies (migration 0007) are evaluated.
    """
    from gisgrid.access import user_scope
    from gisgrid.db.engine import get_engine, web_database_url
    from gisgrid.maps import tiles

    url = web_database_url(app_settings(home, cluster))
    if url is None:
        print("explain: no web role (GISGRID_WEB_DATABASE_URL unset): skipped")
        return
    with session_scope(engine) as session:
        staff = session.execute(sa.text("SELECT staff_id FROM app_user WHERE username = :u"),
                                {"u": f"jc{street}-1"}).scalar()
        scope = sorted(user_scope(session, "inspector", staff).grid_ids)
        grids = ",".join(str(i) for i in scope)
        gen = session.execute(sa.text("SELECT id FROM generation WHERE status = 'active'")).scalar()
    kinds = dict(scoped_requests(engine, street))
    margin = tiles._BUFFER / tiles._EXTENT

    def address(path: str) -> dict:
        z, x, y = path.split("/")[3:6]
        return {"z": int(z), "x": int(x), "y": int(y.split(".")[0])}

    cases = [("admin", "all", "", "cells z10 (employer_cell)", tiles._CELL_SQL, address(kinds["tile z10"][0])),
             ("inspector", "grids", grids, "cells z10 (employer_grid_cell)", tiles._SCOPED_CELL_SQL,
              {**address(kinds["tile z10"][0]), "grids": scope}),
             ("admin", "all", "", "points z14", tiles._RAW_SQL, {**address(kinds["tile z14"][0]), "gen": gen, "margin": margin}),
             ("inspector", "grids", grids, "points z14", tiles._SCOPED_RAW_SQL,
              {**address(kinds["tile z14"][0]), "gen": gen, "margin": margin, "grids": scope})]
    web = get_engine(url)
    for who, scope, ids, name, sql, params in cases:
        with web.begin() as conn:
            conn.execute(sa.text("SELECT set_config('gisgrid.scope', :s, true), set_config('gisgrid.grids', :g, true), "
                                 "set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"),
                         {"s": scope, "g": ids})
            plan = conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql), params).scalars().all()
        print(f"explain {who} {name}: {plan[-1].strip()}")
        for line in plan:
            if any(word in line for word in ("Scan on employer", "Index Scan", "Bitmap", "SubPlan", "Rows Removed",
                                             "Filter")):
                print("    " + line.strip()[:160])


def cell_check(engine) -> str:
    """Employers counted by the cell table (every level) against a direct count."""
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass('employer_cell')")).scalar() is None:
            return "no employer_cell table"
        located = conn.execute(sa.text("SELECT count(*) FROM employer WHERE geom IS NOT NULL")).scalar()
        per_level = conn.execute(sa.text(
            "SELECT z, sum(count), count(*) FROM employer_cell GROUP BY z ORDER BY z")).all()
        # Per grid (migration 0008): the located employers assigned in the active generation.
        assigned = conn.execute(sa.text(
            "SELECT count(*) FROM employer e JOIN assignment a ON a.employer_id = e.id AND a.grid_id IS NOT NULL "
            "AND a.generation_id = (SELECT id FROM generation WHERE status = 'active') WHERE e.geom IS NOT NULL")).scalar()
        per_grid = conn.execute(sa.text(
            "SELECT z, sum(count), count(*) FROM employer_grid_cell GROUP BY z ORDER BY z")).all()
    wrong = [z for z, total, _ in per_level if total != located]
    wrong_grid = [z for z, total, _ in per_grid if total != assigned]
    rows = ", ".join(f"z{z} {cells:,}" for z, _, cells in per_level if z in (0, 10, 11, 12))
    grid_rows = ", ".join(f"z{z} {cells:,}" for z, _, cells in per_grid if z in (0, 10, 11, 12))
    return (f"cells: {located:,} located employers, every level sums to it: {'yes' if not wrong else wrong}; "
            f"rows {rows}\ngrid cells: {assigned:,} located and assigned, every level sums to it: "
            f"{'yes' if not wrong_grid else wrong_grid}; rows {grid_rows}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employers", type=int, default=1_000_000)
    parser.add_argument("--tiles", type=int, default=50, help="tile requests per zoom")
    parser.add_argument("--zooms", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--scoped", type=int, default=40,
                        help="requests per kind as admin and as inspector (0: skip the comparison)")
    parser.add_argument("--street", default="419901001", help="the street of the admin/inspector comparison")
    parser.add_argument("--pages", action=argparse.BooleanOptionalAction, default=True,
                        help="bytes and settle time of / and the street page in headless Chromium")
    parser.add_argument("--pages-at", type=int, default=20_000,
                        help="the second size of the page measurement (the first is 1,000)")
    parser.add_argument("--page-runs", type=int, default=3, help="page loads per page and variant (median)")
    parser.add_argument("--explain", action="store_true",
                        help="also print EXPLAIN ANALYZE of the tile queries as admin and inspector (web role)")
    args = parser.parse_args()
    engine, cluster = database(args)
    home = Path(tempfile.mkdtemp(prefix="gisgrid-bench-maps-"))
    try:
        load_demo(engine, home, employers=1_000, password=PASSWORD)
        small, t_small, tiled_small = page_size(engine, home, cluster)
        print(f"/ with 1,000 employers: {small:,} bytes ({t_small:.2f} s, "
              f"{'vector tiles' if tiled_small else 'clustered GeoJSON'})")
        paths = ["/", f"/grids/{args.street}"]
        if args.pages:
            report_pages(browser_pages(engine, home, cluster, paths, args.page_runs), 1_000)
            if args.pages_at <= args.employers:
                print(f"adding employers up to {args.pages_at:,}: {grow(engine, args.pages_at):.1f} s")
                report_pages(browser_pages(engine, home, cluster, paths, args.page_runs), args.pages_at)
        print(f"adding employers up to {args.employers:,} and reassigning: {grow(engine, args.employers):.1f} s")
        large, t_large, tiled_large = page_size(engine, home, cluster)
        print(f"/ with {args.employers:,} employers: {large:,} bytes ({t_large:.2f} s, "
              f"{'vector tiles' if tiled_large else 'clustered GeoJSON'}); ratio {large / small:.3f}")
        print(cell_check(engine))
        # The page builds above leave garbage behind: collected now, a full collection
        # does not land inside one tile request.
        gc.collect()
        for z, times in time_tiles(engine, home, cluster, args.tiles, zooms=args.zooms).items():
            print(f"employer tiles z{z} ({len(times)}): p50 {statistics.median(times) * 1000:.1f} ms, "
                  f"p95 {percentile(times, 0.95) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
                  f"(request {times.index(max(times)) + 1})"
                  + (" (budget p95 ≤ 100 ms)" if z < 13 else ""))
        if args.scoped:
            gc.collect()
            report_scoped(time_scoped(engine, home, cluster, args.street, args.scoped), args.street)
        if args.explain:
            explain_scoped(engine, home, cluster, args.street)
    finally:
        close_database(cluster)


if __name__ == "__main__":
    main()

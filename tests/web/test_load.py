"""Twenty logged-in clients at once against the served demo app: every answer is 200/204.

The bounded version of ``benchmarks/load.py``: 20 threads × 10 requests each, mixed (city
page, grid pages, employer GeoJSON, tiles at city and street zoom, search, employer pages),
against a real threaded HTTP server (``tests.live.serve_live``) on the demo city. The
clients are logged in as an admin, a leader and the street inspector ``jc419901001-1``
(session cookies made as a login makes them). No timing is asserted: only that nothing
fails, no request waits forever, and no one sees a login page or another's scope.
"""

from __future__ import annotations

import http.client
import math
import random
import threading
from urllib.parse import quote, urlsplit

import sqlalchemy as sa

from gisgrid.db.engine import get_engine
from tests.auth_helpers import session_cookie
from tests.live import serve_live

THREADS, REQUESTS = 20, 10
STREET, INSPECTOR = "419901001", "jc419901001-1"


def _tile(z: int, lon: float, lat: float) -> str:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"/tiles/employers/{z}/{x}/{y}.pbf"


def _paths(demo_url, street: str | None) -> list[str]:
    """A mix of what a user of ``street`` (None: the whole city) opens."""
    with get_engine(demo_url).connect() as conn:
        grids = conn.execute(sa.text(
            "SELECT g.code FROM grid g JOIN generation n ON n.id = g.generation_id AND n.status = 'active' "
            "WHERE :s IS NULL OR g.code LIKE :s || '%' ORDER BY g.code LIMIT 12"), {"s": street}).scalars().all()
        employers = conn.execute(sa.text(
            "SELECT e.id, e.credit_code, ST_X(e.geom), ST_Y(e.geom) FROM employer e "
            "JOIN assignment a ON a.employer_id = e.id JOIN grid g ON g.id = a.grid_id "
            "JOIN generation n ON n.id = a.generation_id AND n.status = 'active' "
            "WHERE e.geom IS NOT NULL AND (:s IS NULL OR g.code LIKE :s || '%') ORDER BY e.id LIMIT 12"),
            {"s": street}).all()
    assert grids and employers
    paths = ["/" if street is None else "/my?all=1", "/search?q=" + quote("公司")]
    paths += [f"/grids/{code}" for code in grids[:4]]
    paths += [f"/api/employers.geojson?grid={code}" for code in grids[:3]]
    paths += [f"/employers/{quote(code or str(id_))}" for id_, code, _, _ in employers[:4]]
    paths += [_tile(z, lon, lat) for _, _, lon, lat in employers[:3] for z in (11, 12, 14)]
    return paths


def test_twenty_logged_in_clients_at_once_all_answered(demo_app, demo_url):
    accounts = {"admin": None, "leader": None, INSPECTOR: STREET}
    paths = {name: _paths(demo_url, street) for name, street in accounts.items()}
    names = list(accounts)
    cookies = {name: session_cookie(demo_app, name) for name in names}
    results: list[tuple[str, str, int | str, str]] = []
    lock = threading.Lock()

    def client(index: int, port: int, start: threading.Barrier) -> None:
        user = names[index % len(names)]
        cookie_name, token = cookies[user]
        rng = random.Random(index)
        start.wait(timeout=60)
        for _ in range(REQUESTS):
            path = rng.choice(paths[user])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.request("GET", path, headers={"Cookie": f"{cookie_name}={token}"})
                response = conn.getresponse()
                response.read()
                outcome = (user, path, response.status, response.getheader("Location") or "")
            except (OSError, http.client.HTTPException) as exc:
                outcome = (user, path, repr(exc), "")
            finally:
                conn.close()
            with lock:
                results.append(outcome)

    with serve_live(demo_app) as url:
        port = urlsplit(url).port
        start = threading.Barrier(THREADS)
        threads = [threading.Thread(target=client, args=(i, port, start), daemon=True) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert not any(thread.is_alive() for thread in threads), "a client still waits for an answer"

    assert len(results) == THREADS * REQUESTS
    bad = [r for r in results if r[2] not in (200, 204)]
    assert not bad, bad[:10]
    # Every user was served as itself: its sessions stayed valid, and no login page came back.
    assert {r[0] for r in results} == set(names)

"""Inspectors see the employers of their own grids and nothing else, on every path that shows one.

The demo city's staff accounts: ``jc419901001-1`` answers for street 419901001 (and so its
communities), ``xg419901002003-1`` for one community of street 419901002. The expected sets
come from the owner's connection (no row-level security), the answers from the web app.
"""

from __future__ import annotations

import io
import random
import re

import mapbox_vector_tile
import openpyxl
import pytest
import sqlalchemy as sa

from gisgrid.db.engine import get_engine
from tests.web.test_tiles import _tile_of

STREET_INSPECTOR, COORDINATOR = "jc419901001-1", "xg419901002003-1"


def _visible(demo_url, username: str) -> set[int]:
    """Employer ids assigned (active generation) to the user's grids and their descendants."""
    with get_engine(demo_url).connect() as conn:
        return set(conn.execute(sa.text("""
            WITH RECURSIVE own AS (
                SELECT g.id FROM app_user u JOIN staff_grid sg ON sg.staff_id = u.staff_id
                JOIN grid g ON g.identity = sg.grid_identity
                JOIN generation n ON n.id = g.generation_id AND n.status = 'active'
                WHERE u.username = :u AND sg.valid_from <= current_date
                  AND (sg.valid_to IS NULL OR sg.valid_to >= current_date)
                UNION SELECT c.id FROM grid c JOIN own o ON c.parent_id = o.id)
            SELECT a.employer_id FROM assignment a JOIN own ON own.id = a.grid_id
            JOIN generation n ON n.id = a.generation_id AND n.status = 'active'"""), {"u": username}).scalars())


@pytest.fixture(scope="module")
def employers(demo_url):
    """id → (credit code, name, lon, lat, grid code) of every located employer."""
    with get_engine(demo_url).connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT e.id, e.credit_code, e.name, ST_X(e.geom), ST_Y(e.geom), g.code FROM employer e
            JOIN assignment a ON a.employer_id = e.id JOIN grid g ON g.id = a.grid_id
            JOIN generation n ON n.id = a.generation_id AND n.status = 'active'
            WHERE e.credit_code IS NOT NULL AND e.geom IS NOT NULL""")).all()
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(scope="module")
def inspector(demo_app):
    return demo_app.test_client(user=STREET_INSPECTOR)


@pytest.fixture(scope="module")
def coordinator(demo_app):
    return demo_app.test_client(user=COORDINATOR)


def test_my_grids_is_the_inspectors_home(inspector, coordinator):
    assert inspector.get("/").headers["Location"] == "/my"
    assert inspector.get("/my").headers["Location"] == "/grids/419901001"
    page = inspector.get("/my?all=1").get_data(as_text=True)
    assert "我的网格" in page and "419901001" in page and "上级网格人员" in page
    own = coordinator.get("/grids/419901002003")
    assert own.status_code == 200 and "419901002003" in own.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/grids/419901002", "/grids/419901", "/grids/419901002001",
                                  "/api/employers?grid=419901002", "/api/employers.geojson?grid=419901002001",
                                  "/exports/register?grid=419901002", "/exports/roster?grid=419901002",
                                  "/exports/diagram?grid=419901002&employers=1"])
def test_grids_outside_the_scope_are_404_as_if_absent(inspector, path):
    answer = inspector.get(path, headers={"Accept": "application/json"})
    assert answer.status_code == 404, (path, answer.status_code)
    text = answer.get_data(as_text=True)
    assert "does not exist" in text or "不存在" in text or "未找到" in text


def test_the_inspectors_own_and_descendant_grids_open(inspector):
    for path in ("/grids/419901001", "/grids/419901001001", "/api/employers?grid=419901001001"):
        assert inspector.get(path).status_code == 200, path


def test_lists_geojson_and_search_hold_only_the_scope(inspector, demo_url):
    visible = _visible(demo_url, STREET_INSPECTOR)
    assert 500 < len(visible) < 5000
    listed = {e["id"] for e in inspector.get("/api/employers").json}
    assert listed and listed <= visible
    features = inspector.get("/api/employers.geojson").json["features"]
    assert {f["properties"]["id"] for f in features} <= visible and len(features) > 0
    found = inspector.get("/search?q=公司").get_data(as_text=True)
    keys = set(re.findall(r'href="/employers/([0-9A-Z]+)"', found))
    with get_engine(demo_url).connect() as conn:
        ids = set(conn.execute(sa.text("SELECT id FROM employer WHERE credit_code = ANY(:k)"),
                               {"k": sorted(keys)}).scalars())
    assert ids and ids <= visible
    grids = set(re.findall(r'href="/grids/([0-9]+)"', found))
    assert all(code.startswith("419901001") for code in grids - {"419901001"})


def test_city_zoom_tiles_count_only_the_scope(inspector, demo_app, demo_url):
    visible = _visible(demo_url, STREET_INSPECTOR)
    total = 0  # zoom 8: the whole demo city lies within these nine tiles
    with get_engine(demo_url).connect() as conn:
        lon, lat = conn.execute(sa.text("SELECT avg(ST_X(geom)), avg(ST_Y(geom)) FROM employer")).one()
    x0, y0 = _tile_of(lon, lat, 8)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            answer = inspector.get(f"/tiles/employers/8/{x0 + dx}/{y0 + dy}.pbf")
            if answer.status_code == 204:
                continue
            features = mapbox_vector_tile.decode(answer.data)["employers"]["features"]
            total += sum(f["properties"]["count"] for f in features)
    # Cells on a tile's edge are drawn by both neighbours: at least the scope, never the city.
    admin = demo_app.test_client()
    city = 0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            answer = admin.get(f"/tiles/employers/8/{x0 + dx}/{y0 + dy}.pbf")
            if answer.status_code == 200:
                city += sum(f["properties"]["count"]
                            for f in mapbox_vector_tile.decode(answer.data)["employers"]["features"])
    assert len(visible) <= total < city


def test_raw_tiles_carry_only_the_scope(inspector, employers, demo_url):
    visible = _visible(demo_url, STREET_INSPECTOR)
    outside = [e for i, e in employers.items() if i not in visible][:20]
    inside = [e for i, e in employers.items() if i in visible][:5]
    seen_inside = set()
    for code, name, lon, lat, grid in outside + inside:
        x, y = _tile_of(lon, lat, 16)
        answer = inspector.get(f"/tiles/employers/16/{x}/{y}.pbf")
        if answer.status_code == 204:
            continue
        ids = {f["id"] for f in mapbox_vector_tile.decode(answer.data)["employers"]["features"]}
        assert ids <= visible
        seen_inside |= ids
    assert seen_inside  # the inspector's own employers are drawn


def test_exports_hold_only_the_scope(inspector, demo_url):
    own = inspector.get("/exports/register?grid=419901001")
    assert own.status_code == 200
    sheet_names = openpyxl.load_workbook(io.BytesIO(own.data), read_only=True).sheetnames
    assert sheet_names
    package = inspector.get("/exports/package", headers={"Accept": "application/json"})
    assert package.status_code == 403 and "领导或系统管理员" in package.json["message"]
    page = inspector.get("/exports").get_data(as_text=True)
    assert "全市</option>" not in page and "export-package" not in page
    offered = set(re.findall(r'<option value="(4199[0-9]+)">', page))
    assert offered and all(code.startswith("419901001") for code in offered)


def test_randomized_scope_probe_finds_no_leak(demo_app, demo_url, employers):
    """Random inspector × employer pairs outside the scope, on every route that shows an employer."""
    rng = random.Random(20261202)
    with get_engine(demo_url).connect() as conn:
        accounts = list(conn.execute(sa.text(
            "SELECT username FROM app_user WHERE role = 'inspector' ORDER BY username")).scalars())
    leaks = []
    for username in rng.sample(accounts, 6):
        client = demo_app.test_client(user=username)
        visible = _visible(demo_url, username)
        outside = rng.sample([i for i in employers if i not in visible], 8)
        for employer_id in outside:
            code, name, lon, lat, grid = employers[employer_id]
            probes = {
                f"/employers/{code}": 404, f"/employers/%23{employer_id}": 404, f"/api/employers/{code}": 404,
                f"/grids/{grid}": 404, f"/api/employers?grid={grid}": 404,
                f"/api/employers.geojson?grid={grid}": 404, f"/exports/register?grid={grid}": 404,
            }
            for path, status in probes.items():
                answer = client.get(path)
                if answer.status_code != status or name in answer.get_data(as_text=True):
                    leaks.append((username, path, answer.status_code))
            placed = client.post(f"/api/employers/{code}/place", json={"lon": lon, "lat": lat})
            if placed.status_code != 404:
                leaks.append((username, "place", placed.status_code))
            found = client.get(f"/search?q={code}")
            if name in found.get_data(as_text=True) or found.status_code == 302:
                leaks.append((username, "search", found.status_code))
            x, y = _tile_of(lon, lat, 17)
            tile = client.get(f"/tiles/employers/17/{x}/{y}.pbf")
            if tile.status_code == 200:
                ids = {f["id"] for f in mapbox_vector_tile.decode(tile.data)["employers"]["features"]}
                if employer_id in ids or not ids <= visible:
                    leaks.append((username, "tile", sorted(ids - visible)[:3]))
    assert leaks == []


def test_row_level_security_is_the_backstop(pg_cluster, demo_url, employers):
    """A raw query through the web role, with no gate at all: nothing; with a scope: only it."""
    web = get_engine(pg_cluster.web_url_for(demo_url.rsplit("/", 1)[1]))
    visible = _visible(demo_url, STREET_INSPECTOR)
    with get_engine(demo_url).connect() as conn:
        grid_ids = conn.execute(sa.text("""
            WITH RECURSIVE t AS (SELECT g.id FROM grid g JOIN generation n ON n.id = g.generation_id
                                 AND n.status = 'active' WHERE g.code = '419901001'
                                 UNION SELECT c.id FROM grid c JOIN t ON c.parent_id = t.id)
            SELECT string_agg(id::text, ',') FROM t""")).scalar()
    with web.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM employer_survey")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM employer_cell")).scalar() == 0
    with web.begin() as conn:
        conn.execute(sa.text("SELECT set_config('gisgrid.grids', :g, true)"), {"g": grid_ids})
        seen = set(conn.execute(sa.text("SELECT id FROM employer")).scalars())
        assert seen == visible
        assert conn.execute(sa.text("SELECT count(*) FROM employer_cell")).scalar() == 0
    with web.begin() as conn:  # SET LOCAL: the next transaction starts with nothing again
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 0
    with web.begin() as conn:
        conn.execute(sa.text("SELECT set_config('gisgrid.scope', 'all', true)"))
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() >= len(employers)
    with web.begin() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        conn.execute(sa.text("UPDATE audit_log SET actor = 'someone else'"))
    web.dispose()


def test_the_geometry_index_serves_the_web_role_under_row_level_security(pg_cluster, demo_url):
    """RLS lets an index serve only LEAKPROOF operators: geometry && is marked so (roles.mark_leakproof),
    else every tile read every employer (a Seq Scan, benchmarks/maps.py --explain)."""
    web = get_engine(pg_cluster.web_url_for(demo_url.rsplit("/", 1)[1]))
    query = ("EXPLAIN SELECT id FROM employer WHERE geom && "
             "ST_MakeEnvelope(113.69, 34.33, 113.70, 34.34, 4490)")
    with web.begin() as conn:
        assert conn.execute(sa.text("SELECT proleakproof FROM pg_proc "
                                    "WHERE oid = 'geometry_overlaps(geometry, geometry)'::regprocedure")).scalar()
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))  # the plan the index allows at a city's size
        for scope in ("all", "grids"):
            conn.execute(sa.text("SELECT set_config('gisgrid.scope', :s, true)"), {"s": scope})
            plan = "\n".join(conn.execute(sa.text(query)).scalars())
            assert "employer_geom_gix" in plan, (scope, plan)
    web.dispose()

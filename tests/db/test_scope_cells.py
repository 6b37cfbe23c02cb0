"""The scope on the employer row and the map cells per grid (migration 0008) stay right on
every path that writes assignments or employers, and row-level security still hides the rest.

What must hold after each change, checked against the raw tables (employer joined with the
active generation's assignment, positions through PostGIS's own ST_Transform):

- ``employer.grid_id`` is the employer's grid in the active generation (NULL without one);
- ``employer_grid_cell`` holds, per grid and zoom 0–12, the counts of those employers;
- a scoped tile (the owner asking with ``grids=``, or an inspector through the web) sums to
  the located employers of the scope inside it.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.db.engine import get_engine
from gisgrid.employers.identifiers import make_credit_code
from gisgrid.maps.tiles import employer_tile
from tests.fixtures.handdrawn import UNIT, X0, Y0, write_grid_files

_HALF = 20037508.342789244
_ACTIVE = "(SELECT id FROM generation WHERE status = 'active')"

# Per grid, from the raw tables: what employer_grid_cell must hold.
_DIRECT = f"""
    SELECT grid_id, z, floor((ST_X(p) + {_HALF}) / {2 * _HALF} * 2 ^ (z + 6))::int AS cx,
           floor(({_HALF} - ST_Y(p)) / {2 * _HALF} * 2 ^ (z + 6))::int AS cy,
           count(*), count(*) FILTER (WHERE r = 3), count(*) FILTER (WHERE r = 2),
           count(*) FILTER (WHERE r = 1), count(*) FILTER (WHERE r = 0),
           count(*) FILTER (WHERE r IS NULL), avg(ST_X(p)), avg(ST_Y(p))
    FROM (SELECT a.grid_id, ST_Transform(e.geom, 3857) AS p, e.risk_level AS r FROM employer e
          JOIN assignment a ON a.employer_id = e.id AND a.generation_id = {_ACTIVE}
          WHERE e.geom IS NOT NULL AND a.grid_id IS NOT NULL) e
    CROSS JOIN generate_series(0, 12) AS z
    GROUP BY 1, 2, 3, 4
"""
_STORED = "SELECT grid_id, z, cx, cy, count, r3, r2, r1, r0, unrated, sx / count, sy / count FROM employer_grid_cell"


def assert_scope_right(engine) -> int:
    """grid_id follows the active assignment and the grid cells equal the direct count; returns
    the number of located, assigned employers."""
    with engine.connect() as conn:
        wrong = conn.execute(sa.text(f"""
            SELECT e.id, e.grid_id, a.grid_id FROM employer e
            LEFT JOIN assignment a ON a.employer_id = e.id AND a.generation_id = {_ACTIVE}
            WHERE e.grid_id IS DISTINCT FROM a.grid_id LIMIT 5""")).all()
        direct = {tuple(r[:4]): r[4:] for r in conn.execute(sa.text(_DIRECT))}
        stored = {tuple(r[:4]): r[4:] for r in conn.execute(sa.text(_STORED))}
    assert wrong == [], "employer.grid_id (employer, stored, assignment)"
    assert stored.keys() == direct.keys()
    for key, want in direct.items():
        got = stored[key]
        assert tuple(got[:6]) == tuple(want[:6]), key
        assert got[6] == pytest.approx(want[6], abs=1e-3) and got[7] == pytest.approx(want[7], abs=1e-3), key
    return sum(v[0] for k, v in direct.items() if k[1] == 0)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _decoded(tile: bytes) -> list[dict]:
    if not tile:
        return []
    return mapbox_vector_tile.decode(tile, default_options={"y_coord_down": True})["employers"]["features"]


def _inside(feature) -> bool:
    px, py = feature["geometry"]["coordinates"]
    return 0 <= px < 4096 and 0 <= py < 4096


def _area_tiles(conn, z: int) -> list[tuple[int, int]]:
    west, south, east, north = conn.execute(sa.text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM employer) t")).one()
    (x0, y0), (x1, y1) = _tile_of(west, north, z), _tile_of(east, south, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def scope_counts(engine, grids: set[int], fetch=None) -> dict[int, int]:
    """zoom → located employers of ``grids`` counted by the scoped tiles over the whole area
    (cells below z13, points at z14), each tile once; ``fetch(z, x, y)`` gives a tile's bytes
    (default: employer_tile as the owner with ``grids=``)."""
    if fetch is None:
        def fetch(z, x, y):
            with Session(engine) as session:
                return employer_tile(session, z, x, y, None, grids=grids)
    counts = {}
    with engine.connect() as conn:
        for z in (8, 10, 12, 14):
            features = [f for x, y in _area_tiles(conn, z) for f in _decoded(fetch(z, x, y)) if _inside(f)]
            counts[z] = sum(f["properties"].get("count", 1) for f in features)
    return counts


def raw_count(engine, grids: set[int]) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"""
            SELECT count(*) FROM employer e
            JOIN assignment a ON a.employer_id = e.id AND a.generation_id = {_ACTIVE}
            WHERE e.geom IS NOT NULL AND a.grid_id = ANY(:g)"""), {"g": sorted(grids)}).scalar()


def grid_ids(engine, *codes: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text(f"SELECT id FROM grid WHERE generation_id = {_ACTIVE} AND code = ANY(:c)"),
                                {"c": list(codes)}).scalars())


# --- the command-line paths: import, reimport, reassignment, activation, deletion ----------

HEADER = "单位名称,统一社会信用代码,地址,职工人数,签订劳动合同人数,参加社会保险人数,欠薪月数,欠费月数,开业日期,经度,纬度,坐标系"


def _register(path, rows):
    lines = [HEADER] + [",".join([f"企业{i}", make_credit_code("419999", i), f"和平路{i}号", "10", "10", "10",
                                  str(wage), "0", "2020-01-01", f"{lon:.6f}" if lon else "",
                                  f"{lat:.6f}" if lat else "", "CGCS2000"])
                        for i, lon, lat, wage in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8-sig"))
    return path


def _grid_files(tmp_path, name: str) -> dict:
    (tmp_path / name).mkdir()
    return write_grid_files(tmp_path / name)


def _city(run_cli, tmp_path, generation="2026", effective="2026-01-01"):
    paths = _grid_files(tmp_path, generation)
    for level in (1, 2, 3):
        run_cli("grids", "import", paths[level], "--level", level, "--generation", generation, "--commit")
    run_cli("grids", "activate", generation, "--effective-from", effective, "--commit")


# Spread over the three communities (x 0..3, y 0..2 units), the hole and outside the city.
FIRST = [(i, X0 + UNIT * (0.05 + 3.4 * ((i * 0.618) % 1)), Y0 + UNIT * (0.05 + 1.9 * ((i * 0.755) % 1)), i % 4)
         for i in range(150)] + [(900, None, None, 0)]


@pytest.mark.parametrize("path", ["few", "many", "bulk"])
def test_import_reimport_reassign_and_delete_keep_grid_and_cells(run_cli, tmp_path, engine, monkeypatch, path):
    """few: the per-employer assignment; many: the temp-table path for more than FEW employers;
    bulk: the same, the reimport through the register's index-rebuild path."""
    from gisgrid.analysis import assign
    from gisgrid.employers import register

    if path != "few":
        monkeypatch.setattr(assign, "FEW", 5)
    _city(run_cli, tmp_path)
    run_cli("employers", "import", _register(tmp_path / "a.csv", FIRST), "--commit")
    counted = assert_scope_right(engine)
    assert 100 < counted < 150  # the hole and the outside are in no grid
    if path == "bulk":
        monkeypatch.setattr(register, "BULK_REBUILD_ROWS", 2)
    # Moved across grid edges, re-rated, new ones, in one file.
    second = [(i, lon + 0.6 * UNIT if lon and i % 3 == 0 else lon, lat, 3 if i % 5 == 0 else wage)
              for i, lon, lat, wage in FIRST] + [(500 + i, X0 + 0.2 * UNIT * i, Y0 + 0.3 * UNIT, 0) for i in range(8)]
    report = json.loads(run_cli("employers", "import", _register(tmp_path / "b.csv", second), "--commit",
                                "--json").output)
    assert report["imported"] == 8 and report["updated"] > 0
    assert_scope_right(engine)
    run_cli("employers", "assign", "--commit")  # the whole generation again: a swapped-in partition
    assert_scope_right(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE employer SET risk_level = 3 WHERE id % 7 = 0"))
        conn.execute(sa.text("DELETE FROM employer WHERE id % 4 = 1"))
    left = assert_scope_right(engine)
    assert 0 < left < counted
    community = grid_ids(engine, "419999001001")
    assert set(scope_counts(engine, community).values()) == {raw_count(engine, community)} != {0}
    assert set(scope_counts(engine, set()).values()) == {0}  # an empty scope: empty tiles, never the city
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE employer CASCADE"))
    assert assert_scope_right(engine) == 0


def test_activation_and_a_drafts_assignment(run_cli, tmp_path, engine):
    """A draft's assignment changes nothing; its activation moves every employer to the new
    generation's grids, with or without the reassignment that `grids activate` runs."""
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.boundaries.generations import activate_generation

    _city(run_cli, tmp_path)
    run_cli("employers", "import", _register(tmp_path / "a.csv", FIRST), "--commit")
    before = assert_scope_right(engine)
    paths = _grid_files(tmp_path, "next")
    for name in ("2027", "2028"):
        for level in (1, 2, 3):
            run_cli("grids", "import", paths[level], "--level", level, "--generation", name, "--commit")
    run_cli("employers", "assign", "--generation", "2027", "--commit")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM assignment a JOIN generation n ON n.id = a.generation_id "
                                    "WHERE n.name = '2027'")).scalar() > 0
        old = dict(conn.execute(sa.text("SELECT id, grid_id FROM employer")).all())
    assert_scope_right(engine)  # still the 2026 grids
    with Session(engine) as session:  # activated without reassigning: the trigger follows
        activate_generation(session, "2027", dt.date(2026, 7, 1))
        session.commit()
    assert assert_scope_right(engine) == before
    with engine.connect() as conn:
        now = dict(conn.execute(sa.text("SELECT id, grid_id FROM employer")).all())
        assert {g for g in now.values() if g} <= set(conn.execute(sa.text(
            "SELECT g.id FROM grid g JOIN generation n ON n.id = g.generation_id WHERE n.name = '2027'")).scalars())
    assert sum(1 for i in old if old[i] and now[i] and old[i] != now[i]) >= before
    run_cli("grids", "activate", "2028", "--effective-from", "2026-10-01", "--commit")  # the CLI's way
    assert assert_scope_right(engine) == before
    with Session(engine) as session:  # and a repair counts the same again
        session.execute(sa.text("DELETE FROM employer_grid_cell WHERE z = 11"))
        from gisgrid.maps.tiles import rebuild_employer_cells

        rebuild_employer_cells(session)
        session.commit()
    assert assert_scope_right(engine) == before
    with Session(engine) as session:
        assign_employers(session, employer_ids=[min(now)])
        session.commit()
    assert_scope_right(engine)


def test_upgrade_of_a_database_with_data_and_downgrade(run_cli, tmp_path, engine):
    from alembic import command

    from gisgrid.db.migrate import alembic_config

    _city(run_cli, tmp_path)
    run_cli("employers", "import", _register(tmp_path / "a.csv", FIRST), "--commit")
    want = assert_scope_right(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0007")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('employer_grid_cell')")).scalar() is None
        assert conn.execute(sa.text("SELECT count(*) FROM information_schema.columns "
                                    "WHERE table_name = 'employer' AND column_name = 'grid_id'")).scalar() == 0
        conn.execute(sa.text("DELETE FROM assignment WHERE employer_id % 5 = 0"))  # changed while down
        conn.commit()
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert 0 < assert_scope_right(engine) < want


# --- the web: placement by hand, the backstop, what the web role may not write ------------

STREET_INSPECTOR = "jc419901001-1"


def _scope_of(engine, username: str) -> set[int]:
    from gisgrid.access import user_scope

    with Session(engine) as session:
        staff = session.execute(sa.text("SELECT staff_id FROM app_user WHERE username = :u"), {"u": username}).scalar()
        return set(user_scope(session, "inspector", staff).grid_ids)


def test_web_placement_keeps_the_inspectors_tiles_right(demo_copy_app, pg_cluster):
    app = demo_copy_app("scope_cells_place")
    owner = get_engine(app.config["GISGRID_SETTINGS"].database_url)
    scope = _scope_of(owner, STREET_INSPECTOR)
    client = app.test_client(user=STREET_INSPECTOR)

    def fetch(z, x, y):
        answer = client.get(f"/tiles/employers/{z}/{x}/{y}.pbf")
        assert answer.status_code in (200, 204)
        return answer.data if answer.status_code == 200 else b""

    assert set(scope_counts(owner, scope, fetch).values()) == {raw_count(owner, scope)}
    with owner.connect() as conn:  # one of the street's employers, and a spot in another of its communities
        code, grid = conn.execute(sa.text("""
            SELECT e.credit_code, e.grid_id FROM employer e WHERE e.grid_id = ANY(:s) AND e.credit_code IS NOT NULL
            ORDER BY e.id LIMIT 1"""), {"s": sorted(scope)}).one()
        lon, lat, target = conn.execute(sa.text("""
            SELECT ST_X(p), ST_Y(p), g.id FROM grid g CROSS JOIN LATERAL ST_PointOnSurface(g.geom) p
            WHERE g.id = ANY(:s) AND g.id <> :g AND NOT EXISTS (SELECT FROM grid c WHERE c.parent_id = g.id)
            ORDER BY g.code LIMIT 1"""), {"s": sorted(scope), "g": grid}).one()
        outside = conn.execute(sa.text(f"""
            SELECT ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM grid g
            WHERE g.generation_id = {_ACTIVE} AND NOT (g.id = ANY(:s))
              AND NOT EXISTS (SELECT FROM grid c WHERE c.parent_id = g.id) ORDER BY g.code LIMIT 1"""),
            {"s": sorted(scope)}).one()
    placed = client.post(f"/api/employers/{code}/place", json={"lon": lon, "lat": lat})
    assert placed.status_code == 200, placed.get_data(as_text=True)
    with owner.connect() as conn:
        assert conn.execute(sa.text("SELECT grid_id FROM employer WHERE credit_code = :c"), {"c": code}).scalar() == target
    assert_scope_right(owner)
    assert set(scope_counts(owner, scope, fetch).values()) == {raw_count(owner, scope)}
    refused = client.post(f"/api/employers/{code}/place", json={"lon": outside[0], "lat": outside[1]})
    assert refused.status_code == 403  # into another street: row-level security refuses, nothing changes
    with owner.connect() as conn:
        assert conn.execute(sa.text("SELECT grid_id FROM employer WHERE credit_code = :c"), {"c": code}).scalar() == target
    admin = app.test_client()  # an admin may move it anywhere: the street loses it
    assert admin.post(f"/api/employers/{code}/place", json={"lon": outside[0], "lat": outside[1]}).status_code == 200
    assert_scope_right(owner)
    assert set(scope_counts(owner, scope, fetch).values()) == {raw_count(owner, scope)}
    with owner.begin() as conn:  # an employer deleted: gone from the street's tiles
        conn.execute(sa.text("DELETE FROM employer WHERE id = (SELECT min(id) FROM employer WHERE grid_id = ANY(:s))"),
                     {"s": sorted(scope)})
    assert_scope_right(owner)
    assert set(scope_counts(owner, scope, fetch).values()) == {raw_count(owner, scope)}
    owner.dispose()


def test_row_level_security_backstop_on_grid_cells_and_the_column(pg_cluster, demo_url):
    """Through the web role with no gate: no cell and no employer; with a scope: its grids'
    only; the web role writes neither grid_id nor the cells."""
    web = get_engine(pg_cluster.web_url_for(demo_url.rsplit("/", 1)[1]))
    owner = get_engine(demo_url)
    scope = _scope_of(owner, STREET_INSPECTOR)
    with owner.connect() as conn:
        all_cells = conn.execute(sa.text("SELECT count(*) FROM employer_grid_cell")).scalar()
        own_cells = conn.execute(sa.text("SELECT count(*) FROM employer_grid_cell WHERE grid_id = ANY(:s)"),
                                 {"s": sorted(scope)}).scalar()
        other = conn.execute(sa.text("SELECT min(grid_id) FROM employer_grid_cell WHERE NOT (grid_id = ANY(:s))"),
                             {"s": sorted(scope)}).scalar()
    assert 0 < own_cells < all_cells and other is not None
    grids = ",".join(str(i) for i in sorted(scope))
    with web.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer_grid_cell")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 0
    with web.begin() as conn:
        conn.execute(sa.text("SELECT set_config('gisgrid.grids', :g, true)"), {"g": grids})
        seen = set(conn.execute(sa.text("SELECT DISTINCT grid_id FROM employer_grid_cell")).scalars())
        assert seen and seen <= scope
        assert conn.execute(sa.text("SELECT count(*) FROM employer_grid_cell")).scalar() == own_cells
        assert set(conn.execute(sa.text("SELECT DISTINCT grid_id FROM employer")).scalars()) <= scope
        # Asking for another grid by name finds nothing either.
        assert conn.execute(sa.text("SELECT count(*) FROM employer_grid_cell WHERE grid_id = :o"),
                            {"o": other}).scalar() == 0
    with web.begin() as conn:
        conn.execute(sa.text("SELECT set_config('gisgrid.scope', 'all', true)"))
        assert conn.execute(sa.text("SELECT count(*) FROM employer_grid_cell")).scalar() == all_cells
    for scope_setting, statement in (
            ("all", "UPDATE employer SET grid_id = :o WHERE id = (SELECT min(id) FROM employer WHERE grid_id IS NOT NULL)"),
            ("grids", "UPDATE employer e SET grid_id = (SELECT max(g) FROM unnest(string_to_array(:own, ',')::int[]) g "
                      "WHERE g <> e.grid_id) WHERE e.id = (SELECT min(id) FROM employer)"),
            ("all", "INSERT INTO employer (name, grid_id) VALUES ('冒名单位', :o)")):
        with web.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="not written directly"):
            with conn.begin():
                conn.execute(sa.text("SELECT set_config('gisgrid.scope', :s, true), set_config('gisgrid.grids', :g, true)"),
                             {"s": scope_setting, "g": grids})
                conn.execute(sa.text(statement), {"o": other, "own": grids})
    for statement in ("UPDATE employer_grid_cell SET count = count + 1", "DELETE FROM employer_grid_cell",
                      "INSERT INTO employer_grid_cell VALUES (1, 12, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0)"):
        with web.connect() as conn, conn.begin():
            conn.execute(sa.text("SELECT set_config('gisgrid.scope', 'all', true)"))
            try:
                changed = conn.execute(sa.text(statement)).rowcount
            except sa.exc.DBAPIError as exc:
                assert "row-level security" in str(exc) or "permission denied" in str(exc)
            else:
                assert changed == 0, statement
    with owner.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer_grid_cell")).scalar() == all_cells
    assert_scope_right(owner)
    web.dispose()

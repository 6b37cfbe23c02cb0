"""Employer cells (migration 0003) stay equal to a direct count after every kind of change,
and the tiles below z13 read them: decoded tiles sum to the right totals."""

from __future__ import annotations

import io
import json
import math

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.employers.identifiers import make_credit_code
from gisgrid.maps.tiles import RAW_MIN_ZOOM, employer_tile, rebuild_employer_cells
from tests.fixtures.handdrawn import UNIT, X0, Y0, write_grid_files
from tests.fixtures.tables import truncate_employers

_HALF = 20037508.342789244  # half the width of the web-Mercator square, metres

# The cells counted straight from employer, with PostGIS's own ST_Transform (not the
# migration's maths), for every zoom 0..12: what employer_cell must hold.
_DIRECT = f"""
    SELECT z, floor((ST_X(p) + {_HALF}) / {2 * _HALF} * 2 ^ (z + 6))::int AS cx,
           floor(({_HALF} - ST_Y(p)) / {2 * _HALF} * 2 ^ (z + 6))::int AS cy,
           count(*), count(*) FILTER (WHERE r = 3), count(*) FILTER (WHERE r = 2),
           count(*) FILTER (WHERE r = 1), count(*) FILTER (WHERE r = 0),
           count(*) FILTER (WHERE r IS NULL), avg(ST_X(p)), avg(ST_Y(p))
    FROM (SELECT ST_Transform(geom, 3857) AS p, risk_level AS r FROM employer
          WHERE geom IS NOT NULL) e
    CROSS JOIN generate_series(0, 12) AS z
    GROUP BY 1, 2, 3
"""
_STORED = """
    SELECT z, cx, cy, count, r3, r2, r1, r0, unrated, sx / count, sy / count FROM employer_cell
"""


def assert_cells_right(engine) -> int:
    """employer_cell equals the direct count (counts exactly, mean positions to 1 mm)."""
    with engine.connect() as conn:
        direct = {tuple(r[:3]): r[3:] for r in conn.execute(sa.text(_DIRECT))}
        stored = {tuple(r[:3]): r[3:] for r in conn.execute(sa.text(_STORED))}
    assert stored.keys() == direct.keys()
    for key, want in direct.items():
        got = stored[key]
        assert tuple(got[:6]) == tuple(want[:6]), key
        assert got[6] == pytest.approx(want[6], abs=1e-3) and got[7] == pytest.approx(want[7], abs=1e-3), key
    return sum(v[0] for k, v in direct.items() if k[0] == 0)


def _insert(conn, points) -> None:
    """points: (lon, lat or None, risk_level)."""
    conn.execute(sa.text(
        "INSERT INTO employer (name, geom, risk_level) VALUES (:name, "
        "CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL "
        "ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) END, :risk)"),
        [{"name": f"单位{i}", "lon": lon, "lat": lat, "risk": risk}
         for i, (lon, lat, risk) in enumerate(points)])


def _scatter(n: int, lon0: float = 113.70, lat0: float = 34.30, span: float = 0.2):
    """n deterministic points over a square, with every risk level and unrated."""
    levels = (0, 1, 2, 3, None)
    return [(lon0 + span * ((i * 0.6180339887) % 1), lat0 + span * ((i * 0.7548776662) % 1), levels[i % 5])
            for i in range(n)]


def test_insert_update_delete_and_truncate_keep_the_cells_right(engine):
    with engine.begin() as conn:
        _insert(conn, _scatter(300) + [(113.8, None, 3), (113.8, None, None)])
    assert assert_cells_right(engine) == 300
    with engine.begin() as conn:  # risk levels: rated, re-rated, unrated
        conn.execute(sa.text("UPDATE employer SET risk_level = 3 WHERE id % 7 = 0"))
        conn.execute(sa.text("UPDATE employer SET risk_level = NULL WHERE id % 11 = 0"))
    assert_cells_right(engine)
    with engine.begin() as conn:  # moves: far, a few metres (same cell), lost, found
        conn.execute(sa.text("UPDATE employer SET geom = ST_Translate(geom, 0.05, -0.03) WHERE id % 5 = 1"))
        conn.execute(sa.text("UPDATE employer SET geom = ST_Translate(geom, 0.00001, 0) WHERE id % 5 = 2"))
        conn.execute(sa.text("UPDATE employer SET geom = NULL WHERE id % 13 = 3"))
        conn.execute(sa.text("UPDATE employer SET geom = ST_SetSRID(ST_MakePoint(113.75, 34.35), 4490), "
                             "risk_level = 1 WHERE geom IS NULL AND id % 2 = 0"))
    assert_cells_right(engine)
    with engine.begin() as conn:  # other columns only: nothing to count
        conn.execute(sa.text("UPDATE employer SET headcount = 5, name = name || '公司'"))
        conn.execute(sa.text("DELETE FROM employer WHERE id % 3 = 0"))
    left = assert_cells_right(engine)
    assert 0 < left < 300
    with engine.begin() as conn:  # the last employer of a cell leaves: its rows go
        conn.execute(sa.text("DELETE FROM employer"))
        assert conn.execute(sa.text("SELECT count(*) FROM employer_cell")).scalar() == 0
        _insert(conn, _scatter(20))
        conn.execute(sa.text("TRUNCATE employer CASCADE"))
        assert conn.execute(sa.text("SELECT count(*) FROM employer_cell")).scalar() == 0
        _insert(conn, _scatter(20))
        truncate_employers(conn, "employer_cell")  # both named: no error
        _insert(conn, _scatter(10))
    assert assert_cells_right(engine) == 10


def test_rolled_back_changes_leave_the_cells_as_they_were(engine):
    with engine.begin() as conn:
        _insert(conn, _scatter(50))
    with engine.connect() as conn:
        conn.execute(sa.text("UPDATE employer SET risk_level = 3"))
        conn.execute(sa.text("DELETE FROM employer WHERE id < 10"))
        conn.rollback()
    assert assert_cells_right(engine) == 50


def test_copy_bulk_load_is_counted(engine):
    points = _scatter(2_000, 113.5, 34.1, 0.5)
    null = "\\N"  # COPY's text format
    rows = "".join(f"复制单位{i}\tSRID=4490;POINT({lon} {lat})\t{null if r is None else r}\n"
                   for i, (lon, lat, r) in enumerate(points))
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.copy_expert("COPY employer (name, geom, risk_level) FROM STDIN", io.StringIO(rows))
    assert assert_cells_right(engine) == 2_000


def test_rebuild_repairs_cells_out_of_step(engine):
    with engine.begin() as conn:
        _insert(conn, _scatter(200))
        conn.execute(sa.text("DELETE FROM employer_cell WHERE z IN (3, 12)"))
        conn.execute(sa.text("UPDATE employer_cell SET count = count + 5 WHERE z = 10"))
    with Session(engine) as session:
        assert rebuild_employer_cells(session) == 200
        session.commit()
    assert_cells_right(engine)


# --- the paths the application writes employers through ---------------------------------

HEADER = "单位名称,统一社会信用代码,地址,职工人数,签订劳动合同人数,参加社会保险人数,欠薪月数,欠费月数,开业日期,经度,纬度,坐标系"


def _register(path, rows):
    lines = [HEADER] + [",".join([f"企业{i}", make_credit_code("419999", i), f"和平路{i}号", "10", "10", "10",
                                  str(wage), "0", "2020-01-01", f"{lon:.6f}", f"{lat:.6f}", "CGCS2000"])
                        for i, lon, lat, wage in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8-sig"))
    return path


def _import(run_cli, path) -> dict:
    return json.loads(run_cli("employers", "import", path, "--commit", "--json").output)


@pytest.mark.parametrize("bulk", [False, True], ids=["merge", "bulk-rebuild"])
def test_register_import_and_reimport_keep_the_cells_right(run_cli, tmp_path, engine, monkeypatch, bulk):
    if bulk:
        from gisgrid.employers import register

        monkeypatch.setattr(register, "BULK_REBUILD_ROWS", 2)  # the COPY + index-rebuild path
    first = [(i, X0 + UNIT * (i % 30) / 10, Y0 + UNIT * (i // 30) / 10, i % 4) for i in range(120)]
    assert _import(run_cli, _register(tmp_path / "a.csv", first))["imported"] == 120
    assert assert_cells_right(engine) == 120
    assert _import(run_cli, _register(tmp_path / "a.csv", first))["unchanged"] == 120
    assert assert_cells_right(engine) == 120
    # Moved, re-rated (wage arrears raise the risk level) and new employers in one file.
    second = [(i, lon + (0.004 if i % 3 == 0 else 0), lat, 3 if i % 5 == 0 else wage)
              for i, lon, lat, wage in first] + [(500 + i, X0 + 0.002 * i, Y0 + 0.015, 0) for i in range(10)]
    report = _import(run_cli, _register(tmp_path / "b.csv", second))
    assert report["imported"] == 10 and report["updated"] > 0
    assert assert_cells_right(engine) == 130


def test_manual_placement_and_demo_style_assignment_keep_the_cells_right(run_cli, tmp_path, engine):
    paths = write_grid_files(tmp_path)
    for level in (1, 2, 3):
        run_cli("grids", "import", paths[level], "--level", level, "--generation", "2026", "--commit")
    run_cli("grids", "activate", "2026", "--effective-from", "2026-01-01", "--commit")
    path = tmp_path / "r.csv"
    path.write_bytes((HEADER + "\n" + ",".join(["无处可寻", make_credit_code("419999", 3), "外地某路9号", "5", "5",
                                                "5", "0", "0", "2020-01-01", "", "", ""]) + "\n"
                      ).encode("utf-8-sig"))
    run_cli("employers", "import", path, "--commit")
    assert assert_cells_right(engine) == 0  # no location: not on the map
    code = make_credit_code("419999", 3)
    run_cli("employers", "place", code, f"{X0 + 2 * UNIT:.6f}", f"{Y0 + 0.5 * UNIT:.6f}", "--commit")
    assert assert_cells_right(engine) == 1
    run_cli("employers", "place", code, f"{X0 + 0.5 * UNIT:.6f}", f"{Y0 + 1.5 * UNIT:.6f}", "--commit")
    assert assert_cells_right(engine) == 1
    run_cli("employers", "assign", "--commit")  # assignment does not touch the cells
    assert assert_cells_right(engine) == 1


# --- tiles ------------------------------------------------------------------------------

def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north in degrees."""
    n = 2**z
    lat = lambda t: math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t / n))))  # noqa: E731
    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def _features(engine, z: int, x: int, y: int, generation_id=None) -> list[dict]:
    with Session(engine) as session:
        tile = employer_tile(session, z, x, y, generation_id)
    if not tile:
        return []
    return mapbox_vector_tile.decode(tile, default_options={"y_coord_down": True})["employers"]["features"]


def _inside(feature) -> bool:
    """In the tile itself, not in the buffer shared with a neighbour."""
    px, py = feature["geometry"]["coordinates"]
    return 0 <= px < 4096 and 0 <= py < 4096


@pytest.mark.parametrize("z", [10, 12])
def test_cell_tile_sums_to_the_employers_inside_it(engine, z):
    x, y = _tile_of(113.72, 34.33, z)
    west, south, east, north = _tile_bounds(z, x, y)
    # Points spread over the tile's inner part, plus some in the neighbouring tiles.
    pts = _scatter(400, west + (east - west) * 0.05, south + (north - south) * 0.05, (north - south) * 0.9)
    pts += [((west + east) / 2, (south + north) / 2, 3)] * 30  # one busy cell
    outside = _scatter(50, east + 0.001, south, (north - south) * 0.5)
    with engine.begin() as conn:
        _insert(conn, pts + outside + [(west + 0.0001, None, 2)])
    features = _features(engine, z, x, y)
    props = [f["properties"] for f in features]
    assert {"count", "r3", "r2", "r1", "r0", "unrated"} <= set(props[0]) and "name" not in props[0]
    assert all(f["geometry"]["type"] == "Point" for f in features)
    assert all(p["count"] == p["r3"] + p["r2"] + p["r1"] + p["r0"] + p["unrated"] for p in props)
    inside = [f["properties"] for f in features if _inside(f)]
    assert sum(p["count"] for p in inside) == 430
    for level, key in ((3, "r3"), (2, "r2"), (1, "r1"), (0, "r0"), (None, "unrated")):
        assert sum(p[key] for p in inside) == sum(1 for *_, r in pts if r == level)
    assert max(p["count"] for p in props) >= 30  # counted, not raw


def test_edge_cells_are_drawn_by_both_neighbours_and_the_mean_is_where_the_employer_is(engine):
    z = 12
    x, y = _tile_of(113.72, 34.33, z)
    west, south, east, north = _tile_bounds(z, x, y)
    lon, lat = east - (east - west) / 1000, (south + north) / 2  # in the last cell column
    with engine.begin() as conn:
        _insert(conn, [(lon, lat, 2)])
    here, right = _features(engine, z, x, y), _features(engine, z, x + 1, y)
    assert [f["properties"]["count"] for f in here] == [1] == [f["properties"]["count"] for f in right]
    px, py = here[0]["geometry"]["coordinates"]
    assert px == round(4096 * 0.999) and abs(py - 2048) <= 2  # the employer, not the cell corner
    assert right[0]["geometry"]["coordinates"][0] < 0  # the neighbour's buffer


def test_raw_tiles_and_cells_draw_the_same_employers(engine):
    """From z13 raw points, assigned or not; the z12 cells count exactly those."""
    z = RAW_MIN_ZOOM
    x, y = _tile_of(113.72, 34.33, z)
    west, south, east, north = _tile_bounds(z, x, y)
    pts = _scatter(120, west + (east - west) * 0.1, south + (north - south) * 0.1, (north - south) * 0.8)
    with engine.begin() as conn:
        _insert(conn, pts + [(113.72, None, 1)])  # not located: on neither
    raw = [f for f in _features(engine, z, x, y) if _inside(f)]
    assert len(raw) == 120 and {"name", "risk_level"} & set(raw[0]["properties"])
    assert all(f["properties"]["name"].startswith("单位") for f in raw)
    assert len({f["id"] for f in raw}) == 120
    coarse = [f for f in _features(engine, z - 1, x // 2, y // 2) if _inside(f)]
    assert sum(f["properties"]["count"] for f in coarse) == 120


def test_demo_city_tiles_at_z10_count_every_located_employer(demo_url):
    from gisgrid.db.engine import get_engine

    engine = get_engine(demo_url)
    with engine.connect() as conn:
        located = conn.execute(sa.text("SELECT count(*) FROM employer WHERE geom IS NOT NULL")).scalar()
        west, south, east, north = conn.execute(sa.text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM employer) t")).one()
    assert located > 0 and assert_cells_right(engine) == located  # the demo load kept them
    for z in (10, 12):
        (x0, y0), (x1, y1) = _tile_of(west, north, z), _tile_of(east, south, z)
        total = sum(f["properties"]["count"]
                    for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)
                    for f in _features(engine, z, x, y) if _inside(f))
        assert total == located, z


def test_cli_rebuild_is_a_dry_run_until_committed(engine, run_cli):
    with engine.begin() as conn:
        _insert(conn, _scatter(50))
        conn.execute(sa.text("DELETE FROM employer_cell WHERE z = 12"))
    dry = run_cli("db", "rebuild-cells")
    assert "would recount (dry run" in dry.output and "50 located employers" in dry.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employer_cell WHERE z = 12")).scalar() == 0
    run_cli("db", "rebuild-cells", "--commit")
    assert_cells_right(engine)

"""Employer vector tiles (/tiles/employers/z/x/y.pbf) on the demonstration city."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
import sqlalchemy as sa

from gisgrid.config import Settings
from gisgrid.db.engine import get_engine
from gisgrid.maps.assets import find_external_links
from gisgrid.maps.tiles import MAX_TILE_BYTES, RAW_MIN_ZOOM


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="module")
def busiest(demo_url):
    """Lon/lat of an employer in the densest part of the city, and the employer count."""
    with get_engine(demo_url).connect() as con:
        lon, lat = con.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM employer WHERE geom IS NOT NULL "
            "ORDER BY geom <-> (SELECT ST_Centroid(ST_Collect(geom)) FROM employer) LIMIT 1")).one()
        total = con.execute(sa.text("SELECT count(*) FROM assignment")).scalar()
    return lon, lat, total


def _decode(response) -> list[dict]:
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    assert response.headers["Cache-Control"] == "no-store"  # employers' names: never cached
    assert len(response.data) <= MAX_TILE_BYTES
    return mapbox_vector_tile.decode(response.data)["employers"]["features"]


def test_z14_tile_holds_the_employers_with_their_summary(client, demo_url, busiest):
    lon, lat, _ = busiest
    x, y = _tile_of(lon, lat, 14)
    features = _decode(client.get(f"/tiles/employers/14/{x}/{y}.pbf"))
    # The tile holds exactly the assigned employers inside its envelope (plus the buffer).
    with get_engine(demo_url).connect() as con:
        inside = con.execute(sa.text("""
            SELECT count(*) FROM employer e JOIN assignment a ON a.employer_id = e.id
            JOIN generation g ON g.id = a.generation_id AND g.status = 'active'
            WHERE ST_Intersects(ST_Transform(e.geom, 3857), ST_TileEnvelope(14, :x, :y))"""),
            {"x": x, "y": y}).scalar()
    assert inside > 0
    assert inside <= len(features) <= inside * 1.3
    props = features[0]["properties"]
    assert {"name", "credit_code", "grid_code", "grid_name"} <= set(props)
    assert all(f["geometry"]["type"] == "Point" for f in features)
    levels = {f["properties"].get("risk_level") for f in features}
    assert levels <= {0, 1, 2, 3, None}


def test_z10_tile_aggregates_into_cells_with_counts_per_level(client, busiest):
    lon, lat, total = busiest
    x, y = _tile_of(lon, lat, 10)
    features = _decode(client.get(f"/tiles/employers/10/{x}/{y}.pbf"))
    assert 0 < len(features) < total
    for f in features:
        p = f["properties"]
        assert p["count"] == p["r3"] + p["r2"] + p["r1"] + p["r0"] + p["unrated"]
        assert "name" not in p
    # The demo city fits in one or two z10 tiles: nearly every employer is counted here.
    assert sum(f["properties"]["count"] for f in features) > total * 0.3
    assert max(f["properties"]["count"] for f in features) > 1
    assert RAW_MIN_ZOOM > 10


def test_empty_tile_is_204(client):
    response = client.get("/tiles/employers/14/0/0.pbf")
    assert response.status_code == 204 and response.data == b""


@pytest.mark.parametrize("address", ["3/8/0", "3/0/-1", "23/0/0", "a/1/1", "10/1.5/2"])
def test_bad_tile_address_is_400_json(client, address):
    response = client.get(f"/tiles/employers/{address}.pbf")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "InputError" and address.split("/")[0] in body["message"]


def test_large_sets_switch_the_page_to_vector_tiles(demo_url, tmp_path):
    """Above the threshold the page loads tiles, not the GeoJSON; it stays offline-clean."""
    from gisgrid.web import create_app

    def page(threshold: int) -> str:
        settings = Settings(home=tmp_path, database_url=demo_url, map_tiles_above=threshold)
        client = create_app({"TESTING": True}, settings=settings).test_client()
        response = client.get("/")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    clustered, tiled = page(10_000_000), page(100)
    assert "/api/employers.geojson" in clustered and "leaflet.markercluster.js" in clustered
    assert "Leaflet.VectorGrid.bundled.js" not in clustered
    assert "/tiles/employers/{z}/{x}/{y}.pbf" in tiled
    assert "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.js" in tiled
    assert "/api/employers.geojson" not in tiled
    assert find_external_links(tiled) == []
    # Same order of size: the employers are not in either page.
    assert abs(len(tiled) - len(clustered)) < 20_000


@pytest.mark.parametrize("name", ["gaode", "amap", "AMap", "baidu"])
def test_gcj02_basemaps_are_refused(name):
    from gisgrid.config import load_settings
    from gisgrid.errors import ConfigError

    with pytest.raises(ConfigError, match="GCJ-02"):
        load_settings({"GISGRID_HOME": "/tmp/x", "GISGRID_BASEMAP": name})


def test_map_tiles_threshold_setting():
    from gisgrid.config import load_settings
    from gisgrid.errors import ConfigError

    assert load_settings({"GISGRID_HOME": "/tmp/x"}).map_tiles_above == 1_000
    assert load_settings({"GISGRID_HOME": "/tmp/x", "GISGRID_MAP_TILES_ABOVE": "10"}).map_tiles_above == 10
    with pytest.raises(ConfigError, match="GISGRID_MAP_TILES_ABOVE"):
        load_settings({"GISGRID_HOME": "/tmp/x", "GISGRID_MAP_TILES_ABOVE": "many"})


def test_tianditu_page_has_both_layers_with_the_key_and_default_has_none(demo_url, tmp_path):
    from gisgrid.web import create_app

    def page(**changes) -> str:
        settings = Settings(home=tmp_path, database_url=demo_url, **changes)
        return create_app({"TESTING": True}, settings=settings).test_client().get("/").get_data(
            as_text=True)

    assert "L.tileLayer(" not in page()
    tianditu = page(basemap="tianditu", tianditu_key="k3y")
    assert tianditu.count("L.tileLayer(") == 2
    assert "LAYER=vec" in tianditu and "LAYER=cva" in tianditu and tianditu.count("tk=k3y") == 2

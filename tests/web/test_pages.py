"""The web app through Flask's test client, on the demonstration city."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from gisgrid.maps.assets import find_external_links


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.data[:500]
    return response.get_data(as_text=True)


def test_index_shows_the_city_in_chinese(client):
    html = _page(client, "/")
    assert '<html lang="zh-CN">' in html
    assert "示范市网格划分总图" in html
    assert "街道/乡镇网格 15 个" in html and "社区/村网格 250 个" in html
    for label in ("高风险", "较高风险", "一般风险", "低风险"):
        assert label in html


@pytest.mark.parametrize("path", ["/", "/grids/419901001", "/grids/419901001001", "/grids/419901"])
def test_pages_have_no_external_asset_links(client, path):
    html = _page(client, path)
    assert find_external_links(html) == []
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset


def test_index_colours_adjacent_streets_differently(client, demo_url):
    """Every pair of touching streets gets different fill colours in the page."""
    import geopandas as gpd
    import sqlalchemy as sa

    from gisgrid.db.engine import get_engine
    from gisgrid.maps.colouring import colour_adjacent

    with get_engine(demo_url).connect() as conn:
        streets = gpd.read_postgis(sa.text("SELECT code, geom FROM grid WHERE level = 2 ORDER BY code"),
                                   conn, geom_col="geom")
    colours = colour_adjacent(streets).to_numpy()
    html = _page(client, "/")
    for colour in set(colours):
        assert colour.lower() in html.lower()
    for i, j in zip(*streets.sindex.query(streets.geometry, predicate="intersects")):
        if i < j:
            assert colours[i] != colours[j], (streets.code[i], streets.code[j])


def test_grid_page_shows_staff_and_risk_counts(client):
    html = _page(client, "/grids/419901001")
    assert "新华街道" in html and "网格人员（四定）" in html
    assert "专职监察员" in html and "兼职监察员" in html
    total = int(re.search(r"用人单位风险分布（共 (\d+) 家）", html).group(1))
    assert total > 100
    staff = re.search(r'<table class="list staff">(.*?)</table>', html, re.S).group(1)
    for row in re.findall(r"<tr>(.*?)</tr>", staff, re.S):
        cells = re.findall(r"<t[hd]( class=\"[^\"]*\")?>", row)
        assert cells[:3] == [' class="nowrap"'] * 3 and "nowrap" not in cells[3]


def test_community_page_lists_its_employers(client, demo_url):
    import sqlalchemy as sa

    from gisgrid.db.engine import get_engine

    with get_engine(demo_url).connect() as conn:
        names = conn.execute(sa.text("""
            SELECT e.name FROM assignment a JOIN employer e ON e.id = a.employer_id
            JOIN grid g ON g.id = a.grid_id WHERE g.code = '419901001001'""")).scalars().all()
    html = _page(client, "/grids/419901001001")
    assert f"共 {len(names)} 家" in html
    assert sum(name in html for name in names) == min(len(names), 300)
    assert "协管员" in html


def test_unknown_grid_is_a_chinese_404(client):
    response = client.get("/grids/999999")
    assert response.status_code == 404
    assert "未找到" in response.get_data(as_text=True)


def test_api_errors_are_json(client):
    response = client.get("/api/employers.geojson?grid=999")
    assert response.status_code == 404
    assert response.get_json()["error"] == "NotFound"


def test_employers_geojson_is_gzipped_and_complete(client):
    response = client.get("/api/employers.geojson", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    data = json.loads(gzip.decompress(response.data))
    # 20,000 demo employers, 4 of them placed outside the city
    assert len(data["features"]) == 20_000
    first = data["features"][0]["properties"]
    assert set(first) >= {"id", "name", "credit_code", "risk_level", "grid_code", "grid_name"}


def test_employers_geojson_of_one_grid(client):
    data = client.get("/api/employers.geojson?grid=419901001001").get_json()
    assert data["features"]
    assert {f["properties"]["grid_code"] for f in data["features"]} == {"419901001001"}


def test_page_size_does_not_grow_with_employers(client):
    """Employers are fetched, not inlined: the page is about 1–2 MB of grids, not 20k points."""
    html = _page(client, "/")
    assert "91419901" not in html  # no credit code of any employer in the page

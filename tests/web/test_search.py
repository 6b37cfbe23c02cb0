"""Search from the top bar: grids and employers by code, name, credit code or address."""

from __future__ import annotations

import sqlalchemy as sa


def test_search_lists_grids_and_employers(client):
    page = client.get("/search?q=新华")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'href="/grids/419901001"' in text and "新华街道" in text
    assert "用人单位（" in text and 'style="' not in text


def test_exact_credit_code_goes_straight_to_the_employer(client, demo_url):
    engine = sa.create_engine(demo_url)
    with engine.connect() as conn:
        code = conn.execute(sa.text("SELECT credit_code FROM employer WHERE credit_code IS NOT NULL "
                                    "ORDER BY id LIMIT 1")).scalar()
    engine.dispose()
    response = client.get(f"/search?q={code.lower()}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/employers/{code}")


def test_exact_grid_code_goes_straight_to_the_grid(client):
    response = client.get("/search?q=419901001001")
    assert response.status_code == 302 and response.headers["Location"].endswith("/grids/419901001001")


def test_wildcards_are_literal_and_nothing_found_says_so(client):
    text = client.get("/search?q=%25_%25").get_data(as_text=True)
    assert "没有匹配的网格" in text and "没有匹配的用人单位" in text
    assert client.get("/search?q=" + "x" * 101).status_code == 400
    assert "请输入" in client.get("/search").get_data(as_text=True)

"""Search finds 四定 staff by name and leads to the grids they answer for, within the scope."""

from __future__ import annotations

import sqlalchemy as sa

from gisgrid.db.engine import get_engine


def _staff_of(demo_url, code: str) -> str:
    with get_engine(demo_url).connect() as conn:
        return conn.execute(sa.text(
            "SELECT s.name FROM staff s JOIN staff_grid sg ON sg.staff_id = s.id JOIN grid g ON g.identity = "
            "sg.grid_identity WHERE g.code = :c ORDER BY s.id LIMIT 1"), {"c": code}).scalar()


def test_staff_are_found_by_name_with_their_grids(client, demo_url):
    name = _staff_of(demo_url, "419901002003")
    text = client.get(f"/search?q={name}").get_data(as_text=True)
    assert "四定人员" in text and name in text and 'href="/grids/419901002003"' in text


def test_an_inspector_finds_only_the_staff_of_their_grids(demo_app, demo_url):
    inspector = demo_app.test_client(user="jc419901001-1")
    outside = _staff_of(demo_url, "419901002003")
    inside = _staff_of(demo_url, "419901001001")
    assert 'href="/grids/419901002003"' not in inspector.get(f"/search?q={outside}").get_data(as_text=True)
    assert 'href="/grids/419901001001"' in inspector.get(f"/search?q={inside}").get_data(as_text=True)

"""一企一档: the employer's own page, linked from the grid page and the map popups."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa


def _employer(demo_url, where: str):
    engine = sa.create_engine(demo_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"""
            SELECT e.id, e.credit_code, e.name, e.risk_rule, g.code AS grid_code
            FROM employer e JOIN assignment a ON a.employer_id = e.id
            JOIN generation gen ON gen.id = a.generation_id AND gen.status = 'active'
            LEFT JOIN grid g ON g.id = a.grid_id
            WHERE {where} ORDER BY e.id LIMIT 1""")).mappings().first()
    engine.dispose()
    return row


def test_employer_page_shows_record_grid_risk_and_map(client, demo_url):
    e = _employer(demo_url, "e.risk_level = 3 AND a.grid_id IS NOT NULL AND e.credit_code IS NOT NULL")
    page = client.get(f"/employers/{e['credit_code']}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for expected in (e["name"], e["credit_code"], "高风险", e["risk_rule"], e["grid_code"], "调查记录",
                     "一企一档", "签订劳动合同"):
        assert expected in text, expected
    # Its map: the grid outlined, the employer marked and named.
    assert "gisgridMap.highlight(" in text and json.dumps(e["name"], ensure_ascii=False)[1:-1] in text
    assert "http://" not in text and "https://" not in text


def test_employer_outside_every_grid_names_the_nearest(client, demo_url):
    e = _employer(demo_url, "a.grid_id IS NULL AND e.geom IS NOT NULL")
    text = client.get(f"/employers/{e['credit_code'] or e['id']}").get_data(as_text=True)
    assert "未落入任何网格" in text and re.search(r"相距 \d+ 米", text)


def test_unknown_employer_is_a_chinese_404(client):
    page = client.get("/employers/91419901000000000X")
    assert page.status_code == 404 and "91419901000000000X" in page.get_data(as_text=True)


def test_grid_page_and_popups_link_to_the_employer_page(client, demo_url):
    e = _employer(demo_url, "e.risk_level = 3 AND a.grid_id IS NOT NULL AND e.credit_code IS NOT NULL")
    grid = client.get(f"/grids/{e['grid_code']}").get_data(as_text=True)
    assert f'href="/employers/{e["credit_code"]}"' in grid
    # The popup script builds the link from this template.
    assert '"/employers/{key}"' in grid
    # … in static/js/map/employers.js, which words the link.
    from gisgrid.maps.assets import VENDOR_DIR
    assert "查看一企一档" in (VENDOR_DIR.parent / "js" / "map" / "employers.js").read_text(encoding="utf-8")


def test_grid_page_flags_key_supervision_and_stale_surveys(client, demo_url):
    e = _employer(demo_url, "e.key_flags IS NOT NULL AND a.grid_id IS NOT NULL AND e.credit_code IS NOT NULL")
    text = client.get(f"/grids/{e['grid_code']}").get_data(as_text=True)
    assert '<span class="tag key"' in text and "重点监管" in text


def test_grid_employers_stale_flag_follows_the_period(demo_url):
    import datetime as dt

    from sqlalchemy.orm import Session

    from gisgrid.db.queries import grid_employers

    engine = sa.create_engine(demo_url)
    with Session(engine) as session:
        rows = grid_employers(session, "419901001001", today=dt.date(2026, 11, 22))
        longer = grid_employers(session, "419901001001", today=dt.date(2026, 11, 22), stale_months=120)
    engine.dispose()
    cutoff = dt.date(2026, 5, 22)
    assert rows and all(r["stale"] == (r["surveyed_on"] is None or r["surveyed_on"] < cutoff) for r in rows)
    assert any(r["stale"] for r in rows) and not any(r["stale"] for r in longer if r["surveyed_on"])


def test_employer_page_without_any_active_grids_shows_the_file_without_a_map(run_cli, tmp_path, settings):
    from gisgrid.employers.identifiers import make_credit_code
    from gisgrid.web import create_app

    code = make_credit_code("419901", 9001)
    path = tmp_path / "one.csv"
    path.write_text(f"单位名称,统一社会信用代码,地址,经度,纬度\n孤单公司,{code},某路1号,113.70,34.30\n",
                    encoding="utf-8-sig")
    run_cli("employers", "import", path, "--commit")
    page = create_app({"TESTING": True}, settings=settings).test_client().get(f"/employers/{code}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "孤单公司" in text and "leaflet" not in text.lower()

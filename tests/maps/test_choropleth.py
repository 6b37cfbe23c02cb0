"""Choropleth by indicator: classes, the indicators per grid, the map and the page."""

from __future__ import annotations

import datetime as dt
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from branca.utilities import color_brewer
from shapely.geometry import box
from sqlalchemy.orm import Session

from gisgrid.analysis.indicators import INDICATORS, grid_indicators, indicator_by_key
from gisgrid.db.queries import active_generation
from gisgrid.maps import ColourBy, MapSelector, build_grid_map, classify_indicator
from gisgrid.maps.choropleth import NO_DATA_COLOUR


# -- classes --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_every_value_is_in_the_class_its_label_names(seed):
    rng = np.random.default_rng(seed)
    values = np.round(rng.gamma(2, 40, 400))
    classes = classify_indicator(values, INDICATORS["employers"])
    assert sum(classes.counts) == len(values) and classes.no_data == 0
    assert len(classes.edges) <= 5 and list(classes.edges) == sorted(classes.edges)
    for value in values:
        label = classes.labels[classes.class_of(value)]
        low, high = (int(x.replace(",", "")) for x in re.findall(r"[\d,]+", label)[:2])
        assert low <= value <= high, (value, label)


def test_rates_are_whole_percent_and_low_rates_are_the_dark_end():
    values = pd.Series([55.0, 61.2, 70.4, 88.8, 93.1, 99.5, 100.0, np.nan])
    classes = classify_indicator(values, INDICATORS["insured_rate"])
    assert all(re.fullmatch(r"\d+%–\d+%", label) for label in classes.labels)
    assert classes.no_data == 1 and classes.colour_of(np.nan) == NO_DATA_COLOUR
    # Insurance: the lowest class is the darkest red, listed first in the legend.
    rows = classes.legend_rows()
    assert rows[0][1] == classes.labels[0] and rows[-1] == (NO_DATA_COLOUR, "无数据", 1)
    darkest = color_brewer("YlOrRd", len(classes.colours))[-1]
    assert classes.colour_of(55.0) == classes.colours[0] == darkest


def test_risk_share_puts_high_shares_at_the_top_of_the_legend():
    classes = classify_indicator([5.0, 10.0, 20.0, 40.0, 80.0], INDICATORS["risk_share"])
    assert classes.legend_rows()[0][0] == classes.colour_of(80.0) == classes.colours[-1]


def test_few_distinct_values_give_few_classes_and_none_gives_none():
    assert classify_indicator([3, 3, 3], INDICATORS["employers"]).labels == ("3 家",)
    two = classify_indicator([0, 0, 10], INDICATORS["employers"])
    assert len(two.labels) == 2 and two.counts == (2, 1)
    empty = classify_indicator([np.nan, np.nan], INDICATORS["contract_rate"])
    assert empty.labels == () and empty.no_data == 2 and empty.legend_rows() == [(NO_DATA_COLOUR, "无数据", 2)]


def test_classes_of_many_grids_stay_natural_breaks():
    # Two clear groups: the break falls between them, on 300 quantiles as on all values.
    values = np.concatenate([np.full(1500, 10.0), np.full(500, 90.0)]) + np.linspace(0, 1, 2000)
    classes = classify_indicator(values, INDICATORS["employers"], k=2)
    assert classes.counts == (1500, 500)


def test_unknown_indicator_names_the_choices():
    with pytest.raises(ValueError, match="expected one of employers, risk_share"):
        indicator_by_key("wages")


# -- indicators from the database -------------------------------------------------------------


def test_grid_indicators_match_a_count_from_the_register(demo_url):
    engine = sa.create_engine(demo_url)
    today = dt.date(2026, 11, 22)
    with Session(engine) as session:
        gen = active_generation(session)
        streets = grid_indicators(session, gen.id, 2, stale_months=6, today=today)
        units = grid_indicators(session, gen.id, 3, stale_months=6, today=today)
        rows = pd.read_sql(sa.text("""
            SELECT g.code AS unit, p.code AS street, e.risk_level, e.headcount, e.contracts_signed,
                   e.insured, e.surveyed_on
            FROM assignment a JOIN employer e ON e.id = a.employer_id JOIN grid g ON g.id = a.grid_id
            JOIN grid p ON p.id = g.parent_id WHERE a.generation_id = :gen"""),
            session.connection(), params={"gen": gen.id})
    engine.dispose()
    assert len(units) == 250 and len(streets) == 15
    assert streets["employers"].sum() == units["employers"].sum() == len(rows)
    cutoff = pd.Timestamp(today) - pd.DateOffset(months=6)
    for street, group in rows.groupby("street"):
        got = streets.loc[street]
        assert got["employers"] == len(group)
        assert got["risk_share"] == pytest.approx(100 * (group["risk_level"] >= 2).mean())
        insured = group[(group["headcount"] > 0) & group["insured"].notna()]
        expected = 100 * np.minimum(insured["insured"], insured["headcount"]).sum() / insured["headcount"].sum()
        assert got["insured_rate"] == pytest.approx(expected)
        stale = group["surveyed_on"].isna() | (pd.to_datetime(group["surveyed_on"]) < cutoff)
        assert got["stale_share"] == pytest.approx(100 * stale.mean())


def test_a_grid_without_employers_has_no_rate_but_zero_employers(engine, run_cli, tmp_path):
    from tests.boundaries.defects import write_layers

    for level, path in write_layers(tmp_path).items():
        run_cli("grids", "import", path, "--level", level, "--commit")
    with Session(engine) as session:
        gen_id = session.execute(sa.text("SELECT id FROM generation")).scalar()
        frame = grid_indicators(session, gen_id, 3)
    assert (frame["employers"] == 0).all()
    assert frame[["risk_share", "contract_rate", "insured_rate", "stale_share"]].isna().all().all()


# -- the map ------------------------------------------------------------------------------


def _areas():
    return gpd.GeoDataFrame(
        {"code": ["410102001", "410102002", "410102003"], "name": ["甲街道", "乙街道", "丙镇"],
         "kind": ["street", "street", "town"]},
        geometry=[box(113.70, 34.36, 113.71, 34.37), box(113.71, 34.36, 113.72, 34.37),
                  box(113.72, 34.36, 113.73, 34.37)], crs="EPSG:4490")


def test_map_fills_each_grid_with_its_class_colour_and_lists_the_classes():
    values = {"410102001": 40.0, "410102002": 95.0, "410102003": float("nan")}
    classes = classify_indicator(pd.Series(values), INDICATORS["contract_rate"])
    selector = MapSelector(fields=(("colour", "着色", (("adjacent", "相邻网格异色"),
                                                      ("contract_rate", "劳动合同签订率")), "contract_rate"),),
                           keep=(("generation", "2026版"),))
    page = build_grid_map(_areas(), None, employers_url="/api/employers.geojson",
                          colour_by=ColourBy(classes, values), selector=selector).get_root().render()
    for code, value in values.items():
        colour = classes.colour_of(value)
        assert re.search(rf'"id": ?"{code}".*?"fillColor": ?"{colour}"', page, re.S) or colour in page
    assert "劳动合同签订率" in page and "无数据" in page
    for label in classes.labels:
        assert label in page
    assert '<option value="contract_rate" selected>' in page
    assert 'name="generation" value="2026版"' in page
    # The employers layer is there but starts switched off over a choropleth.
    assert re.search(r"marker_cluster_\w+\s*=\s*L\.markerClusterGroup", page)
    assert not re.search(r"marker_cluster_\w+\.addTo\(", page)


def test_units_target_fills_communities_and_outlines_streets():
    units = gpd.GeoDataFrame({"code": ["410102001001", "410102001002"], "name": ["一社区", "二社区"]},
                             geometry=[box(113.70, 34.36, 113.705, 34.37), box(113.705, 34.36, 113.71, 34.37)],
                             crs="EPSG:4490")
    values = {"410102001001": 12.0, "410102001002": 30.0}
    classes = classify_indicator(pd.Series(values), INDICATORS["risk_share"])
    page = build_grid_map(_areas(), units, employers_url=None,
                          colour_by=ColourBy(classes, values, target="units", level_label="社区/村"),
                          ).get_root().render()
    # Layer names reach the switcher JSON-escaped; the legend is HTML.
    assert json.dumps("社区/村网格（较高及以上风险占比）") in page and "社区/村网格：较高及以上风险占比" in page
    assert classes.colour_of(30.0) in page and "gg-outlines" in page
    with pytest.raises(ValueError, match="no units"):
        build_grid_map(_areas(), None, employers_url=None,
                       colour_by=ColourBy(classes, values, target="units"))


# -- the page -----------------------------------------------------------------------------


def test_index_colours_by_indicator_with_legend_and_column(client):
    page = client.get("/?colour=insured_rate&level=3")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "社区/村网格：社会保险参保率" in text
    assert '<option value="insured_rate" selected>' in text and '<option value="3" selected>' in text
    # The street table carries the indicator as a column.
    assert re.search(r"<th>社会保险参保率</th>", text)
    assert re.search(r'<td class="num">\d+\.\d%</td>', text)


def test_index_refuses_an_unknown_indicator_or_level(client):
    bad = client.get("/?colour=wages")
    assert bad.status_code == 400 and "employers、risk_share" in bad.get_data(as_text=True)
    assert client.get("/?colour=employers&level=7").status_code == 400


def test_street_page_colours_its_communities_with_the_city_classes(client):
    text = client.get("/grids/419901001?colour=insured_rate").get_data(as_text=True)
    assert "社区/村网格：社会保险参保率" in text
    assert 'name="level"' not in text      # a street page has one level to colour
    counts = [int(n) for n in re.findall(r'<span class="gg-legend-count">(\d+) 个</span>', text)]
    children = len(re.findall(r'<li><a href="/grids/419901001\d{3}">', text))
    assert children >= 10 and sum(counts) == children
    # A community page has nothing below it to colour: no selector.
    assert 'name="colour"' not in client.get("/grids/419901001001").get_data(as_text=True)

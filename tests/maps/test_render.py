"""Rendering a map is one template pass: text that reaches folium is never a template."""

from __future__ import annotations

import threading

import folium
import pytest

from gisgrid.maps import render_map_html, render_map_parts

HOSTILE = ["{{7*7}}", "{{lipsum.__globals__.os.getpid()}}", "{% if 1 %}x{% endif %}", "{#", "{%",
           "{{ '\"' }}"]


@pytest.mark.parametrize("text", HOSTILE)
def test_tooltips_popups_and_titles_are_rendered_literally(text):
    fmap = folium.Map(location=[34.3, 113.7], tiles=None)
    folium.Marker([34.3, 113.7], tooltip=f"甲{text}", popup=f"乙{text}").add_to(fmap)
    folium.GeoJson({"type": "FeatureCollection", "features": [
                       {"type": "Feature", "properties": {"name": text},
                        "geometry": {"type": "Point", "coordinates": [113.7, 34.3]}}]},
                   tooltip=folium.GeoJsonTooltip(["name"])).add_to(fmap)
    page = render_map_html(fmap)
    parts = render_map_parts(fmap)
    assert f"甲{text}" in page and f"乙{text}" in page
    assert f"甲{text}" in parts.script
    assert "甲49" not in page and "甲x" not in page


def test_the_literal_rendering_holds_in_concurrent_threads():
    errors = []

    def work():
        try:
            for _ in range(5):
                fmap = folium.Map(location=[34.3, 113.7], tiles=None)
                folium.Marker([34.3, 113.7], tooltip="{#{{7*7}}").add_to(fmap)
                assert "{#{{7*7}}" in render_map_parts(fmap).script
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_elements_built_outside_a_render_keep_their_templates():
    from branca.element import Element

    assert Element("{{ 6*7 }}").render() == "42"

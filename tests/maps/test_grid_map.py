"""The grid map page as rendered HTML, and once in a real browser."""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import re
import shutil
import threading
from pathlib import Path

import folium
import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.maps import build_grid_map, find_external_links
from gisgrid.maps.assets import VENDOR_DIR, vendored_path

X0, Y0, D = 113.70, 34.36, 0.01  # 3×3 squares of 0.01° (~1 km) from (113.70 E, 34.36 N)
NAMES = ["人民路街道", "解放路街道", "新华街道", "东风镇", "城关镇", "金水乡",
         "花园路街道", "文化路街道", "经开区"]


def square(i: float, j: float, w: float = 1, h: float = 1):
    return box(X0 + i * D, Y0 + j * D, X0 + (i + w) * D, Y0 + (j + h) * D)


@pytest.fixture
def areas() -> gpd.GeoDataFrame:
    cells = [(i, j) for j in range(3) for i in range(3)]
    return gpd.GeoDataFrame(
        {"code": [f"4101050{k + 1:02d}" for k in range(9)], "name": NAMES,
         "kind": ["street"] * 3 + ["town", "town", "township"] + ["street"] * 3},
        geometry=[square(i, j) for i, j in cells], crs="EPSG:4490")


@pytest.fixture
def units(areas) -> gpd.GeoDataFrame:
    rows = []
    for code, geom in zip(areas["code"], areas.geometry):
        minx, miny, maxx, maxy = geom.bounds
        mid = (minx + maxx) / 2
        rows += [(f"{code}001", "第一社区", box(minx, miny, mid, maxy)),
                 (f"{code}002", "第二村", box(mid, miny, maxx, maxy))]
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs="EPSG:4490")


def render(areas, units=None, employers_url="/api/employers.geojson", **kwargs) -> str:
    return build_grid_map(areas, units, employers_url=employers_url, **kwargs).get_root().render()


def fill_colours(html: str, ids: list[str]) -> dict[str, str]:
    """Feature id -> fillColor, read from the style switch folium writes for the layer.

    folium lists the ids of each style in ``case`` labels and leaves the commonest style
    to ``default``; the layer is the one whose switch mentions any of `ids`.
    """
    for body in re.findall(r"_styler\(feature\) \{(.*?)\n\s*\}\n", html, re.S):
        cases = {
            feature_id: json.loads(style)["fillColor"]
            for labels, style in re.findall(r'((?:case "[^"]+": )+)\s*return ({[^}]*});', body)
            for feature_id in re.findall(r'case "([^"]+)":', labels)
        }
        if set(cases) & set(ids):
            default = json.loads(re.search(r"default:\s*return ({[^}]*});", body).group(1))
            return {i: cases.get(i, default["fillColor"]) for i in ids}
    raise AssertionError("no style switch for these features")


# -- offline ------------------------------------------------------------------------------


def test_no_external_asset_and_every_local_asset_exists(areas, units):
    html = render(areas, units, focus=areas.iloc[[4]], title="测试区网格")
    assert find_external_links(html) == []
    local = re.findall(r"""(?:src|href)=["']?(/static/vendor/[^"'\s>]+)""", html)
    assert len(local) >= 5
    for url in local:
        path = vendored_path(url)
        assert path is not None and path.is_file(), url
        assert VENDOR_DIR in path.resolve().parents


def test_no_basemap_means_no_tile_layer_but_a_zoom_range(areas):
    html = render(areas)
    assert "L.tileLayer" not in html
    # Without a tile layer MarkerCluster needs the map's own zoom range (ECOSYSTEM.md).
    assert re.search(r'"minZoom": \d+', html) and re.search(r'"maxZoom": \d+', html)
    assert ".leaflet-container { background:" in html


def test_osm_basemap_is_a_tile_template_not_an_asset_link(areas):
    html = render(areas, basemap="osm")
    assert html.count("L.tileLayer") == 1
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in html
    assert find_external_links(html) == []


def test_tianditu_basemap_has_vector_and_annotation_with_key(areas):
    html = render(areas, basemap="tianditu", tianditu_key="abc/123")
    assert html.count("L.tileLayer") == 2
    urls = [json.loads(u) for u in re.findall(r'L\.tileLayer\(\s*("[^"]+")', html)]
    assert [u.split("/")[3] for u in urls] == ["vec_w", "cva_w"]
    assert all("LAYER=" in u and u.endswith("&tk=abc%2F123") for u in urls)
    assert '"subdomains": "01234567"' in html
    assert find_external_links(html) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"basemap": "gaode"}, "basemap was 'gaode'"),
        ({"basemap": "tianditu"}, "needs tianditu_key"),
    ],
)
def test_bad_basemap_settings_are_refused(areas, kwargs, message):
    with pytest.raises(ValueError, match=message):
        render(areas, **kwargs)


def test_class_level_folium_lists_stay_untouched(areas, units):
    before = list(folium.Map.default_js), list(folium.Map.default_css)
    render(areas, units)
    assert (folium.Map.default_js, folium.Map.default_css) == before


# -- what the map shows -------------------------------------------------------------------


def test_adjacent_areas_have_different_fill_colours(areas):
    codes = list(areas["code"])
    colours = fill_colours(render(areas), codes)
    geoms = dict(zip(codes, areas.geometry))
    pairs = [(a, b) for a, b in itertools.combinations(codes, 2) if geoms[a].intersects(geoms[b])]
    assert len(pairs) == 20  # 12 edge and 8 corner contacts in a 3×3 board
    for a, b in pairs:
        assert colours[a] != colours[b], (a, b)


def test_employers_are_fetched_not_inlined(areas):
    short, long = "/e", "/api/grids/410105/employers.geojson?generation=2026"
    small, large = render(areas, employers_url=short), render(areas, employers_url=long)
    assert len(large) - len(small) == len(long) - len(short)
    assert large.count(json.dumps(long)) == 1
    assert "fetch(url" in large and "L.markerClusterGroup" in large
    assert "iconCreateFunction" in large and "getAllChildMarkers" in large


def test_no_employers_url_means_no_employer_layer(areas):
    html = render(areas, employers_url=None)
    assert "L.markerClusterGroup" not in html and "fetch(" not in html
    assert "markercluster" not in html


def test_labels_show_code_and_name(areas):
    html = render(areas)
    for code, name in zip(areas["code"], areas["name"]):
        assert f'"{code} {name}"' in html
    assert '"Noto Sans CJK SC", "Microsoft YaHei", sans-serif' in html


def test_legend_lists_risk_levels_and_grid_symbols(areas, units):
    html = render(areas, units)
    legend = re.search(r'<div id="\w+_legend" class="gg-legend">(.*?)\n\s*</div>\n', html, re.S)
    assert legend
    for label, colour in RISK_LEVELS.values():
        assert label in legend.group(1) and colour in legend.group(1)
    assert "街道/乡镇网格（相邻异色）" in legend.group(1)
    assert "社区/村网格边界" in legend.group(1)


def test_layers_are_in_the_layer_switcher(areas, units):
    html = render(areas, units)
    overlays = re.search(r"overlays :  \{(.*?)\}", html, re.S).group(1)
    names = [json.loads(f'"{n}"') for n in re.findall(r'"([^"]+)" :', overlays)]
    assert names == ["街道/乡镇网格", "社区/村网格", "网格标注", "用人单位（按风险）"]


def test_focus_is_outlined_and_fitted(areas):
    html = render(areas, focus=areas.iloc[[4]])
    assert '"color": "#1565c0"' in html and '"fill": false' in html
    fit = re.search(r"fitBounds\(\s*(\[\[.*?\]\])", html, re.S).group(1)
    assert json.loads(fit) == [[Y0 + D, X0 + D], [Y0 + 2 * D, X0 + 2 * D]]


def test_without_focus_the_map_fits_all_areas(areas):
    fit = re.search(r"fitBounds\(\s*(\[\[.*?\]\])", render(areas), re.S).group(1)
    assert json.loads(fit) == [[Y0, X0], [Y0 + 3 * D, X0 + 3 * D]]


def test_names_cannot_inject_markup(areas):
    areas.loc[0, "name"] = '</script><script>alert(1)</script>'
    html = render(areas, title="<b>标题</b>")
    assert "<script>alert(1)" not in html
    assert "<b>标题</b>" not in html and "&lt;b&gt;标题&lt;/b&gt;" in html


def test_geometry_is_simplified_and_rounded_to_six_decimals(areas):
    # A half-metre digitising wobble between vertices ~5 m apart is below the display
    # tolerance and goes; the coordinates keep 6 decimals (~0.1 m).
    wobbly = [(113.7000000123, 34.3600000456), (113.705, 34.36), (113.70505, 34.360005),
              (113.7051, 34.36), (113.71, 34.36), (113.71, 34.37), (113.70, 34.37)]
    areas.loc[0, "geometry"] = Polygon(wobbly)
    html = render(areas, employers_url=None)
    data = [json.loads(d) for d in re.findall(r"_add\((\{.*?\})\);", html)]
    feature = next(f for d in data for f in d["features"] if f["id"] == "410105001")
    ring = feature["geometry"]["coordinates"][0]
    assert [113.7, 34.36] in ring and [113.70505, 34.360005] not in ring
    assert all(round(v, 6) == v for xy in ring for v in xy)


def test_empty_layers_and_geometries_still_render(areas, units):
    areas.loc[1, "geometry"] = None
    html = render(areas, units.iloc[:0])
    assert find_external_links(html) == []
    assert "410105002 解放路街道" not in html  # nothing to label
    empty = render(areas.iloc[:0], None)
    assert "fitBounds" not in empty and "L.map(" in empty


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.drop(columns="kind"), r"lacks columns \['kind'\]"),
        (lambda a: a.assign(code="410105001"), "duplicate codes"),
        (lambda a: a.set_crs(None, allow_override=True), "no CRS"),
    ],
)
def test_bad_areas_are_refused(areas, change, message):
    with pytest.raises(ValueError, match=message):
        render(change(areas))


# -- in a real browser --------------------------------------------------------------------


@pytest.fixture
def served(tmp_path):
    """A throwaway site laid out like the app: /static/vendor/…, /map.html, /employers."""
    shutil.copytree(VENDOR_DIR, tmp_path / "static" / "vendor")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.browser
def test_map_draws_in_chromium_offline(served, areas, units):
    from playwright.sync_api import sync_playwright

    root, base = served
    employers = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [X0 + 0.005 + k * 1e-4, Y0 + 0.005]},
         "properties": {"id": k, "name": f"单位{k}", "credit_code": "91410100MA0000000X",
                        "risk_level": k % 4, "grid_code": "410105001", "grid_name": "人民路街道"}}
        for k in range(8)
    ]
    (root / "employers.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": employers}))
    html = render(areas, units, employers_url="employers.geojson", title="测试区网格")
    (root / "map.html").write_text(html, encoding="utf-8")

    outside, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--no-first-run", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))

        def only_local(route):
            if route.request.url.startswith(base):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(f"{base}/map.html")
        page.wait_for_selector(".gg-cluster", timeout=10_000)
        fills = page.eval_on_selector_all(
            ".leaflet-overlay-pane path.leaflet-interactive", "els => els.map(e => e.getAttribute('fill'))")
        labels = page.eval_on_selector_all(".gg-label-text", "els => els.map(e => e.textContent)")
        cluster = page.eval_on_selector(".gg-cluster", "e => [e.className, e.textContent]")
        legend_visible = page.is_visible(".leaflet-bottom.leaflet-left .gg-legend")
        switcher = page.inner_text(".leaflet-control-layers")
        label_font = page.eval_on_selector(".gg-label-text", "e => getComputedStyle(e).fontFamily")
        browser.close()

    assert errors == [] and outside == []
    assert len(fills) == 9 and set(fills) >= {"#8dd3c7", "#ffffb3"}
    assert sorted(labels) == sorted(f"{c} {n}" for c, n in zip(areas["code"], areas["name"]))
    assert "gg-risk-3" in cluster[0] and cluster[1] == "8"  # worst of levels 0–3, eight employers
    assert legend_visible
    assert "社区/村网格" in switcher and "用人单位（按风险）" in switcher
    assert "Noto Sans CJK SC" in label_font

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
from shapely.geometry import Point, Polygon, box

from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.maps import build_grid_map, find_external_links
from gisgrid.maps.assets import VENDOR_DIR, vendored_path
from gisgrid.maps.grid_map import MAP_SCRIPTS, MAP_STYLESHEET

STATIC_DIR = VENDOR_DIR.parent

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


def map_js(name: str) -> str:
    """One of gisgrid's map scripts, static/js/map/<name>.js."""
    return (STATIC_DIR / "js" / "map" / f"{name}.js").read_text(encoding="utf-8")


MAP_CSS = (STATIC_DIR / MAP_STYLESHEET).read_text(encoding="utf-8")


def render(areas, units=None, employers_url="/api/employers.geojson", **kwargs) -> str:
    return build_grid_map(areas, units, employers_url=employers_url, **kwargs).get_root().render()


def initial_bounds(html: str):
    """The bounds _InitialView fits the first view to (None: no fit)."""
    found = re.search(r"gisgridMap\.initialView\((map_\w+), (\[\[.*?\]\]|null), \[24,24\]\);", html, re.S)
    assert found, "no initial view in the page"
    return json.loads(found.group(2))


def label_rows(html: str) -> list[list]:
    """The label array passed to _GridLabels: [lat, lon, text, area m², radius m, minor]."""
    found = re.search(r"gisgridMap\.gridLabels\(map_\w+, feature_group_\w+, (\[.*?\])\);", html, re.S)
    assert found, "no label data in the page"
    return json.loads(found.group(1))


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
    # gisgrid's own map scripts and style sheet, from the app's static folder.
    own = re.findall(r"""(?:src|href)=["']?/static/((?:js/map/[^"'\s>]+)|map\.css)""", html)
    assert own == [f"js/map/{name}.js" for name in MAP_SCRIPTS] + [MAP_STYLESHEET]
    assert all((STATIC_DIR / path).is_file() for path in own)


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
    assert "gisgridMap.employerLoader(" in large and "L.markerClusterGroup" in large
    assert re.search(r"iconCreateFunction\s*=\s*gisgridMap\.clusterIcon\(", large)
    assert "fetch(url" in map_js("employers") and "getAllChildMarkers" in map_js("employers")


def test_no_employers_url_means_no_employer_layer(areas):
    html = render(areas, employers_url=None)
    assert "L.markerClusterGroup" not in html and "gisgridMap.employer" not in html
    assert "markercluster" not in html


def test_labels_show_code_and_name(areas):
    html = render(areas)
    for code, name in zip(areas["code"], areas["name"]):
        assert f'"{code} {name}"' in html
    assert '"Noto Sans CJK SC", "Microsoft YaHei", sans-serif' in MAP_CSS


def test_labels_carry_area_and_room_for_decluttering(areas, units):
    rows = label_rows(render(areas, units))
    assert [r[2] for r in rows] == [f"{c} {n}" for c, n in zip(areas["code"], areas["name"])] + [
        f"{c} {n}" for c, n in zip(units["code"], units["name"])]
    assert [r[5] for r in rows] == [0] * len(areas) + [1] * len(units)
    for row, geom in zip(rows, [*areas.geometry, *units.geometry]):
        lat, lon, _, area, radius, minor = row
        # A 0.01° cell at 34.36° N is 919 m wide and 1,109 m tall (units half as wide):
        # the label sits at the centre of the largest inscribed circle, whose radius is
        # half the width, in metres.
        assert area == pytest.approx(1_019_000 / (2 if minor else 1), rel=0.01)
        assert radius == pytest.approx(230 if minor else 460, abs=5)
        assert lon == pytest.approx(geom.centroid.x, abs=1e-5)
        assert geom.buffer(-0.9 * radius / 111_000).contains(Point(lon, lat))


def test_labels_of_a_narrow_or_invalid_grid_never_count_as_fitting(areas):
    bowtie = Polygon([(X0, Y0), (X0 + D, Y0 + D), (X0 + D, Y0), (X0, Y0 + D)])
    areas.loc[0, "geometry"] = bowtie
    rows = label_rows(render(areas, employers_url=None))
    assert rows[0][4] == 0 and rows[1][4] > 400


def test_cluster_icon_is_a_ring_of_risk_shares(areas):
    html = render(areas)
    order = json.loads(re.search(r"gisgridMap\.clusterIcon\((\[.*?\])\)", html).group(1))
    assert order == [[3, "高风险", "#c62828"], [2, "较高风险", "#ef6c00"],
                     [1, "一般风险", "#f9a825"], [0, "低风险", "#2e7d32"], [-1, "未评级", "#78909c"]]
    icon = re.search(r"G\.clusterIcon = function \(order\) \{.*?\n  \};", map_js("employers"), re.S).group(0)
    assert "conic-gradient(" in icon and "Math.log(total)" in icon
    assert "gg-risk-" not in icon  # no more colouring by the worst level
    assert "style=" not in icon    # built through the DOM: the CSP allows no style attributes


def test_legend_lists_risk_levels_and_grid_symbols(areas, units):
    html = render(areas, units)
    legend = re.search(r'<div id="\w+_legend" class="gg-legend">(.*?)\n\s*</div>\n', html, re.S)
    assert legend
    # Colours come from classes (the CSP allows no style attributes), defined in the header.
    for level, (label, colour) in RISK_LEVELS.items():
        assert label in legend.group(1) and f'class="gg-dot gg-risk-{level}"' in legend.group(1)
        assert f".gg-risk-{level} {{ background: {colour}; }}" in html
    assert 'style="' not in legend.group(1)
    assert "街道/乡镇网格（相邻异色）" in legend.group(1)
    assert "社区/村网格边界" in legend.group(1)
    assert "聚合圆环：各风险等级占比" in legend.group(1)
    assert (".gg-donut.gg-donut-key { background: conic-gradient(#c62828 0deg 90deg, #ef6c00 90deg 180deg,"
            " #f9a825 180deg 270deg, #2e7d32 270deg 360deg); }") in html


def test_legend_has_no_ring_without_employers(areas):
    assert "聚合圆环" not in render(areas, employers_url=None)


def test_layers_are_in_the_layer_switcher(areas, units):
    html = render(areas, units)
    overlays = re.search(r"overlays :  \{(.*?)\}", html, re.S).group(1)
    names = [json.loads(f'"{n}"') for n in re.findall(r'"([^"]+)" :', overlays)]
    assert names == ["街道/乡镇网格", "社区/村网格", "网格标注", "用人单位（按风险）"]


def test_focus_is_outlined_and_fitted(areas):
    html = render(areas, focus=areas.iloc[[4]])
    assert '"color": "#1565c0"' in html and '"fill": false' in html
    assert initial_bounds(html) == [[Y0 + D, X0 + D], [Y0 + 2 * D, X0 + 2 * D]]


def test_without_focus_the_map_fits_all_areas(areas):
    assert initial_bounds(render(areas)) == [[Y0, X0], [Y0 + 3 * D, X0 + 3 * D]]


def test_first_view_is_fitted_before_any_layer_and_without_animation(areas, units):
    # An animated first fit (zoom_start 12 -> 16 on a community page) scaled the SVG
    # renderers 16-fold and Chromium drew only part of them: fit first, never animate it.
    html = render(areas, units, focus=areas.iloc[[4]])
    script = html[html.index("L.map("):]
    fit = script.index("gisgridMap.initialView(")
    assert fit < script.index("L.geoJson(") and fit < script.index("L.featureGroup(")
    assert "fitBounds(" not in script
    view = map_js("view")
    assert view.count("map.fitBounds(bounds, {padding: padding, animate: false})") == 1
    assert "new ResizeObserver(" in view and "invalidateSize(" in view


def test_svg_renderers_are_promoted_only_while_zoom_animating(areas):
    # leaflet.css has `svg.leaflet-zoom-animated { will-change: transform }` for good;
    # Chromium then keeps the raster scale of the last zoom animation.
    html = render(areas)
    assert ".leaflet-container svg.leaflet-zoom-animated { will-change: auto; }" in MAP_CSS
    assert (".leaflet-container .leaflet-zoom-anim svg.leaflet-zoom-animated"
            " { will-change: transform; }") in MAP_CSS
    assert html.index('href="/static/vendor/leaflet/leaflet.css"') < html.index(f'href="/static/{MAP_STYLESHEET}"')


def test_attribution_prefix_is_plain_text(areas):
    html = render(areas)
    assert "gisgridMap.chrome(" in html
    assert 'map.attributionControl.setPrefix("Leaflet")' in map_js("chrome")
    assert "leafletjs.com" not in html


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
    assert initial_bounds(empty) is None and "L.map(" in empty
    assert label_rows(html)[1][2] == "410105003 新华街道"


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
    shutil.copytree(STATIC_DIR, tmp_path / "static")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


EMPLOYERS = [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [X0 + 0.005 + k * 1e-4, Y0 + 0.005]},
     "properties": {"id": k, "name": f"单位{k}", "credit_code": "91410100MA0000000X",
                    "risk_level": k % 4, "grid_code": "410105001", "grid_name": "人民路街道"}}
    for k in range(8)
]
FIND_MAP = "Object.values(window).find(v => v instanceof L.Map)"
# Each label: [text, on show, box [left, top, right, bottom]].
LABEL_STATE = """els => els.map(e => {
    const r = e.getBoundingClientRect();
    return [e.textContent, getComputedStyle(e).visibility === 'visible',
            [r.left, r.top, r.right, r.bottom]]; })"""


@pytest.fixture
def browser_page(served):
    """Open a rendered map in headless Chromium, offline; yields open(html, viewport)."""
    from playwright.sync_api import sync_playwright

    root, base = served
    (root / "employers.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": EMPLOYERS}))
    outside, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--no-first-run", "--disable-sync"])

        def only_local(route):
            if route.request.url.startswith(base):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        def open_map(html: str, viewport=(1280, 900)):
            (root / "map.html").write_text(html, encoding="utf-8")
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", only_local)
            page.goto(f"{base}/map.html", wait_until="networkidle")
            page.wait_for_selector(".gg-cluster", timeout=10_000)
            page.wait_for_timeout(300)  # one animation frame for the label placement
            return page

        yield open_map
        browser.close()
    assert errors == [] and outside == []


def overlapping(boxes: list) -> list:
    return [(a[0], b[0]) for a, b in itertools.combinations(boxes, 2)
            if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]]


@pytest.mark.browser
def test_map_draws_in_chromium_offline(browser_page, areas, units):
    page = browser_page(render(areas, units, employers_url="employers.geojson", title="测试区网格"))
    fills = page.eval_on_selector_all(
        ".leaflet-overlay-pane path.leaflet-interactive", "els => els.map(e => e.getAttribute('fill'))")
    labels = page.eval_on_selector_all(".gg-label-text", "els => els.map(e => e.textContent)")
    cluster = page.eval_on_selector(
        ".gg-cluster", "e => [e.textContent, e.firstChild.style.background, e.firstChild.title]")
    legend_visible = page.is_visible(".leaflet-bottom.leaflet-left .gg-legend")
    switcher = page.inner_text(".leaflet-control-layers")
    label_font = page.eval_on_selector(".gg-label-text", "e => getComputedStyle(e).fontFamily")
    attribution = page.eval_on_selector(".leaflet-control-attribution", "e => [e.innerHTML, e.textContent]")

    assert len(fills) == 9 and set(fills) >= {"#8dd3c7", "#ffffb3"}
    everything = [*zip(areas["code"], areas["name"]), *zip(units["code"], units["name"])]
    assert sorted(labels) == sorted(f"{c} {n}" for c, n in everything)
    # Eight employers, two of each level: a ring of four equal parts, worst first.
    count, ring, title = cluster
    assert count == "8" and ring.startswith("conic-gradient(")
    # Chromium writes each two-position stop as two stops.
    stops = re.findall(r"rgb\((\d+), (\d+), (\d+)\) ([\d.]+)deg", ring)
    stops = [(f"#{int(r):02x}{int(g):02x}{int(b):02x}", float(deg)) for r, g, b, deg in stops]
    assert stops[::2] == [("#c62828", 0), ("#ef6c00", 90), ("#f9a825", 180), ("#2e7d32", 270)]
    assert [deg for _, deg in stops[1::2]] == [90, 180, 270, 360]
    assert title == "高风险 2，较高风险 2，一般风险 2，低风险 2"
    assert legend_visible
    assert "社区/村网格" in switcher and "用人单位（按风险）" in switcher
    assert "Noto Sans CJK SC" in label_font
    assert attribution[1] == "Leaflet" and "<a" not in attribution[0] and "http" not in attribution[0]


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [(1280, 900), (1600, 1000), (1920, 1080)])
def test_vectors_are_drawn_everywhere_after_a_four_level_zoom(browser_page, areas, viewport):
    """The 3×3 board fills the view; no part of it may stay blank after zooming in 2⁴-fold.

    leaflet.css keeps SVG renderers on `will-change: transform`, and Chromium then kept
    the 16-fold raster scale of the zoom animation and drew only a rectangle of the map.
    """
    page = browser_page(render(areas, employers_url="employers.geojson"), viewport)
    zoom = page.evaluate(f"() => {{ const m = {FIND_MAP}; window.ggMap = m; return m.getZoom(); }}")
    page.evaluate(f"() => ggMap.setView([{Y0 + 1.5 * D}, {X0 + 1.5 * D}], {zoom + 1}, {{animate: false}})")
    page.evaluate(f"() => ggMap.setZoom({zoom - 3}, {{animate: false}})")
    page.wait_for_timeout(300)
    page.evaluate(f"() => ggMap.setZoom({zoom + 1})")  # four levels: animated
    page.wait_for_timeout(1200)
    assert page.evaluate("() => ggMap.getZoom()") == zoom + 1
    # Points of the board that are on screen: each must be painted, not map background.
    w, h = viewport
    points = page.evaluate(f"""() => {{
        const out = [];
        for (let i = 0; i <= 20; i++) for (let j = 0; j <= 20; j++) {{
            const p = ggMap.latLngToContainerPoint([{Y0} + {3 * D} * (0.02 + 0.96 * j / 20),
                                                     {X0} + {3 * D} * (0.02 + 0.96 * i / 20)]);
            if (p.x > 4 && p.y > 4 && p.x < {w - 4} && p.y < {h - 4}) out.push([Math.round(p.x), Math.round(p.y)]);
        }}
        return out; }}""")
    assert len(points) > 100
    from io import BytesIO

    from PIL import Image
    pixels = Image.open(BytesIO(page.screenshot())).convert("RGB")
    blank = [xy for xy in points if pixels.getpixel(tuple(xy)) == (238, 240, 241)]
    assert blank == []


@pytest.mark.browser
def test_labels_do_not_overlap_and_show_once_they_fit(browser_page, areas, units):
    viewport = (1280, 900)
    page = browser_page(render(areas, units, employers_url="employers.geojson"), viewport)
    page.evaluate(f"() => {{ window.ggMap = {FIND_MAP}; }}")
    fitted = page.evaluate("() => ggMap.getZoom()")
    shown, in_view = {}, {}
    for zoom in range(fitted - 2, fitted + 3):
        page.evaluate(f"() => ggMap.setZoom({zoom}, {{animate: false}})")
        page.wait_for_timeout(200)
        labels = page.eval_on_selector_all(".gg-label-text", LABEL_STATE)
        visible = [(text, *box) for text, shows, box in labels if shows]
        assert overlapping(visible) == [], zoom
        shown[zoom] = {text for text, *_ in visible}
        # Labels whose whole box would be on the map at this zoom.
        in_view[zoom] = {text for text, _, (left, top, right, bottom) in labels
                         if left >= 0 and top >= 0 and right <= viewport[0] and bottom <= viewport[1]}
    streets = {f"{c} {n}" for c, n in zip(areas["code"], areas["name"])}
    communities = {f"{c} {n}" for c, n in zip(units["code"], units["name"])}
    # Far out the nine streets are crowded: some labels give way, no community shows.
    assert 0 < len(shown[fitted - 2]) < len(streets) and shown[fitted - 2] <= streets
    # One level closer every street label fits inside its square; communities large enough on
    # screen show where they find room (a street page names its communities, issue 15).
    assert streets <= shown[fitted - 1]
    # At the fitted zoom and closer, every label on screen shows: grids are large enough.
    assert shown[fitted] == streets | communities
    for zoom in (fitted + 1, fitted + 2):
        assert in_view[zoom] and in_view[zoom] <= shown[zoom], zoom


# -- vector tiles for large employer sets -------------------------------------------------

_TILES = "/tiles/employers/{z}/{x}/{y}.pbf"


@pytest.mark.parametrize(
    "count, tiles_above, expect_tiles",
    [(1_000, 50_000, False), (1_000_000, 50_000, True), (None, 50_000, False), (51, 50, True)],
)
def test_builder_switches_to_vector_tiles_above_the_threshold(areas, count, tiles_above, expect_tiles):
    page = build_grid_map(
        areas, None, employers_url="/api/employers.geojson", employer_tiles_url=_TILES,
        employer_count=count, tiles_above=tiles_above,
    ).get_root().render()
    assert (_TILES in page) is expect_tiles
    assert ("/api/employers.geojson" in page) is not expect_tiles
    assert ("leaflet.vectorgrid/Leaflet.VectorGrid.bundled.js" in page) is expect_tiles
    assert find_external_links(page) == []
    for src in re.findall(r'src="([^"]+)"', page):
        assert src.startswith("/static/") and (STATIC_DIR / src[len("/static/"):]).is_file(), src


def test_tile_layer_page_size_does_not_depend_on_the_count(areas):
    def page(count):
        return build_grid_map(areas, None, employers_url="/e", employer_tiles_url=_TILES,
                              employer_count=count, tiles_above=10).get_root().render()

    small, large = page(1_000), page(1_000_000)
    assert abs(len(small) - len(large)) < 100


def test_folium_vectorgrid_plugin_is_localised(areas):
    fmap = build_grid_map(areas, None, employers_url=None)
    folium.plugins.VectorGridProtobuf(_TILES, "x").add_to(fmap)
    from gisgrid.maps.assets import localize_assets

    localize_assets(fmap)
    assert find_external_links(fmap.get_root().render()) == []

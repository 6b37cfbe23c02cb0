"""Offline assets: folium's CDN links rewritten to the vendored copies, and the HTML guard."""

from __future__ import annotations

import re

import branca.colormap
import folium
import folium.plugins
import pytest

from gisgrid.maps.assets import (
    _LOCAL_FILES,
    VENDOR_DIR,
    MissingAssetError,
    find_external_links,
    localize_assets,
    vendored_path,
)


def _local_links(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)="(/static/vendor/[^"]+)\"""", html)


# -- find_external_links ------------------------------------------------------------------


@pytest.mark.parametrize(
    "html, expected",
    [
        ('<script src="https://cdn.x/leaflet.js"></script>', ["https://cdn.x/leaflet.js"]),
        ("<script SRC='http://cdn.x/a.js'></script>", ["http://cdn.x/a.js"]),
        ("<img src=https://x/a.png>", ["https://x/a.png"]),
        ('<link rel="stylesheet" href="//cdn.x/a.css"/>', ["//cdn.x/a.css"]),
        ('<link href = "HTTPS://CDN.X/A.CSS">', ["HTTPS://CDN.X/A.CSS"]),
        ("<style>.a { background: url(https://x/i.png) }</style>", ["https://x/i.png"]),
        ("<style>.a { background: url( '//x/i.png' ) }</style>", ["//x/i.png"]),
        ('<style>@import "https://fonts.x/css";</style>', ["https://fonts.x/css"]),
        ("<style>@import url(https://fonts.x/css2);</style>", ["https://fonts.x/css2"]),
        ('<img srcset="https://x/a.png 2x">', ["https://x/a.png 2x"]),
    ],
)
def test_find_external_links_catches_assets(html, expected):
    assert find_external_links(html) == expected


@pytest.mark.parametrize(
    "html",
    [
        "see https://example.com/a.js for details",
        '<script>L.tileLayer("https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=k")</script>',
        '<script src="/static/vendor/leaflet/leaflet.js"></script>',
        '<link href="static/x.css"><img src="data:image/png;base64,AAAA">',
        "<style>.a { background: url(images/layers.png) }</style>",
        '<a class="http://not-a-link">x</a>',
    ],
)
def test_find_external_links_ignores_local_and_plain_text(html):
    assert find_external_links(html) == []


def test_find_external_links_keeps_document_order():
    html = '<link href="//b/x.css"><script src="https://a/x.js"></script><img src="http://c">'
    assert find_external_links(html) == ["//b/x.css", "https://a/x.js", "http://c"]


# -- localize_assets ----------------------------------------------------------------------


def _map_with_cluster() -> folium.Map:
    fmap = folium.Map(location=[34.36, 113.7], tiles=None)
    folium.plugins.MarkerCluster(name="cluster").add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap


def test_localized_map_has_no_external_links_and_every_file_exists():
    fmap = _map_with_cluster()
    localize_assets(fmap)
    html = fmap.get_root().render()

    assert find_external_links(html) == []
    local = _local_links(html)
    assert "/static/vendor/leaflet/leaflet.js" in local
    assert "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in local
    for url in local:
        assert vendored_path(url).is_file(), url


def test_unused_jquery_bootstrap_and_fonts_are_dropped():
    fmap = _map_with_cluster()
    localize_assets(fmap)
    html = fmap.get_root().render().lower()
    for name in ("jquery", "bootstrap", "awesome", "glyphicons", "fontawesome"):
        assert name not in html


def test_class_level_lists_are_never_mutated():
    before = (list(folium.Map.default_js), list(folium.Map.default_css),
              list(folium.plugins.MarkerCluster.default_js))
    localize_assets(_map_with_cluster())
    after = (folium.Map.default_js, folium.Map.default_css,
             folium.plugins.MarkerCluster.default_js)
    assert after == before
    # A map built afterwards without localizing still gets folium's own links.
    assert "cdn.jsdelivr.net" in folium.Map(tiles=None).get_root().render()


def test_static_url_prefix_is_used():
    fmap = _map_with_cluster()
    localize_assets(fmap, static_url="/gisgrid/static/vendor/")
    html = fmap.get_root().render()
    assert '<script src="/gisgrid/static/vendor/leaflet/leaflet.js">' in html
    assert find_external_links(html) == []


def test_localizing_twice_and_after_a_render_is_harmless():
    fmap = _map_with_cluster()
    fmap.get_root().render()  # the header now holds CDN links from this render
    localize_assets(fmap)
    localize_assets(fmap)
    html = fmap.get_root().render()
    assert find_external_links(html) == []
    assert "jquery" not in html


def test_icon_needs_assets_that_are_not_vendored():
    fmap = folium.Map(tiles=None)
    folium.Marker([34.36, 113.7], icon=folium.Icon(icon="home")).add_to(fmap)
    with pytest.raises(MissingAssetError, match=r"Icon icon_\w+ needs .*https://"):
        localize_assets(fmap)


def test_popup_needs_jquery():
    fmap = folium.Map(tiles=None)
    folium.Marker([34.36, 113.7], popup="单位").add_to(fmap)
    with pytest.raises(MissingAssetError, match=r"Popup popup_\w+ needs 'jquery' from https://code\.jquery"):
        localize_assets(fmap)


def test_unknown_plugin_asset_is_named_with_its_url():
    fmap = folium.Map(tiles=None)
    folium.plugins.Fullscreen().add_to(fmap)
    with pytest.raises(MissingAssetError, match=r"Fullscreen fullscreen_\w+ needs .*Control\.FullScreen"):
        localize_assets(fmap)


def test_branca_colormap_legend_is_refused():
    # It adds d3 from a CDN while rendering, past any rewriting (ECOSYSTEM.md).
    fmap = folium.Map(tiles=None)
    branca.colormap.LinearColormap(["#ffffff", "#000000"], vmin=0, vmax=1).add_to(fmap)
    with pytest.raises(MissingAssetError, match="d3"):
        localize_assets(fmap)


def test_localize_assets_wants_a_map():
    with pytest.raises(TypeError, match="expected folium.Map"):
        localize_assets(folium.FeatureGroup())


# -- the vendored files -------------------------------------------------------------------


def test_every_mapped_file_is_vendored():
    for local in _LOCAL_FILES.values():
        assert (VENDOR_DIR / local).is_file(), local


def test_vendored_packages_carry_licences_and_stay_small():
    packages = [p for p in VENDOR_DIR.iterdir() if p.is_dir()]
    assert {p.name for p in packages} >= {"leaflet", "leaflet.markercluster"}
    for package in packages:
        assert (package / "LICENSE").is_file(), package.name
    files = [f for f in VENDOR_DIR.rglob("*") if f.is_file()]
    assert not [f for f in files if f.suffix == ".map" or "node_modules" in f.parts]
    assert sum(f.stat().st_size for f in files) < 1_000_000


def test_leaflet_css_images_are_vendored():
    css = (VENDOR_DIR / "leaflet" / "leaflet.css").read_text()
    for ref in re.findall(r"url\(([^)]+)\)", css):
        ref = ref.strip("'\"")
        if not ref.startswith(("data:", "#")):  # "#default#VML" is an old IE behaviour
            assert (VENDOR_DIR / "leaflet" / ref).is_file(), ref

"""The web grid map: coloured street/town grids, community boundaries, employers by risk.

The builders return a ``folium.Map``; the web layer renders it to a string with
``fmap.get_root().render()``.  Everything the page loads is served by the app
(:func:`gisgrid.maps.assets.localize_assets`); employers are fetched by the browser from a
GeoJSON URL into a cluster layer, so the page stays the same size whatever their number.
"""

from __future__ import annotations

import html
import math
import re
import json
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import shapely
from folium.elements import JSCSSMixin
from folium.template import Template

from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.maps.assets import localize_assets
from gisgrid.maps.choropleth import Classes
from gisgrid.maps.colouring import colour_adjacent
from gisgrid.maps.crs import pick_gauss_kruger_crs
from gisgrid.labels import KIND_LABELS

__all__ = ["BASEMAPS", "KIND_LABELS", "RISK_LEVELS", "ColourBy", "MapSelector", "build_grid_map"]

_UNRATED = ("未评级", "#78909c")


BASEMAPS = ("none", "osm", "tianditu", "mbtiles")


@dataclass(frozen=True)
class ColourBy:
    """Fill one level of grids by an indicator instead of by adjacency.

    ``values`` maps grid code to the indicator value (NaN = no data); ``classes`` are
    :func:`gisgrid.maps.choropleth.classify_indicator` of those values; ``target`` is
    "areas" (the street/town fill) or "units" (community/village grids filled, the
    street/town grids then drawn as outlines only).
    """

    classes: Classes
    values: dict[str, float]
    target: str = "areas"
    level_label: str = "街道/乡镇"
    #: what the legend says about how the classes were made (default: natural breaks)
    note: str | None = None

    def __post_init__(self) -> None:
        if self.target not in ("areas", "units"):
            raise ValueError(f"target was {self.target!r}; expected 'areas' or 'units'")


@dataclass(frozen=True)
class MapSelector:
    """A small form on the map that reloads the page with other query parameters.

    Each field is ``(parameter, label, [(value, option label), …], selected value)``;
    ``keep`` are other parameters the page carries along (e.g. the generation).
    """

    fields: tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...]
    keep: tuple[tuple[str, str], ...] = ()

_FONT_STACK = '"Noto Sans CJK SC", "Microsoft YaHei", sans-serif'
_MIN_ZOOM, _MAX_ZOOM = 4, 18
# Display only.  coverage_simplify's tolerance is the square root of the area of the
# triangles it may remove (Visvalingam–Whyatt), in metres here: a 5 m x 5 m kink goes,
# and digitising noise along an edge with it; city pages shrink several-fold.
_SIMPLIFY_M = 5.0
# Coarsest display simplification (a city seen whole), metres.
_SIMPLIFY_MAX_M = 30.0
# The map's size assumed when choosing the tolerance (the pages' map column, px).
_VIEWPORT = (1000, 800)
_FOCUS_COLOUR = "#1565c0"
_OUTLINE_COLOUR = "#37474f"

# Leaflet panes, bottom to top.  Separate panes keep the stacking right when layers are
# toggled off and on again (re-added layers otherwise land on top of everything).
_PANES = (
    ("gg-units", 410, True),
    ("gg-outlines", 415, False),
    ("gg-problems", 430, True),
    ("gg-employers", 610, True),
    # The grid a page is about stays outlined over its employers.
    ("gg-focus", 615, False),
    # Grids below the 四定 staffing standard: dashed outlines only, over the focus outline
    # (on an understaffed grid's own page the red dashes then run along its blue line).
    ("gg-staffing", 616, True),
    # Labels above the employers: at high density points would hide every grid name;
    # the labels let clicks through to the points below.
    ("gg-labels", 620, False),
)


def build_grid_map(
    areas: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame | None,
    *,
    employers_url: str | None,
    employer_tiles_url: str | None = None,
    employer_count: int | None = None,
    tiles_above: int = 50_000,
    focus: gpd.GeoDataFrame | None = None,
    title: str = "",
    static_url: str = "/static/vendor",
    basemap: str = "none",
    tianditu_key: str | None = None,
    local_basemap: dict | None = None,
    colour_by: ColourBy | None = None,
    selector: MapSelector | None = None,
    problems_url: str | None = None,
    employer_page_url: str | None = None,
    highlight: tuple[float, float, str] | None = None,
    place_url: str | None = None,
    understaffed: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build the interactive grid map.

    Street/town grids (`areas`) are filled so that neighbours never share a colour;
    community/village grids (`units`) are drawn as thin boundaries in a layer of their own.
    Every grid is labelled "code name" at its visual centre; the browser hides labels that
    would overlap one already placed (larger grids and street/town labels first) and shows
    community/village labels only once they fit inside their grid.  Employers are loaded
    by the browser from `employers_url` into clusters drawn as rings with the share of
    each risk level around the count.  A Chinese legend, a layer switcher and a metric
    scale bar are added, and every script and stylesheet points at the app's vendored
    copies under `static_url`.

    Parameters
    ----------
    areas : GeoDataFrame
        Street/town grids with columns ``code`` (unique), ``name``, ``kind``; any CRS
        (EPSG:4490 as stored).  Rows with empty geometry are not drawn.
    units : GeoDataFrame or None
        Community/village grids with ``code`` and ``name``, or None for no such layer.
    employers_url : str or None
        URL of a GeoJSON FeatureCollection of points with properties ``id``, ``name``,
        ``credit_code``, ``risk_level`` (0–3, missing = unrated), ``grid_code``,
        ``grid_name``; fetched by the browser with the page's cookies.  None: no layer.
    employer_tiles_url : str, optional
        URL template ``…/{z}/{x}/{y}.pbf`` of employer vector tiles
        (:func:`gisgrid.maps.tiles.employer_tile`).  Used instead of `employers_url` when
        there is no GeoJSON URL or when `employer_count` exceeds `tiles_above`, so the
        page stays a few kilobytes whatever the number of employers.
    employer_count : int, optional
        How many employers the layer would show; None: unknown (GeoJSON is used).
    tiles_above : int
        Above this many employers the vector tiles are used.
    focus : GeoDataFrame, optional
        The grid(s) the page is about: outlined in blue and the map fitted to them.
    title : str
        Page title, also shown on the map when given.
    static_url : str
        URL where ``gisgrid/web/static/vendor`` is served.
    basemap : {"none", "osm", "tianditu"}
        "none" (default, works offline) draws on a plain light background.
    tianditu_key : str, optional
        Tianditu ``tk`` key; required when `basemap` is "tianditu".
    colour_by : ColourBy, optional
        Colour the street/town or community/village grids by an indicator (a classed
        choropleth with its classes in the legend) instead of by adjacency.
    selector : MapSelector, optional
        A form on the map to reload the page with another indicator or level.
    problems_url : str, optional
        URL of a boundary validation report as GeoJSON
        (:func:`gisgrid.boundaries.validate.report_geojson`), fetched by the browser
        into a "边界问题" layer: problem areas hatched, points marked, errors red,
        warnings orange, with the message on hover.  The legend says how many.
    employer_page_url : str, optional
        URL of an employer's page with ``{key}`` where its credit code (or, without
        one, its id) goes: employer popups then link to it (查看一企一档).
    highlight : (lat, lon, label), optional
        One place to mark prominently (the employer a page is about), labelled.
    place_url : str, optional
        URL of an employer's placement API (``POST {"lon", "lat", "crs"}`` with the page's CSRF token):
        a "在地图上标注位置" button lets a person click the spot, confirm with their name,
        and the page reloads with the employer placed and assigned.
    understaffed : GeoDataFrame, optional
        Grids below the 四定 staffing standard (:func:`gisgrid.access.staffing.staffing_check`)
        with ``code``, ``name`` and ``text`` (e.g. "不足（应≥2，现1）"): a "人员配备不足" layer
        outlines them with a red dashed line (no fill, so the grids' colours and tooltips stay
        as they are; the outline's tooltip says what is missing) and the legend counts them.
        An empty frame still gets its legend row ("0 个").

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> areas = gpd.GeoDataFrame(
    ...     {"code": ["410102001", "410102002"], "name": ["甲街道", "乙街道"],
    ...      "kind": ["street", "street"]},
    ...     geometry=[box(113.70, 34.36, 113.71, 34.37), box(113.71, 34.36, 113.72, 34.37)],
    ...     crs="EPSG:4490")
    >>> page = build_grid_map(areas, None, employers_url=None).get_root().render()
    >>> "410102001 甲街道" in page and "https://" not in page
    True
    """
    _check_grids(areas, "areas", ("code", "name", "kind"))
    if units is not None:
        _check_grids(units, "units", ("code", "name"))
    if focus is not None:
        _check_grids(focus, "focus", ())
    _check_basemap(basemap, tianditu_key)

    drawn = areas[~(areas.geometry.isna() | areas.geometry.is_empty)]
    fit_to = _lonlat_bounds(focus if focus is not None and not focus.empty else drawn)
    fmap = _new_map(fit_to, basemap, tianditu_key, title, local_basemap)
    # Simplified for the zoom the page opens at (a city page far coarser than a street's).
    tolerance = display_tolerance(fit_to)
    # First, before any layer exists: see _InitialView.
    _InitialView(fit_to).add_to(fmap)
    for name, z_index, pointer_events in _PANES:
        folium.map.CustomPane(name, z_index=z_index, pointer_events=pointer_events).add_to(fmap)

    if colour_by is not None and colour_by.target == "units" and units is None:
        raise ValueError("colour_by targets 'units' but no units were given")
    _add_areas(fmap, drawn, colour_by if colour_by is not None and colour_by.target == "areas" else None,
               outline_only=colour_by is not None and colour_by.target == "units", tolerance=tolerance)
    if units is not None:
        _add_units(fmap, units, colour_by if colour_by is not None and colour_by.target == "units" else None,
                   tolerance=tolerance)
    if focus is not None:
        _add_focus(fmap, focus, tolerance)
    if problems_url:
        _ProblemLayer(problems_url).add_to(fmap)
    if understaffed is not None:
        _check_grids(understaffed, "understaffed", ("code", "name", "text"))
        _add_understaffed(fmap, understaffed, tolerance)
    _GridLabels(drawn, units).add_to(fmap)
    use_tiles = bool(employer_tiles_url) and (
        not employers_url or (employer_count is not None and employer_count > tiles_above)
    )
    # Over a choropleth the employer points hide the colours people came to read: the
    # layer starts switched off there (one click in the layer switcher brings it back).
    show_employers = colour_by is None
    if use_tiles:
        _EmployerTiles(employer_tiles_url, show=show_employers, page_url=employer_page_url).add_to(fmap)
    elif employers_url:
        _add_employers(fmap, employers_url, show=show_employers, page_url=employer_page_url)
    if highlight is not None:
        _Highlight(*highlight).add_to(fmap)
    if place_url:
        _PlaceControl(place_url).add_to(fmap)
    _MapChrome(
        title,
        show_risk=bool(employers_url or employer_tiles_url),
        tiles=use_tiles,
        plain_background=basemap == "none",
        colour_by=colour_by,
        coloured_codes=(drawn if colour_by is None or colour_by.target == "areas" else units)["code"]
        .astype(str).tolist() if colour_by is not None else None,
        selector=selector,
        problems=bool(problems_url),
        understaffed=None if understaffed is None else len(understaffed),
    ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    localize_assets(fmap, static_url)
    return fmap


# -- checks -------------------------------------------------------------------------------


def _check_grids(gdf, what: str, columns: tuple[str, ...]) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"{what} was {type(gdf).__name__}; expected a GeoDataFrame")
    if gdf.crs is None:
        raise ValueError(f"{what} has no CRS; expected lon/lat EPSG:4490 or another set CRS")
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}; expected {list(columns)}")
    if "code" in columns:
        codes = gdf["code"].astype(str)
        duplicated = sorted(set(codes[codes.duplicated()]))
        if duplicated:
            raise ValueError(f"{what} has duplicate codes {duplicated[:10]}; codes must be unique")


def _check_basemap(basemap: str, tianditu_key: str | None) -> None:
    if basemap not in BASEMAPS:
        raise ValueError(f"basemap was {basemap!r}; expected one of {BASEMAPS}")
    if basemap == "tianditu" and not tianditu_key:
        raise ValueError("basemap 'tianditu' needs tianditu_key (the tk of a Tianditu account)")


# -- geometry for display ---------------------------------------------------------------


def display_tolerance(bounds: list[list[float]] | None, viewport: tuple[int, int] = _VIEWPORT) -> float:
    """Simplification tolerance in metres for a map first fitted to `bounds` (lat/lon corners).

    A third of a screen pixel at the zoom the page opens at (for a ``viewport``-sized map),
    within [_SIMPLIFY_M, _SIMPLIFY_MAX_M]: a city page opens some four zoom levels out
    from a street page, and its 265 grids drawn at the street page's 5 m weighed 1.4 MB;
    at its own zoom nobody sees the difference, and two levels closer the lines are off
    by about a pixel.

    Examples
    --------
    >>> display_tolerance([[34.35, 113.69], [34.36, 113.70]])  # one small street
    5.0
    >>> round(display_tolerance([[34.2, 113.4], [34.6, 113.9]]))  # a city of 45 x 45 km
    21
    >>> display_tolerance(None)
    5.0
    """
    if not bounds:
        return _SIMPLIFY_M
    (south, west), (north, east) = bounds
    lat = math.radians((south + north) / 2)
    # Web Mercator metres per pixel at zoom 0, at this latitude.
    at_zero = 40075016.686 * math.cos(lat) / 256
    width_m = max((east - west) / 360 * 40075016.686 * math.cos(lat), 1.0)
    height_m = max(math.radians(north - south) * 6378137.0, 1.0)
    per_pixel = max(width_m / viewport[0], height_m / viewport[1])
    zoom = max(0, min(_MAX_ZOOM, math.floor(math.log2(at_zero / per_pixel))))
    return float(min(_SIMPLIFY_MAX_M, max(_SIMPLIFY_M, at_zero / 2**zoom / 3)))


def _display_geometries(gdf: gpd.GeoDataFrame, tolerance: float = _SIMPLIFY_M) -> np.ndarray:
    """Simplify to `tolerance` metres keeping shared edges shared; lon/lat, 5 decimals (~1 m)."""
    keep = ~(gdf.geometry.isna() | gdf.geometry.is_empty)
    metric = gdf.geometry[keep].to_crs(pick_gauss_kruger_crs(gdf))
    geoms = metric.values
    if len(geoms) and shapely.coverage_is_valid(geoms):
        # Simplifying polygon by polygon opens slivers between neighbours; the coverage
        # simplifier moves each shared edge once.
        geoms = shapely.coverage_simplify(geoms, tolerance)
    else:
        # Not a clean coverage (a draft with overlaps): simplify each polygon on its own.
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    lonlat = gpd.GeoSeries(geoms, crs=metric.crs).to_crs("EPSG:4490").values
    # 5 decimals: ~1 m, below a pixel up to zoom 17; the sixth cost 10 % of the page.
    rounded = shapely.transform(np.asarray(lonlat), lambda xy: np.round(xy, 5))
    out = np.full(len(gdf), None, dtype=object)
    out[keep.to_numpy()] = rounded
    return out


def _feature_collection(gdf: gpd.GeoDataFrame, ids: list[str], properties: list[dict],
                        tolerance: float = _SIMPLIFY_M) -> dict:
    features = []
    for geom, feature_id, props in zip(_display_geometries(gdf, tolerance), ids, properties):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "id": feature_id,
                "properties": props,
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _lonlat_bounds(gdf: gpd.GeoDataFrame) -> list[list[float]] | None:
    if gdf.empty:
        return None
    minx, miny, maxx, maxy = gdf.geometry.to_crs("EPSG:4490").total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return None
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


# -- layers ---------------------------------------------------------------------------------


def _new_map(bounds, basemap: str, tianditu_key: str | None, title: str,
             local_basemap: dict | None = None) -> folium.Map:
    centre = (
        [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
        if bounds
        else [34.75, 113.65]
    )
    fmap = folium.Map(location=centre, zoom_start=12, tiles=None, control_scale=False)
    # With no tile layer Leaflet has no zoom range, and MarkerCluster then draws nothing
    # ("Map has no maxZoom specified"): give the map its own.
    fmap.options.update(min_zoom=_MIN_ZOOM, max_zoom=_MAX_ZOOM)
    if title:
        fmap.get_root().title = html.escape(title)
    for layer in _basemap_layers(basemap, tianditu_key, local_basemap):
        layer.add_to(fmap)
    return fmap


def _basemap_layers(basemap: str, tianditu_key: str | None,
                    local_basemap: dict | None = None) -> list[folium.TileLayer]:
    # Attributions are plain text: an <a href> to the provider would be an external link
    # in the page, and the intranet cannot follow it anyway.
    if basemap == "mbtiles":
        if not local_basemap:
            raise ValueError("basemap 'mbtiles' needs local_basemap (url, attribution, min_zoom, max_zoom)")
        # The file's attribution is the file's text: tags dropped, the rest escaped (Leaflet
        # draws attributions as HTML).
        attribution = html.escape(re.sub(r"<[^>]*>", "", str(local_basemap.get("attribution") or "本地底图")))
        return [folium.TileLayer(tiles=local_basemap["url"], attr=attribution[:200], name="本地底图",
                                 max_native_zoom=local_basemap["max_zoom"], max_zoom=_MAX_ZOOM,
                                 min_zoom=_MIN_ZOOM)]
    if basemap == "osm":
        return [
            folium.TileLayer(
                tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                attr="© OpenStreetMap 贡献者",
                name="OpenStreetMap 底图",
                max_zoom=_MAX_ZOOM,
                min_zoom=_MIN_ZOOM,
            )
        ]
    if basemap == "tianditu":
        # Tianditu's web-Mercator (_w) layers are in CGCS2000 lon/lat like our data, unlike
        # the GCJ-02 commercial basemaps that shift overlays by hundreds of metres.
        def wmts(layer: str) -> str:
            return (
                f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={quote(tianditu_key, safe='')}"
            )

        common = dict(attr="天地图", subdomains="01234567", max_zoom=_MAX_ZOOM, min_zoom=_MIN_ZOOM)
        return [
            folium.TileLayer(tiles=wmts("vec"), name="天地图矢量底图", **common),
            folium.TileLayer(
                tiles=wmts("cva"), name="天地图注记", overlay=True, control=True, **common
            ),
        ]
    return []


def _add_areas(fmap: folium.Map, areas: gpd.GeoDataFrame, colour_by: ColourBy | None = None, *,
               outline_only: bool = False, tolerance: float = _SIMPLIFY_M) -> None:
    codes = areas["code"].astype(str).tolist()
    if colour_by is not None:
        colours = {code: colour_by.classes.colour_of(colour_by.values.get(code, np.nan)) for code in codes}
    else:
        colours = dict(zip(codes, colour_adjacent(areas)))
    # Tooltips insert property values as HTML: escape them here.
    properties = [
        {
            "code": html.escape(code),
            "name": html.escape(str(name)),
            "kind": html.escape(KIND_LABELS.get(str(kind), str(kind))),
        }
        for code, name, kind in zip(codes, areas["name"], areas["kind"])
    ]
    fields, aliases = ["code", "name", "kind"], ["网格编码", "网格名称", "类型"]
    if colour_by is not None:
        for code, props in zip(codes, properties):
            props["value"] = colour_by.classes.format_value(colour_by.values.get(code, np.nan))
        fields.append("value")
        aliases.append(html.escape(colour_by.classes.indicator.label))

    def style(feature):
        if outline_only:
            # The community/village grids carry the colours: streets/towns as strong outlines.
            return {"fillOpacity": 0.0, "color": "#263238", "weight": 2.6, "opacity": 0.95}
        return {
            "fillColor": colours[feature["id"]],
            "fillOpacity": 0.55 if colour_by is None else 0.8,
            "color": _OUTLINE_COLOUR,
            "weight": 1.5,
            "opacity": 0.9,
        }

    collection = _feature_collection(areas, codes, properties, tolerance)
    name = "街道/乡镇网格"
    if colour_by is not None:
        name += f"（{colour_by.classes.indicator.label}）"
    if outline_only:
        # Above the filled community/village grids, and letting their tooltips through.
        folium.GeoJson(collection, name=name, style_function=style, interactive=False,
                       pane="gg-outlines").add_to(fmap)
        return
    folium.GeoJson(
        collection,
        name=name,
        style_function=style,
        highlight_function=lambda _: {"weight": 3, "fillOpacity": 0.7},
        tooltip=_tooltip(collection, fields=fields, aliases=aliases),
    ).add_to(fmap)


def _add_units(fmap: folium.Map, units: gpd.GeoDataFrame, colour_by: ColourBy | None = None, *,
               tolerance: float = _SIMPLIFY_M) -> None:
    codes = units["code"].astype(str).tolist()
    labels = [{"label": html.escape(f"{code} {name}")} for code, name in zip(codes, units["name"])]
    if colour_by is None:
        # A transparent fill (not fill: false) so the tooltip answers anywhere inside.
        style = lambda _: {  # noqa: E731
            "color": "#546e7a",
            "weight": 0.8,
            "opacity": 0.9,
            "dashArray": "4 3",
            "fillOpacity": 0.0,
        }
        fields, name = ["label"], "社区/村网格"
    else:
        colours = {code: colour_by.classes.colour_of(colour_by.values.get(code, np.nan)) for code in codes}
        for code, props in zip(codes, labels):
            props["label"] += "：" + html.escape(
                f"{colour_by.classes.indicator.label} {colour_by.classes.format_value(colour_by.values.get(code, np.nan))}")
        style = lambda feature: {  # noqa: E731
            "fillColor": colours[feature["id"]],
            "fillOpacity": 0.8,
            "color": "#ffffff",
            "weight": 0.8,
            "opacity": 0.9,
        }
        fields, name = ["label"], f"社区/村网格（{colour_by.classes.indicator.label}）"
    collection = _feature_collection(units, codes, labels, tolerance)
    folium.GeoJson(
        collection,
        name=name,
        style_function=style,
        tooltip=_tooltip(collection, fields=fields, labels=False),
        pane="gg-units",
    ).add_to(fmap)


def _tooltip(collection: dict, **kwargs) -> folium.GeoJsonTooltip | None:
    # folium checks the fields against the first feature, so an empty layer gets none.
    return folium.GeoJsonTooltip(sticky=True, **kwargs) if collection["features"] else None


def _add_focus(fmap: folium.Map, focus: gpd.GeoDataFrame, tolerance: float = _SIMPLIFY_M) -> None:
    ids = [f"focus-{i}" for i in range(len(focus))]
    folium.GeoJson(
        _feature_collection(focus, ids, [{} for _ in ids], tolerance),
        name="当前网格",
        style_function=lambda _: {"fill": False, "color": _FOCUS_COLOUR, "weight": 4, "opacity": 1},
        interactive=False,
        pane="gg-focus",
    ).add_to(fmap)


_SHORT_COLOUR = "#d50000"


def _add_understaffed(fmap: folium.Map, grids: gpd.GeoDataFrame, tolerance: float = _SIMPLIFY_M) -> None:
    if grids.empty:
        return
    codes = grids["code"].astype(str).tolist()
    properties = [{"label": html.escape(f"{code} {name}：人员{text}")}
                  for code, name, text in zip(codes, grids["name"], grids["text"])]
    collection = _feature_collection(grids, [f"short-{code}" for code in codes], properties, tolerance)
    folium.GeoJson(
        collection,
        name="人员配备不足",
        # fill: false — only the outline answers the pointer, the grid below keeps its tooltip.
        style_function=lambda _: {"fill": False, "color": _SHORT_COLOUR, "weight": 3, "opacity": 0.95,
                                  "dashArray": "7 5"},
        tooltip=_tooltip(collection, fields=["label"], labels=False),
        pane="gg-staffing",
    ).add_to(fmap)


def _add_employers(fmap: folium.Map, employers_url: str, *, show: bool = True, page_url: str | None = None) -> None:
    cluster = folium.plugins.MarkerCluster(
        name="用人单位（按风险）",
        show=show,
        icon_create_function=_cluster_icon_js(),
        options={"chunkedLoading": True, "showCoverageOnHover": False},
    ).add_to(fmap)
    # Wider clusters while a street is small on screen: with a ring every 50 px no grid label
    # found a free spot on the city map (they must not cover the counts).
    cluster.options["maxClusterRadius"] = folium.JsCode(
        "function (zoom) { return zoom <= 14 ? 100 : zoom <= 15 ? 80 : 60; }")
    _EmployerLoader(cluster, employers_url, page_url).add_to(fmap)


# -- custom elements ------------------------------------------------------------------------


def _js_json(value) -> str:
    """JSON for an inline <script>, keeping Chinese readable but never closing the tag."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _risk_levels_json() -> str:
    # cls: the CSS class with the colour (_chrome_css), for markup; colour: for canvas styles.
    levels = {str(k): {"label": v[0], "colour": v[1], "cls": f"gg-risk-{k}"} for k, v in RISK_LEVELS.items()}
    levels["unrated"] = {"label": _UNRATED[0], "colour": _UNRATED[1], "cls": "gg-risk-unrated"}
    return _js_json(levels)


def _ring_order() -> list[tuple[int, str, str]]:
    """(level, label, colour) clockwise from twelve o'clock: worst first, unrated last."""
    rated = [(level, label, colour) for level, (label, colour) in RISK_LEVELS.items()]
    return sorted(rated, reverse=True) + [(-1, *_UNRATED)]


# A cluster is a ring split into the shares of each risk level (worst first, clockwise
# from the top) around a white disc with the number of employers.  Colouring it by the
# worst level alone turned nearly every cluster red: a few high-risk employers are in
# almost any group of twenty.  The diameter grows with log10(count), so a cluster of 6,000
# is not ten times one of 60 and the count stays readable at every zoom.
_CLUSTER_ICON_TEMPLATE = """
function (cluster) {
    var order = __ORDER__;
    var counts = {};
    var markers = cluster.getAllChildMarkers();
    for (var i = 0; i < markers.length; i++) {
        var level = markers[i].options.riskLevel;
        level = level == null ? -1 : level;
        counts[level] = (counts[level] || 0) + 1;
    }
    var total = markers.length, at = 0, stops = [], title = [];
    order.forEach(function (risk) {
        var n = counts[risk[0]] || 0;
        if (!n) { return; }
        var end = at + 360 * n / total;
        stops.push(risk[2] + " " + at.toFixed(1) + "deg " + end.toFixed(1) + "deg");
        title.push(risk[1] + " " + n);
        at = end;
    });
    var size = Math.round(Math.min(64, 28 + 9 * Math.log(total) / Math.LN10));
    var ringWidth = Math.max(5, Math.round(size * 0.17));
    // Elements with styles set through the DOM, not markup with style attributes: the
    // app's Content-Security-Policy allows no inline style attributes.
    var ring = document.createElement("div");
    ring.className = "gg-donut";
    ring.title = title.join("，");
    ring.style.background = "conic-gradient(" + stops.join(", ") + ")";
    var count = ring.appendChild(document.createElement("span"));
    count.style.inset = ringWidth + "px";
    count.style.fontSize = (size < 40 ? 11 : 13) + "px";
    count.textContent = total;
    return L.divIcon({html: ring, className: "gg-cluster", iconSize: L.point(size, size)});
}
"""


def _cluster_icon_js() -> str:
    return _CLUSTER_ICON_TEMPLATE.replace("__ORDER__", _js_json(_ring_order()))


class _InitialView(folium.MacroElement):
    """Fit the first view, without animation, before any layer is added; follow resizes.

    folium creates the map at ``zoom_start`` and fits the bounds last, so Leaflet animated
    that first zoom (a community page jumps four levels, 2⁴ = 16 times).  Every SVG
    renderer is scaled 16-fold by CSS during the animation, and leaflet.css keeps
    ``will-change: transform`` on those SVGs for good: Chromium then keeps rasterising them
    at the animation's 16-fold scale, runs out of tile memory and leaves most of the map
    blank grey.  Fitting first, with ``animate: false``, means the first drawing is already
    at the final zoom (and _chrome_css limits ``will-change`` to zoom animations for the
    zooms people make later).  A ResizeObserver keeps Leaflet's idea of the size in step
    with the container, re-fitting while the person has not moved the map yet.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, bounds, padding) {
            var moved = false, fitting = false;
            function fit() {
                if (!bounds) { return; }
                fitting = true;
                map.fitBounds(bounds, {padding: padding, animate: false});
                fitting = false;
            }
            fit();
            map.on("zoomstart movestart", function () { moved = moved || !fitting; });
            if (window.ResizeObserver) {
                new ResizeObserver(function () {
                    var before = map.getSize();
                    map.invalidateSize();  // keeps the centre, like Leaflet on window resizes
                    if (!moved && !before.equals(map.getSize())) { fit(); }
                }).observe(map.getContainer());
            }
        })({{ this._parent.get_name() }}, {{ this.bounds_json }}, {{ this.padding_json }});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]] | None, padding: int = 24):
        super().__init__()
        self._name = "InitialView"
        self.bounds_json = _js_json(bounds)
        self.padding_json = _js_json([padding, padding])


class _GridLabels(folium.FeatureGroup):
    """"code name" labels at each grid's visual centre, decluttered in the browser.

    One compact array and a loop instead of a folium Marker per grid: 2,000 grids would
    otherwise add ~1 MB of generated JavaScript to the page.  Each row carries the grid's
    area and the radius of the largest circle inside it, in metres; after every zoom or
    move the browser places labels by priority and hides those whose box would overlap
    one already placed:

    1. street/town labels that fit inside their grid (box within that circle) — always
       shown: such boxes lie inside their own grids and grids do not overlap;
    2. community/village labels that fit — moved inside their circle if the spot is
       taken, hidden only while no free spot exists;
    3. other street/town labels, larger grids first.

    Community/village labels that do not fit are not shown: they come with closer zooms.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup({});
        (function (map, group, labels) {
            var GAP = 3, MARGIN = 120, MINOR_RADIUS = 18, KEY_ROWS = 12;
            var SPOTS = [[0, -1], [0, 1], [-1, 0], [1, 0],
                         [-0.7, -0.7], [0.7, -0.7], [-0.7, 0.7], [0.7, 0.7]];
            // [lat, lon, "code name", area m², inscribed radius m, minor (community/village)]
            var items = labels.map(function (row) {
                var text = document.createElement("div");
                text.className = row[5] ? "gg-label-text gg-label-minor" : "gg-label-text";
                text.textContent = row[2];
                var marker = L.marker([row[0], row[1]], {
                    icon: L.divIcon({className: "gg-label", html: text, iconSize: null}),
                    pane: "gg-labels", interactive: false, keyboard: false
                }).addTo(group);
                return {latlng: marker.getLatLng(), text: text, area: row[3],
                        radius: row[4], minor: row[5]};
            });
            items.sort(function (a, b) { return a.minor - b.minor || b.area - a.area; });

            function metresPerPixel(lat, zoom) {
                return 40075016.686 * Math.cos(lat * Math.PI / 180) / Math.pow(2, zoom + 8);
            }
            function boxAt(item, dx, dy) {
                var x = item.at.x + dx, y = item.at.y + dy, w = item.w / 2 + GAP, h = item.h / 2 + GAP;
                return [x - w, y - h, x + w, y + h];
            }
            function free(box, placed) {
                for (var i = 0; i < placed.length; i++) {
                    var o = placed[i];
                    if (box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3]) { return false; }
                }
                return true;
            }
            // Employer clusters and points already on the map: labels never go over them
            // (a label hid the count of its cluster), so they are placed first.
            function obstacles() {
                var origin = map.getContainer().getBoundingClientRect(), boxes = [];
                var found = map.getContainer().querySelectorAll(
                    ".leaflet-marker-pane .gg-cluster, .leaflet-gg-employers-pane path.leaflet-interactive");
                for (var i = 0; i < found.length; i++) {
                    var r = found[i].getBoundingClientRect();
                    if (r.width > 0) {
                        boxes.push([r.left - origin.left - GAP, r.top - origin.top - GAP,
                                    r.right - origin.left + GAP, r.bottom - origin.top + GAP]);
                    }
                }
                return boxes;
            }
            function place(item, placed) {
                var offsets = [[0, 0]], reach = [];
                if (item.radiusPx <= 0) { return free(boxAt(item, 0, 0), placed) ? (placed.push(boxAt(item, 0, 0)), [0, 0]) : null; }
                if (item.fits) {
                    // Moving the box by at most `slack` keeps it inside the circle, so inside the grid.
                    var slack = item.radiusPx - item.halfDiagonal;
                    reach.push(slack, slack / 2);
                }
                reach.forEach(function (d) {
                    if (d >= 4) { SPOTS.forEach(function (s) { offsets.push([s[0] * d, s[1] * d]); }); }
                });
                // Out of the clusters' way: rings of spots around the anchor, nearest first, as
                // far as the centre stays inside the grid (its inscribed circle, or a third of
                // the side of a compact grid of its area).
                var far = Math.max(item.radiusPx, item.sidePx / 3);
                for (var r = 6; r <= far && offsets.length < 400; r += 6) {
                    var n = Math.max(8, Math.round(2 * Math.PI * r / 10));
                    for (var k = 0; k < n; k++) {
                        offsets.push([r * Math.cos(2 * Math.PI * k / n), r * Math.sin(2 * Math.PI * k / n)]);
                    }
                }
                for (var i = 0; i < offsets.length; i++) {
                    var box = boxAt(item, offsets[i][0], offsets[i][1]);
                    if (free(box, placed)) { placed.push(box); return offsets[i]; }
                }
                return null;
            }
            // Grids of the level shown whose label found no free spot are named in the
            // legend's key instead ("未能标注"): no grid of the level goes unnamed.
            function listMissing(missing) {
                var key = document.querySelector(".gg-label-key");
                if (!key) { return; }
                var list = key.querySelector(".gg-label-key-list");
                list.textContent = "";
                // Every street/town, and communities/villages up to KEY_ROWS.
                var majors = missing.filter(function (item) { return !item.minor; }).length;
                var listed = missing.slice(0, Math.max(majors, KEY_ROWS));
                listed.forEach(function (item) {
                    var row = list.appendChild(document.createElement("div"));
                    row.textContent = item.text.textContent;
                });
                if (missing.length > listed.length) {
                    list.appendChild(document.createElement("div")).textContent =
                        "等 " + missing.length + " 个（放大地图查看）";
                }
                key.classList.toggle("gg-label-key-empty", !missing.length);
            }
            function declutter() {
                if (!map.hasLayer(group)) { listMissing([]); return; }
                var zoom = map.getZoom(), size = map.getSize();
                // Read every size and position first, write afterwards: one layout per pass.
                var ranked = items.filter(function (item) {
                    item.w = item.text.offsetWidth;
                    item.h = item.text.offsetHeight;
                    item.at = map.latLngToContainerPoint(item.latlng);
                    item.halfDiagonal = Math.sqrt(item.w * item.w + item.h * item.h) / 2;
                    item.radiusPx = item.radius / metresPerPixel(item.latlng.lat, zoom);
                    item.sidePx = Math.sqrt(item.area) / metresPerPixel(item.latlng.lat, zoom);
                    item.fits = item.w > 0 && item.radiusPx >= item.halfDiagonal;
                    // A community/village too small for its label is of the level shown once
                    // the grid is a few label heights across; before that it waits for a closer zoom.
                    item.shownLevel = !item.minor || item.fits || item.radiusPx >= MINOR_RADIUS;
                    item.tier = item.fits ? item.minor : 2 + item.minor;
                    item.offset = null;
                    item.inView = item.at.x > 0 && item.at.x < size.x && item.at.y > 0 && item.at.y < size.y;
                    return item.w > 0 && item.shownLevel
                        && item.at.x > -MARGIN && item.at.x < size.x + MARGIN
                        && item.at.y > -MARGIN && item.at.y < size.y + MARGIN;
                });
                // Array.prototype.sort is stable: within a tier, larger grids stay first.
                ranked.sort(function (a, b) { return a.tier - b.tier; });
                var placed = obstacles();
                ranked.forEach(function (item) { item.offset = place(item, placed); });
                items.forEach(function (item) {
                    var shown = item.offset !== null;
                    item.text.classList.toggle("gg-label-hidden", !shown);
                    item.text.style.marginLeft = shown && item.offset[0] ? item.offset[0] + "px" : "";
                    item.text.style.marginTop = shown && item.offset[1] ? item.offset[1] + "px" : "";
                });
                // A community/village is missed only once its grid is large on screen: at city
                // zoom hundreds of villages wait for closer zooms and would bury the key.
                listMissing(ranked.filter(function (item) {
                    return item.offset === null && item.inView && (!item.minor || item.radiusPx >= 2 * MINOR_RADIUS);
                }).sort(function (a, b) { return a.minor - b.minor; }));  // streets/towns first
            }
            var pending = false;
            function schedule() {
                if (pending) { return; }
                pending = true;
                L.Util.requestAnimFrame(function () { pending = false; declutter(); });
            }
            map.on("zoomend moveend resize", schedule);
            group.on("add remove", schedule);
            // Clusters come and go after the employers arrive and after every zoom
            // animation: place the labels again whenever the marker pane changes.
            if (window.MutationObserver) {
                var panes = [map.getPane("markerPane"), map.getPane("gg-employers")];
                var watch = new MutationObserver(schedule);
                panes.forEach(function (pane) { if (pane) { watch.observe(pane, {childList: true, subtree: true}); } });
            }
            if (document.fonts && document.fonts.ready) { document.fonts.ready.then(schedule); }
        })({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.labels_json }});
        {% endmacro %}
        """
    )

    def __init__(self, areas: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None):
        super().__init__(name="网格标注", overlay=True, control=True)
        rows = _label_rows(areas, minor=False)
        if units is not None:
            rows += _label_rows(units, minor=True)
        self.labels_json = _js_json(rows)


def _label_rows(gdf: gpd.GeoDataFrame, *, minor: bool) -> list[list]:
    """[lat, lon, "code name", area m², inscribed radius m, minor] per drawn grid.

    The anchor is the centre of the grid's largest inscribed circle, its visual centre:
    a representative point may sit in a narrow arm next to the edge.  Measured in the
    Gauss–Krüger zone of the data, so area and radius are metres.  An invalid polygon (a
    draft) is labelled at its representative point with radius 0: never "fits".
    """
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if gdf.empty:
        return []
    crs = pick_gauss_kruger_crs(gdf)
    metric = gdf.geometry.to_crs(crs).values
    area = shapely.area(metric)
    valid = shapely.is_valid(metric)
    anchors = shapely.point_on_surface(metric)
    radii = np.zeros(len(metric))
    if valid.any():
        # Tolerance 1 % of the grid's size (≥ 1 m): the label needs the centre to a few
        # pixels, not to the centimetre, and the search is iterative.
        circles = shapely.maximum_inscribed_circle(
            metric[valid], np.maximum(np.sqrt(area[valid]) / 100, 1.0)
        )
        anchors[valid] = shapely.get_point(circles, 0)
        radii[valid] = shapely.length(circles)
    lonlat = gpd.GeoSeries(anchors, crs=crs).to_crs("EPSG:4490")
    return [
        [round(p.y, 6), round(p.x, 6), f"{code} {name}", round(float(a)), round(float(r)), int(minor)]
        for p, code, name, a, r in zip(lonlat, gdf["code"], gdf["name"], area, radii)
    ]


# One employer's popup, for the clustered layer and the vector tiles alike: the summary
# and a link to the employer's own page (一企一档), by credit code, or by id without one.
# Expects ``pageUrl`` (the page URL with ``{key}``, or null) in the enclosing function.
_EMPLOYER_POPUP_JS = """
            function esc(value) {
                return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) {
                    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
                });
            }
            function pageLink(p) {
                var key = p.credit_code || (p.id != null ? String(p.id) : "");
                if (!pageUrl || !key) { return ""; }
                return '<div class="gg-popup-link"><a href="' + esc(pageUrl.replace("{key}", encodeURIComponent(key)))
                    + '">查看一企一档 ›</a></div>';
            }
            function employerPopup(p, risk) {
                return '<table class="gg-popup">'
                    + '<tr><th>单位名称</th><td>' + esc(p.name) + '</td></tr>'
                    + '<tr><th>统一社会信用代码</th><td>' + esc(p.credit_code) + '</td></tr>'
                    + '<tr><th>网格</th><td>' + esc(p.grid_code) + ' ' + esc(p.grid_name) + '</td></tr>'
                    + '<tr><th>风险等级</th><td><span class="gg-swatch ' + risk.cls + '"></span>'
                    + esc(risk.label) + '</td></tr></table>' + pageLink(p);
            }
"""


class _EmployerLoader(folium.MacroElement):
    """Fetch employers as GeoJSON in the browser and add them to the cluster layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, cluster, url, levels, pageUrl) {
            function levelOf(p) {
                var key = p.risk_level == null ? "" : String(p.risk_level);
                return levels.hasOwnProperty(key) && key !== "unrated" ? Number(key) : -1;
            }
            __EMPLOYER_POPUP__
            function popupHtml(p) {
                var level = levelOf(p);
                return employerPopup(p, levels[level < 0 ? "unrated" : String(level)]);
            }
            function notify(text) {
                var box = L.control({position: "topright"});
                box.onAdd = function () {
                    var div = L.DomUtil.create("div", "gg-notice");
                    div.textContent = text;
                    return div;
                };
                box.addTo(map);
            }
            cluster.on("click", function (e) {
                L.popup({maxWidth: 360}).setLatLng(e.layer.getLatLng())
                    .setContent(popupHtml(e.layer.feature.properties || {})).openOn(map);
            });
            fetch(url, {credentials: "same-origin",
                        headers: {"Accept": "application/geo+json, application/json"}})
                .then(function (response) {
                    if (!response.ok) { throw new Error("HTTP " + response.status); }
                    return response.json();
                })
                .then(function (collection) {
                    var markers = [];
                    (collection.features || []).forEach(function (feature) {
                        var g = feature.geometry;
                        if (!g || g.type !== "Point" || !g.coordinates) { return; }
                        var p = feature.properties || {};
                        var level = levelOf(p);
                        var marker = L.circleMarker([g.coordinates[1], g.coordinates[0]], {
                            radius: 5, color: "#ffffff", weight: 1.5, fillOpacity: 0.95,
                            fillColor: levels[level < 0 ? "unrated" : String(level)].colour,
                            riskLevel: level, pane: "gg-employers"
                        });
                        marker.feature = feature;
                        markers.push(marker);
                    });
                    cluster.addLayers(markers);
                })
                .catch(function (error) {
                    console.error("gisgrid: employers", url, error);
                    notify("用人单位数据加载失败，请刷新页面重试。");
                });
        })({{ this.map.get_name() }}, {{ this.cluster.get_name() }}, {{ this.url_json }},
           {{ this.levels_json }}, {{ this.page_url_json }});
        {% endmacro %}
        """.replace("__EMPLOYER_POPUP__", _EMPLOYER_POPUP_JS)
    )

    def __init__(self, cluster: folium.plugins.MarkerCluster, url: str, page_url: str | None = None):
        super().__init__()
        self._name = "EmployerLoader"
        self.cluster = cluster
        self.map = cluster._parent
        self.url_json = _js_json(url)
        self.levels_json = _risk_levels_json()
        self.page_url_json = _js_json(page_url)


# Leaflet.VectorGrid 1.3.0 calls L.DomEvent.fakeStop on click, which Leaflet 1.8 removed:
# without this shim every click on a tile feature throws.  Same body as Leaflet 1.7's.
# And Leaflet 1.9 places the event at the clicked layer's getLatLng(), which VectorGrid's
# points leave undefined (a TypeError): lend them the click position for that one event.
_FAKESTOP_SHIM = """
if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
if (L.Canvas.Tile && !L.Canvas.Tile.prototype._ggPatched) {
    L.Canvas.Tile.prototype._ggPatched = true;
    var ggClick = L.Canvas.Tile.prototype._onClick;
    L.Canvas.Tile.prototype._onClick = function (e) {
        var at = this._map.mouseEventToLatLng(e), lent = [];
        for (var id in this._layers) {
            if (!this._layers[id]._latlng) { this._layers[id]._latlng = at; lent.push(this._layers[id]); }
        }
        try { return ggClick.call(this, e); }
        finally { lent.forEach(function (layer) { delete layer._latlng; }); }
    };
}
"""


class _EmployerTiles(JSCSSMixin, folium.map.Layer):
    """Employers as vector tiles (Leaflet.VectorGrid, canvas), for large sets.

    Raw tiles (zoom ≥ 13) hold one point per employer, coloured by risk level, with the
    same popup as the clustered layer; below, a point per 4-pixel cell sized by its count
    and coloured by the riskiest level that makes up at least a fifth of it.
    """

    default_js = [
        (
            "leaflet.vectorgrid",
            "https://unpkg.com/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.js",
        )
    ]

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, url, levels, pageUrl) {
            __SHIM__
            __EMPLOYER_POPUP__
            function risk(level) {
                var key = level == null ? "unrated" : String(level);
                return levels[key] || levels.unrated;
            }
            function cellLevel(p) {
                var order = [[3, p.r3], [2, p.r2], [1, p.r1], [0, p.r0]];
                for (var i = 0; i < order.length; i++) {
                    if (order[i][1] && order[i][1] * 5 >= p.count) { return order[i][0]; }
                }
                return p.unrated * 2 >= p.count ? null : 0;
            }
            function style(p, zoom) {
                if (p.count == null) {
                    // Raw points: small while a street holds thousands of them, so the grid
                    // boundaries and labels stay readable; full size from zoom 16 on.
                    var r = zoom >= 16 ? 5 : zoom >= 15 ? 4 : 3;
                    return {radius: r, fill: true, fillOpacity: 0.9, fillColor: risk(p.risk_level).colour,
                            color: "#ffffff", weight: r > 3 ? 1.5 : 0.8};
                }
                var r = Math.min(10, 3 + 2.2 * Math.log(p.count) / Math.LN10);
                return {radius: r, fill: true, fillOpacity: 0.85, fillColor: risk(cellLevel(p)).colour,
                        color: "#ffffff", weight: 1};
            }
            function popupHtml(p) {
                if (p.count != null) {
                    var rows = [[3, p.r3], [2, p.r2], [1, p.r1], [0, p.r0], [null, p.unrated]];
                    return '<table class="gg-popup"><tr><th>用人单位</th><td>' + p.count + ' 家</td></tr>'
                        + rows.filter(function (r) { return r[1]; }).map(function (r) {
                            var k = risk(r[0]);
                            return '<tr><th><span class="gg-swatch ' + k.cls + '"></span>'
                                + esc(k.label) + '</th><td>' + r[1] + '</td></tr>';
                        }).join("") + '</table><div class="gg-legend-note gg-legend-note-wide">放大到 13 级以上查看各单位</div>';
                }
                return employerPopup(p, risk(p.risk_level));
            }
            var layer = L.vectorGrid.protobuf(url, {
                rendererFactory: L.canvas.tile,
                interactive: true,
                pane: "gg-employers",
                maxNativeZoom: 18,
                vectorTileLayerStyles: {employers: function (p, zoom) { return style(p, zoom); }},
                attribution: ""
            });
            layer.on("click", function (e) {
                // VectorGrid's canvas tiles fire clicks without a latlng.
                var at = e.latlng || map.mouseEventToLatLng(e.originalEvent);
                L.popup({maxWidth: 360}).setLatLng(at)
                    .setContent(popupHtml(e.layer.properties || {})).openOn(map);
            });
            {%- if this.show %}
            layer.addTo(map);
            {%- endif %}
            window.{{ this.get_name() }} = layer;
        })({{ this._parent.get_name() }}, {{ this.url_json }}, {{ this.levels_json }}, {{ this.page_url_json }});
        {% endmacro %}
        """.replace("__SHIM__", _FAKESTOP_SHIM).replace("__EMPLOYER_POPUP__", _EMPLOYER_POPUP_JS)
    )

    def __init__(self, url: str, *, show: bool = True, page_url: str | None = None):
        # A Layer, so the layer switcher lists it (the switcher finds the global
        # variable named get_name() that the script defines).
        super().__init__(name="用人单位（按风险）", overlay=True, control=True, show=show)
        self._name = "EmployerTiles"
        self.url_json = _js_json(url)
        self.levels_json = _risk_levels_json()
        self.page_url_json = _js_json(page_url)


#: Chinese names of the validation report's problem kinds (gisgrid.boundaries.validate).
PROBLEM_TITLES = {
    "gap": "缝隙：上级网格内有未被下级网格覆盖的区域",
    "overlap": "重叠：两个网格相互重叠",
    "outside_parent": "超出上级网格范围",
    "sliver": "狭长碎片",
    "bad_code": "网格编码不符合规则",
    "missing_code": "缺少网格编码",
    "duplicate_code": "网格编码重复",
    "unknown_parent": "上级网格不存在",
    "invalid_geometry": "几何图形无效",
    "empty_geometry": "几何图形为空",
    "suspected_offset": "疑似坐标系偏移（火星坐标/百度坐标未转换）",
    "check_failed": "该项检查未能完成",
}


class _ProblemLayer(folium.map.Layer):
    """Boundary validation problems, fetched as GeoJSON by the browser.

    Problem areas (gaps, overlaps, slivers) are hatched over the grids, point problems
    are ringed markers; errors red, warnings orange; the message shows on hover.  The
    legend row (``<id>_problems`` in _MapChrome) gets the count once the report is in:
    validating a large city takes seconds, so the page does not wait for it.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        (function (map, group, url, titles) {
            var COLOURS = {error: "#d50000", warning: "#ff6d00"};
            function note(text, level) {
                var row = document.querySelector(".gg-problems-note");
                if (!row) { return; }
                row.textContent = text;
                row.className = "gg-problems-note gg-problems-" + level;
            }
            function colourOf(f) { return COLOURS[(f.properties || {}).severity] || COLOURS.error; }
            var layer = L.geoJSON(null, {
                pane: "gg-problems",
                style: function (f) {
                    return {color: colourOf(f), weight: 2.5, opacity: 1, fillColor: colourOf(f),
                            fillOpacity: 0.45, dashArray: "6 3"};
                },
                pointToLayer: function (f, latlng) {
                    return L.circleMarker(latlng, {pane: "gg-problems", radius: 9, color: colourOf(f),
                                                   weight: 3, fillColor: "#ffffff", fillOpacity: 0.9});
                },
                onEachFeature: function (f, l) {
                    var p = f.properties || {};
                    var box = document.createElement("div");
                    box.className = "gg-problem-tip";
                    var head = document.createElement("b");
                    head.textContent = (p.severity === "warning" ? "警告" : "错误") + "："
                        + (p.codes || []).join("、");
                    var body = document.createElement("div");
                    // The report's own message is English (the CLI's); the page says it in Chinese.
                    body.textContent = (titles[p.kind] || "边界问题")
                        + (p.area_m2 != null ? "，面积约 " + Math.round(p.area_m2) + " 平方米" : "");
                    box.appendChild(head);
                    box.appendChild(body);
                    l.bindTooltip(box, {sticky: true});
                }
            }).addTo(group);
            fetch(url, {credentials: "same-origin", headers: {"Accept": "application/geo+json"}})
                .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
                .then(function (collection) {
                    var features = (collection.features || []).filter(function (f) { return f.geometry; });
                    layer.addData(features);
                    var errors = features.filter(function (f) { return f.properties.severity !== "warning"; });
                    if (!features.length) { note("边界检查：未发现问题", "ok"); }
                    else {
                        note("边界问题 " + features.length + " 处（错误 " + errors.length + "，警告 "
                             + (features.length - errors.length) + "）", errors.length ? "error" : "warning");
                    }
                })
                .catch(function (error) {
                    console.error("gisgrid: boundary problems", url, error);
                    note("边界检查结果加载失败", "error");
                });
        })({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.url_json }}, {{ this.titles_json }});
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str):
        super().__init__(name="边界问题", overlay=True, control=True, show=True)
        self._name = "ProblemLayer"
        self.url_json = _js_json(url)
        self.titles_json = _js_json(PROBLEM_TITLES)


class _Highlight(folium.MacroElement):
    """One place marked prominently: a blue ring above everything, its label beside it."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, at, label) {
            map.createPane("gg-highlight").style.zIndex = 640;
            L.circleMarker(at, {pane: "gg-highlight", radius: 11, color: "#0d47a1", weight: 4,
                                fillColor: "#ffffff", fillOpacity: 0.35, interactive: false}).addTo(map);
            L.circleMarker(at, {pane: "gg-highlight", radius: 3, color: "#0d47a1", weight: 1,
                                fillColor: "#0d47a1", fillOpacity: 1}).addTo(map)
                .bindTooltip(label, {permanent: true, direction: "right", offset: [12, 0],
                                     className: "gg-highlight-label"});
        })({{ this._parent.get_name() }}, {{ this.at_json }}, {{ this.label_json }});
        {% endmacro %}
        """
    )

    def __init__(self, lat: float, lon: float, label: str):
        super().__init__()
        self._name = "Highlight"
        self.at_json = _js_json([round(float(lat), 7), round(float(lon), 7)])
        # bindTooltip with a string inserts HTML: escape it.
        self.label_json = _js_json(html.escape(label))


class _PlaceControl(folium.MacroElement):
    """Manual placement (人工标注): click the map, confirm with a name, POST, reload.

    Built from DOM nodes with listeners, never markup with handlers, so it runs under the
    app's Content-Security-Policy; the point is sent as CGCS2000 lon/lat, as drawn.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, url) {
            var active = false, marker = null;
            var control = L.control({position: "topleft"});
            control.onAdd = function () {
                var box = L.DomUtil.create("div", "gg-place leaflet-bar");
                var button = L.DomUtil.create("button", "gg-place-button", box);
                button.type = "button";
                button.textContent = "在地图上标注位置";
                L.DomEvent.disableClickPropagation(box);
                button.addEventListener("click", function () {
                    active = !active;
                    button.classList.toggle("gg-place-active", active);
                    button.textContent = active ? "请在地图上点击单位位置（再点此取消）" : "在地图上标注位置";
                    map.getContainer().style.cursor = active ? "crosshair" : "";
                });
                return box;
            };
            control.addTo(map);
            function form(latlng) {
                var box = document.createElement("div");
                box.className = "gg-place-form";
                var where = document.createElement("div");
                where.textContent = "经度 " + latlng.lng.toFixed(6) + "，纬度 " + latlng.lat.toFixed(6) + "（CGCS2000）";
                var label = document.createElement("div");
                label.textContent = "标注人：当前登录账号（记入审计日志）";
                var ok = document.createElement("button");
                ok.type = "button"; ok.textContent = "确认标注";
                var message = document.createElement("div");
                message.className = "gg-place-message";
                ok.addEventListener("click", function () {
                    var token = document.querySelector('meta[name="csrf-token"]');
                    ok.disabled = true;
                    message.textContent = "正在保存…";
                    fetch(url, {method: "POST", credentials: "same-origin",
                                headers: {"Content-Type": "application/json", "Accept": "application/json",
                                          "X-CSRFToken": token ? token.content : ""},
                                body: JSON.stringify({lon: latlng.lng, lat: latlng.lat, crs: "CGCS2000"})})
                        .then(function (r) {
                            return r.json().then(function (body) {
                                if (!r.ok) { throw new Error(body.message || ("服务器返回错误 " + r.status)); }
                                return body;
                            }, function () { throw new Error("服务器返回错误 " + r.status); });
                        }, function () { throw new Error("网络连接失败，请稍后重试"); })
                        .then(function () { message.textContent = "已保存，正在刷新…"; window.location.reload(); })
                        .catch(function (error) { ok.disabled = false; message.textContent = "保存失败：" + error.message; });
                });
                box.appendChild(where); box.appendChild(label); box.appendChild(ok); box.appendChild(message);
                return box;
            }
            map.on("click", function (e) {
                if (!active) { return; }
                if (marker) { map.removeLayer(marker); }
                marker = L.circleMarker(e.latlng, {radius: 8, color: "#c62828", weight: 3, fillColor: "#fff",
                                                   fillOpacity: 0.6}).addTo(map);
                L.popup({maxWidth: 320, closeOnClick: false}).setLatLng(e.latlng).setContent(form(e.latlng)).openOn(map);
            });
        })({{ this._parent.get_name() }}, {{ this.url_json }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str):
        super().__init__()
        self._name = "PlaceControl"
        self.url_json = _js_json(url)


class _MapChrome(folium.MacroElement):
    """Styles, title, Chinese legend and scale bar (HTML, not branca's d3 colour map)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        {%- if this.title %}
        <div id="{{ this.get_name() }}_title" class="gg-title">{{ this.title }}</div>
        {%- endif %}
        <div id="{{ this.get_name() }}_legend" class="gg-legend">
            <div class="gg-legend-head">图例<button type="button" class="gg-legend-toggle" aria-expanded="true" title="收起图例">收起</button></div>
            <div class="gg-legend-body">
            {%- if this.show_risk %}
            <div class="gg-legend-sub">用人单位风险等级</div>
            {%- for label, level in this.risk_rows %}
            <div class="gg-legend-row"><span class="gg-dot gg-risk-{{ level }}"></span>{{ label }}</div>
            {%- endfor %}
            {%- if this.tiles %}
            <div class="gg-legend-note gg-legend-note-wide">13 级以下为聚合点：圆点越大单位越多，颜色为占两成以上的最高风险等级；点击查看各等级数量</div>
            {%- else %}
            <div class="gg-legend-row"><span class="gg-donut gg-donut-key"><span></span></span>聚合圆环：各风险等级占比</div>
            <div class="gg-legend-note">圆环中心数字为用人单位数</div>
            {%- endif %}
            {%- endif %}
            {%- if this.classes %}
            <div class="gg-legend-sub">{{ this.classes_title }}</div>
            {%- for colour, label, grids in this.classes %}
            <div class="gg-legend-row"><span class="gg-box gg-class-{{ loop.index0 }}"></span>{{ label }}<span class="gg-legend-count">{{ grids }} 个</span></div>
            {%- endfor %}
            <div class="gg-legend-note gg-legend-note-wide">{{ this.classes_note }}</div>
            {%- if this.colour_target == "units" %}
            <div class="gg-legend-row"><span class="gg-line gg-line-strong"></span>街道/乡镇网格边界</div>
            {%- else %}
            <div class="gg-legend-row"><span class="gg-line"></span>社区/村网格边界</div>
            {%- endif %}
            {%- else %}
            <div class="gg-legend-sub">网格</div>
            <div class="gg-legend-row"><span class="gg-fill"></span>街道/乡镇网格（相邻异色）</div>
            <div class="gg-legend-row"><span class="gg-line"></span>社区/村网格边界</div>
            {%- endif %}
            {%- if this.problems %}
            <div class="gg-legend-row"><span class="gg-problem-key"></span><span class="gg-problems-note">边界检查中…</span></div>
            {%- endif %}
            {%- if this.understaffed is not none %}
            <div class="gg-legend-row"><span class="gg-line gg-line-short"></span>人员配备不足<span class="gg-legend-count">{{ this.understaffed }} 个</span></div>
            {%- endif %}
            <div class="gg-label-key gg-label-key-empty">
                <div class="gg-legend-sub">图上未能标注的网格（让出用人单位聚合点，放大后显示）</div>
                <div class="gg-label-key-list"></div>
            </div>
            </div>
        </div>
        {%- if this.selector %}
        <form id="{{ this.get_name() }}_selector" class="gg-selector" method="get">
            {%- for name, value in this.selector.keep %}
            <input type="hidden" name="{{ name|e }}" value="{{ value|e }}">
            {%- endfor %}
            {%- for name, label, options, selected in this.selector.fields %}
            <label>{{ label|e }}<select name="{{ name|e }}">
                {%- for value, text in options %}
                <option value="{{ value|e }}"{% if value == selected %} selected{% endif %}>{{ text|e }}</option>
                {%- endfor %}
            </select></label>
            {%- endfor %}
            <button type="submit">应用</button>
        </form>
        {%- endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map, prefix) {
            // The legend folds to its title (remembered in localStorage), and folds by itself
            // while a popup is open, its corner then drawn below the map: it never covers a popup.
            function legendToggle(legend) {
                if (!legend) { return; }
                var KEY = "gisgrid.legend.collapsed", button = legend.querySelector(".gg-legend-toggle");
                var corner = legend.parentNode, byPopup = false;
                function stored() { try { return localStorage.getItem(KEY) === "1"; } catch (e) { return false; } }
                function show(collapsed) {
                    legend.classList.toggle("gg-legend-collapsed", collapsed);
                    button.textContent = collapsed ? "展开" : "收起";
                    button.title = collapsed ? "展开图例" : "收起图例";
                    button.setAttribute("aria-expanded", collapsed ? "false" : "true");
                }
                button.addEventListener("click", function () {
                    var collapsed = !legend.classList.contains("gg-legend-collapsed");
                    byPopup = false;
                    try { localStorage.setItem(KEY, collapsed ? "1" : "0"); } catch (e) { /* private mode */ }
                    show(collapsed);
                });
                map.on("popupopen", function () {
                    byPopup = !legend.classList.contains("gg-legend-collapsed");
                    show(true);
                    if (corner) { corner.classList.add("gg-under-popup"); }
                });
                map.on("popupclose", function () {
                    if (corner) { corner.classList.remove("gg-under-popup"); }
                    if (byPopup) { byPopup = false; show(stored()); }
                });
                show(stored());
                // The legend sits bottom-left and grows upwards: on a short map (a page with a
                // table under it) it must stop below the title and the zoom buttons, and scroll.
                var body = legend.querySelector(".gg-legend-body"), title = document.getElementById(prefix + "_title");
                function fit() {
                    var top = title ? title.getBoundingClientRect().bottom - map.getContainer().getBoundingClientRect().top : 90;
                    if (body) { body.style.maxHeight = Math.max(60, map.getSize().y - top - 70) + "px"; }
                }
                map.on("resize", fit);
                fit();
            }
            function place(id, position) {
                var element = document.getElementById(id);
                if (!element) { return; }
                var control = L.control({position: position});
                control.onAdd = function () {
                    L.DomEvent.disableClickPropagation(element);
                    L.DomEvent.disableScrollPropagation(element);
                    return element;
                };
                control.addTo(map);
            }
            place(prefix + "_title", "topleft");
            place(prefix + "_legend", "bottomleft");
            legendToggle(document.getElementById(prefix + "_legend"));
            place(prefix + "_selector", "topright");
            var form = document.getElementById(prefix + "_selector");
            if (form) {
                // Reload on choice; the button stays for keyboards and scripts off.
                Array.prototype.forEach.call(form.querySelectorAll("select"), function (select) {
                    select.addEventListener("change", function () { form.submit(); });
                });
            }
            L.control.scale({imperial: false, position: "bottomright"}).addTo(map);
            // Leaflet's default prefix is a link to its website, with a flag: plain text on
            // an intranet page, where nothing may point off the server.
            if (map.attributionControl) { map.attributionControl.setPrefix("Leaflet"); }
        })({{ this._parent.get_name() }}, "{{ this.get_name() }}");
        {% endmacro %}
        """
    )

    def __init__(self, title: str, *, show_risk: bool, plain_background: bool, tiles: bool = False,
                 colour_by: ColourBy | None = None, selector: MapSelector | None = None,
                 problems: bool = False, coloured_codes: list[str] | None = None,
                 understaffed: int | None = None):
        super().__init__()
        self._name = "MapChrome"
        self.understaffed = understaffed
        self.title = html.escape(title)
        self.show_risk = show_risk
        self.tiles = tiles
        self.selector = selector
        self.problems = problems
        self.classes, self.classes_title, self.classes_note, self.colour_target = [], "", "", ""
        if colour_by is not None:
            indicator = colour_by.classes.indicator
            # Counts are of the grids on this map (the classes may be the whole city's).
            shown = Counter(colour_by.classes.colour_of(colour_by.values.get(code, np.nan))
                            for code in (coloured_codes or []))
            self.classes = [(colour, html.escape(label), shown.get(colour, 0))
                            for colour, label, _ in colour_by.classes.legend_rows()]
            self.classes_title = html.escape(f"{colour_by.level_label}网格：{indicator.label}")
            self.classes_note = html.escape(colour_by.note or f"{indicator.description}。自然断点分级，右列为网格数")
            self.colour_target = colour_by.target
        self.risk_rows = [(html.escape(label), level) for level, (label, _) in RISK_LEVELS.items()]
        self.css = _chrome_css(plain_background) + "".join(
            f".gg-class-{i} {{ background: {colour}; }}" for i, (colour, _, _) in enumerate(self.classes))


def _ring_key_gradient() -> str:
    """The legend's sample cluster ring: the rated levels in equal parts, worst first."""
    colours = [colour for level, _, colour in _ring_order() if level >= 0]
    step = 360 / len(colours)
    stops = [f"{c} {i * step:g}deg {(i + 1) * step:g}deg" for i, c in enumerate(colours)]
    return f"conic-gradient({', '.join(stops)})"


def _chrome_css(plain_background: bool) -> str:
    background = ".leaflet-container { background: #eef0f1; }" if plain_background else ""
    return (
        f".leaflet-container {{ font-family: {_FONT_STACK}; }}"
        f"{background}"
        # Colours as classes: the app's Content-Security-Policy allows no style attributes.
        + "".join(f".gg-risk-{level} {{ background: {colour}; }}" for level, (_, colour) in RISK_LEVELS.items())
        + f".gg-risk-unrated {{ background: {_UNRATED[1]}; }}"
        + f".gg-donut.gg-donut-key {{ background: {_ring_key_gradient()}; }}"
        # leaflet.css keeps will-change: transform on every SVG renderer all the time, and
        # Chromium then keeps the raster scale of the last zoom animation: after a jump of
        # four levels the vectors are rasterised 16-fold and, out of tile memory, drawn only
        # in part.  Promote the SVGs only while a zoom animation runs (see _InitialView).
        ".leaflet-container svg.leaflet-zoom-animated { will-change: auto; }"
        ".leaflet-container .leaflet-zoom-anim svg.leaflet-zoom-animated"
        " { will-change: transform; }"
        ".gg-label { width: 0; height: 0; }"
        # min-content + keep-all: break only at the space, so "code name" stands as two
        # centred lines (code above name) and neighbouring labels do not run together.
        ".gg-label-text { transform: translate(-50%, -50%); width: min-content;"
        " word-break: keep-all; text-align: center;"
        " font-size: 13px; font-weight: 700; color: #1b1b1b; line-height: 1.25;"
        " text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff, 0 0 4px #fff,"
        " 1px 1px 1px #fff, -1px -1px 1px #fff; }"
        ".gg-label-minor { font-size: 12px; font-weight: 500; color: #37474f; }"
        ".gg-label-hidden { visibility: hidden; }"
        ".gg-cluster { background: none; }"
        ".gg-donut { display: block; position: relative; width: 100%; height: 100%;"
        " border-radius: 50%; box-shadow: 0 0 0 1.5px #fff, 0 1px 4px rgba(0,0,0,.45); }"
        ".gg-donut span { position: absolute; border-radius: 50%; background: #fff;"
        " display: flex; align-items: center; justify-content: center;"
        " color: #263238; font-weight: 700; line-height: 1; }"
        ".gg-title { background: rgba(255,255,255,.92); padding: 6px 12px; border-radius: 4px;"
        " font-size: 16px; font-weight: 700; box-shadow: 0 1px 4px rgba(0,0,0,.3); }"
        ".gg-legend { background: rgba(255,255,255,.94); padding: 8px 12px; border-radius: 4px;"
        " font-size: 13px; line-height: 1.7; box-shadow: 0 1px 4px rgba(0,0,0,.3); }"
        ".gg-legend-head { font-weight: 700; font-size: 14px; display: flex; align-items: center; gap: 12px; }"
        ".gg-legend-toggle { margin-left: auto; font: inherit; font-size: 12px; font-weight: 400;"
        " padding: 0 8px; border: 1px solid #b0bec5; border-radius: 3px; background: #fff; cursor: pointer; }"
        ".gg-legend-collapsed .gg-legend-body { display: none; }"
        ".gg-legend-body { max-height: 60vh; overflow-y: auto; }"
        ".gg-label-key-empty { display: none; }"
        ".gg-label-key-list { font-size: 12px; line-height: 1.4; max-width: 230px; color: #263238; }"
        # While a popup is open the legend's corner goes below the map panes (z-index 400).
        ".leaflet-bottom.leaflet-left.gg-under-popup { z-index: 390; }"
        # Leaflet makes clicked SVG shapes focusable; Chromium then draws its focus
        # rectangle around the whole shape after a click.
        ".leaflet-container .leaflet-interactive:focus { outline: none; }"
        ".gg-legend-sub { color: #555; margin-top: 2px; }"
        ".gg-legend-row { display: flex; align-items: center; }"
        ".gg-dot { display: inline-block; width: 12px; height: 12px; border-radius: 50%;"
        " border: 2px solid #fff; box-shadow: 0 0 0 1px #999; margin-right: 8px; }"
        ".gg-fill { display: inline-block; width: 28px; height: 14px; margin-right: 8px;"
        f" border: 1.5px solid {_OUTLINE_COLOUR};"
        " background: linear-gradient(90deg, #8dd3c7 0 33%, #ffffb3 33% 66%, #bebada 66%); }"
        ".gg-line { display: inline-block; width: 28px; margin-right: 8px;"
        " border-top: 1.5px dashed #546e7a; }"
        ".gg-donut.gg-donut-key { display: inline-block; width: 18px; height: 18px;"
        " margin-right: 8px; flex: none; }"
        ".gg-donut.gg-donut-key span { inset: 4px; }"
        ".gg-legend-note { color: #555; font-size: 12px; padding-left: 26px; line-height: 1.3; }"
        ".gg-legend-note-wide { padding-left: 0; max-width: 230px; }"
        ".gg-popup th { text-align: left; padding-right: 10px; color: #555;"
        " font-weight: 400; white-space: nowrap; vertical-align: top; }"
        ".gg-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%;"
        " margin-right: 6px; }"
        ".gg-box { display: inline-block; width: 22px; height: 14px; margin-right: 8px;"
        " border: 1px solid #78909c; flex: none; }"
        ".gg-legend-count { margin-left: auto; padding-left: 12px; color: #555; font-size: 12px; }"
        ".gg-line.gg-line-strong { border-top: 2.6px solid #263238; }"
        f".gg-line.gg-line-short {{ border-top: 3px dashed {_SHORT_COLOUR}; }}"
        ".gg-problem-key { display: inline-block; width: 14px; height: 14px; border-radius: 50%;"
        " border: 3px solid #d50000; background: #fff; margin-right: 8px; flex: none; }"
        ".gg-problems-note { font-size: 12px; }"
        ".gg-problems-error { color: #b71c1c; font-weight: 700; }"
        ".gg-problems-warning { color: #e65100; font-weight: 700; }"
        ".gg-problems-ok { color: #2e7d32; }"
        ".gg-problem-tip { max-width: 320px; white-space: normal; }"
        ".gg-selector { background: rgba(255,255,255,.94); padding: 6px 10px; border-radius: 4px;"
        " box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 13px; display: flex; gap: 10px;"
        " align-items: center; flex-wrap: wrap; max-width: 520px; }"
        ".gg-selector label { display: flex; align-items: center; gap: 4px; }"
        ".gg-selector select, .gg-selector button { font: inherit; padding: 2px 4px; }"
        ".gg-popup-link { margin-top: 6px; text-align: right; }"
        ".gg-popup-link a { color: #1565c0; font-weight: 700; text-decoration: none; }"
        ".gg-place-button { font: inherit; font-size: 13px; padding: 5px 10px; border: 0;"
        " background: #fff; cursor: pointer; }"
        ".gg-place-button.gg-place-active { background: #fff3e0; color: #b71c1c; font-weight: 700; }"
        ".gg-place-form { font-size: 13px; line-height: 1.8; }"
        ".gg-place-form input { font: inherit; width: 9em; }"
        ".gg-place-form button { font: inherit; margin-top: 4px; }"
        ".gg-place-message { color: #b71c1c; }"
        ".gg-highlight-label { font-weight: 700; color: #0d47a1; font-size: 13px; }"
        ".gg-notice { background: #fff3e0; color: #b71c1c; padding: 6px 10px;"
        " border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); }"
    )

"""The web grid map: coloured street/town grids, community boundaries, employers by risk.

The builders return a ``folium.Map``; the web layer renders it to a string with
``fmap.get_root().render()``.  Everything the page loads is served by the app
(:func:`gisgrid.maps.assets.localize_assets`); employers are fetched by the browser from a
GeoJSON URL into a cluster layer, so the page stays the same size whatever their number.

The map's behaviour is JavaScript in ``gisgrid/web/static/js/map/`` (and its styles in
``static/map.css``), linked by :class:`_MapScripts`; the elements here only hand it data,
e.g. ``gisgridMap.gridLabels(map, group, rows)``.
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
    # gisgrid's own map scripts: the app's static folder, of which vendor/ is a part.
    _MapScripts(static_url.rstrip("/").rsplit("/", 1)[0]).add_to(fmap)
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
        # The ring of risk shares around the count (static/js/map/employers.js).
        icon_create_function=f"gisgridMap.clusterIcon({_js_json(_ring_order())})",
        options={"chunkedLoading": True, "showCoverageOnHover": False},
    ).add_to(fmap)
    # Wider clusters while a street is small on screen (see employers.js).
    cluster.options["maxClusterRadius"] = folium.JsCode("gisgridMap.clusterRadius")
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


class _InitialView(folium.MacroElement):
    """Fit the first view, without animation, before any layer is added; follow resizes.

    Added first: folium fits the bounds last and Leaflet animated that first zoom, which
    left most of the SVG blank in Chromium (static/js/map/view.js says why).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        gisgridMap.initialView({{ this._parent.get_name() }}, {{ this.bounds_json }}, {{ this.padding_json }});
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

    One compact array of rows (:func:`_label_rows`) instead of a folium Marker per grid:
    2,000 grids would otherwise add ~1 MB of generated JavaScript to the page.  The
    browser places them by priority after every zoom or move, clear of the employer
    clusters, and names in the legend those that found no room (static/js/map/labels.js).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup({});
        gisgridMap.gridLabels({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.labels_json }});
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


class _EmployerLoader(folium.MacroElement):
    """Fetch employers as GeoJSON in the browser and add them to the cluster layer."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        gisgridMap.employerLoader({{ this.map.get_name() }}, {{ this.cluster.get_name() }}, {{ this.url_json }},
                                  {{ this.levels_json }}, {{ this.page_url_json }});
        {% endmacro %}
        """
    )

    def __init__(self, cluster: folium.plugins.MarkerCluster, url: str, page_url: str | None = None):
        super().__init__()
        self._name = "EmployerLoader"
        self.cluster = cluster
        self.map = cluster._parent
        self.url_json = _js_json(url)
        self.levels_json = _risk_levels_json()
        self.page_url_json = _js_json(page_url)


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
        var {{ this.get_name() }} = gisgridMap.employerTiles({{ this._parent.get_name() }}, {{ this.url_json }},
            {{ this.levels_json }}, {{ this.page_url_json }}, {{ "true" if this.show else "false" }});
        {% endmacro %}
        """
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
        gisgridMap.problemLayer({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.url_json }}, {{ this.titles_json }});
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
        gisgridMap.highlight({{ this._parent.get_name() }}, {{ this.at_json }}, {{ this.label_json }});
        {% endmacro %}
        """
    )

    def __init__(self, lat: float, lon: float, label: str):
        super().__init__()
        self._name = "Highlight"
        self.at_json = _js_json([round(float(lat), 7), round(float(lon), 7)])
        # Shown as text (place.js puts it in a text node), never as HTML.
        self.label_json = _js_json(label)


class _PlaceControl(folium.MacroElement):
    """Manual placement (人工标注): click the map, confirm with a name, POST, reload.

    Built from DOM nodes with listeners, never markup with handlers, so it runs under the
    app's Content-Security-Policy; the point is sent as CGCS2000 lon/lat, as drawn.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        gisgridMap.placeControl({{ this._parent.get_name() }}, {{ this.url_json }});
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
        gisgridMap.chrome({{ this._parent.get_name() }}, "{{ this.get_name() }}");
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
    """The map styles that come from data; the rest is static/map.css."""
    background = ".leaflet-container { background: #eef0f1; }" if plain_background else ""
    return (
        background
        # Colours as classes: the app's Content-Security-Policy allows no style attributes.
        + "".join(f".gg-risk-{level} {{ background: {colour}; }}" for level, (_, colour) in RISK_LEVELS.items())
        + f".gg-risk-unrated {{ background: {_UNRATED[1]}; }}"
        + f".gg-donut.gg-donut-key {{ background: {_ring_key_gradient()}; }}"
    )


#: The map's own scripts and style sheet under the app's static folder, in load order.
MAP_SCRIPTS = ("view", "labels", "employers", "problems", "place", "chrome")
MAP_STYLESHEET = "map.css"


class _MapScripts(JSCSSMixin, folium.MacroElement):
    """Links the page to gisgrid's map scripts (``static/js/map/*.js``) and ``static/map.css``.

    The elements below only call them with data (``gisgridMap.gridLabels(map, group, rows)``):
    the map code is JavaScript in files of its own, read, checked and cached as such.
    """

    def __init__(self, static_root: str):
        super().__init__()
        self._name = "MapScripts"
        self.default_js = [(f"gisgrid-map-{name}", f"{static_root}/js/map/{name}.js") for name in MAP_SCRIPTS]
        self.default_css = [("gisgrid-map-css", f"{static_root}/{MAP_STYLESHEET}")]

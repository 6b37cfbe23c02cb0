"""Folium map builders, grid colouring and vendored asset wiring.

Only this package imports folium; the web layer renders the maps it returns to strings.
"""

from gisgrid.maps.assets import MissingAssetError, find_external_links, localize_assets
from gisgrid.maps.colouring import PASTEL_PALETTE, colour_adjacent
from gisgrid.maps.choropleth import classify_indicator
from gisgrid.maps.grid_map import RISK_LEVELS, ColourBy, MapSelector, build_grid_map
from gisgrid.maps.render import MapParts, render_map_html, render_map_parts

__all__ = [
    "MapParts",
    "MissingAssetError",
    "PASTEL_PALETTE",
    "RISK_LEVELS",
    "ColourBy",
    "MapSelector",
    "build_grid_map",
    "classify_indicator",
    "colour_adjacent",
    "find_external_links",
    "localize_assets",
    "render_map_html",
    "render_map_parts",
]

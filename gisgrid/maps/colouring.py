"""Colour grid polygons so that neighbours never share a colour (相邻异色)."""

from __future__ import annotations

import colorsys
import warnings

import geopandas as gpd
import mapclassify
import pandas as pd
from shapely.geometry import Polygon

from gisgrid.maps.crs import pick_gauss_kruger_crs

__all__ = ["PASTEL_PALETTE", "colour_adjacent"]

#: Soft fills that print well and keep black text readable (ColorBrewer Set3 / Pastel1).
PASTEL_PALETTE = [
    "#8dd3c7",  # teal
    "#ffffb3",  # pale yellow
    "#bebada",  # lavender
    "#fb8072",  # salmon
    "#80b1d3",  # sky blue
    "#fdb462",  # apricot
    "#b3de69",  # lime
    "#fccde5",  # pink
]

# Polygons closer than this count as neighbours: digitised boundaries often leave slivers
# a fraction of a metre wide that no reader can see, and two grids one pixel apart in the
# same colour read as one grid.
_NEIGHBOUR_TOLERANCE_M = 1.0


def colour_adjacent(gdf: gpd.GeoDataFrame, palette: list[str] | None = None) -> pd.Series:
    """Give each polygon a colour that none of its neighbours has.

    Neighbours share an edge or only a vertex (a corner touch looks the same as an edge
    on a printed map) or lie within 1 m of each other.  Colours come from a greedy
    colouring balanced so that every colour of `palette` is used about equally; the result
    depends only on the rows and their order, so the same input always gets the same
    colours.  If some polygon has more neighbours meeting it than `palette` has colours,
    extra pastel colours are generated rather than repeating one.

    Parameters
    ----------
    gdf : GeoDataFrame
        Polygons with a CRS (any; adjacency is measured in the CGCS2000 Gauss–Krüger zone
        of the data).  Null or empty geometries have no neighbours.
    palette : list of str, optional
        CSS colours; defaults to :data:`PASTEL_PALETTE`.

    Returns
    -------
    pandas.Series
        One colour per row, aligned on ``gdf.index``.

    Examples
    --------
    Four squares meeting at one point are all neighbours:

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> squares = gpd.GeoDataFrame(
    ...     geometry=[box(113.70, 34.36, 113.71, 34.37), box(113.71, 34.36, 113.72, 34.37),
    ...               box(113.70, 34.37, 113.71, 34.38), box(113.71, 34.37, 113.72, 34.38)],
    ...     crs="EPSG:4490")
    >>> colour_adjacent(squares).nunique()
    4
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"gdf was {type(gdf).__name__}; expected a GeoDataFrame")
    if gdf.crs is None:
        raise ValueError("gdf has no CRS; set it (grids are stored in EPSG:4490)")
    palette = list(PASTEL_PALETTE if palette is None else palette)
    if not palette:
        raise ValueError("palette was empty; expected at least one colour")
    if gdf.empty:
        return pd.Series([], index=gdf.index, dtype=object)
    codes = _colour_codes(gdf, len(palette))
    palette = _extend_palette(palette, int(codes.max()) + 1)
    return pd.Series([palette[c] for c in codes], index=gdf.index, dtype=object)


def _colour_codes(gdf: gpd.GeoDataFrame, n_colours: int) -> pd.Series:
    # mapclassify's default sw="queen" builds libpysal Queen weights from shared *vertices*,
    # so a small grid whose corners lie on the middle of a big neighbour's edge gets no
    # neighbour at all; min_distance switches to an intersection test (with a buffer of
    # half the distance), which also catches point touches.  It needs metric units.
    # greedy() also relabels its result positionally against gdf.index after sorting by
    # index, which scrambles colours for an unsorted index: give it a RangeIndex.
    geometry = gdf.geometry.to_crs(pick_gauss_kruger_crs(gdf)).fillna(Polygon())
    metric = gpd.GeoDataFrame(geometry=geometry.values, crs=geometry.crs)
    with warnings.catch_warnings():
        # libpysal's fuzzy_contiguity calls drop(inplace=True), deprecated by pandas 3.1.
        warnings.filterwarnings("ignore", message="The inplace keyword", module="libpysal")
        codes = mapclassify.greedy(
            metric,
            strategy="balanced",
            balance="count",
            min_colors=n_colours,
            min_distance=_NEIGHBOUR_TOLERANCE_M,
        )
    return codes.astype(int)


def _extend_palette(palette: list[str], needed: int) -> list[str]:
    """Append distinct pastel colours (golden-angle hues) until `needed` are available."""
    extra = []
    for i in range(needed - len(palette)):
        hue = (0.11 + i * 0.618033988749895) % 1.0
        r, g, b = colorsys.hls_to_rgb(hue, 0.80, 0.55)
        extra.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return palette + extra

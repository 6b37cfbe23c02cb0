"""The metric CRS the map builders measure in."""

from __future__ import annotations

import math

import geopandas as gpd
import pyproj

__all__ = ["pick_gauss_kruger_crs"]

# EPSG:4534 is "CGCS2000 / 3-degree Gauss-Kruger CM 75E"; the next 20 codes step the
# central meridian by 3 degrees up to 135E, which covers China.
_FIRST_ZONE_EPSG, _FIRST_MERIDIAN, _LAST_ZONE_EPSG = 4534, 75.0, 4554


def pick_gauss_kruger_crs(gdf: gpd.GeoSeries | gpd.GeoDataFrame) -> pyproj.CRS:
    """Return the CGCS2000 3-degree Gauss–Krüger zone (EPSG:4534–4554) nearest the data.

    The zone is chosen from the longitude of the centre of the data's bounds, clamped to
    the zones that cover China, so distances and tolerances can be given in metres.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> pick_gauss_kruger_crs(gpd.GeoSeries([Point(113.7, 34.36)], crs="EPSG:4490")).to_epsg()
    4547
    """
    if gdf.crs is None:
        raise ValueError("geometries have no CRS; set it (grids are stored in EPSG:4490)")
    lonlat = gdf.geometry.to_crs("EPSG:4490")
    minx, _, maxx, _ = lonlat.total_bounds
    # No geometry at all: any zone will do for measuring nothing.
    centre = (minx + maxx) / 2 if math.isfinite(minx) else 114.0
    zone = round((centre - _FIRST_MERIDIAN) / 3.0)
    return pyproj.CRS.from_epsg(min(max(_FIRST_ZONE_EPSG + zone, _FIRST_ZONE_EPSG), _LAST_ZONE_EPSG))

"""A small hand-made three-level grid set and one defect of each kind.

Units of 0.01° from (113.70 E, 34.30 N) (≈ 920 m east–west, 1,110 m north–south)::

    y=2 +-------+-------+-------+-------+
        |  V1   |  V2   |  V3   |  V4   |
        |       |       |       |       |
    y=0 +-------+-------+-------+-------+
        0       1       2       3       4
        |      S1       |      S2       |      city 419999 = S1 + S2

V1 419999001001, V2 419999001002 in S1 419999001; V3 419999002001, V4 419999002002 in S2 419999002.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box

from gisgrid.crs import wgs84_to_shifted

X0, Y0, UNIT = 113.70, 34.30, 0.01
CITY, S1, S2 = "419999", "419999001", "419999002"
V1, V2, V3, V4 = "419999001001", "419999001002", "419999002001", "419999002002"


def deg(geom):
    return affinity.affine_transform(geom, [UNIT, 0, 0, UNIT, X0, Y0])


def lonlat(x: float, y: float) -> tuple[float, float]:
    return X0 + x * UNIT, Y0 + y * UNIT


def layers() -> dict[int, list[dict]]:
    """Rows per level: code, name, parent, geometry (in units)."""
    return {
        1: [dict(code=CITY, name="测试市", parent=None, geom=box(0, 0, 4, 2))],
        2: [dict(code=S1, name="东风街道", parent=CITY, geom=box(0, 0, 2, 2)),
            dict(code=S2, name="西河镇", parent=CITY, geom=box(2, 0, 4, 2))],
        3: [dict(code=V1, name="东风社区", parent=S1, geom=box(0, 0, 1, 2)),
            dict(code=V2, name="向阳社区", parent=S1, geom=box(1, 0, 2, 2)),
            dict(code=V3, name="西河村", parent=S2, geom=box(2, 0, 3, 2)),
            dict(code=V4, name="东河村", parent=S2, geom=box(3, 0, 4, 2))],
    }


def frame(rows: list[dict], shift: str | None = None) -> gpd.GeoDataFrame:
    geoms = [deg(r["geom"]) if r["geom"] is not None else None for r in rows]
    if shift:
        geoms = [shapely.transform(g, lambda xy: np.column_stack(wgs84_to_shifted(xy[:, 0], xy[:, 1], shift)))
                 for g in geoms]
    return gpd.GeoDataFrame({"代码": [r["code"] for r in rows], "名称": [r["name"] for r in rows],
                             "上级代码": [r["parent"] for r in rows]}, geometry=geoms, crs="EPSG:4490")


def write_layers(directory: Path, villages: list[dict] | None = None, shift: str | None = None) -> dict[int, Path]:
    """Write the three levels as GeoJSON; ``villages`` replaces level 3 (``shift`` applies to it)."""
    rows = layers()
    if villages is not None:
        rows[3] = villages
    paths = {}
    directory.mkdir(parents=True, exist_ok=True)
    for level, level_rows in rows.items():
        paths[level] = directory / f"level{level}.geojson"
        frame(level_rows, shift if level == 3 else None).to_file(paths[level], driver="GeoJSON")
    return paths


def villages_with(target: str, **changes) -> list[dict]:
    rows = layers()[3]
    for row in rows:
        if row["code"] == target:
            row.update(changes)
    return rows


BOWTIE = Polygon([(1, 0), (2, 2), (2, 0), (1, 2)])   # crosses itself at (1.5, 1)

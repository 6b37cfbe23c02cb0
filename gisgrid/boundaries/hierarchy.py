"""Parents from children: build the upper levels by dissolving the finest grids.

When only the finest level is supplied (e.g. the villages), each parent is the
union of the children naming its code; with 12-digit division codes the levels
above follow the code prefixes (village 12 → town 9 → county 6 digits).
"""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import pandas as pd
import shapely

from gisgrid.boundaries.read import GridFile, kind_from_label
from gisgrid.crs import STORAGE_CRS
from gisgrid.errors import InputError

# Division-code lengths and the length of their parent's code.
PARENT_LENGTH = {12: 9, 9: 6}


def build_parent_files(grid_file: GridFile, level: int) -> list[tuple[int, GridFile]]:
    """The parent levels of ``grid_file`` (at ``level``), top level first.

    Level ``level − 1`` dissolves the children by their parent code; each level
    above dissolves the one below by its code prefix while the codes follow the
    division pattern (9 → 6 digits), up to level 1.

    Examples
    --------
    Villages 419901001001 and 419901001002 naming 419901001 give town 419901001
    (their union), whose parent is county 419901:

    >>> [(lv, f.frame["code"].tolist()) for lv, f in build_parent_files(villages, 3)]  # doctest: +SKIP
    [(1, ['419901']), (2, ['419901001'])]
    """
    if level < 2:
        raise InputError(f"--build-parents needs --level 2 or deeper; --level was {level}")
    frame = grid_file.frame
    if frame["parent_code"].isna().any():
        features = frame.index[frame["parent_code"].isna()].tolist()[:5]
        raise InputError(f"{grid_file.path.name}: --build-parents needs a parent code on every feature; "
                         f"features {features} have none (name the field with --parent-field)")
    built = []
    children = frame
    for parent_level in range(level - 1, 0, -1):
        parents = _dissolve(children, parent_level)
        built.append((parent_level, replace(grid_file, frame=parents, warnings=[],
                                            fields={**grid_file.fields, "built_from": f"level {level}"})))
        if parent_level == 1 or parents["parent_code"].isna().any():
            break
        children = parents
    return list(reversed(built))


def _dissolve(children: gpd.GeoDataFrame, level: int) -> gpd.GeoDataFrame:
    rows = []
    names = children["parent_name"] if "parent_name" in children.columns else pd.Series(None, index=children.index)
    for code, group in children.groupby("parent_code", sort=True):
        name = next((n for n in names[group.index] if isinstance(n, str) and n), None)
        parent = code[:PARENT_LENGTH[len(code)]] if len(code) in PARENT_LENGTH and level > 1 else None
        rows.append({"code": code, "name": name or code, "parent_code": parent,
                     "kind": "city" if level == 1 and not name else kind_from_label(name or ""),
                     "parent_name": None,
                     "geometry": shapely.union_all(group.geometry.values)})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="feature")
    return frame

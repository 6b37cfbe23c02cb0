"""Placing register rows: coordinates checked and converted, shifts suspected, addresses geocoded.

The territory is the active generation's level-1 grid(s); the towns are its level-2 grids.
Coordinates picked on an Amap (GCJ-02) or Baidu (BD-09) base map are 300–700 m off: when
undeclared coordinates often fall outside the territory or outside the town their address
names, but fit after a GCJ-02 or BD-09 correction, the import says which ``--crs`` fixes it
(it never converts on a guess).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from gisgrid.crs import gcj02_to_wgs84, bd09_to_wgs84, parse_crs, points_to_storage
from gisgrid.employers.geocode import Geocoder
from gisgrid.errors import InputError

CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
SHIFT_SAMPLE = 5_000        # rows looked at for the suspected-shift check
SHIFT_MIN_ROWS = 3          # fewer misplaced rows than this prove nothing
_COORD_PLACEHOLDERS = ("", "0", "0.0", "无", "/", "-", "—")


@dataclass
class Territory:
    """The active generation's outline, towns and gazetteer."""

    outline: object                                        # shapely geometry (level-1 grids)
    towns: list[tuple[str, str, object]] = field(default_factory=list)  # (code, name, geometry)
    geocoder: Geocoder | None = None

    def __post_init__(self) -> None:
        shapely.prepare(self.outline)
        for _, _, geom in self.towns:
            shapely.prepare(geom)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return shapely.intersects_xy(self.outline, lon, lat)


def check_coordinates(out: pd.DataFrame, problems, default_crs: str | None,
                      territory: Territory | None) -> None:
    """Parse, check and convert ``lon``/``lat`` to CGCS2000; set ``source_crs`` and ``located_by``.

    Unparseable coordinates or coordinates outside China are dropped with a warning (the row
    is then placed from its address or listed as 待定位); swapped longitude and latitude are
    swapped back with a warning; points outside the territory are kept with a warning.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> out = pd.DataFrame({"lon": ["34.3", "abc"], "lat": ["113.7", "34"], "crs": [None, None]},
    ...                    index=pd.Index([2, 3], name="row"))
    >>> seen = []
    >>> probe = SimpleNamespace(flag=lambda m, c, r, msg, reject=True: seen.extend(
    ...     [(i, r) for i in m.index[m.fillna(False)]]) or m)
    >>> check_coordinates(out, probe, None, None)
    >>> seen, out["lon"].tolist()[0], out["located_by"].tolist()
    ([(3, 'bad_coordinates'), (2, 'swapped_coordinates')], 113.7, ['given', None])
    """
    flag = problems.flag
    (lon_raw, lon), (lat_raw, lat) = _coordinate(out["lon"]), _coordinate(out["lat"])
    given = lon_raw.notna() | lat_raw.notna()
    unparsed = flag(given & (lon.isna() | lat.isna()), "经度/纬度", "bad_coordinates",
                    lambda r: f"经纬度无法识别：{out.at[r, 'lon']!r}, {out.at[r, 'lat']!r}（已忽略，按地址定位）",
                    reject=False)
    lon, lat = lon.where(~unparsed), lat.where(~unparsed)
    west, south, east, north = CHINA_BOUNDS
    inside = lon.between(west, east) & lat.between(south, north)
    swapped = lon.notna() & ~inside & lat.between(west, east) & lon.between(south, north)
    flag(swapped, "经度/纬度", "swapped_coordinates",
         lambda r: f"经纬度颠倒（{out.at[r, 'lon']}, {out.at[r, 'lat']}），已按经度 {out.at[r, 'lat']}、"
                   f"纬度 {out.at[r, 'lon']} 导入", reject=False)
    lon, lat = lon.where(~swapped, lat), lat.where(~swapped, lon)
    outside = lon.notna() & ~(lon.between(west, east) & lat.between(south, north))
    flag(outside, "经度/纬度", "outside_china",
         lambda r: f"坐标 ({out.at[r, 'lon']}, {out.at[r, 'lat']}) 不在中国范围内（已忽略，按地址定位）",
         reject=False)
    lon, lat = lon.where(~outside), lat.where(~outside)
    has_point = lon.notna() & lat.notna()

    row_crs = out["crs"].astype(object).where(out["crs"].notna(), "").map(str.strip)
    declared = row_crs.replace("", default_crs or "CGCS2000")
    out["source_crs"], out["located_by"] = None, None
    if territory is not None and not default_crs:
        _suspect_shift(out, problems, lon, lat, has_point & (row_crs == ""), territory)
    for name, rows in declared[has_point].groupby(declared[has_point]).groups.items():
        try:
            crs = parse_crs(name)
        except InputError:
            flag(has_point & (declared == name), "坐标系", "unsupported_crs",
                 lambda r: f"坐标系 {out.at[r, 'crs']!r} 无法识别（坐标已忽略）；可用 CGCS2000、WGS84、"
                           "GCJ02（高德/腾讯）、BD09（百度）或 EPSG 代码", reject=False)
            lon[rows], lat[rows] = np.nan, np.nan
            continue
        x, y = points_to_storage(lon[rows].to_numpy(), lat[rows].to_numpy(), crs)
        lon[rows], lat[rows] = x, y
        out.loc[rows, "source_crs"] = crs.name
        out.loc[rows, "located_by"] = crs.name if crs.shifted else "given"
    out["lon"], out["lat"] = lon.round(7), lat.round(7)
    out["location_precision"] = np.where(out["lon"].notna(), "point", None)
    if territory is not None:
        located = out["lon"].notna()
        away = located.copy()
        away[located] = ~territory.contains(out.loc[located, "lon"].to_numpy(), out.loc[located, "lat"].to_numpy())
        flag(away, "经度/纬度", "outside_territory",
             lambda r: f"坐标 ({out.at[r, 'lon']}, {out.at[r, 'lat']}) 不在辖区内：不落入任何网格，"
                       "将列出最近的网格和距离", reject=False)


def _coordinate(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(text or None for a placeholder, number or NaN); only failed values are cleaned."""
    text = series.where(series.notna() & (series != ""), None)
    number = pd.to_numeric(text, errors="coerce")
    retry = text.notna() & number.isna()
    if retry.any():
        cleaned = text[retry].astype("string").str.replace(r"[°度\s]", "", regex=True)
        text = text.astype(object)
        text[retry] = cleaned.where(~cleaned.isin(_COORD_PLACEHOLDERS), None).astype(object)
        number[retry] = pd.to_numeric(text[retry], errors="coerce")
    zero = number == 0  # "0, 0" stands for "not surveyed"
    return text.where(~zero, None), number.where(~zero)


def _suspect_shift(out, problems, lon, lat, undeclared, territory: Territory) -> None:
    rows = undeclared[undeclared].index[:SHIFT_SAMPLE]
    if len(rows) == 0:
        return
    x, y = lon[rows].to_numpy(), lat[rows].to_numpy()
    candidates = {"gcj02": gcj02_to_wgs84(x, y), "bd09": bd09_to_wgs84(x, y)}
    misplaced = {"raw": _misplaced(out.loc[rows], x, y, territory)}
    for system, (cx, cy) in candidates.items():
        misplaced[system] = _misplaced(out.loc[rows], cx, cy, territory)
    raw = int(misplaced["raw"].sum())
    best = min(candidates, key=lambda s: misplaced[s].sum())
    fixed = int(misplaced[best].sum())
    if raw >= SHIFT_MIN_ROWS and fixed <= raw / 4:
        label = {"gcj02": "GCJ-02（高德/腾讯）", "bd09": "BD-09（百度）"}[best]
        problems.warnings.append({
            "row": None, "column": "经度/纬度", "reason": "suspected_shift",
            "message": f"{len(rows)} 个未声明坐标系的坐标中有 {raw} 个落在辖区外或不在地址所写的街道/乡镇内，"
                       f"按 {label} 纠偏后只剩 {fixed} 个：坐标疑似取自 {label} 底图，"
                       f"请用 --crs {best} 重新导入（或在坐标系列填写 {best.upper()}）"})


def _misplaced(rows: pd.DataFrame, x: np.ndarray, y: np.ndarray, territory: Territory) -> np.ndarray:
    """Points outside the territory, or outside the town their address names."""
    wrong = ~territory.contains(x, y)
    address = rows["address"].fillna("").astype(str).to_numpy()
    for code, name, geom in territory.towns:
        names = {name, name.removesuffix("街道").removesuffix("镇").removesuffix("乡")}
        names = [n for n in names if len(n) >= 2]
        mentions = np.array([any(n in a for n in names) for a in address], dtype=bool)
        if mentions.any():
            wrong[mentions] |= ~shapely.intersects_xy(geom, x[mentions], y[mentions])
    return wrong


def locate_from_address(good: pd.DataFrame, territory: Territory | None) -> int:
    """Place rows without coordinates from their address (gazetteer); return how many were placed.

    Examples
    --------
    >>> locate_from_address(pd.DataFrame({"lon": [None], "lat": [None], "address": ["x"]}), None)
    0
    """
    if territory is None or territory.geocoder is None or good.empty:
        return 0
    todo = good.index[good["lon"].isna() & good["address"].notna()]
    placed = 0
    for row in todo:
        hit = territory.geocoder.geocode(str(good.at[row, "address"]))
        if hit is None:
            continue
        good.at[row, "lon"], good.at[row, "lat"] = round(hit.lon, 7), round(hit.lat, 7)
        good.at[row, "located_by"] = hit.method
        good.at[row, "location_precision"] = hit.precision
        good.at[row, "source_crs"] = "EPSG:4490"
        placed += 1
    return placed

"""Placing register rows: coordinates checked and converted, shifts suspected, addresses geocoded.

The territory is the active generation's level-1 grid(s); the towns are its level-2 grids.
Coordinates picked on an Amap (GCJ-02) or Baidu (BD-09) base map are 300–700 m off: when
undeclared coordinates often fall outside the territory or outside the town their address
names, but fit after a GCJ-02 or BD-09 correction, the import says which ``--crs`` fixes it
(it never converts on a guess).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from gisgrid.crs import gauss_kruger_epsg, gcj02_to_wgs84, bd09_to_wgs84, parse_crs, points_to_storage
from gisgrid.employers.geocode import Geocoder, diagnose_address
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
    # address → (Geocoded or None, doubts): check_coordinates and locate_from_address share it
    geocoded: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        shapely.prepare(self.outline)
        for _, _, geom in self.towns:
            shapely.prepare(geom)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return shapely.intersects_xy(self.outline, lon, lat)


def check_coordinates(out: pd.DataFrame, problems, default_crs: str | None,
                      territory: Territory | None) -> None:
    """Parse, check and convert ``lon``/``lat`` to CGCS2000; set ``source_crs`` and ``located_by``.

    Coordinates are read in everyday formats (:func:`parse_coordinate`; plain decimal numbers
    take a vectorised fast path); a combined "经度,纬度" value in one column with the other
    empty is split. Unreadable coordinates, a lone longitude or latitude, coordinates outside
    China and coordinates in an unknown 坐标系 are dropped with a warning naming the row, the
    column, the value and what became of the row (placed from its address, or 待定位); swapped
    longitude and latitude are swapped back with a warning; points outside the territory are
    kept with a warning. Rows left without a point are then placed from their address
    (:func:`locate_from_address`), with warnings for addresses in another city, for an address
    whose community is not in the street/town it names, and for town-only addresses (left 待定位).

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
    ([(2, 'swapped_coordinates'), (3, 'bad_coordinates')], 113.7, ['given', None])
    """
    flag = problems.flag
    raw = {"lon": out["lon"].astype(object), "lat": out["lat"].astype(object)}
    (lon_text, lon), (lat_text, lat) = _coordinate(out["lon"]), _coordinate(out["lat"])
    _split_pairs(lon_text, lon, lat_text, lat)
    unparsed = {"lon": lon_text.notna() & lon.isna(), "lat": lat_text.notna() & lat.isna()}
    lone = (lon.notna() != lat.notna()) & ~unparsed["lon"] & ~unparsed["lat"]
    both = lon.notna() & lat.notna()
    lon, lat = lon.where(both), lat.where(both)
    west, south, east, north = CHINA_BOUNDS
    row_crs = out["crs"].astype(object).where(out["crs"].notna(), "").map(str.strip)
    declared = row_crs.replace("", default_crs or "CGCS2000")
    # Eastings/northings in metres (a declared projected CRS such as EPSG:4547) are checked
    # against China's extent only once converted to degrees.
    projected = pd.Series(False, index=out.index)
    for name, rows in declared[both].groupby(declared[both]).groups.items():
        try:
            crs = parse_crs(name)
        except InputError:
            continue
        projected[rows] = crs.crs is not None and crs.crs.is_projected
    inside = lon.between(west, east) & lat.between(south, north)
    swapped = lon.notna() & ~inside & lat.between(west, east) & lon.between(south, north) & ~projected
    flag(swapped, "经度/纬度", "swapped_coordinates",
         lambda r: f"经纬度颠倒（{raw['lon'][r]}, {raw['lat'][r]}），已按经度 {raw['lat'][r]}、纬度 {raw['lon'][r]} 导入",
         reject=False)
    lon, lat = lon.where(~swapped, lat), lat.where(~swapped, lon)
    outside = lon.notna() & ~(lon.between(west, east) & lat.between(south, north)) & ~projected
    lon, lat = lon.where(~outside), lat.where(~outside)
    has_point = lon.notna() & lat.notna()

    out["source_crs"], out["located_by"] = None, None
    raw_lon, raw_lat = lon.copy(), lat.copy()
    unknown_crs = pd.Series(False, index=out.index)
    geographic = pd.Series(False, index=out.index)
    for name, rows in declared[has_point].groupby(declared[has_point]).groups.items():
        try:
            crs = parse_crs(name)
        except InputError:
            unknown_crs[rows] = True
            lon[rows], lat[rows] = np.nan, np.nan
            continue
        geographic[rows] = crs.name in ("EPSG:4490", "EPSG:4326")
        x, y = points_to_storage(lon[rows].to_numpy(), lat[rows].to_numpy(), crs)
        if crs.crs is not None and crs.crs.is_projected:
            away = ~((x >= west) & (x <= east) & (y >= south) & (y <= north))
            x, y = np.where(away, np.nan, x), np.where(away, np.nan, y)
            outside[rows] = away
        lon[rows], lat[rows] = x, y
        kept = rows[~np.isnan(np.asarray(x, dtype=float))]
        out.loc[kept, "source_crs"] = crs.name
        out.loc[kept, "located_by"] = crs.name if crs.shifted else "given"
    if territory is not None:
        undeclared = has_point & (row_crs == "") & (not default_crs)
        if not default_crs:
            _suspect_shift(out, problems, raw_lon, raw_lat, undeclared, territory)
        by_option = geographic & ~undeclared & (row_crs == "")
        _suspect_shift(out, problems, raw_lon, raw_lat, by_option, territory, declared_by=f"--crs {default_crs}")
        _suspect_shift(out, problems, raw_lon, raw_lat, geographic & (row_crs != ""), territory,
                       declared_by="坐标系列")
    out["lon"], out["lat"] = lon.round(7), lat.round(7)
    out["location_precision"] = np.where(out["lon"].notna(), "point", None)

    # Rows without a point are placed from their address now, so that every warning about
    # dropped coordinates can say what became of the row.
    bad = getattr(problems, "bad", None)
    todo = out["lon"].isna() if bad is None else out["lon"].isna() & ~bad
    address = out["address"] if "address" in out else pd.Series(None, index=out.index, dtype=object)
    _learn_city(territory, address[todo])
    placed, notes = _place_rows(out, out.index[todo & address.notna()], territory)
    fate = lambda r: _fate(out, r)  # noqa: E731
    frame = getattr(problems, "frame", None)
    heads = {c: (frame.attrs.get("columns", {}) if frame is not None else {}).get(c, _HEADS[c]) for c in _HEADS}
    for column in ("lon", "lat"):
        flag(unparsed[column], "经度/纬度", "bad_coordinates",
             lambda r, c=column: f"{heads[c]} {raw[c][r]!r} 无法识别为坐标（可写 113.727026、113°43′37″ 或 "
                                 f"东经113.727026）；坐标已忽略，{fate(r)}", reject=False)
    flag(lone, "经度/纬度", "incomplete_coordinates", lambda r: _lone_message(r, raw, lon_text, heads) + fate(r),
         reject=False)
    flag(outside, "经度/纬度", "outside_china",
         lambda r: f"坐标 ({raw['lon'][r]}, {raw['lat'][r]}) "
                   + (f"按 {declared[r]} 换算后" if projected[r] else "")
                   + "不在中国范围内（已忽略）"
                   + ("" if projected[r] else _projected_hint(raw_number(raw["lon"][r]), raw_number(raw["lat"][r]),
                                                              territory))
                   + f"；{fate(r)}", reject=False)
    flag(unknown_crs, "坐标系", "unsupported_crs",
         lambda r: f"坐标系 {out.at[r, 'crs']!r} 无法识别（坐标已忽略）；可用 CGCS2000（2000国家大地坐标系、"
                   f"国家2000、天地图）、WGS84（GPS）、GCJ02（国测局、火星坐标、高德、腾讯）、"
                   f"BD09（百度、bd09ll）或 EPSG 代码；{fate(r)}", reject=False)
    if territory is not None:
        located = out["lon"].notna() & ~out.index.isin(placed)
        away = located.copy()
        away[located] = ~territory.contains(out.loc[located, "lon"].to_numpy(), out.loc[located, "lat"].to_numpy())
        flag(away, "经度/纬度", "outside_territory",
             lambda r: f"坐标 ({out.at[r, 'lon']}, {out.at[r, 'lat']}) 不在辖区内：不落入任何网格，"
                       "将列出最近的网格和距离", reject=False)
    for reason in _ADDRESS_REASONS:
        rows = [r for r, found in notes.items() if reason in found]
        if rows:
            flag(pd.Series(out.index.isin(rows), index=out.index), "address", reason,
                 lambda r, k=reason: notes[r][k], reject=False)


_HEADS = {"lon": "经度", "lat": "纬度"}
_ADDRESS_REASONS = ("address_outside_city", "community_town_mismatch", "town_only_address")
_MANUAL = "请手工定位（gisgrid employers place 统一社会信用代码 经度 纬度，或在地图上标注）"


def _lone_message(row, raw: dict, lon_text: pd.Series, heads: dict) -> str:
    given, missing = ("lon", "lat") if lon_text[row] is not None else ("lat", "lon")
    return f"只有{heads[given]} {raw[given][row]!r}，没有{heads[missing]}：坐标已忽略，"


LEARN_SAMPLE = 20_000      # addresses looked at to learn the territory's own city name


def _learn_city(territory: Territory | None, address: pd.Series) -> None:
    """Without the territory's name, learn it from the addresses (see ``learn_roots``)."""
    geocoder = territory.geocoder if territory is not None else None
    for gazetteer in getattr(geocoder, "geocoders", [geocoder]):
        if hasattr(gazetteer, "learn_roots") and not gazetteer.roots:
            gazetteer.learn_roots(address.dropna().head(LEARN_SAMPLE).tolist())
            territory.geocoded.clear()


def _fate(out: pd.DataFrame, row) -> str:
    """What became of a row whose coordinates were dropped, for the warning."""
    if pd.notna(out.at[row, "lon"]):
        return f"已按地址定位（{out.at[row, 'location_precision']}）"
    if "address" not in out or pd.isna(out.at[row, "address"]) or not str(out.at[row, "address"]).strip():
        return f"也没有地址：列为待定位，{_MANUAL}"
    return f"地址也无法定位到社区/村：列为待定位，{_MANUAL}"


_HEMISPHERE = re.compile(r"^(东经|西经|北纬|南纬|[东西南北]|[EWNS])?(.*?)(东经|西经|北纬|南纬|[东西南北]|[EWNS])?$")
_NEGATIVE = {"西经", "南纬", "西", "南", "W", "S"}
_DMS = re.compile(r"^([+-]?\d+(?:\.\d+)?)(?:°|度|:)(?:(\d+(?:\.\d+)?)(?:'|′|’|‘|分|:)?"
                  r"(?:(\d+(?:\.\d+)?)(?:\"|″|”|“|''|′′|’’|秒)?)?)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3},\d+$")
_PAIR = re.compile(r"^(.+?)\s*[,，;；/]\s*(.+)$|^(\S+)\s+(\S+)$")


def raw_number(text) -> float:
    """A cell's number for a message (NaN when it is none)."""
    value = pd.to_numeric(pd.Series([text], dtype=object), errors="coerce").iloc[0]
    return float(value) if pd.notna(value) else float("nan")


def _projected_hint(x: float, y: float, territory: Territory | None) -> str:
    """What to do when a "coordinate" is a Gauss–Krüger easting/northing in metres.

    >>> _projected_hint(399_500.0, 3_795_800.0, None)
    '：看起来是投影坐标（米），请用 --crs EPSG:4547（CGCS2000 3° 高斯-克吕格，按本市经度；坐标系列也可填此代码）'
    """
    if not (1e5 <= abs(x) <= 5e7 and 1e6 <= abs(y) <= 1e7):
        return ""
    lon = 114.0 if territory is None else shapely.centroid(territory.outline).x
    return f"：看起来是投影坐标（米），请用 --crs EPSG:{gauss_kruger_epsg(lon)}（CGCS2000 3° 高斯-克吕格，按本市经度；坐标系列也可填此代码）"


def parse_coordinate(text: str) -> float | None:
    """One coordinate cell in an everyday format → decimal degrees, or None.

    Accepts decimal degrees, degrees-minutes(-seconds) with °′″, '" or 度分秒, full-width
    digits and punctuation, hemisphere letters or words (E/N/W/S, 东经/北纬), a decimal
    comma and surrounding spaces. West and south give negative values.

    Examples
    --------
    >>> round(parse_coordinate("113°43′37.29″"), 7), round(parse_coordinate("34度23分28.49秒"), 7)
    (113.727025, 34.3912472)
    >>> parse_coordinate("１１３．７"), parse_coordinate("E113.7"), parse_coordinate("北纬34.3")
    (113.7, 113.7, 34.3)
    >>> parse_coordinate("113,727026"), parse_coordinate("113°30'"), parse_coordinate("abc")
    (113.727026, 113.5, None)
    """
    value = unicodedata.normalize("NFKC", str(text)).strip().upper()
    value = re.sub(r"\s+", "", value)
    match = _HEMISPHERE.match(value)
    head, body, tail = match.groups() if match else (None, value, None)
    if head and tail:
        return None
    sign = -1.0 if (head or tail) in _NEGATIVE else 1.0
    if _DECIMAL_COMMA.match(body):
        body = body.replace(",", ".")
    body = body.rstrip("°度")
    try:
        number = float(body)
    except ValueError:
        dms = _DMS.match(body)
        if dms is None:
            return None
        degrees, minutes, seconds = (float(g) if g else 0.0 for g in dms.groups())
        if minutes >= 60 or seconds >= 60 or degrees < 0:
            return None
        number = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(number) or (sign < 0 and number < 0):
        return None
    return round(sign * number, 9)


_COORD_PLACEHOLDERS_LOWER = {*(_COORD_PLACEHOLDERS), "--", "暂无", "无坐标", "nan", "none", "null", "n/a", "#n/a"}


def _coordinate(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(text, or None for an empty cell or a placeholder; number or NaN).

    Plain decimal numbers are read column-wide by ``pd.to_numeric``; only the other cells go
    through :func:`parse_coordinate`, one by one.
    """
    values = series.to_numpy(dtype=object, na_value=None)
    text = pd.Series(values, index=series.index, dtype=object)
    text = text.where(text.notna() & (text != ""), None)
    number = pd.to_numeric(text, errors="coerce").astype(float)
    retry = (text.notna() & ~np.isfinite(number)).to_numpy()
    if retry.any():
        # each distinct text once (a register repeats its formats), assigned back column-wise
        parsed = {value: _parse_cell(value) for value in set(text[retry].map(str))}
        found = np.array([parsed[str(v)] for v in text[retry]], dtype=object)
        placeholder = np.array([f is _PLACEHOLDER for f in found], dtype=bool)
        numbers = number.to_numpy(copy=True)
        numbers[retry] = [np.nan if f is None or f is _PLACEHOLDER else f for f in found]
        number = pd.Series(numbers, index=text.index)
        blank = retry.copy()
        blank[retry] = placeholder
        text[blank] = None
    zero = (number == 0).to_numpy()  # "0, 0" stands for "not surveyed"
    text[zero], number[zero] = None, np.nan
    return text, number


_PLACEHOLDER = object()


def _parse_cell(value: str):
    """A number, None (unreadable) or _PLACEHOLDER (a "none" word: no coordinate at all)."""
    if unicodedata.normalize("NFKC", value).strip().lower() in _COORD_PLACEHOLDERS_LOWER:
        return _PLACEHOLDER
    return parse_coordinate(value)


def _split_pairs(lon_text: pd.Series, lon: pd.Series, lat_text: pd.Series, lat: pd.Series) -> pd.Series:
    """Split "113.7,34.3" given in one column with the other empty, in place; return the rows split."""
    split = pd.Series(False, index=lon.index)
    for text, number, other_text, other in ((lon_text, lon, lat_text, lat), (lat_text, lat, lon_text, lon)):
        candidates = text.notna() & number.isna() & other_text.isna()
        for row in text.index[candidates]:
            match = _PAIR.match(unicodedata.normalize("NFKC", str(text[row])).strip())
            if match is None:
                continue
            first, second = (g for g in match.groups() if g is not None)
            x, y = parse_coordinate(first), parse_coordinate(second)
            if x is None or y is None or x == 0 or y == 0:
                continue
            lon[row], lat[row] = x, y
            lon_text[row], lat_text[row] = first, second
            split[row] = True
    return split


def _suspect_shift(out, problems, lon, lat, mask, territory: Territory, declared_by: str | None = None) -> None:
    """Warn when points in ``mask`` look taken from a GCJ-02/BD-09 base map (never converts).

    ``declared_by`` None: the rows have no 坐标系 (the file-level hint); otherwise they were
    declared CGCS2000/WGS84 by ``--crs`` or by the 坐标系 column, and the declaration looks wrong.
    """
    rows = mask[mask].index[:SHIFT_SAMPLE]
    if len(rows) == 0:
        return
    x, y = lon[rows].to_numpy(), lat[rows].to_numpy()
    candidates = {"gcj02": gcj02_to_wgs84(x, y), "bd09": bd09_to_wgs84(x, y)}
    mentions = _town_mentions(out.loc[rows], territory)
    misplaced = {"raw": _misplaced(mentions, x, y, territory)}
    for system, (cx, cy) in candidates.items():
        misplaced[system] = _misplaced(mentions, cx, cy, territory)
    wrong = misplaced["raw"]
    raw = int(wrong.sum())
    # Whole file shifted: the correction removes most misplacements. Part of the file shifted
    # (rows from two sources): most misplaced rows fit after the correction, even if the
    # correction misplaces some of the good rows.
    fixable = {s: wrong & ~misplaced[s] for s in candidates}
    best = min(candidates, key=lambda s: int(misplaced[s].sum()))
    whole = raw >= SHIFT_MIN_ROWS and int(misplaced[best].sum()) <= raw / 4
    if not whole:
        best = max(candidates, key=lambda s: int(fixable[s].sum()))
    fixed, healed = int(misplaced[best].sum()), int(fixable[best].sum())
    part = healed >= SHIFT_MIN_ROWS and healed >= 0.75 * raw
    if not (whole or part):
        return
    label = {"gcj02": "GCJ-02（高德/腾讯）", "bd09": "BD-09（百度）"}[best]
    examples = "、".join(str(r) for r in rows[fixable[best]][:10])
    if declared_by is None:
        message = (f"{len(rows)} 个未声明坐标系的坐标中有 {raw} 个落在辖区外或不在地址所写的街道/乡镇内，"
                   f"按 {label} 纠偏后只剩 {fixed} 个：坐标疑似取自 {label} 底图，"
                   f"请用 --crs {best} 重新导入（或在坐标系列填写 {best.upper()}）")
        if not whole:
            message = (f"{len(rows)} 个未声明坐标系的坐标中有 {raw} 个落在辖区外或不在地址所写的街道/乡镇内，"
                       f"其中 {healed} 个（如第 {examples} 行）按 {label} 纠偏后位置正确：这些坐标疑似取自 "
                       f"{label} 底图，请在这些行的坐标系列填写 {best.upper()} 后重新导入")
    else:
        values = "、".join(sorted({str(v) for v in out.loc[rows, "crs"].dropna().unique() if str(v).strip()})[:5]) \
            if declared_by == "坐标系列" else declared_by.removeprefix("--crs ")
        fix = (f"请改用 --crs {best} 重新导入" if declared_by.startswith("--crs") and whole
               else f"请核实后把这些行的坐标系列改为 {best.upper()} 重新导入")
        message = (f"{len(rows)} 个声明为 {values}（{declared_by}）的坐标中有 {raw} 个落在辖区外或不在地址所写的"
                   f"街道/乡镇内，其中 {healed} 个（如第 {examples} 行）按 {label} 纠偏后位置正确：声明的坐标系"
                   f"看来不对，坐标疑似取自 {label} 底图（未自动转换）；{fix}")
    # Undeclared coordinates that look shifted would put firms in wrong grids without a word
    # per row: the import refuses to commit them until --crs says what they are.
    problems.warnings.append({"row": None, "column": "经度/纬度", "reason": "suspected_shift", "message": message,
                              **({"undeclared": True, "crs": best} if declared_by is None else {})})


def _misplaced(mentions: list, x: np.ndarray, y: np.ndarray, territory: Territory) -> np.ndarray:
    """Points outside the territory, or outside the town their address names."""
    wrong = ~territory.contains(x, y)
    for (_, _, geom), named in zip(territory.towns, mentions):
        if named.any():
            wrong[named] |= ~shapely.intersects_xy(geom, x[named], y[named])
    return wrong


def _town_mentions(rows: pd.DataFrame, territory: Territory) -> list:
    """For each town, which of ``rows`` have an address naming it (one regex pass per town)."""
    address = pd.Series(rows["address"].to_numpy(dtype=object, na_value=""), dtype=object).astype(str)
    mentions = []
    for _, name, _ in territory.towns:
        names = {name, name.removesuffix("街道").removesuffix("镇").removesuffix("乡")}
        pattern = "|".join(re.escape(n) for n in sorted(names) if len(n) >= 2)
        mentions.append(address.str.contains(pattern, regex=True).to_numpy(dtype=bool) if pattern
                        else np.zeros(len(address), dtype=bool))
    return mentions


def locate_from_address(good: pd.DataFrame, territory: Territory | None) -> int:
    """Place rows without coordinates from their address (gazetteer); return how many were placed.

    A town-only address (a street/town holding more than one finest-level grid) and an address
    in another city are left unplaced (待定位): a point would put the employer in an arbitrary
    community's register. :func:`check_coordinates` has already done this for the rows it saw
    and warned; here the results come from the territory's cache.

    Examples
    --------
    >>> locate_from_address(pd.DataFrame({"lon": [None], "lat": [None], "address": ["x"]}), None)
    0
    """
    if territory is None or territory.geocoder is None or good.empty:
        return 0
    todo = good.index[good["lon"].isna() & good["address"].notna()]
    return len(_place_rows(good, todo, territory)[0])


def _place_rows(frame: pd.DataFrame, rows, territory: Territory | None) -> tuple[list, dict]:
    """Geocode ``rows`` of ``frame`` in place; return (rows placed, {row: {reason: message}})."""
    placed, doubts = [], {}
    if territory is None or territory.geocoder is None or len(rows) == 0:
        return placed, doubts
    cache = territory.geocoded
    for row in rows:
        address = str(frame.at[row, "address"])
        if address not in cache:
            cache[address] = diagnose_address(territory.geocoder, address)
        hit, notes = cache[address]
        if "town_only_address" in notes:
            notes = {**notes, "town_only_address": f"{notes['town_only_address']}：未定位，列为待定位，{_MANUAL}"}
        if notes:
            doubts[row] = notes
        if hit is None or "town_only_address" in notes:
            continue
        frame.at[row, "lon"], frame.at[row, "lat"] = round(hit.lon, 7), round(hit.lat, 7)
        frame.at[row, "located_by"] = hit.method
        frame.at[row, "location_precision"] = hit.precision
        frame.at[row, "source_crs"] = "EPSG:4490"
        placed.append(row)
    return placed, doubts

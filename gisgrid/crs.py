"""Coordinate systems: what a user may declare, and how it reaches CGCS2000 (EPSG:4490).

Everything is stored in CGCS2000 geographic. Metric work uses the CGCS2000 3° Gauss–Krüger
zone of the data. GCJ-02 (Amap/Tencent) and BD-09 (Baidu) are not datums but published
obfuscations of WGS84; they are undone with ``coordTransform`` (C, vectorised), whose own
GCJ→WGS inverse is a single step off by up to 3.8 m, so the inverse here iterates the
forward formula instead (ECOSYSTEM.md). WGS84 is taken as CGCS2000: the two agree to a few
centimetres (DOMAIN.md).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from gisgrid.errors import InputError

STORAGE_CRS = "EPSG:4490"
SHIFTED = ("gcj02", "bd09")

# EPSG:4534 is "CGCS2000 / 3-degree Gauss-Kruger CM 75E"; each next code moves the
# central meridian 3° east, up to 4554 = CM 135E, which covers China.
_FIRST_ZONE_EPSG, _FIRST_MERIDIAN, _LAST_ZONE_EPSG = 4534, 75.0, 4554

# Keys as :func:`crs_alias_key` leaves them (NFKC, lower case, no spaces/hyphens/underscores,
# no 坐标/坐标系 suffix): the spellings registers actually use.
_ALIASES = {
    **dict.fromkeys(("cgcs2000", "cgcs", "国家2000", "2000", "2000国家大地", "国家大地2000", "大地2000",
                     "2000大地", "中国2000", "china2000", "天地图", "epsg4490"), "EPSG:4490"),
    **dict.fromkeys(("wgs84", "wgs", "wgs1984", "gps", "epsg4326"), "EPSG:4326"),
    **dict.fromkeys(("gcj02", "gcj", "国测局", "火星坐标", "amap", "gaode", "高德", "高德地图", "腾讯", "腾讯地图",
                     "tencent", "qq"), "gcj02"),
    **dict.fromkeys(("bd09", "bd09ll", "baidu", "百度", "百度地图", "百度经纬度"), "bd09"),
}
_ALIAS_NOISE = re.compile(r"[\s\-_－—–·.]+")
_ALIAS_SUFFIXES = ("坐标系统", "坐标系", "坐标")
# Spellings that are only a 坐标系 name with their suffix ("火星坐标", not a bare "火星").
_SUFFIX_KEPT = ("火星坐标",)


def crs_alias_key(text: str) -> str:
    """The lookup key of a 坐标系 spelling: NFKC, lower case, no spaces/hyphens, no 坐标(系) suffix.

    >>> crs_alias_key(" GCJ-02坐标系 "), crs_alias_key("ＣＧＣＳ 2000"), crs_alias_key("国测局坐标")
    ('gcj02', 'cgcs2000', '国测局')
    """
    key = _ALIAS_NOISE.sub("", unicodedata.normalize("NFKC", text or "")).lower()
    for kept in _SUFFIX_KEPT:
        if key.startswith(kept):
            return kept
    for suffix in _ALIAS_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


@dataclass(frozen=True)
class DeclaredCrs:
    """A CRS as declared by a user: an EPSG/PROJ CRS, or one of the shifted systems."""

    name: str                    # "EPSG:4547", "gcj02", "bd09", …
    crs: pyproj.CRS | None       # None for gcj02/bd09 (lon/lat on WGS84, shifted)

    @property
    def shifted(self) -> bool:
        return self.crs is None


#: The EPSG codes a request may name (``supported_only``): CGCS2000 and WGS84 lon/lat, the
#: Xian 1980 and Beijing 1954 lon/lat, and the Gauss–Krüger zones (3°/6°, with or without
#: zone prefix) of CGCS2000 (4491–4554), Xian 1980 (2327–2390) and Beijing 1954
#: (2401–2442, 21413–21423, 21453–21463): what China's division and survey data come in.
SUPPORTED_EPSG = frozenset({4490, 4326, 4214, 4610, *range(4491, 4555), *range(2327, 2391),
                            *range(2401, 2443), *range(21413, 21424), *range(21453, 21464)})
_EPSG_CODE = re.compile(r"(?:epsg\s*:\s*)?(\d{4,5})", re.IGNORECASE)
_ALLOWED = ("EPSG:xxxx (e.g. EPSG:4490 CGCS2000, EPSG:4547 Gauss–Krüger 114°E, EPSG:2383 Xian 1980), "
            "CGCS2000, WGS84, gcj02 (Amap/Tencent) or bd09 (Baidu)")
_ALLOWED_ZH = ("EPSG:xxxx（如 EPSG:4490 国家 2000 经纬度、EPSG:4547 高斯-克吕格 114°E、EPSG:2383 西安 1980）、"
               "CGCS2000、WGS84、gcj02（高德/腾讯）或 bd09（百度）")


def parse_crs(text: str, *, supported_only: bool = False) -> DeclaredCrs:
    """Read a ``--crs`` value: ``EPSG:xxxx``, a bare code, ``gcj02``, ``bd09``, ``CGCS2000``, ``WGS84``.

    The usual register spellings are accepted too, in any case and width, with or without
    spaces, hyphens and a 坐标/坐标系 suffix: 国测局, 火星坐标系, 高德, 腾讯 (GCJ-02); 百度坐标,
    bd09ll (BD-09); 2000国家大地坐标系, 国家2000, 大地2000, 天地图 (CGCS2000); GPS, WGS-84 (WGS84).
    Nothing else reaches pyproj: a PROJ string, WKT, JSON or file path is refused (they can
    name grid files to open and take PROJ into code paths no one here tested). With
    ``supported_only`` (what a web request may give) the EPSG code must also be one of
    :data:`SUPPORTED_EPSG`.

    Examples
    --------
    >>> parse_crs("gcj02").shifted, parse_crs("4547").name, parse_crs("CGCS2000").name
    (True, 'EPSG:4547', 'EPSG:4490')
    >>> parse_crs("火星坐标系").name, parse_crs("BD09LL").name, parse_crs("2000国家大地坐标系").name
    ('gcj02', 'bd09', 'EPSG:4490')
    >>> parse_crs("+proj=longlat +datum=WGS84")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gisgrid.errors.InputError: CRS was '+proj=longlat +datum=WGS84'; expected EPSG:xxxx ...
    """
    raw = unicodedata.normalize("NFKC", text if isinstance(text, str) else "").strip()
    value = _ALIASES.get(crs_alias_key(raw), raw)
    if value in SHIFTED:
        return DeclaredCrs(value, None)
    match = _EPSG_CODE.fullmatch(value)
    code = int(match.group(1)) if match else None
    if code is None or (supported_only and code not in SUPPORTED_EPSG):
        shown = text[:60] + "…" if isinstance(text, str) and len(text) > 60 else text
        raise InputError(f"CRS was {shown!r}; expected {_ALLOWED}"
                         + ("; other EPSG codes are not accepted here" if code is not None else ""),
                         zh=f"坐标系为 {shown!r}；应为 {_ALLOWED_ZH}" + ("；此处不接受其他 EPSG 代码" if code is not None else ""))
    try:
        crs = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError:
        raise InputError(f"CRS was {text!r}: EPSG:{code} is no known EPSG CRS; expected {_ALLOWED}",
                         zh=f"坐标系为 {text!r}：EPSG:{code} 不是已知的 EPSG 坐标系；应为 {_ALLOWED_ZH}") from None
    return DeclaredCrs(f"EPSG:{code}", crs)


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undo the GCJ-02 shift to well under a millimetre (iterating the forward formula)."""
    return _invert("gcj02", np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


def bd09_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undo BD-09 (GCJ-02 shifted again) to well under a millimetre."""
    return _invert("bd09", np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))


def _invert(system: str, lon: np.ndarray, lat: np.ndarray, iterations: int = 6) -> tuple[np.ndarray, np.ndarray]:
    # The shift varies by ~1e-5 per metre, so each fixed-point step x -= f(x) - target
    # shrinks the error ~1000-fold: a few steps reach floating-point precision.
    x, y = lon.copy(), lat.copy()
    for _ in range(iterations):
        fx, fy = wgs84_to_shifted(x, y, system)
        x, y = x - (fx - lon), y - (fy - lat)
    return x, y


def wgs84_to_shifted(lon: np.ndarray, lat: np.ndarray, system: str) -> tuple[np.ndarray, np.ndarray]:
    """The forward shift, for tests and for drawing on a GCJ-02 basemap."""
    from coordTransform import wgs84_to_bd09, wgs84_to_gcj02

    fn = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}[system]
    x, y = fn(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x), np.asarray(y)


def points_to_storage(lon, lat, declared: DeclaredCrs) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``declared`` → lon/lat in CGCS2000."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if declared.name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if declared.name == "bd09":
        return bd09_to_wgs84(lon, lat)
    transformer = pyproj.Transformer.from_crs(declared.crs, STORAGE_CRS, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def geometries_to_storage(geoms: np.ndarray, declared: DeclaredCrs) -> np.ndarray:
    """Shapely geometries in ``declared`` → CGCS2000, vertex by vertex."""
    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = points_to_storage(coords[:, 0], coords[:, 1], declared)
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), convert)


def gauss_kruger_epsg(longitude: float) -> int:
    """The CGCS2000 3° Gauss–Krüger zone (EPSG:4534–4554) for a longitude.

    >>> gauss_kruger_epsg(113.7)
    4547
    """
    if not math.isfinite(longitude):
        longitude = 114.0
    zone = round((longitude - _FIRST_MERIDIAN) / 3.0)
    return min(max(_FIRST_ZONE_EPSG + zone, _FIRST_ZONE_EPSG), _LAST_ZONE_EPSG)

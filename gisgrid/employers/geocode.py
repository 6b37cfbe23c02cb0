"""Geocoding employers that arrive without coordinates.

A :class:`Geocoder` turns an address into a :class:`Geocoded` place or None. The offline
:class:`GazetteerGeocoder` is built from the grid hierarchy's own names: the deepest
street/town, community/village name recognised in the address places the employer at that
grid's representative point (inside the grid, unlike a centroid), with the precision
recorded (村/社区级, 街道/乡镇级). A community name is only trusted under the town the
address names, when it names one, since village names repeat between towns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Protocol

# precision by grid level: 2 = street/town, 3 = community/village, deeper = finer grids
PRECISION = {2: "街道/乡镇级", 3: "村/社区级"}
_ROAD_CHARS = "路街巷道胡弄里桥"
_SUFFIXES = ("街道办事处", "街道", "居委会", "村委会", "社区", "镇", "乡", "村")


@dataclass(frozen=True)
class Geocoded:
    """Where an address was placed and how exactly."""

    lon: float
    lat: float
    precision: str        # 村/社区级, 街道/乡镇级, 门牌级 …
    method: str           # gazetteer | provider
    grid_code: str | None = None
    matched: str | None = None


class Geocoder(Protocol):
    """Anything that can place an address (offline gazetteer, online provider)."""

    def geocode(self, address: str) -> Geocoded | None: ...


@dataclass(frozen=True)
class GazetteerEntry:
    code: str
    name: str
    level: int
    parent_code: str | None
    lon: float
    lat: float


class GazetteerGeocoder:
    """The offline gazetteer: grid names recognised in addresses.

    Examples
    --------
    >>> g = GazetteerGeocoder([
    ...     GazetteerEntry("419901001", "城关街道", 2, "419901", 113.70, 34.30),
    ...     GazetteerEntry("419901001001", "东风社区", 3, "419901001", 113.71, 34.31),
    ...     GazetteerEntry("419901001002", "和平社区", 3, "419901001", 113.72, 34.32),
    ...     GazetteerEntry("419901002", "新店镇", 2, "419901", 113.80, 34.40),
    ...     GazetteerEntry("419901002001", "东风村", 3, "419901002", 113.81, 34.41)])
    >>> g.geocode("示范市城关街道东风社区和平路1号").grid_code
    '419901001001'
    >>> g.geocode("新店镇东风村").precision, g.geocode("示范市新店镇振兴路8号").precision
    ('村/社区级', '街道/乡镇级')
    >>> g.geocode("外省某地") is None, g.geocode("东风路3号") is None
    (True, True)
    """

    def __init__(self, entries: Iterable[GazetteerEntry]):
        self.entries = [e for e in entries if e.level >= 2]
        self.by_code = {e.code: e for e in self.entries}
        # (name variant, entry), longest first so that "东风社区" beats "东风"
        variants = []
        for entry in self.entries:
            names = {entry.name}
            short = _strip_suffix(entry.name)
            if len(short) >= 2:
                names.add(short)
            variants += [(name, entry) for name in names]
        self.variants = sorted(variants, key=lambda v: (-len(v[0]), v[1].code))
        self.pattern = re.compile("|".join(re.escape(n) for n in dict.fromkeys(v[0] for v in self.variants))) \
            if self.variants else None

    def geocode(self, address: str) -> Geocoded | None:
        if not address or self.pattern is None:
            return None
        found = self._find(address)
        if not found:
            return None
        towns = {e.code for e, _, _ in found if e.level == 2}
        # the deepest entry consistent with the town named, if any
        candidates = [f for f in found if f[0].level > 2 and (not towns or self._town_of(f[0]) in towns)]
        if not candidates and towns:
            candidates = [f for f in found if f[0].level == 2]
        if not candidates:
            unique = {e.code for e, _, _ in found if e.level > 2}
            if len(unique) != 1:
                return None  # a village name that repeats between towns: not trusted
            candidates = [f for f in found if f[0].level > 2]
        # deepest level, then a full name over a shortened one, then the first in the address
        best, _, _ = max(candidates, key=lambda f: (f[0].level, f[1], -f[2], f[0].code))
        return Geocoded(best.lon, best.lat, PRECISION.get(best.level, "网格级"), "gazetteer",
                        best.code, best.name)

    def _find(self, address: str) -> list[tuple[GazetteerEntry, bool, int]]:
        """(entry, matched by its full name, position) for each name in the address."""
        found = []
        # Leftmost-longest, non-overlapping: "西河镇" is the town, not also the village "西河(村)".
        for match in self.pattern.finditer(address):
            text, end = match.group(0), match.end()
            for name, entry in self.variants:
                if name != text:
                    continue
                full = name == entry.name
                # a shortened name followed by 路/街/巷… is a road ("和平路"), not the community
                if not full and end < len(address) and address[end] in _ROAD_CHARS:
                    continue
                found.append((entry, full, match.start()))
        return found

    def _town_of(self, entry: GazetteerEntry) -> str | None:
        while entry is not None and entry.level > 2:
            entry = self.by_code.get(entry.parent_code)
        return entry.code if entry is not None else None


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class ProviderGeocoder:
    """An online geocoder through geopy, its results converted to CGCS2000.

    Baidu answers in BD-09 and Amap/Tencent in GCJ-02: the point is converted before use
    (DOMAIN.md). The provider's own precision label (Baidu ``level``: 门址, 道路, 村庄 …) is kept.

    Parameters
    ----------
    geocoder
        A ``geopy.geocoders.Geocoder`` (e.g. ``BaiduV3``).
    crs
        What the provider answers in: ``bd09``, ``gcj02``, ``wgs84`` or ``cgcs2000``.

    Examples
    --------
    >>> from geopy.geocoders import BaiduV3
    >>> ProviderGeocoder(BaiduV3("key"), "bd09").crs
    'bd09'
    """

    def __init__(self, geocoder, crs: str):
        if crs not in ("bd09", "gcj02", "wgs84", "cgcs2000"):
            raise ValueError(f"crs was {crs!r}; expected bd09, gcj02, wgs84 or cgcs2000")
        self.geocoder, self.crs = geocoder, crs

    def geocode(self, address: str) -> Geocoded | None:
        import numpy as np

        from gisgrid.crs import bd09_to_wgs84, gcj02_to_wgs84

        if not address:
            return None
        found = self.geocoder.geocode(address, exactly_one=True)
        if found is None:
            return None
        lon, lat = np.array([found.longitude]), np.array([found.latitude])
        if self.crs == "bd09":
            lon, lat = bd09_to_wgs84(lon, lat)
        elif self.crs == "gcj02":
            lon, lat = gcj02_to_wgs84(lon, lat)
        raw = found.raw if isinstance(found.raw, dict) else {}
        return Geocoded(float(lon[0]), float(lat[0]), str(raw.get("level") or "provider"), "provider")


def build_provider(name: str, key: str, base_url: str | None = None, timeout: float = 5.0) -> ProviderGeocoder:
    """An online provider by name (``baidu``); ``base_url`` points at an intranet proxy or a test server.

    Examples
    --------
    >>> build_provider("baidu", "k", "http://127.0.0.1:9/geocoding/v3/").geocoder.api
    'http://127.0.0.1:9/geocoding/v3/'
    >>> build_provider("google", "k")
    Traceback (most recent call last):
    ...
    ValueError: geocoder was 'google'; expected baidu
    """
    if name != "baidu":
        raise ValueError(f"geocoder was {name!r}; expected baidu")
    from geopy.geocoders import BaiduV3

    geocoder = BaiduV3(api_key=key, scheme="https", timeout=timeout)
    if base_url:
        geocoder.scheme = base_url.split(":", 1)[0]
        geocoder.api = base_url
    return ProviderGeocoder(geocoder, "bd09")


class ChainGeocoder:
    """The first geocoder that places the address wins (offline gazetteer first, then a provider)."""

    def __init__(self, *geocoders: Geocoder):
        self.geocoders = [g for g in geocoders if g is not None]

    def geocode(self, address: str) -> Geocoded | None:
        for geocoder in self.geocoders:
            hit = geocoder.geocode(address)
            if hit is not None:
                return hit
        return None

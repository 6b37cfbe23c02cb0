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
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Protocol

# precision by grid level: 2 = street/town, 3 = community/village, deeper = finer grids
PRECISION = {2: "街道/乡镇级", 3: "村/社区级"}
_ROAD_CHARS = "路街巷道胡弄里桥"
# a shortened name followed by one of these is another division ("朝阳区"), not the community
_DIVISION_CHARS = "区县市省州旗盟"
# GB/T 2260 province codes (the first two digits of an administrative division code)
PROVINCES = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
    "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
    "63": "青海", "64": "宁夏", "65": "新疆", "71": "台湾", "81": "香港", "82": "澳门",
}
# A province written out at the start of an address (the suffix is required: "北京路" is a road).
_PROVINCE_PREFIX = re.compile("(" + "|".join(sorted(PROVINCES.values(), key=len, reverse=True)) + ")"
                              "(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)")
# A prefecture-level division at the start of an address (after any province).
_CITY_PREFIX = re.compile(r"([^\W\d_镇乡街路区县村道巷号省市]{2,7}?(?:市|自治州|地区|盟))")
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
    level: int | None = None   # gazetteer level of the grid matched (2 = street/town)


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

    def __init__(self, entries: Iterable[GazetteerEntry], roots: Iterable[str] = ()):
        entries = list(entries)
        self.entries = [e for e in entries if e.level >= 2]
        self.by_code = {e.code: e for e in self.entries}
        # The territory's own name(s) (the level-1 grids, e.g. "示范市"): an address that starts
        # with another city is not looked up. Without them only the province is checked.
        self.roots = tuple(dict.fromkeys(r for r in roots if r))
        root_codes = Counter(e.parent_code for e in self.entries if e.level == 2 and e.parent_code)
        root_code = root_codes.most_common(1)[0][0] if root_codes else ""
        self.province = PROVINCES.get(root_code[:2]) if len(root_code) >= 6 and root_code[:6].isdigit() else None
        children: dict[str, list[str]] = {}
        for entry in self.entries:
            children.setdefault(entry.parent_code, []).append(entry.code)
        self.children = children
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
        return self.diagnose(address)[0]

    def diagnose(self, address: str) -> tuple[Geocoded | None, dict[str, str]]:
        """The place an address names, and doubts about it as ``{reason: message}``.

        Reasons: ``address_outside_city`` (the address starts with another province or city:
        not matched), ``community_town_mismatch`` (the community/village named belongs to
        another street/town than the one named: placed at the town level only) and
        ``town_only_address`` (only a street/town is identified and it holds more than one
        finest-level grid: the point returned would fall into an arbitrary one of them).

        Examples
        --------
        >>> g = GazetteerGeocoder([
        ...     GazetteerEntry("419901001", "城关街道", 2, "419901", 113.70, 34.30),
        ...     GazetteerEntry("419901001001", "东风社区", 3, "419901001", 113.71, 34.31),
        ...     GazetteerEntry("419901001002", "朝阳社区", 3, "419901001", 113.72, 34.32)], roots=["示范市"])
        >>> g.diagnose("北京市朝阳区朝阳路1号")
        (None, {'address_outside_city': '地址 北京市朝阳区朝阳路1号 以 北京市 开头，不在本辖区（示范市）：未按地址定位'})
        >>> sorted(g.diagnose("示范市城关街道振兴路8号")[1])
        ['town_only_address']
        """
        if not address or self.pattern is None:
            return None, {}
        address = re.sub(r"\s+", "", unicodedata.normalize("NFKC", address))
        foreign = self._foreign_prefix(address)
        if foreign:
            where = "、".join(self.roots) or f"{self.province}省"
            return None, {"address_outside_city": f"地址 {address} 以 {foreign} 开头，不在本辖区（{where}）："
                                                  "未按地址定位"}
        found = self._find(address)
        if not found:
            return None, {}
        notes: dict[str, str] = {}
        towns = {e.code for e, _, _ in found if e.level == 2}
        # the deepest entry consistent with the town named, if any
        candidates = [f for f in found if f[0].level > 2 and (not towns or self._town_of(f[0]) in towns)]
        if not candidates and towns:
            others = [e for e, full, _ in found if e.level > 2 and full]
            if others:
                named = "、".join(self.by_code[t].name for t in sorted(towns))
                owner = self.by_code.get(self._town_of(others[0]) or "")
                notes["community_town_mismatch"] = (
                    f"地址中的 {others[0].name} 属于 {owner.name if owner else '其他街道/乡镇'}，"
                    f"不属于地址所写的 {named}：只按 {named} 定位")
            candidates = [f for f in found if f[0].level == 2]
        if not candidates:
            unique = {e.code for e, _, _ in found if e.level > 2}
            if len(unique) != 1:
                return None, notes  # a village name that repeats between towns: not trusted
            candidates = [f for f in found if f[0].level > 2]
        # deepest level, then a full name over a shortened one, then the first in the address
        best, _, _ = max(candidates, key=lambda f: (f[0].level, f[1], -f[2], f[0].code))
        spot = best
        if best.level == 2:
            leaves = self._leaves(best.code)
            if len(leaves) == 1:
                spot = self.by_code[leaves[0]]  # the town is one grid: no doubt where it falls
            elif len(leaves) > 1:
                notes["town_only_address"] = (
                    f"地址只能确定到 {best.name}（街道/乡镇级），其中有 {len(leaves)} 个网格，无法确定属于哪个社区/村")
        return Geocoded(spot.lon, spot.lat, PRECISION.get(best.level, "网格级"), "gazetteer",
                        spot.code, best.name, best.level), notes

    def learn_roots(self, addresses: Iterable[str], least: int = 3) -> str | None:
        """Take the city most addresses naming one of our streets/towns start with as our own.

        Only when the territory's name was not given: an address that starts with another
        city is then recognised. Needs ``least`` such addresses and a majority.

        >>> g = GazetteerGeocoder([GazetteerEntry("419901001", "北城街道", 2, "419901", 113.7, 34.3)])
        >>> g.learn_roots(["示范市北城街道1号", "示范市北城街道2号", "河南省示范市北城街道3号", "郑州市金水区"])
        '示范市'
        >>> g.roots
        ('示范市',)
        """
        if self.roots:
            return None
        towns = [e.name for e in self.entries if e.level == 2 and len(e.name) >= 2]
        if not towns:
            return None
        town = re.compile("|".join(re.escape(t) for t in towns))
        counts: Counter = Counter()
        for address in addresses:
            if not isinstance(address, str) or town.search(address) is None:
                continue
            address = re.sub(r"\s+", "", unicodedata.normalize("NFKC", address))
            province = _PROVINCE_PREFIX.match(address)
            rest = address[province.end():] if province else address
            city = _CITY_PREFIX.match(rest)
            if city is not None and not self.pattern.match(rest):
                counts[city.group(1)] += 1
        if not counts:
            return None
        name, seen = counts.most_common(1)[0]
        if seen < least or seen * 2 <= sum(counts.values()):
            return None
        self.roots = (name,)
        return name

    def _leaves(self, code: str) -> list[str]:
        """The finest-level grids under ``code``."""
        todo, leaves = [code], []
        while todo:
            current = todo.pop()
            kids = self.children.get(current)
            if kids:
                todo += kids
            elif current != code:
                leaves.append(current)
        return leaves

    def _foreign_prefix(self, address: str) -> str | None:
        """The other province or city an address starts with, or None."""
        if any(root in address for root in self.roots):
            return None
        rest = address
        province = _PROVINCE_PREFIX.match(address)
        if province:
            if self.province and province.group(1) != self.province:
                return province.group(0)
            rest = address[province.end():]
        if not self.roots:
            return None
        city = _CITY_PREFIX.match(rest)
        if city is None or self.pattern.match(rest):
            return None  # no city written, or it starts with one of our own names
        return city.group(1)

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
                if not full and end < len(address) and address[end] in _ROAD_CHARS + _DIVISION_CHARS:
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
        return self.diagnose(address)[0]

    def diagnose(self, address: str) -> tuple[Geocoded | None, dict[str, str]]:
        """The first confident hit; a town-only gazetteer hit lets the next geocoder try first."""
        notes: dict[str, str] = {}
        doubtful = None
        for geocoder in self.geocoders:
            hit, found = diagnose_address(geocoder, address)
            if hit is not None and "town_only_address" not in found:
                return hit, found
            notes.update(found)
            doubtful = doubtful or hit
            if "address_outside_city" in found:
                break
        return doubtful, notes


def diagnose_address(geocoder: Geocoder, address: str) -> tuple[Geocoded | None, dict[str, str]]:
    """``geocoder.diagnose`` when it has one, else its plain ``geocode`` with no doubts.

    >>> diagnose_address(ChainGeocoder(), "示范市")
    (None, {})
    """
    diagnose = getattr(geocoder, "diagnose", None)
    if diagnose is not None:
        return diagnose(address)
    return geocoder.geocode(address), {}

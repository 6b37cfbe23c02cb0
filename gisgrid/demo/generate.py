"""Generate the fictitious demonstration city 示范市 (code 419901) and its employer register.

Three grid levels that tile exactly (city → 15 streets/towns → ~250 communities/villages)
and an employer CSV in the register's own column names, all from one seed. The files feed
``gisgrid demo`` through the normal ``gisgrid grids import`` / ``gisgrid employers import``
path, so the demonstration exercises the same code as real data.

How the boundaries are made, and why:

1. Tens of thousands of small base cells (Voronoi cells of a jittered lattice, ~100 m
   across in the centre and ~200 m outside) are the atoms every boundary follows. Real
   boundaries wiggle along roads and rivers; the cell edges give that texture, and because
   every level is a union of the same atoms the levels nest exactly.
2. The city is the cells whose generating point falls inside a noise-warped blob.
3. Cells go to streets, and then to communities inside each street, by nearest centre in a
   *domain-warped* space (smooth noise added to the coordinates). Plain nearest-centre
   assignment draws straight Voronoi lines; the warp bends them into organic curves.
4. A majority filter on the cell graph smooths the cell-scale zigzag, and every fragment
   left over is handed to the neighbour sharing the longest border inside the same parent,
   so every grid is one contiguous polygon.
5. The community coverage is simplified topology-preservingly, moved to CGCS2000 and
   rounded (every shared vertex gets identical coordinates), and only then dissolved into
   streets and the city, so the three files tile exactly in the coordinates they store.

All metric work is in EPSG:4547 (CGCS2000 3° Gauss–Krüger, central meridian 114°E); the
files are in EPSG:4490. Run ``python -m gisgrid.demo.generate --out data/shapes``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import sys
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gisgrid.employers.identifiers import make_credit_code

CITY_CODE = "419901"
CITY_NAME = "示范市"
CENTRE_LONLAT = (113.72, 34.36)
METRIC_CRS = "EPSG:4547"
STORAGE_CRS = "EPSG:4490"
DEFAULT_SEED = 20261121
DEFAULT_EMPLOYERS = 20_000
FILE_NAMES = {
    "city": "demo_city.geojson",
    "streets": "demo_streets.geojson",
    "communities": "demo_communities.geojson",
    "employers": "demo_employers.csv",
}
EMPLOYER_COLUMNS = (
    "单位名称", "统一社会信用代码", "地址", "法定代表人", "劳资联系人", "联系电话", "行业", "经济类型",
    "职工人数", "签订劳动合同人数", "参加社会保险人数", "欠薪月数", "欠费月数", "开业日期", "调查日期",
    "经度", "纬度", "坐标系",
)

# Shape of the city. Sizes are areas in km², lengths in metres.
_CITY_AREA_KM2 = 900.0
_CORE_AREA_KM2 = 80.0
_CORE_STREETS = 6
_TOWNS = 9  # the most remote one becomes a 乡
_CORE_COMMUNITIES = 85
_RURAL_COMMUNITIES = 165
_FINE_SPACING = 100.0
_FINE_RADIUS = 7_500.0
_SIMPLIFY_TOLERANCE = 20.0
_DEGREE_DECIMALS = 7  # ~1 cm: shared vertices stay identical, nothing collapses

# Employer register.
_BLOCK_ROWS = 1_000
_OUTSIDE_FIRST_ROWS = (17, 137, 311)
_OUTSIDE_EVERY = 5_000
_FIRST_OPENED = dt.date(1995, 1, 1)
_LAST_DATE = dt.date(2026, 10, 31)
_FIRST_SURVEY = dt.date(2026, 1, 1)
_CREDIT_ERA = dt.date(2015, 10, 1)  # codes issued from here on carry an "MA" organisation code


@dataclasses.dataclass(frozen=True)
class DemoCity:
    """The demonstration grids, in storage and metric coordinates.

    ``city``, ``streets`` and ``communities`` are GeoDataFrames in EPSG:4490 with the
    columns written to the files; the ``*_metric`` arrays hold the same polygons in
    EPSG:4547 (before rounding), row for row, for sampling employers.
    """

    seed: int
    city: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    city_metric: shapely.Polygon
    communities_metric: np.ndarray
    seats_metric: np.ndarray  # (streets, 2): the street office / town government


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------

def generate_city(out_dir: Path, employers: int = DEFAULT_EMPLOYERS, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write the demonstration city's grid files and employer register into a folder.

    Parameters
    ----------
    out_dir
        Folder to write into; created if missing. Existing demo files are replaced.
    employers
        Number of employer rows. Row *i* is the same whatever this number, so a small
        register is the head of a large one.
    seed
        Seed for every random choice; the same seed gives byte-identical files.

    Returns
    -------
    dict[str, Path]
        Paths under the keys ``"city"``, ``"streets"``, ``"communities"``, ``"employers"``.

    Examples
    --------
    >>> paths = generate_city(Path("/tmp/demo"), employers=500)  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['city', 'communities', 'employers', 'streets']
    """
    if isinstance(employers, bool) or not isinstance(employers, int) or employers < 0:
        raise ValueError(f"employers was {employers!r}; expected a whole number ≥ 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    city = build_city(seed)
    paths = write_grids(city, out_dir)
    paths["employers"] = write_employers(city, out_dir / FILE_NAMES["employers"], employers, seed)
    return paths


def build_city(seed: int = DEFAULT_SEED) -> DemoCity:
    """Build the three grid levels of the demonstration city in memory.

    Parameters
    ----------
    seed
        Seed for every random choice.

    Returns
    -------
    DemoCity
        Grids that tile exactly at every level, in EPSG:4490 and EPSG:4547.

    Raises
    ------
    RuntimeError
        When the generated grids fail their own tiling check (a bug, never expected).
    """
    rng = np.random.default_rng(seed)
    base = _build_base_cells(rng)
    streets = _plan_streets(rng, base)
    communities = _plan_communities(rng, base, streets)
    return _finish_city(seed, base, streets, communities)


def write_grids(city: DemoCity, out_dir: Path) -> dict[str, Path]:
    """Write the city, street and community GeoJSON files (EPSG:4490).

    Parameters
    ----------
    city
        From :func:`build_city`.
    out_dir
        An existing folder; files of the same name are replaced.

    Returns
    -------
    dict[str, Path]
        Paths under ``"city"``, ``"streets"``, ``"communities"``.
    """
    paths = {}
    for key, frame in (("city", city.city), ("streets", city.streets), ("communities", city.communities)):
        path = Path(out_dir) / FILE_NAMES[key]
        path.unlink(missing_ok=True)  # the GeoJSON driver will not overwrite
        frame.to_file(path, driver="GeoJSON", COORDINATE_PRECISION=_DEGREE_DECIMALS)
        paths[key] = path
    return paths


def write_employers(city: DemoCity, path: Path, employers: int, seed: int = DEFAULT_SEED) -> Path:
    """Write the employer register CSV (UTF-8 with BOM, Chinese header).

    Rows come in blocks of 1,000, each from its own ``default_rng([seed, block])``, so
    the first *N* rows are identical whatever ``employers`` is. All rows lie inside the
    city except a handful placed 0.1–2 km outside it to exercise the "unassigned" path:
    rows 17, 137 and 311 and every 5,000th row from row 19,999 on — that is
    ``max(3, employers // 5000)`` rows once ``employers`` ≥ 312.

    Parameters
    ----------
    city
        From :func:`build_city`.
    path
        The CSV file to write (replaced if it exists).
    employers
        Number of rows, ≥ 0.
    seed
        Seed of the per-block generators.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> write_employers(build_city(), Path("/tmp/e.csv"), 3)  # doctest: +SKIP
    PosixPath('/tmp/e.csv')
    """
    if isinstance(employers, bool) or not isinstance(employers, int) or employers < 0:
        raise ValueError(f"employers was {employers!r}; expected a whole number ≥ 0")
    frame = _EmployerFrame(city)
    seen_names: set[str] = set()
    path = Path(path)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write(",".join(EMPLOYER_COLUMNS) + "\n")
        for block in range(math.ceil(employers / _BLOCK_ROWS)):
            rows = frame.make_block(seed, block, seen_names)
            rows = rows.iloc[: employers - block * _BLOCK_ROWS]
            rows.to_csv(handle, header=False, index=False, lineterminator="\n")
    return path


def is_outside_row(index: int) -> bool:
    """Tell whether employer row ``index`` is one deliberately placed outside the city.

    >>> [i for i in range(400) if is_outside_row(i)], is_outside_row(19_999), is_outside_row(14_999)
    ([17, 137, 311], True, False)
    """
    if index in _OUTSIDE_FIRST_ROWS:
        return True
    return (index + 1) % _OUTSIDE_EVERY == 0 and index + 1 >= _OUTSIDE_EVERY * (len(_OUTSIDE_FIRST_ROWS) + 1)


# --------------------------------------------------------------------------------------
# Smooth noise
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Noise:
    """A smooth random field: a sum of plane waves with amplitudes proportional to wavelength."""

    waves: np.ndarray  # (modes, 2) angular wave vectors, radians per metre
    phase: np.ndarray
    amplitude: np.ndarray

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        return np.sin(xy @ self.waves.T + self.phase) @ self.amplitude

    def standard(self, xy: np.ndarray) -> np.ndarray:
        """The field scaled to unit root-mean-square."""
        return self(xy) / math.sqrt(float((self.amplitude**2).sum()) / 2)


def _make_noise(rng: np.random.Generator, shortest: float, longest: float, slope: float, modes: int = 18) -> _Noise:
    # Amplitude ∝ wavelength gives every scale the same slope, so `slope` (the typical
    # gradient of the field) says how much a warp by this field bends straight lines.
    wavelength = np.exp(rng.uniform(math.log(shortest), math.log(longest), modes))
    angle = rng.uniform(0, 2 * math.pi, modes)
    waves = (2 * math.pi / wavelength)[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    amplitude = slope * wavelength / (2 * math.pi * math.sqrt(modes / 2))
    return _Noise(waves, rng.uniform(0, 2 * math.pi, modes), amplitude)


def _make_warp(rng: np.random.Generator, shortest: float, longest: float,
               slope: float) -> Callable[[np.ndarray], np.ndarray]:
    fx, fy = (_make_noise(rng, shortest, longest, slope) for _ in range(2))
    return lambda xy: xy + np.column_stack([fx(xy), fy(xy)])


# --------------------------------------------------------------------------------------
# Base cells and the city outline
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Base:
    """The base cells inside the city and their adjacency graph (metric, city centre at 0,0)."""

    origin: np.ndarray  # metric coordinates of the city centre
    xy: np.ndarray  # generating points, relative to origin
    cells: np.ndarray  # Voronoi polygons, relative to origin
    area: np.ndarray
    a: np.ndarray  # edges: cell a[k] shares a border of length[k] metres with cell b[k]
    b: np.ndarray
    length: np.ndarray


def _build_base_cells(rng: np.random.Generator) -> _Base:
    radius = _outline_radius(rng)
    warp = _make_warp(rng, 1_500.0, 20_000.0, 0.7)
    extent = 1.6 * float(radius(np.linspace(0, 2 * math.pi, 720)).max())
    xy = _sample_lattice(rng, extent)
    q = warp(xy)
    reach = np.hypot(q[:, 0], q[:, 1]) / radius(np.arctan2(q[:, 1], q[:, 0]))
    xy, reach = xy[reach < 1.25], reach[reach < 1.25]  # a margin so border cells are bounded
    multipoint = shapely.multipoints(xy)
    envelope = shapely.box(-extent, -extent, extent, extent)
    cells = shapely.get_parts(shapely.voronoi_polygons(multipoint, extend_to=envelope, ordered=True))
    a, b = _delaunay_edges(multipoint, xy)
    inside = _fill_outline(_smooth_mask(reach < 1.0, a, b), a, b, np.hypot(xy[:, 0], xy[:, 1]))
    keep = np.flatnonzero(inside)
    renumber = np.full(len(xy), -1)
    renumber[keep] = np.arange(len(keep))
    both = inside[a] & inside[b]
    a, b = renumber[a[both]], renumber[b[both]]
    cells = cells[keep]
    boundary = shapely.boundary(cells)
    length = shapely.length(shapely.intersection(boundary[a], boundary[b]))
    touching = length > 1e-6  # cells meeting at a single point are not neighbours
    origin = np.array(pyproj.Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True).transform(*CENTRE_LONLAT))
    return _Base(origin, xy[keep], cells, shapely.area(cells), a[touching], b[touching], length[touching])


def _outline_radius(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    # A few random lobes make the outline irregular at county scale; the warp adds bays
    # and promontories; base cells add the small wiggle. Scaled to the target area.
    k = np.arange(1, 7)
    lobe = rng.uniform(0.3, 1.0, k.size) * 0.17 / k**0.8
    phase = rng.uniform(0, 2 * math.pi, k.size)
    theta = np.linspace(0, 2 * math.pi, 3_600, endpoint=False)
    shape = 1 + np.cos(np.outer(theta, k) + phase) @ lobe
    scale = math.sqrt(_CITY_AREA_KM2 * 1e6 / (0.5 * np.mean(shape**2) * 2 * math.pi))
    return lambda angle: scale * (1 + np.cos(np.outer(angle, k) + phase) @ lobe)


def _sample_lattice(rng: np.random.Generator, extent: float) -> np.ndarray:
    # Fine cells in the centre, where communities are small; cells twice as wide outside.
    # Jitter breaks the lattice so cell edges run in every direction.
    count = int(2 * extent / _FINE_SPACING)
    i, j = np.meshgrid(np.arange(count), np.arange(count), indexing="ij")
    i, j = i.ravel(), j.ravel()
    xy = (np.column_stack([i, j]) + 0.5) * _FINE_SPACING - extent
    coarse = np.hypot(xy[:, 0], xy[:, 1]) > _FINE_RADIUS
    keep = ~coarse | ((i % 2 == 0) & (j % 2 == 0))
    step = np.where(coarse, 2 * _FINE_SPACING, _FINE_SPACING)[:, None]
    jitter = rng.uniform(-0.42, 0.42, xy.shape) * step
    return (xy + jitter + np.where(coarse, 0.5 * _FINE_SPACING, 0.0)[:, None])[keep]


def _delaunay_edges(multipoint: shapely.MultiPoint, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Voronoi neighbours are exactly the Delaunay edges; GEOS copies the input coordinates,
    # so each edge end is matched back to its point by exact value.
    edges = shapely.get_coordinates(shapely.delaunay_triangles(multipoint, only_edges=True)).reshape(-1, 2, 2)
    index = {point: n for n, point in enumerate(map(tuple, xy.tolist()))}
    a = np.fromiter((index[point] for point in map(tuple, edges[:, 0].tolist())), int, len(edges))
    b = np.fromiter((index[point] for point in map(tuple, edges[:, 1].tolist())), int, len(edges))
    return a, b


def _smooth_mask(inside: np.ndarray, a: np.ndarray, b: np.ndarray, rounds: int = 3) -> np.ndarray:
    # Majority of neighbours decides, so the outline has no one-cell bulbs or notches.
    degree = np.bincount(np.concatenate([a, b]), minlength=len(inside))
    for _ in range(rounds):
        votes = np.bincount(a, weights=inside[b], minlength=len(inside))
        votes += np.bincount(b, weights=inside[a], minlength=len(inside))
        inside = np.where(2 * votes == degree, inside, 2 * votes > degree)
    return inside


def _fill_outline(inside: np.ndarray, a: np.ndarray, b: np.ndarray, distance: np.ndarray) -> np.ndarray:
    # One piece, no holes: keep the largest inside component, then fill every outside
    # component except the one reaching the far margin.
    for value in (True, False):
        same = (inside[a] == value) & (inside[b] == value)
        component = _components(len(inside), a[same], b[same])
        candidates = inside == value
        if value:
            sizes = np.bincount(component[candidates], minlength=len(inside))
            inside = candidates & (component == np.argmax(sizes))
        else:
            outer = component[np.argmax(np.where(candidates, distance, -1))]
            inside = ~(candidates & (component == outer))
    return inside


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component id (the smallest node index in it) of every node of a graph."""
    root = np.arange(n)
    while True:
        ra, rb = root[a], root[b]
        differ = ra != rb
        if not differ.any():
            return root
        np.minimum.at(root, np.maximum(ra, rb)[differ], np.minimum(ra, rb)[differ])
        while True:  # pointer jumping until every node points at its root
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped


# --------------------------------------------------------------------------------------
# Labelling cells: k-means in warped space, majority smoothing, fragment repair
# --------------------------------------------------------------------------------------

def _kmeans(rng: np.random.Generator, xy: np.ndarray, weight: np.ndarray, k: int, rounds: int = 25) -> np.ndarray:
    """Cluster label of every point (weighted k-means++ then Lloyd rounds)."""
    p = weight / weight.sum()
    centres = [xy[rng.choice(len(xy), p=p)]]
    nearest = ((xy - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        chance = p * nearest
        centres.append(xy[rng.choice(len(xy), p=chance / chance.sum())])
        nearest = np.minimum(nearest, ((xy - centres[-1]) ** 2).sum(axis=1))
    centres = np.array(centres)
    for _ in range(rounds):
        label = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        mass = np.bincount(label, weights=weight, minlength=k)
        filled = mass > 0
        for axis in range(2):
            total = np.bincount(label, weights=weight * xy[:, axis], minlength=k)
            centres[filled, axis] = total[filled] / mass[filled]
    return np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)


def _smooth_labels(base: _Base, label: np.ndarray, group: np.ndarray, rounds: int = 4) -> np.ndarray:
    # A cell takes the label holding most of its border (within its own group): this
    # irons out the cell-scale zigzag and one-cell peninsulas before dissolving.
    n = len(label)
    same = group[base.a] == group[base.b]
    a, b, length = base.a[same], base.b[same], base.length[same]
    for _ in range(rounds):
        cell = np.concatenate([a, b, np.arange(n)])
        votes = np.concatenate([label[b], label[a], label])
        weight = np.concatenate([length, length, np.full(n, 1e-3)])  # a tie keeps the old label
        label = _heaviest(cell, votes, weight)[1]  # every cell votes for itself, so all are keys
    return label


def _repair_fragments(base: _Base, label: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Give every stray piece of a label to the neighbour (same group) with the longest shared border."""
    label = label.copy()
    a, b = np.concatenate([base.a, base.b]), np.concatenate([base.b, base.a])
    length = np.concatenate([base.length, base.length])
    while True:
        same = label[a] == label[b]
        piece = _components(len(label), a[same], b[same])
        area = np.bincount(piece, weights=base.area, minlength=len(label))
        largest = np.zeros(int(label.max()) + 1)
        np.maximum.at(largest, label, area[piece])
        main = area[piece] == largest[label]  # the cell lies in its label's largest piece
        if main.all():
            return label
        # Only borders with the main piece of another label count, so two strays never
        # swap labels back and forth.
        usable = ~main[a] & main[b] & ~same & (group[a] == group[b])
        stray, target = _heaviest(piece[a[usable]], label[b[usable]], length[usable])
        moving = np.isin(piece, stray)
        label[moving] = target[np.searchsorted(stray, piece[moving])]


def _absorb_enclaves(base: _Base, label: np.ndarray) -> np.ndarray:
    """Give every cell inside a hole of a label's polygon to that label.

    Enclaves (飞地) exist in real divisions but only confuse a demonstration; and a
    polygon without holes is what the border smoothing expects.
    """
    label = label.copy()
    while True:
        present = np.unique(label)
        pieces = np.array([shapely.coverage_union_all(base.cells[label == k]) for k in present])
        holed = np.flatnonzero(shapely.get_num_interior_rings(pieces) > 0)
        if holed.size == 0:
            return label
        for piece in holed:
            for ring in pieces[piece].interiors:
                label[shapely.contains_xy(shapely.Polygon(ring), base.xy[:, 0], base.xy[:, 1])] = present[piece]


def _heaviest(key: np.ndarray, option: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and, for each, the option with the largest total weight."""
    span = int(option.max()) + 1
    pair, inverse = np.unique(key.astype(np.int64) * span + option, return_inverse=True)
    total = np.bincount(inverse, weights=weight)
    pair_key, pair_option = pair // span, pair % span
    order = np.lexsort((pair_option, -total, pair_key))  # ties: the smallest option
    first = order[np.r_[True, pair_key[order][1:] != pair_key[order][:-1]]]
    return pair_key[first], pair_option[first]


# --------------------------------------------------------------------------------------
# Streets and towns
# --------------------------------------------------------------------------------------

_STREET_NAMES_BY_DIRECTION = {0: "东城街道", 90: "北城街道", 180: "西城街道", 270: "南城街道"}
_STREET_NAMES_SPARE = ("文昌街道", "和平街道", "建设街道", "人民街道")
_CENTRE_STREET = "新华街道"
_TOWN_NAMES = ("龙湖镇", "柳林镇", "双桥镇", "石佛镇", "白沙镇", "马店镇", "青岗镇", "河口镇", "辛集镇", "高庙镇")
_TOWNSHIP_NAMES = ("杏花乡", "桃源乡", "金山乡")


@dataclasses.dataclass
class _Streets:
    label: np.ndarray  # street index of every base cell
    code: list[str]
    name: list[str]
    kind: list[str]
    seat: np.ndarray  # (streets, 2) relative metric coordinates of the seat


def _plan_streets(rng: np.random.Generator, base: _Base) -> _Streets:
    core_warp = _make_warp(rng, 1_000.0, 10_000.0, 0.8)
    q = core_warp(base.xy)
    core = np.hypot(q[:, 0], q[:, 1]) < math.sqrt(_CORE_AREA_KM2 * 1e6 / math.pi)
    # Large towns need a strong, long-wave warp to bend their borders; the small central
    # streets a milder one, or they come out as snakes.
    label = np.empty(len(core), int)
    w = _make_warp(rng, 800.0, 6_000.0, 0.6)(base.xy)
    label[core] = _kmeans(rng, w[core], base.area[core], _CORE_STREETS)
    w = _make_warp(rng, 1_000.0, 25_000.0, 0.8)(base.xy)
    label[~core] = _CORE_STREETS + _kmeans(rng, w[~core], base.area[~core], _TOWNS)
    everywhere = np.zeros(len(label), int)
    label = _repair_fragments(base, _smooth_labels(base, label, everywhere), everywhere)
    label = _absorb_enclaves(base, label)
    if len(np.unique(label)) < _CORE_STREETS + _TOWNS:
        raise RuntimeError("a street was swallowed whole by its neighbour for this seed; choose another seed")
    seat = _seats(base, label)
    return _name_streets(rng, label, seat)


def _seats(base: _Base, label: np.ndarray) -> np.ndarray:
    # The seat is the base-cell point nearest the area-weighted centre, inside the street.
    seats = []
    for street in range(int(label.max()) + 1):
        mine = np.flatnonzero(label == street)
        centre = np.average(base.xy[mine], axis=0, weights=base.area[mine])
        seats.append(base.xy[mine[np.argmin(((base.xy[mine] - centre) ** 2).sum(axis=1))]])
    return np.array(seats)


def _name_streets(rng: np.random.Generator, label: np.ndarray, seat: np.ndarray) -> _Streets:
    distance = np.hypot(seat[:, 0], seat[:, 1])
    bearing = np.degrees(np.arctan2(seat[:, 1], seat[:, 0])) % 360
    core = np.arange(_CORE_STREETS)
    centre = int(core[np.argmin(distance[core])])
    ring = sorted((int(s) for s in core if s != centre), key=lambda s: bearing[s])
    names = {centre: _CENTRE_STREET}
    for angle, name in _STREET_NAMES_BY_DIRECTION.items():
        gap = {s: abs((bearing[s] - angle + 180) % 360 - 180) for s in ring if s not in names}
        if gap and min(gap.values()) < 40:
            names[min(gap, key=gap.get)] = name
    spare = iter(_STREET_NAMES_SPARE)
    for s in ring:
        if s not in names:
            names[s] = next(spare)
    towns = np.arange(_CORE_STREETS, _CORE_STREETS + _TOWNS)
    township = int(towns[np.argmax(distance[towns])])
    # Towns are numbered clockwise from north, as a reader of the map would count them.
    clockwise = sorted((int(t) for t in towns if t != township), key=lambda t: (90 - bearing[t]) % 360)
    town_names = rng.permutation(_TOWN_NAMES)[: len(clockwise)]
    order = [centre, *ring, *clockwise, township]
    code = [f"{CITY_CODE}{n:03d}" for n in range(1, len(ring) + 2)]
    code += [f"{CITY_CODE}{100 + n:03d}" for n in range(len(clockwise))] + [f"{CITY_CODE}200"]
    name = [names[s] for s in [centre, *ring]] + list(town_names) + [str(rng.choice(_TOWNSHIP_NAMES))]
    kind = ["街道"] * (len(ring) + 1) + ["镇"] * len(clockwise) + ["乡"]
    renumber = np.empty(len(order), int)
    renumber[order] = np.arange(len(order))
    return _Streets(renumber[label], code, name, kind, seat[order])


# --------------------------------------------------------------------------------------
# Communities and villages
# --------------------------------------------------------------------------------------

_COMMUNITY_WORDS = (
    "建设", "人民", "解放", "文化", "胜利", "团结", "和平", "光明", "幸福", "向阳", "东风", "红旗", "青年", "工人",
    "朝阳", "前进", "健康", "民主", "友谊", "振兴", "繁荣", "兴华", "育才", "长安", "金水", "滨河", "北环", "南环",
    "东环", "西环", "车站", "公园", "书院", "学院", "府前", "鼓楼", "钟楼", "黄河", "新兴", "迎宾", "工业", "纺织",
    "商城", "广场", "北关", "南关", "东关", "西关", "体育", "丰产", "电厂", "园林", "铁路", "航空", "水利", "农机",
)
_COMMUNITY_PLACES = (
    "花园", "南苑", "北苑", "东苑", "西苑", "翠竹", "锦绣", "华苑", "康乐", "长青", "春晖", "丰乐", "裕民", "金桥",
    "银河", "湖滨", "龙泉", "凤凰", "紫荆", "玉兰", "荷花", "梧桐", "丹桂", "御景", "文苑", "星河", "阳光", "馨园",
    "怡和", "安居", "瑞祥", "祥和", "盛世", "杏坛", "绿洲", "碧水", "清风", "枫林", "桂园", "嘉禾", "恒安", "和谐",
    "松柏", "银杏", "海棠", "牡丹", "芙蓉", "百合", "翡翠", "明珠", "锦华", "顺河", "兴隆", "富民", "安康", "惠民",
    "康宁", "永安", "泰和", "同乐", "仁和", "德馨", "书香", "学府", "文峰", "望湖", "雅苑", "秀水", "春华", "秋实",
)
_VILLAGE_HEADS = (
    "张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "郭", "何", "马",
    "罗", "宋", "郑", "韩", "唐", "冯", "于", "董", "程", "曹", "袁", "许", "沈", "彭", "吕", "苏", "蒋", "贾",
    "丁", "魏", "薛", "任", "姚", "范", "方", "石", "崔", "孟", "尚", "白", "常", "岳", "牛", "郝", "段", "毛",
    "柳树", "槐树", "枣园", "杏树", "石桥", "双井", "沙窝", "卧龙", "龙王", "梨园", "桃园", "柿园", "苇湖", "官",
)
_VILLAGE_TAILS = ("庄", "寨", "楼", "营", "岗", "店", "庙", "湾", "洼", "集", "河", "桥", "屯", "坡", "沟", "堂", "园", "")
_VILLAGE_PREFIXES = ("东", "西", "南", "北", "前", "后", "大", "小", "上", "下", "新")


@dataclasses.dataclass
class _Communities:
    label: np.ndarray  # community index of every base cell (ordered by code)
    code: list[str]
    name: list[str]
    kind: list[str]
    street: list[int]


def _plan_communities(rng: np.random.Generator, base: _Base, streets: _Streets) -> _Communities:
    warp = _make_warp(rng, 500.0, 6_000.0, 0.7)
    w = warp(base.xy)
    # k-means makes equal clusters; a smooth density field makes villages differ in size.
    density = np.exp(_make_noise(rng, 2_000.0, 10_000.0, 1.0).standard(base.xy))
    weight = base.area * density
    counts = _community_counts(base, streets)
    label = np.empty(len(streets.label), int)
    offset = 0
    for street, count in enumerate(counts):
        mine = streets.label == street
        label[mine] = offset + _kmeans(rng, w[mine], weight[mine], count)
        offset += count
    label = _repair_fragments(base, _smooth_labels(base, label, streets.label), streets.label)
    label = _absorb_enclaves(base, label)
    _, label = np.unique(label, return_inverse=True)  # a community may have been absorbed
    return _name_communities(rng, base, streets, label)


def _community_counts(base: _Base, streets: _Streets) -> list[int]:
    area = np.bincount(streets.label, weights=base.area)
    core = np.array([kind == "街道" for kind in streets.kind])
    counts = np.zeros(len(area), int)
    for mask, total in ((core, _CORE_COMMUNITIES), (~core, _RURAL_COMMUNITIES)):
        share = area[mask] / area[mask].sum() * total
        whole = np.floor(share).astype(int)
        extra = np.argsort(-(share - whole))[: total - whole.sum()]  # largest remainders
        whole[extra] += 1
        counts[mask] = np.maximum(whole, 3)
    return counts.tolist()


def _name_communities(rng: np.random.Generator, base: _Base, streets: _Streets, label: np.ndarray) -> _Communities:
    count = int(label.max()) + 1
    street_of = np.zeros(count, int)
    street_of[label] = streets.label
    area = np.bincount(label, weights=base.area)
    centre = np.column_stack([np.bincount(label, weights=base.area * base.xy[:, axis]) for axis in range(2)])
    centre /= area[:, None]
    community_names = iter(_community_name_pool(rng))
    village_names = iter(_village_name_pool(rng))
    order, codes, names, kinds, parents = [], [], [], [], []
    for street, street_kind in enumerate(streets.kind):
        mine = np.flatnonzero(street_of == street)
        from_seat = np.hypot(*(centre[mine] - streets.seat[street]).T)
        is_community = _community_kinds(street_kind, mine, centre, from_seat)
        for wanted, first, names_left in (("社区", 1, community_names), ("村", 200, village_names)):
            chosen = mine[is_community == (wanted == "社区")]
            chosen = chosen[np.argsort(np.hypot(*(centre[chosen] - streets.seat[street]).T))]
            for n, community in enumerate(chosen):
                order.append(community)
                codes.append(f"{streets.code[street]}{first + n:03d}")
                names.append(next(names_left) + wanted)
                kinds.append(wanted)
                parents.append(street)
    renumber = np.empty(count, int)
    renumber[order] = np.arange(count)
    return _Communities(renumber[label], codes, names, kinds, parents)


def _community_kinds(street_kind: str, mine: np.ndarray, centre: np.ndarray, from_seat: np.ndarray) -> np.ndarray:
    # Streets are urban 社区 except a couple of villages on the urban fringe (城中村);
    # towns are villages except the 社区 around the town government.
    if street_kind == "街道":
        from_city_centre = np.hypot(*centre[mine].T)
        fringe = np.argsort(-from_city_centre)[:2]
        fringe = fringe[from_city_centre[fringe] > 0.8 * math.sqrt(_CORE_AREA_KM2 * 1e6 / math.pi)]
        result = np.ones(len(mine), bool)
        result[fringe] = False
        return result
    result = np.zeros(len(mine), bool)
    result[np.argsort(from_seat)[: 2 if street_kind == "镇" else 1]] = True
    return result


def _community_name_pool(rng: np.random.Generator) -> list[str]:
    words = [word + str(rng.choice(["", "路", "街"], p=[0.5, 0.35, 0.15])) if not word.endswith("路") else word
             for word in _COMMUNITY_WORDS]
    return list(rng.permutation(words + list(_COMMUNITY_PLACES)))


def _village_name_pool(rng: np.random.Generator) -> list[str]:
    names = [head + tail for head in _VILLAGE_HEADS for tail in _VILLAGE_TAILS
             if tail or len(head) > 1]  # 枣园村 yes, 张村 no
    names = list(rng.permutation(names))
    prefixed = rng.random(len(names)) < 0.2
    names = [str(rng.choice(_VILLAGE_PREFIXES)) + name if p else name for name, p in zip(names, prefixed)]
    return list(dict.fromkeys(names))  # unique, first occurrence kept


# --------------------------------------------------------------------------------------
# Dissolve, simplify, project, round, check
# --------------------------------------------------------------------------------------

def _finish_city(seed: int, base: _Base, streets: _Streets, communities: _Communities) -> DemoCity:
    pieces = [shapely.coverage_union_all(base.cells[communities.label == n]) for n in range(len(communities.code))]
    # Simplify first: tiny Voronoi edges next to junctions would fold over when smoothed.
    metric = _smooth_coverage(shapely.coverage_simplify(np.array(pieces), _SIMPLIFY_TOLERANCE))
    metric = shapely.transform(metric, lambda xy: xy + base.origin)
    to_degrees = pyproj.Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)
    # One pure function of each vertex: a vertex shared by two communities lands on the
    # same rounded coordinates in both, so the stored coverage still tiles exactly.
    stored = shapely.transform(metric, lambda xy: np.round(np.column_stack(to_degrees.transform(*xy.T)),
                                                          _DEGREE_DECIMALS))
    stored = shapely.orient_polygons(stored)
    street_of = np.array(communities.street)
    street_geoms = np.array([shapely.coverage_union_all(stored[street_of == s]) for s in range(len(streets.code))])
    city_geom = shapely.coverage_union_all(street_geoms)
    street_geoms, city_geom = shapely.orient_polygons(street_geoms), shapely.orient_polygons(city_geom)
    frames = _grid_frames(streets, communities, street_geoms, stored, city_geom)
    _check_tiling(frames)
    return DemoCity(seed, *frames, shapely.coverage_union_all(metric), metric, streets.seat + base.origin)


def _smooth_coverage(polygons: np.ndarray, rounds: int = 10) -> np.ndarray:
    """Refine and Taubin-smooth the borders of a polygon coverage without gaps or overlaps.

    Every border edge gets a midpoint, then every vertex moves as a function of itself and
    its neighbours along the border network. A vertex shared by two polygons is one vertex
    here, so it moves identically in both; junctions of three or more polygons (and of the
    outline) stay put. This turns the cell-scale zigzag into gentle wiggles, the way
    surveyed boundaries follow field edges and ditches. Where smoothing would make a
    polygon self-intersect or overlap a neighbour, that polygon's vertices are pinned and
    the smoothing is redone, so the result is always a valid coverage.
    """
    rings = shapely.get_exterior_ring(polygons)  # the cells dissolve into polygons without holes
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    unique, vertex = np.unique(coords, axis=0, return_inverse=True)
    vertex = vertex.ravel()
    along = ring[1:] == ring[:-1]  # consecutive coordinates of one ring form a segment
    start, end = vertex[:-1][along], vertex[1:][along]
    edges, edge_of = np.unique(np.sort(np.column_stack([start, end]), axis=1), axis=0, return_inverse=True)
    middle = len(unique) + np.arange(len(edges))
    position = np.vstack([unique, unique[edges].mean(axis=1)])
    graph = np.vstack([np.column_stack([edges[:, 0], middle]), np.column_stack([middle, edges[:, 1]])])
    # Each ring becomes vertex, midpoint, vertex, midpoint, …, closing vertex.
    closing = np.flatnonzero(np.r_[ring[1:] != ring[:-1], True])
    sequence = np.concatenate([np.column_stack([start, middle[edge_of.ravel()]]).ravel(), vertex[closing]])
    owner = np.concatenate([np.repeat(ring[:-1][along], 2), ring[closing]])
    order = np.argsort(owner, kind="stable")
    sequence, owner = sequence[order], owner[order]
    free = np.bincount(graph.ravel(), minlength=len(position)) == 2
    while True:
        moved = _taubin(position, graph, free, rounds)
        smoothed = shapely.polygons(shapely.linearrings(moved[sequence], indices=owner))
        bad = ~shapely.is_valid(smoothed) | ~shapely.is_empty(shapely.coverage_invalid_edges(smoothed))
        if not bad.any():
            return smoothed
        free[sequence[bad[owner]]] = False


def _taubin(position: np.ndarray, graph: np.ndarray, free: np.ndarray, rounds: int) -> np.ndarray:
    degree = np.bincount(graph.ravel(), minlength=len(position))[:, None]
    for _ in range(rounds):
        for factor in (0.5, -0.53):  # shrink, then inflate: smooths without shrinking shapes
            total = np.zeros_like(position)
            np.add.at(total, graph[:, 0], position[graph[:, 1]])
            np.add.at(total, graph[:, 1], position[graph[:, 0]])
            position = position + np.where(free[:, None], factor * (total / np.maximum(degree, 1) - position), 0.0)
    return position


def _grid_frames(streets: _Streets, communities: _Communities, street_geoms, community_geoms, city_geom):
    city = gpd.GeoDataFrame({"代码": [CITY_CODE], "名称": [CITY_NAME], "类型": ["市"]},
                            geometry=[city_geom], crs=STORAGE_CRS)
    street_frame = gpd.GeoDataFrame({"代码": streets.code, "名称": streets.name, "类型": streets.kind,
                                     "上级代码": [CITY_CODE] * len(streets.code)},
                                    geometry=street_geoms, crs=STORAGE_CRS)
    community_frame = gpd.GeoDataFrame({"代码": communities.code, "名称": communities.name,
                                        "类型": communities.kind,
                                        "上级代码": [streets.code[s] for s in communities.street]},
                                       geometry=community_geoms, crs=STORAGE_CRS)
    return city, street_frame, community_frame


def _check_tiling(frames) -> None:
    city, streets, communities = frames
    for frame, children in ((city, streets), (streets, communities)):
        geoms = children.geometry.values
        problems = []
        if not (shapely.get_type_id(geoms) == 3).all() or not shapely.is_valid(geoms).all():
            problems.append("a grid is not one valid polygon")
        if not shapely.coverage_is_valid(geoms):
            problems.append("grids overlap")
        if children["名称"].duplicated().any() or children["代码"].duplicated().any():
            problems.append("names or codes repeat")
        for code, parent in zip(frame["代码"], frame.geometry.values):
            union = shapely.coverage_union_all(geoms[(children["上级代码"] == code).to_numpy()])
            if not union.equals(parent):
                problems.append(f"the children of {code} do not tile it")
        if problems:
            raise RuntimeError(f"demo city seed failed its tiling check: {'; '.join(problems)}")


# --------------------------------------------------------------------------------------
# Employers
# --------------------------------------------------------------------------------------

_SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭",
    "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "程", "曹", "袁", "邓", "许", "傅", "沈",
    "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶", "阎", "余", "潘", "杜", "戴", "夏",
    "钟", "汪", "田", "任", "姜", "范", "方", "石", "姚", "谭", "廖", "邹", "熊", "金", "陆", "郝", "孔", "白",
    "崔", "康", "毛", "邱", "秦", "江", "史", "顾", "侯", "邵", "孟", "龙", "万", "段", "雷", "钱", "汤", "尹",
    "常", "武", "乔", "贺", "赖", "龚", "文", "牛", "岳", "尚",
)
_GIVEN_CHARS = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀",
    "霞", "平", "刚", "桂", "英", "华", "建", "国", "文", "红", "玉", "兰", "志", "林", "海", "斌", "波", "辉",
    "鹏", "宇", "浩", "凯", "俊", "帅", "雪", "梅", "琳", "婷", "倩", "颖", "晨", "阳", "飞", "鑫", "佳", "欣",
    "振", "东", "亮", "峰", "新", "春", "光", "荣", "宏", "卫", "利", "民", "永", "德", "庆", "金", "胜", "瑞",
    "萍", "燕", "慧", "莉", "晓", "丹", "博", "涵", "泽", "昊", "子", "梓", "睿", "思", "雨", "轩", "一", "安",
)
_BRAND_CHARS = (
    "华", "兴", "盛", "达", "通", "恒", "瑞", "鑫", "宏", "昌", "隆", "泰", "丰", "源", "金", "银", "中", "联",
    "博", "创", "新", "宇", "天", "远", "正", "诚", "信", "德", "嘉", "和", "顺", "安", "康", "永", "佳", "美",
    "鼎", "晟", "旭", "明", "辉", "益", "汇", "亿", "万", "广", "豫", "郑", "嵩", "黄", "河", "龙", "凤", "祥",
    "富", "贵", "聚", "星", "海", "峰", "立", "成", "伟", "业", "久", "合", "力", "腾", "飞", "卓", "越", "凯",
    "乐", "福", "喜", "春", "秋", "阳", "光", "绿", "蓝", "青", "宁", "远", "方", "圆", "至", "尚", "锦", "绣",
    "楚", "润", "泽", "森", "林", "木", "石", "山", "川", "原", "野", "田", "东", "南", "西", "北", "仁", "义",
    "智", "勤", "俭", "朗", "航", "驰", "骏", "邦", "亨", "利", "铭", "标", "荣", "耀", "锐", "捷", "迅", "拓",
)
_BRAND_CHARS = tuple(dict.fromkeys(_BRAND_CHARS))
_INDUSTRIES = (
    # industry, share of companies, company trade words, individual-business shop words
    ("制造业", 0.27, ("机械", "机械制造", "纺织", "服装", "食品", "建材", "塑料制品", "电子科技", "包装材料", "化工",
                   "汽车配件", "铸造", "家具", "五金制品", "印刷", "耐火材料", "农机", "面粉", "制药", "新材料"),
     ("面粉加工厂", "木器加工厂", "服装加工厂", "五金加工部")),
    ("建筑业", 0.12, ("建筑工程", "建设工程", "装饰工程", "市政工程", "路桥工程", "水利工程", "安装工程"),
     ("装修部",)),
    ("批发和零售业", 0.2, ("商贸", "贸易", "商业", "百货", "农资", "医药连锁", "建材贸易"),
     ("超市", "五金店", "副食店", "服装店", "建材经营部", "家电门市部", "烟酒店")),
    ("住宿和餐饮业", 0.1, ("酒店管理", "餐饮管理", "宾馆", "食府"), ("饭店", "小吃店", "烩面馆", "旅社")),
    ("交通运输业", 0.07, ("物流", "运输", "货运", "客运", "快递"), ("货运部", "物流配送站")),
    ("居民服务业", 0.09, ("家政服务", "物业管理", "保洁服务", "洗涤服务", "汽车服务"),
     ("理发店", "汽车修理部", "洗车店", "家电维修部", "洗衣店")),
    ("信息技术服务业", 0.05, ("信息技术", "网络科技", "软件", "数据服务"), ("电脑维修部",)),
    ("租赁和商务服务业", 0.07, ("人力资源", "劳务派遣", "企业管理咨询", "广告"), ("打字复印部",)),
    ("农林牧渔业", 0.03, ("农业开发", "养殖", "种植专业"), ("养殖场",)),
)
_ECONOMIC_TYPES = (  # type, share, name suffix of a company, position 2 of the credit code
    ("有限责任公司", 0.38, "有限公司", "1"),
    ("私营企业", 0.2, "有限公司", "1"),
    ("个体工商户", 0.27, "", "2"),
    ("股份有限公司", 0.05, "股份有限公司", "1"),
    ("国有企业", 0.04, "公司", "1"),
    ("外商投资企业", 0.06, "有限公司", "1"),
)
_ROADS = (
    "人民路", "建设路", "文化路", "解放路", "中兴路", "长安路", "黄河路", "新华路", "工业路", "迎宾大道", "车站路",
    "和平路", "胜利路", "商城路", "纬一路", "纬二路", "纬三路", "经一路", "经二路", "经三路", "学院路", "府前街",
    "东大街", "西大街", "南大街", "北大街", "滨河路", "环城路", "金水路", "兴华路", "振兴路", "育才路", "体育路",
    "农机路", "纺织路", "花园路", "光明路", "幸福路", "青年路", "朝阳路", "龙湖大道", "开发大道", "产业路", "科技路",
)
_MOBILE_PREFIXES = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 153, 155, 156, 157, 158, 159, 166,
    173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 193, 195, 198, 199,
)


class _EmployerFrame:
    """Everything the employer blocks share: clusters, grids, lookups. Built once per write."""

    def __init__(self, city: DemoCity):
        self.city = city
        self.to_degrees = pyproj.Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)
        self.city_stored = city.city.geometry.values[0]
        shapely.prepare(self.city_stored)
        self.outline = city.city_metric.exterior
        self.community_tree = shapely.STRtree(city.communities.geometry.values)
        street_names = dict(zip(city.streets["代码"], city.streets["名称"]))
        self.place = np.array([CITY_NAME + street_names[parent] + name for parent, name
                               in zip(city.communities["上级代码"], city.communities["名称"])], dtype=object)
        self.cluster_xy, self.cluster_sigma, self.cluster_p = self._clusters()
        self.company_trades, self.shop_trades = self._trades()

    def _clusters(self):
        # A mixture: each community and village around its middle, plus a dense cluster at
        # every street office or town government; all weighted towards the city centre.
        city, metric = self.city, self.city.communities_metric
        centre = shapely.get_coordinates(shapely.point_on_surface(metric))
        from_centre = np.hypot(*(centre - city.seats_metric[0]).T)
        weight = np.where(city.communities["类型"] == "社区", 4.0, 1.0) * np.exp(-from_centre / 9_000)
        sigma = 0.4 * np.sqrt(shapely.area(metric))
        seat_from_centre = np.hypot(*(city.seats_metric - city.seats_metric[0]).T)
        seat_weight = np.where(city.streets["类型"] == "街道", 6.0, 5.0) * np.exp(-seat_from_centre / 12_000)
        seat_sigma = np.where(city.streets["类型"] == "街道", 600.0, 800.0)
        xy = np.vstack([centre, city.seats_metric])
        p = np.concatenate([weight, seat_weight])
        return xy, np.concatenate([sigma, seat_sigma]), p / p.sum()

    @staticmethod
    def _trades():
        company, shop = [], []
        for industry, share, company_words, shop_words in _INDUSTRIES:
            company += [(industry, word, share / len(company_words)) for word in company_words]
            shop += [(industry, word, share / len(shop_words)) for word in shop_words]
        return company, shop

    def make_block(self, seed: int, block: int, seen_names: set[str]) -> pd.DataFrame:
        """The 1,000 rows of one block; ``seen_names`` carries names used by earlier rows."""
        rng = np.random.default_rng([seed, block])
        index = block * _BLOCK_ROWS + np.arange(_BLOCK_ROWS)
        kind = rng.choice(len(_ECONOMIC_TYPES), _BLOCK_ROWS, p=[t[1] for t in _ECONOMIC_TYPES])
        individual = kind == 2
        industry, name = self._names(rng, individual, kind, index, seen_names)
        headcount, contracts, insured = _make_headcounts(rng, individual, kind)
        wage_arrears, fee_arrears = _make_arrears(rng)
        opened, surveyed = _make_dates(rng)
        legal, contact, phone = self._people(rng, individual)
        lon, lat, community = self._locations(rng, index)
        road = rng.choice(_ROADS, _BLOCK_ROWS)
        number = np.minimum(1 + rng.lognormal(3.3, 1.0, _BLOCK_ROWS).astype(int), 999)
        codes = [make_credit_code(CITY_CODE, 2 * int(i) + int(o >= np.datetime64(_CREDIT_ERA)),
                                  kind=_ECONOMIC_TYPES[k][3]) for i, o, k in zip(index, opened, kind)]
        return pd.DataFrame({
            "单位名称": name,
            "统一社会信用代码": codes,
            "地址": self.place[community] + road + number.astype(str) + "号",
            "法定代表人": legal,
            "劳资联系人": contact,
            "联系电话": phone,
            "行业": industry,
            "经济类型": np.array([t[0] for t in _ECONOMIC_TYPES])[kind],
            "职工人数": headcount,
            "签订劳动合同人数": contracts,
            "参加社会保险人数": insured,
            "欠薪月数": wage_arrears,
            "欠费月数": fee_arrears,
            "开业日期": np.datetime_as_string(opened, unit="D"),
            "调查日期": np.datetime_as_string(surveyed, unit="D"),
            "经度": np.char.mod("%.6f", lon),
            "纬度": np.char.mod("%.6f", lat),
            "坐标系": "CGCS2000",
        }, columns=list(EMPLOYER_COLUMNS))

    def _names(self, rng, individual, kind, index, seen_names):
        company = rng.choice(len(self.company_trades), _BLOCK_ROWS, p=_shares(self.company_trades))
        shop = rng.choice(len(self.shop_trades), _BLOCK_ROWS, p=_shares(self.shop_trades))
        first, second = rng.choice(len(_BRAND_CHARS), (2, _BLOCK_ROWS))
        second = np.where(second == first, (second + 1) % len(_BRAND_CHARS), second)
        industry, names = [], []
        for row in range(_BLOCK_ROWS):
            trade = self.shop_trades[shop[row]] if individual[row] else self.company_trades[company[row]]
            brand = _BRAND_CHARS[first[row]] + _BRAND_CHARS[second[row]]
            suffix = _ECONOMIC_TYPES[kind[row]][2]
            name = CITY_NAME + brand + trade[1] + suffix
            attempt = 0
            while name in seen_names:  # later rows yield, so row i never depends on the row count
                extra = _BRAND_CHARS[(int(index[row]) + attempt) % len(_BRAND_CHARS)]
                name = CITY_NAME + brand + extra * (1 + attempt // len(_BRAND_CHARS)) + trade[1] + suffix
                attempt += 1
            seen_names.add(name)
            industry.append(trade[0])
            names.append(name)
        return industry, names

    def _people(self, rng, individual):
        legal, contact = _make_person_names(rng), _make_person_names(rng)
        same = rng.random(_BLOCK_ROWS) < np.where(individual, 0.7, 0.1)  # small shops: the owner
        contact = np.where(same, legal, contact)
        prefix = rng.choice(_MOBILE_PREFIXES, _BLOCK_ROWS)
        phone = (prefix * 10**8 + rng.integers(0, 10**8, _BLOCK_ROWS)).astype(str)
        return legal, contact, phone

    def _locations(self, rng, index):
        xy = self._sample_inside(rng)
        outside = np.flatnonzero([is_outside_row(int(i)) for i in index])
        for row in outside:
            xy[row] = self._sample_outside(rng)
        lon, lat = np.round(self.to_degrees.transform(xy[:, 0], xy[:, 1]), 6)
        community = self._community_of(lon, lat, xy)
        return lon, lat, community

    def _sample_inside(self, rng):
        xy = np.empty((_BLOCK_ROWS, 2))
        todo = np.arange(_BLOCK_ROWS)
        while todo.size:  # redraw points that fell outside, judged on the stored coordinates
            cluster = rng.choice(len(self.cluster_p), todo.size, p=self.cluster_p)
            spread = rng.standard_normal((todo.size, 2)) * self.cluster_sigma[cluster, None]
            xy[todo] = self.cluster_xy[cluster] + spread
            lon, lat = np.round(self.to_degrees.transform(xy[todo, 0], xy[todo, 1]), 6)
            todo = todo[~shapely.contains_xy(self.city_stored, lon, lat)]
        return xy

    def _sample_outside(self, rng):
        while True:
            start = shapely.get_coordinates(self.outline.interpolate(rng.random(), normalized=True))[0]
            angle, distance = rng.uniform(0, 2 * math.pi), rng.uniform(300, 1_500)
            xy = start + distance * np.array([math.cos(angle), math.sin(angle)])
            lon, lat = np.round(self.to_degrees.transform(*xy), 6)
            gap = shapely.distance(self.city.city_metric, shapely.Point(xy))
            if not shapely.intersects_xy(self.city_stored, lon, lat) and 100 <= gap <= 2_000:
                return xy

    def _community_of(self, lon, lat, xy):
        # The register's rule: the grid that covers the point, the lowest code on a shared
        # edge (communities are sorted by code); outside the city, the nearest community.
        points = shapely.points(lon, lat)
        hit_point, hit_community = self.community_tree.query(points, predicate="intersects")
        community = np.full(len(points), len(self.place))
        np.minimum.at(community, hit_point, hit_community)
        for row in np.flatnonzero(community == len(self.place)):
            community[row] = np.argmin(shapely.distance(self.city.communities_metric, shapely.Point(xy[row])))
        return community


def _shares(trades) -> np.ndarray:
    share = np.array([t[2] for t in trades])
    return share / share.sum()


def _make_person_names(rng: np.random.Generator) -> np.ndarray:
    surname = rng.choice(_SURNAMES, _BLOCK_ROWS, p=_zipf_shares(len(_SURNAMES)))
    first, second = rng.choice(_GIVEN_CHARS, (2, _BLOCK_ROWS))
    single = rng.random(_BLOCK_ROWS) < 0.3
    return np.char.add(np.char.add(surname, first), np.where(single, "", second)).astype(object)


def _zipf_shares(count: int) -> np.ndarray:
    share = 1 / np.arange(1, count + 1) ** 0.9  # common surnames are far more common
    return share / share.sum()


def _make_headcounts(rng: np.random.Generator, individual: np.ndarray, kind: np.ndarray):
    # Lognormal: most employers have 3–200 staff, a few state or joint-stock ones 1,000+.
    median = np.select([individual, kind >= 3], [3.0, 90.0], 22.0)
    headcount = np.clip(np.rint(rng.lognormal(np.log(median), np.where(individual, 0.6, 1.15))), 1, 30_000)
    headcount = headcount.astype(int)
    signed = _with_shortfall(rng, headcount, 0.15)
    insured = _with_shortfall(rng, headcount, 0.15)
    return headcount, signed, insured


def _with_shortfall(rng: np.random.Generator, headcount: np.ndarray, chance: float) -> np.ndarray:
    short = rng.random(headcount.size) < chance
    share = rng.uniform(0.2, 0.95, headcount.size)
    return np.where(short, np.floor(headcount * share), headcount).astype(int)


def _make_arrears(rng: np.random.Generator):
    wage = np.where(rng.random(_BLOCK_ROWS) < 0.04, rng.choice(np.arange(1, 7), _BLOCK_ROWS,
                                                               p=[0.4, 0.25, 0.15, 0.1, 0.05, 0.05]), 0)
    fee = np.where(rng.random(_BLOCK_ROWS) < 0.06, rng.integers(1, 13, _BLOCK_ROWS), 0)
    return wage, fee


def _make_dates(rng: np.random.Generator):
    # More firms are young than old; about one in eight opened within the last year.
    first, last = np.datetime64(_FIRST_OPENED), np.datetime64(_LAST_DATE)
    year_ago = last - np.timedelta64(364, "D")
    older = first + (rng.random(_BLOCK_ROWS) ** 0.6 * int((year_ago - first) / np.timedelta64(1, "D"))).astype(int)
    recent = year_ago + rng.integers(0, 365, _BLOCK_ROWS)
    opened = np.where(rng.random(_BLOCK_ROWS) < 0.12, recent, older).astype("datetime64[D]")
    survey_start = np.maximum(opened, np.datetime64(_FIRST_SURVEY))
    span = ((last - survey_start) / np.timedelta64(1, "D")).astype(int)
    surveyed = survey_start + np.floor(rng.random(_BLOCK_ROWS) * (span + 1)).astype(int)
    return opened, surveyed.astype("datetime64[D]")


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m gisgrid.demo.generate --out DIR [--employers N] [--seed S]``."""
    parser = argparse.ArgumentParser(prog="python -m gisgrid.demo.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the four files into")
    parser.add_argument("--employers", type=int, default=DEFAULT_EMPLOYERS, help="employer rows (default 20000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    if args.employers < 0:
        parser.error(f"--employers was {args.employers}; expected a whole number ≥ 0")
    paths = generate_city(args.out, employers=args.employers, seed=args.seed)
    for key, path in paths.items():
        print(f"{key:12s} {path}  ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

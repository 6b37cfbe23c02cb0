"""The demonstration city: codes, CRS, exact tiling, organic borders, employers, determinism."""

import csv
import hashlib
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gisgrid.demo.generate import (
    EMPLOYER_COLUMNS,
    FILE_NAMES,
    build_city,
    generate_city,
    is_outside_row,
    main,
    write_employers,
    write_grids,
)
from gisgrid.employers.identifiers import is_valid_credit_code

EMPLOYERS = 500


@pytest.fixture(scope="module")
def city():
    return build_city()


@pytest.fixture(scope="module")
def out_dir(city, tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    write_grids(city, folder)
    write_employers(city, folder / FILE_NAMES["employers"], EMPLOYERS)
    return folder


@pytest.fixture(scope="module")
def grids(out_dir):
    return {level: gpd.read_file(out_dir / FILE_NAMES[level]) for level in ("city", "streets", "communities")}


@pytest.fixture(scope="module")
def metric(grids):
    return {level: frame.to_crs("EPSG:4547") for level, frame in grids.items()}


@pytest.fixture(scope="module")
def employers(out_dir):
    return pd.read_csv(out_dir / FILE_NAMES["employers"], encoding="utf-8-sig", dtype=str, keep_default_na=False)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- files, CRS, attributes ---------------------------------------------------------

@pytest.mark.parametrize("level", ["city", "streets", "communities"])
def test_files_are_in_cgcs2000_with_a_crs_member(out_dir, grids, level):
    raw = json.loads((out_dir / FILE_NAMES[level]).read_text(encoding="utf-8"))
    assert "4490" in raw["crs"]["properties"]["name"]
    assert grids[level].crs.to_epsg() == 4490
    assert set(grids[level].geom_type) <= {"Polygon", "MultiPolygon"}


@pytest.mark.parametrize("level", ["city", "streets", "communities"])
def test_coordinates_have_at_most_seven_decimals(out_dir, level):
    text = (out_dir / FILE_NAMES[level]).read_text(encoding="utf-8")
    coordinates = text[text.index('"coordinates"'):]
    assert not re.search(r"\d\.\d{8,}", coordinates)


def test_city_is_one_level_1_grid(grids):
    city = grids["city"]
    assert len(city) == 1
    assert city.iloc[0][["代码", "名称", "类型"]].tolist() == ["419901", "示范市", "市"]


def test_street_codes_follow_the_statistics_pattern(grids):
    streets = grids["streets"]
    assert 12 <= len(streets) <= 18
    assert streets["代码"].str.fullmatch(r"419901\d{3}").all()
    assert (streets["上级代码"] == "419901").all()
    number = streets["代码"].str[-3:].astype(int)
    ranges = {"街道": (1, 99), "镇": (100, 199), "乡": (200, 399)}
    for kind, (low, high) in ranges.items():
        assert number[streets["类型"] == kind].between(low, high).all(), kind
    assert set(streets["类型"]) == set(ranges)
    assert (streets["名称"].str[-2:] == "街道").sum() == (streets["类型"] == "街道").sum()
    assert streets["名称"].is_unique and streets["代码"].is_unique


def test_community_codes_and_parents(grids):
    streets, communities = grids["streets"], grids["communities"]
    assert 200 <= len(communities) <= 300
    assert communities["代码"].str.fullmatch(r"\d{12}").all()
    assert (communities["代码"].str[:9] == communities["上级代码"]).all()
    assert set(communities["上级代码"]) == set(streets["代码"])
    number = communities["代码"].str[-3:].astype(int)
    assert number[communities["类型"] == "社区"].between(1, 199).all()
    assert number[communities["类型"] == "村"].between(200, 399).all()
    assert (communities["名称"].str[-2:] == "社区").sum() == (communities["类型"] == "社区").sum()
    assert communities["名称"].str.endswith(("社区", "村")).all()
    assert communities["名称"].is_unique and communities["代码"].is_unique
    assert not communities["名称"].str.contains("路路|街街|村村").any()


def test_streets_hold_mostly_communities_and_towns_mostly_villages(grids):
    communities = grids["communities"].merge(
        grids["streets"][["代码", "类型"]].rename(columns={"代码": "上级代码", "类型": "上级类型"}))
    in_streets = communities[communities["上级类型"] == "街道"]["类型"]
    in_towns = communities[communities["上级类型"] != "街道"]["类型"]
    assert (in_streets == "社区").mean() > 0.8
    assert (in_towns == "村").mean() > 0.8


# ---- geometry ---------------------------------------------------------------------------

def test_city_size_and_place(metric, grids):
    city = metric["city"].geometry.iloc[0]
    assert 800e6 <= city.area <= 1000e6
    x0, y0, x1, y1 = city.bounds
    assert 25e3 <= x1 - x0 <= 45e3 and 25e3 <= y1 - y0 <= 45e3
    centre = grids["city"].geometry.iloc[0].centroid
    assert abs(centre.x - 113.72) < 0.05 and abs(centre.y - 34.36) < 0.05


@pytest.mark.parametrize("level", ["city", "streets", "communities"])
def test_every_grid_is_one_valid_polygon_without_holes(grids, level):
    geoms = grids[level].geometry.values
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_num_geometries(geoms) == 1).all()
    assert (shapely.get_num_interior_rings(shapely.get_geometry(geoms, 0)) == 0).all()


@pytest.mark.parametrize("level", ["streets", "communities"])
def test_levels_are_valid_coverages_in_stored_coordinates(grids, level):
    assert shapely.coverage_is_valid(grids[level].geometry.values)


@pytest.mark.parametrize(("parent_level", "child_level"), [("city", "streets"), ("streets", "communities")])
def test_children_tile_their_parent_exactly(metric, parent_level, child_level):
    parents, children = metric[parent_level], metric[child_level]
    parent_of = children["上级代码"]
    for code, parent in zip(parents["代码"], parents.geometry):
        mine = children[parent_of == code].geometry.values
        union = shapely.union_all(mine)
        assert shapely.symmetric_difference(union, parent).area < 1.0, code  # m²
        assert abs(shapely.area(mine).sum() - parent.area) < 1.0, code
    assert abs(children.area.sum() - parents.area.sum()) < 1.0


def test_children_lie_in_their_parent(grids):
    streets = grids["streets"].set_index("代码")
    communities = grids["communities"]
    points = communities.geometry.representative_point()
    parents = streets.geometry.loc[communities["上级代码"]].values
    assert shapely.covers(parents, points.values).all()


def test_central_streets_are_small_and_towns_large(metric):
    streets = metric["streets"]
    area = streets.area / 1e6
    assert area[streets["类型"] == "街道"].max() < area[streets["类型"] != "街道"].median()


def test_borders_are_organic_not_straight_voronoi_lines(metric):
    city = metric["city"].geometry.iloc[0]
    assert city.area / city.convex_hull.area < 0.95  # not a circle or a square
    for level in ("streets", "communities"):
        borders = shapely.boundary(metric[level].geometry.values)
        sinuosity = shapely.length(borders).sum() / shapely.length(shapely.simplify(borders, 250.0)).sum()
        assert sinuosity > 1.1, level
        coords, ring = shapely.get_coordinates(borders, return_index=True)
        segment = np.hypot(*np.diff(coords, axis=0).T)[ring[1:] == ring[:-1]]
        assert segment.max() < 1_000, level  # no long straight edges (m)


def test_no_slivers_and_moderate_vertex_counts(metric, grids):
    communities = metric["communities"].geometry.values
    assert shapely.area(communities).min() > 0.1e6  # m²
    compactness = 4 * np.pi * shapely.area(communities) / shapely.length(communities) ** 2
    assert compactness.min() > 0.2
    vertices = shapely.get_num_coordinates(grids["communities"].geometry.values)
    assert 100 <= np.median(vertices) <= 400
    assert vertices.max() < 1_000


# ---- employers --------------------------------------------------------------------------

def test_employer_file_has_bom_and_chinese_header(out_dir):
    raw = (out_dir / FILE_NAMES["employers"]).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].split(b"\n", 1)[0].decode("utf-8")
    assert header == ("单位名称,统一社会信用代码,地址,法定代表人,劳资联系人,联系电话,行业,经济类型,职工人数,"
                      "签订劳动合同人数,参加社会保险人数,欠薪月数,欠费月数,开业日期,调查日期,经度,纬度,坐标系")
    assert tuple(header.split(",")) == EMPLOYER_COLUMNS


def test_employer_identifiers_and_names(employers):
    assert len(employers) == EMPLOYERS
    assert employers["统一社会信用代码"].map(is_valid_credit_code).all()
    assert employers["统一社会信用代码"].is_unique
    assert employers["单位名称"].is_unique
    assert employers["单位名称"].str.startswith("示范市").all()
    assert employers["联系电话"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert employers["法定代表人"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    assert employers["劳资联系人"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    assert (employers["坐标系"] == "CGCS2000").all()
    assert employers["经度"].str.fullmatch(r"1\d\d\.\d{6}").all()
    assert employers["纬度"].str.fullmatch(r"\d\d\.\d{6}").all()


def test_employer_counts_and_dates_are_consistent(employers):
    number = employers[["职工人数", "签订劳动合同人数", "参加社会保险人数", "欠薪月数", "欠费月数"]].astype(int)
    assert (number["职工人数"] >= 1).all()
    assert (number["签订劳动合同人数"] <= number["职工人数"]).all()
    assert (number["参加社会保险人数"] <= number["职工人数"]).all()
    assert number["欠薪月数"].between(0, 6).all() and number["欠费月数"].between(0, 12).all()
    assert (number["欠薪月数"] == 0).mean() > 0.85
    opened, surveyed = pd.to_datetime(employers["开业日期"]), pd.to_datetime(employers["调查日期"])
    assert employers["开业日期"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert opened.between("1995-01-01", "2026-10-31").all()
    assert surveyed.between("2026-01-01", "2026-10-31").all()
    assert (surveyed >= opened).all()
    assert (opened >= "2025-11-01").any()


def test_only_the_chosen_rows_lie_outside_the_city(employers, grids, metric):
    points = shapely.points(employers["经度"].astype(float), employers["纬度"].astype(float))
    inside = shapely.covers(grids["city"].geometry.iloc[0], points)
    assert np.flatnonzero(~inside).tolist() == [i for i in range(EMPLOYERS) if is_outside_row(i)] == [17, 137, 311]
    outside = gpd.GeoSeries(points[~inside], crs="EPSG:4490").to_crs("EPSG:4547")
    assert (outside.distance(metric["city"].geometry.iloc[0]) <= 2_000).all()


def test_addresses_name_the_street_and_community_containing_the_point(employers, grids):
    communities = grids["communities"]
    street_names = dict(zip(grids["streets"]["代码"], grids["streets"]["名称"]))
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(employers["经度"].astype(float),
                                                          employers["纬度"].astype(float)), crs="EPSG:4490")
    hits = gpd.sjoin(points, communities, predicate="within")
    for row, hit in hits.iterrows():
        prefix = "示范市" + street_names[hit["上级代码"]] + hit["名称"]
        assert employers.loc[row, "地址"].startswith(prefix)
    assert employers["地址"].str.fullmatch(r"示范市\w+(街道|镇|乡)\w+(社区|村)\w+(路|街|大道)\d+号").all()


@pytest.mark.parametrize("count", [312, 4_999, 19_999, 20_000, 24_999, 25_000, 1_000_000])
def test_outside_rows_are_max_3_or_one_per_5000(count):
    expected = max(3, count // 5_000)
    if count < 100_000:
        assert sum(is_outside_row(i) for i in range(count)) == expected
    else:
        assert 3 + sum(1 for k in range(4, count // 5_000 + 1) if is_outside_row(5_000 * k - 1)) == expected


def test_first_rows_do_not_depend_on_the_row_count(city, tmp_path):
    short = write_employers(city, tmp_path / "short.csv", 1_234)
    long = write_employers(city, tmp_path / "long.csv", 2_345)
    short_lines = short.read_text(encoding="utf-8-sig").splitlines()
    long_lines = long.read_text(encoding="utf-8-sig").splitlines()
    assert len(short_lines) == 1 + 1_234 and len(long_lines) == 1 + 2_345
    assert long_lines[: len(short_lines)] == short_lines


def test_zero_employers_writes_the_header_only(city, tmp_path):
    path = write_employers(city, tmp_path / "none.csv", 0)
    assert list(csv.reader(path.open(encoding="utf-8-sig"))) == [list(EMPLOYER_COLUMNS)]


# ---- determinism and entry points -------------------------------------------------------

def test_same_seed_gives_byte_identical_files(out_dir, tmp_path):
    paths = generate_city(tmp_path, employers=EMPLOYERS)
    assert sorted(paths) == ["city", "communities", "employers", "streets"]
    for key, path in paths.items():
        assert path.name == FILE_NAMES[key]
        assert sha256(path) == sha256(out_dir / FILE_NAMES[key]), key


@pytest.mark.parametrize("employers_given", [-1, 2.5, True])
def test_generate_city_refuses_bad_employer_counts(tmp_path, employers_given):
    with pytest.raises(ValueError, match="employers was .*; expected a whole number"):
        generate_city(tmp_path, employers=employers_given)


def test_command_line_refuses_negative_counts(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--employers", "-5"])
    assert "--employers was -5" in capsys.readouterr().err

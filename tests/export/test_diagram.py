"""The static diagram: what a person sees on the PNG, and what the PDF carries."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections import Counter

import numpy as np
import pytest
import shapely
from PIL import Image

from gisgrid.errors import InputError, NotFound
from gisgrid.export.data import find_export_generation, read_grids
from gisgrid.export.diagram import _nice_scale, export_diagram
from gisgrid.maps.colouring import colour_adjacent

TITLE = "示范市劳动保障监察网格划分示意图"


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def _to_pixels(page: dict, dpi: int, xs: np.ndarray, ys: np.ndarray):
    """Gauss–Krüger coordinates → pixel column/row on the PNG, from the page's reported layout."""
    xmin, ymin, xmax, ymax = page["extent"]
    left, bottom, width, height = page["map_box_mm"]
    paper_h = page["paper_mm"][1]
    x_mm = left + (xs - xmin) / (xmax - xmin) * width
    y_mm = bottom + (ys - ymin) / (ymax - ymin) * height
    return (x_mm / 25.4 * dpi).astype(int), ((paper_h - y_mm) / 25.4 * dpi).astype(int)


def _box_pixels(image: np.ndarray, box_mm, paper_h: float, dpi: int) -> np.ndarray:
    left, bottom, width, height = box_mm
    c0, c1 = int(left / 25.4 * dpi), int((left + width) / 25.4 * dpi)
    r0, r1 = int((paper_h - bottom - height) / 25.4 * dpi), int((paper_h - bottom) / 25.4 * dpi)
    return image[r0:r1, c0:c1, :3]


def _fill_colour(image: np.ndarray, page: dict, dpi: int, geom, n: int) -> str:
    """The commonest colour at a lattice of n x n points well inside a grid (labels and
    inner boundaries cover a few of them)."""
    inner = geom.buffer(-300)
    xmin, ymin, xmax, ymax = inner.bounds
    xs, ys = np.meshgrid(np.linspace(xmin, xmax, n), np.linspace(ymin, ymax, n))
    pts = shapely.points(xs.ravel(), ys.ravel())
    pts = pts[shapely.contains(inner, pts)]
    cols, rows = _to_pixels(page, dpi, shapely.get_x(pts), shapely.get_y(pts))
    return Counter(_hex(image[r, c]) for c, r in zip(cols, rows)).most_common(1)[0][0]


@pytest.fixture(scope="module")
def street_png(demo_url, tmp_path_factory):
    from sqlalchemy.orm import Session

    from gisgrid.config import Settings
    from gisgrid.db.engine import get_engine

    path = tmp_path_factory.mktemp("diagram") / "streets.png"
    with Session(get_engine(demo_url)) as session:
        report = export_diagram(session, path, level=2, settings=Settings(home=path.parent),
                                issued_on=dt.date(2026, 11, 20))
        gen = find_export_generation(session)
        grids = read_grids(session, gen, level=2)
    return path, report, grids


def test_png_is_print_resolution_with_every_street_labelled(street_png):
    path, report, grids = street_png
    with Image.open(path) as img:
        assert abs(img.size[0] - 3508) <= 1 and abs(img.size[1] - 2480) <= 1  # A4 landscape at 300 dpi
        assert round(img.info["dpi"][0]) == 300
    page = report["pages"][0]
    assert report["grids"] == len(grids) == 15
    assert report["labelled"] == 15 and report["numbered"] == 0
    assert page["crs"] == "EPSG:4547"
    # the numeric scale is a round number and the data fits the frame at that scale
    assert page["scale"] == _nice_scale(page["scale"])
    xmin, ymin, xmax, ymax = page["extent"]
    assert (xmax - xmin) / (page["map_box_mm"][2] / 1000) == pytest.approx(page["scale"])
    assert (ymax - ymin) / (page["map_box_mm"][3] / 1000) == pytest.approx(page["scale"])


def test_png_adjacent_grids_differ_in_colour_at_sample_points(street_png):
    path, report, grids = street_png
    page = report["pages"][0]
    image = np.asarray(Image.open(path).convert("RGB"))
    metric = grids.to_crs(page["crs"])
    expected = colour_adjacent(grids)
    seen = {}
    for i, geom in enumerate(metric.geometry):
        colour = _fill_colour(image, page, 300, geom, 40)
        seen[grids["code"].iat[i]] = colour
        assert colour == expected.iat[i], grids["code"].iat[i]
    pairs = 0
    for i, a in enumerate(metric.geometry):
        for j in range(i + 1, len(metric)):
            if a.distance(metric.geometry.iat[j]) < 1.0:
                pairs += 1
                assert seen[grids["code"].iat[i]] != seen[grids["code"].iat[j]]
    assert pairs >= 20


def test_png_has_legend_scale_bar_and_north_arrow(street_png):
    path, report, _ = street_png
    page = report["pages"][0]
    image = np.asarray(Image.open(path).convert("RGB"))
    paper_h = page["paper_mm"][1]
    for key, min_ink in (("legend_box_mm", 0.02), ("scalebar_box_mm", 0.05), ("north_arrow_box_mm", 0.05)):
        pixels = _box_pixels(image, page[key], paper_h, 300)
        assert pixels.size
        dark = (pixels.max(axis=2) < 100).mean()
        assert dark > min_ink, (key, dark)
    # the scale bar's outline is one long dark line (≥ 20 mm at 300 dpi)
    bar = _box_pixels(image, page["scalebar_box_mm"], paper_h, 300)
    assert (bar.max(axis=2) < 60).sum(axis=1).max() > 20 / 25.4 * 300


def test_pdf_embeds_cjk_fonts_and_text_has_title_and_codes(demo_session, demo_settings, tmp_path):
    path = tmp_path / "streets.pdf"
    report = export_diagram(demo_session, path, settings=demo_settings, paper="A3")
    assert report["format"] == "pdf" and len(report["pages"]) == 1
    listing = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    fonts = listing.stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("GisgridCJK" in r[0] for r in rows), fonts  # the CJK subsets, renamed
    assert all("yes" == r[-5] for r in rows), fonts  # the "emb" column
    # declared TrueType and really TrueType (matplotlib alone would embed CFF as TrueType)
    assert all("CID TrueType" in line for line in fonts.splitlines()[2:] if line.strip()), fonts
    assert "Mismatch" not in listing.stderr
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert TITLE in text
    grids = read_grids(demo_session, find_export_generation(demo_session), level=2)
    for code in grids["code"]:
        assert code in text
    for note in ("CGCS2000", "EPSG:4547", "示范市人力资源和社会保障局", "2026-01-01", "内部资料"):
        assert note in text


def test_small_grids_get_numbers_and_a_key_table(demo_session, demo_settings, tmp_path):
    path = tmp_path / "communities.pdf"
    report = export_diagram(demo_session, path, level=3, settings=demo_settings, paper="A4")
    assert report["labelled"] + report["numbered"] + report["unlabelled"] == 250
    assert report["numbered"] > 0
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "网格编号对照表" in text
    # every labelled or numbered grid's code appears on the map or in the key (or its continuation pages)
    codes = read_grids(demo_session, find_export_generation(demo_session), level=3)["code"]
    found = sum(code in text for code in codes)
    assert found == report["labelled"] + report["numbered"]
    if report["unlabelled"]:
        assert f"另有 {report['unlabelled']} 个网格过小未标注" in text


def test_grid_scope_draws_its_children_with_labels(demo_session, demo_settings, tmp_path):
    path = tmp_path / "xinhua.pdf"
    report = export_diagram(demo_session, path, grid_code="419901001", settings=demo_settings, employers=True)
    assert report["grids"] == 20  # the communities of 新华街道
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "示范市新华街道劳动保障监察网格划分示意图" in text
    assert "419901001001" in text and "高风险" in text


def test_a_grid_without_children_is_drawn_on_its_own(demo_session, demo_settings, tmp_path):
    report = export_diagram(demo_session, tmp_path / "one.png", grid_code="419901001001", settings=demo_settings,
                            dpi=100)
    assert report["grids"] == 1 and report["labelled"] == 1


def test_atlas_has_overview_and_one_page_per_street(demo_session, demo_settings, tmp_path):
    path = tmp_path / "atlas.pdf"
    report = export_diagram(demo_session, path, atlas=True, settings=demo_settings, paper="A3")
    assert len(report["pages"]) == 16
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages == 16 + sum(p["key_pages"] for p in report["pages"])
    second = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(path), "-"], capture_output=True, text=True,
                            check=True).stdout
    assert "新华街道" in second and "419901001001" in second


@pytest.mark.parametrize("kwargs, error", [
    ({"path": "x.jpg"}, InputError),
    ({"path": "x.png", "paper": "A5"}, InputError),
    ({"path": "x.png", "atlas": True}, InputError),
    ({"path": "x.pdf", "level": 9}, InputError),
    ({"path": "x.pdf", "grid_code": "999999"}, NotFound),
])
def test_bad_requests_say_what_is_allowed(demo_session, tmp_path, kwargs, error):
    kwargs["path"] = tmp_path / kwargs["path"]
    with pytest.raises(error):
        export_diagram(demo_session, **kwargs)
    assert not kwargs["path"].exists()


def test_nice_scale_rounds_up():
    assert _nice_scale(218_000) == 250_000
    assert _nice_scale(100_000) == 100_000
    assert _nice_scale(101_000) == 125_000


def test_cli_diagram(demo_cli, tmp_path):
    out = tmp_path / "d.png"
    result = demo_cli("export", "diagram", "-o", out, "--grid", "419901104", "--paper", "A4")
    assert out.exists() and "labelled" in result.output
    bad = demo_cli("export", "diagram", "-o", tmp_path / "d.png", "--atlas", expect=1)
    assert "error:" in bad.output and ".pdf" in bad.output


def test_png_coloured_by_an_indicator_shows_each_grid_in_its_class(demo_session, demo_settings, tmp_path):
    from gisgrid.analysis.indicators import INDICATORS, grid_indicators
    from gisgrid.maps.choropleth import classify_indicator

    path = tmp_path / "insured.png"
    report = export_diagram(demo_session, path, level=2, settings=demo_settings, dpi=150,
                            colour_by="insured_rate")
    page = report["pages"][0]
    assert page["title"] == "示范市劳动保障监察网格社会保险参保率分级图"
    gen = find_export_generation(demo_session)
    values = grid_indicators(demo_session, gen.id, 2)["insured_rate"]
    classes = classify_indicator(values, INDICATORS["insured_rate"])
    assert len(set(classes.colour_of(v) for v in values)) >= 3
    image = np.asarray(Image.open(path).convert("RGB"))
    grids = read_grids(demo_session, gen, level=2)
    for code, geom in zip(grids["code"], grids.to_crs(page["crs"]).geometry):
        assert _fill_colour(image, page, 150, geom, 30) == classes.colour_of(values[code]), code
    # The legend lists the classes: their swatch colours are on the page.
    legend = _box_pixels(image, page["legend_box_mm"], page["paper_mm"][1], 150)
    legend_colours = {_hex(p) for p in legend.reshape(-1, 3)}
    assert set(classes.colours) <= legend_colours


def test_unknown_indicator_is_refused_before_drawing(demo_session, tmp_path):
    with pytest.raises(InputError, match="expected one of employers, risk_share"):
        export_diagram(demo_session, tmp_path / "x.png", colour_by="wages")
    assert not (tmp_path / "x.png").exists()

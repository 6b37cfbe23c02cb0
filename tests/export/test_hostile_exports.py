"""Every export files hostile names exactly as written: diagrams, registers, roster, package, grid data.

Template syntax, script breakers, quotes, matplotlib's ``$…$`` mathtext and spreadsheet
formulas (``=HYPERLINK(…)``) are text: a diagram label shows them as typed, a register
cell holds them as a string (never a formula), a GeoPackage/Shapefile/GeoJSON/KML keeps them.
"""

from __future__ import annotations

import json
import subprocess
import zipfile

import pyogrio
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from tests.fixtures import hostile
from tests.fixtures.hostile import hostile_city  # noqa: F401  (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _cli(env, *args):
    from gisgrid.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True)
    return "".join(out.stdout.split())  # labels wrap: compare without whitespace


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _cells(path) -> list:
    book = load_workbook(path)
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row if cell.value is not None]


def _assert_strings(cells, expected: set[str], where: str) -> None:
    values = {c.value for c in cells}
    missing = expected - values
    assert not missing, (where, missing)
    formulas = [c.value for c in cells if c.data_type == "f"]
    assert formulas == [], (where, formulas)


def test_diagram_labels_show_hostile_names_as_typed(hostile_city, tmp_path):
    _, _, _, env = hostile_city
    for level in (2, 3):
        pdf = tmp_path / f"diagram{level}.pdf"
        _cli(env, "export", "diagram", "-o", pdf, "--level", level, "--employers")
        text = _pdf_text(pdf)
        for code, name in hostile.GRID_NAMES.items():
            if len(code) == {2: 9, 3: 12}[level]:
                assert _squeezed(name) in text, (level, name)


def test_registers_and_roster_hold_the_text_not_formulas(hostile_city, tmp_path):
    _, rows, _, env = hostile_city
    register = tmp_path / "登记册.xlsx"
    _cli(env, "export", "register", "-o", register)
    cells = _cells(register)
    _assert_strings(cells, {r["单位名称"] for r in rows if r["经度"]}, "register names")
    _assert_strings(cells, {r["联系人"] for r in rows}, "register contacts")
    _assert_strings(cells, {n for c, n in hostile.GRID_NAMES.items() if len(c) == 12}, "register grids")
    roster = tmp_path / "四定人员.xlsx"
    _cli(env, "export", "roster", "-o", roster)
    _assert_strings(_cells(roster), {name for name, _ in hostile.STAFF.values()}, "roster")


def test_package_files_every_part_with_the_names_unchanged(hostile_city, tmp_path):
    _, rows, _, env = hostile_city
    package = tmp_path / "上报材料.zip"
    _cli(env, "export", "package", "--level", 2, "-o", package)
    out = tmp_path / "unpacked"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(out)
    xlsx = sorted(out.rglob("*.xlsx"))
    assert xlsx
    cells = [c for path in xlsx for c in _cells(path)]
    _assert_strings(cells, {r["单位名称"] for r in rows if r["经度"]}, "package registers")
    gpkg = next(out.rglob("*.gpkg"))
    names = set()
    for layer, _ in pyogrio.list_layers(gpkg):
        names |= set(pyogrio.read_dataframe(gpkg, layer=layer)["name"])
    assert set(hostile.GRID_NAMES.values()) <= names
    shp_names = set()
    for shp in out.rglob("*.shp"):
        shp_names |= set(pyogrio.read_dataframe(shp)["name"])
    assert set(hostile.GRID_NAMES.values()) <= shp_names
    pdfs = sorted(out.rglob("*.pdf"))
    assert pdfs and hostile.GRID_NAMES["419999001"].replace(" ", "") in _pdf_text(pdfs[0])


def test_statistics_table_holds_names_as_text(hostile_city, tmp_path):
    import csv
    import io

    from sqlalchemy.orm import Session

    from gisgrid.analysis.stats import grid_statistics
    from gisgrid.db.engine import get_engine
    from gisgrid.db.queries import active_generation
    from gisgrid.export.printing import open_workbook
    from gisgrid.export.statistics import statistics_csv, write_statistics_sheet

    url, _, _, env = hostile_city
    book = tmp_path / "统计表.xlsx"
    _cli(env, "export", "stats", "-o", book, "--level", 3)
    names = {n for c, n in hostile.GRID_NAMES.items() if len(c) == 12}
    _assert_strings(_cells(book), names | {f"合计（{hostile.GRID_NAMES['419999']}）"}, "statistics")
    # A name that looks like a formula stays text in the XLSX and gets a leading ' in the CSV.
    formula = '=HYPERLINK("http://x.invalid","y")'
    with Session(get_engine(url)) as session:
        stats = grid_statistics(session, active_generation(session).id, 3)
    stats.rows.loc[stats.rows.index[0], "name"] = formula
    with open_workbook(tmp_path / "f.xlsx") as workbook:
        write_statistics_sheet(workbook, stats, "{{7*7}}<script>", "{{7*7}}局")
    _assert_strings(_cells(tmp_path / "f.xlsx"), {formula, "{{7*7}}<script>"}, "formula name")
    table = list(csv.reader(io.StringIO(statistics_csv(stats).decode("utf-8-sig"))))
    assert table[1][1] == "'" + formula and {r[1] for r in table[2:-1]} <= names


@pytest.mark.parametrize("fmt, suffix", [("gpkg", ".gpkg"), ("shp", ".zip"), ("geojson", ".geojson"),
                                         ("kml", ".kml")])
def test_grid_data_exports_round_trip_hostile_names(hostile_city, tmp_path, fmt, suffix):
    _, _, _, env = hostile_city
    path = tmp_path / f"grids{suffix}"
    files = json.loads(_cli(env, "grids", "export", "--format", fmt, "-o", path, "--json").output)["files"]
    names = set()
    for file in files:
        target = f"/vsizip/{file}" if str(file).endswith(".zip") else str(file)
        for layer, _ in pyogrio.list_layers(target):
            frame = pyogrio.read_dataframe(target, layer=layer)
            names |= set(frame["名称"])
    assert set(hostile.GRID_NAMES.values()) <= names, names

"""The filing package: everything in one zip, and a manifest that matches it."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile

import pyogrio
import pytest

from gisgrid.export.package import COVER_NAME, MANIFEST_NAME, export_package


@pytest.fixture(scope="module")
def package(demo_url, tmp_path_factory):
    from sqlalchemy.orm import Session

    from gisgrid.config import Settings
    from gisgrid.db.engine import get_engine

    path = tmp_path_factory.mktemp("package") / "上报.zip"
    with Session(get_engine(demo_url)) as session:
        report = export_package(session, path, level=2, paper="A4", settings=Settings(home=path.parent),
                                today=dt.date(2026, 11, 20))
    return path, report


def test_manifest_matches_the_zip(package):
    path, report = package
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = archive.read(MANIFEST_NAME).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(manifest)))[1:]
        assert {r[0] for r in rows} == names - {MANIFEST_NAME}
        for name, size, digest in rows:
            data = archive.read(name)
            assert len(data) == int(size)
            assert hashlib.sha256(data).hexdigest() == digest
    assert [r["name"] for r in report["files"]] == [r[0] for r in rows]


def test_package_holds_every_part(package, tmp_path):
    path, _ = package
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    for part in ("示意图_第2级.pdf", "示意图_第2级.png", "图集.pdf", "登记册.xlsx", "花名册.xlsx", "统计表.xlsx",
                 "较高及以上风险占比分级图_第3级.pdf",
                 ".gpkg", "level2.shp", "level2.dbf", "level2.prj", "level2.cpg"):
        assert any(n.endswith(part) for n in names), part
    cpg = next(tmp_path.rglob("level2.cpg"))
    assert cpg.read_text().strip().upper() == "GBK"
    streets = pyogrio.read_dataframe(next(tmp_path.rglob("level2.shp")))
    assert len(streets) == 15 and "新华街道" in set(streets["name"]) and streets.crs.to_epsg() == 4490
    layers = {name for name, _ in pyogrio.list_layers(next(tmp_path.rglob("*.gpkg")))}
    assert layers == {"level1", "level2", "level3"}


def test_summary_counts_add_up(package, tmp_path):
    import pandas as pd

    path, _ = package
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("统计表.xlsx"))
        table = pd.read_excel(io.BytesIO(archive.read(name)), sheet_name="全部网格",
                              dtype={"网格编码": str, "上级网格编码": str})
    city = table[table["级别"] == 1].iloc[0]
    streets = table[table["级别"] == 2]
    assert streets["用人单位（家）"].sum() == city["用人单位（家）"] == 19996
    risk_cols = [c for c in table.columns if c.endswith("风险（家）")]
    assert (table[risk_cols].sum(axis=1) == table["用人单位（家）"]).all()
    assert table["网格编码"].str.len().isin([6, 9, 12]).all()
    # Rates in percent beside the counts; the city's risk share is the share of its counts.
    for column in ("较高及以上风险占比（%）", "劳动合同签订率（%）", "社会保险参保率（%）", "超期未调查占比（%）"):
        assert table[column].between(0, 100).all(), column
    high = city["较高风险（家）"] + city["高风险（家）"]
    assert city["较高及以上风险占比（%）"] == round(100 * high / city["用人单位（家）"], 1)


    # 四定 rolled up: the city counts everyone once, a street its own and its communities' staff.
    assert city["四定人员（人）"] == 530
    assert table.loc[table["网格编码"] == "419901001", "四定人员（人）"].item() == 2 + 20 * 2


def test_manifest_is_in_file_order_with_the_cover_note_first(package):
    path, report = package
    names = [f["name"] for f in report["files"]]
    assert names[0] == COVER_NAME and names == [COVER_NAME] + sorted(names[1:])
    numbers = [n[:2] for n in names]
    assert numbers == sorted(numbers) and "07" in numbers and numbers.index("07") < numbers.index("08")
    with zipfile.ZipFile(path) as archive:
        note = archive.read(COVER_NAME).decode("utf-8-sig")
        listed = [r[0] for r in csv.reader(io.StringIO(archive.read(MANIFEST_NAME).decode("utf-8-sig")))][1:]
    assert listed == names
    assert "数据日期：2026-11-20" in note and "填报单位：示范市人力资源和社会保障局" in note
    assert "示意图层级：第 2 级" in note and "\r\n" in note
    for name in names:  # every part is named and said what it is (the data folder once)
        if not name.startswith("07_网格数据/"):
            assert name in note, name
    assert "07_网格数据/" in note


def test_statistics_sheets_are_titled_and_print_on_a4(package):
    import openpyxl

    path, _ = package
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("统计表.xlsx"))
        book = openpyxl.load_workbook(io.BytesIO(archive.read(name)))
    assert book.sheetnames == ["第2级 街道、镇、乡", "第3级 社区、村", "全部网格"]
    streets = book.worksheets[0]
    assert streets["A1"].value == "示范市劳动保障监察网格统计表"
    assert "填报单位：示范市人力资源和社会保障局" in streets["A2"].value and "数据日期：2026-11-20" in streets["A2"].value
    total = next(r for r in streets.iter_rows(values_only=True) if r[1] == "合计（示范市）")
    assert total[0] == "419901" and total[2] == 19996 and total[17] == 530
    assert streets.page_setup.orientation == "landscape" and int(streets.page_setup.paperSize) == 9
    assert streets.print_title_rows == "$5:$6"


def test_cli_package_refuses_other_suffix(demo_cli, tmp_path):
    result = demo_cli("export", "package", "-o", tmp_path / "x.tar", expect=1)
    assert "expected a .zip path" in result.output

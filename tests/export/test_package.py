"""The filing package: everything in one zip, and a manifest that matches it."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile

import pyogrio
import pytest

from gisgrid.export.package import MANIFEST_NAME, export_package


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
        table = pd.read_excel(io.BytesIO(archive.read(name)), dtype={"网格编码": str, "上级网格编码": str})
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


def test_cli_package_refuses_other_suffix(demo_cli, tmp_path):
    result = demo_cli("export", "package", "-o", tmp_path / "x.tar", expect=1)
    assert "expected a .zip path" in result.output

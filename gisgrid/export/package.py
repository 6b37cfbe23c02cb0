"""The filing package for the upper level (上报材料) in one zip, with a manifest.

Contents, in file order: ``00_说明.txt`` (the cover note: what the package holds, for which
level, unit and data date), the diagram (PDF and PNG), the atlas, the employer registers,
the 四定 roster, the statistics table (网格统计表: one printable sheet per level with the
city's totals, :mod:`gisgrid.export.statistics`, and every grid's figures on a data sheet),
the grid data (GeoPackage, and Shapefile with GBK attribute names as most desktop GIS in
Chinese offices expect), a risk 分级图 of the finest grids, and ``清单.csv`` listing every
other file in the same order with its size and SHA-256.

The grid data writer here is deliberately small and local (one layer per level, written
straight from the grids with pyogrio); ``gisgrid grids export`` is a separate, fuller
writer being built elsewhere, and the package can switch to it once it exists.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import tempfile
import time
import zipfile
from pathlib import Path
from typing import IO, Callable

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.analysis.indicators import INDICATORS, grid_indicators
from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.config import DEFAULT_STALE_MONTHS, Settings
from gisgrid.crs import gauss_kruger_epsg
from gisgrid.export.data import (
    describe_target,
    KIND_LABELS, find_export_generation, grid_levels, read_employers, read_grids,
)
from gisgrid.export.diagram import export_diagram
from gisgrid.export.registers import export_registers, export_roster

__all__ = ["MANIFEST_NAME", "COVER_NAME", "export_package", "write_grid_data", "summarise_grids",
           "write_statistics_book"]

MANIFEST_NAME = "清单.csv"
COVER_NAME = "00_说明.txt"
DATA_FOLDER = "07_网格数据"
#: Steps export_package reports to its ``progress`` callback.
PACKAGE_STEPS = 9


def export_package(session: Session, path: str | Path | IO[bytes], level: int = 2, paper: str = "A3",
                   settings: Settings | None = None, generation: str | None = None,
                   today: dt.date | None = None, progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Write the whole filing package as a zip.

    Parameters
    ----------
    path : str, Path or binary file
        The ``.zip`` to write.
    level : int
        Level of the coloured grids on the diagram (2 = streets/towns).
    paper : {"A4", "A3"}
        Paper of the diagram and the atlas.
    progress : callable, optional
        Called as ``progress(step, steps, label)`` before each of the package's steps
        (a background job shows it, e.g. ``3/9 网格图集``).

    Returns
    -------
    dict
        ``path``, ``files`` (name, size, sha256 — the manifest's rows), ``manifest``,
        ``size`` of the zip, ``seconds``.

    Examples
    --------
    >>> report = export_package(session, "/tmp/上报材料.zip", level=2)   # doctest: +SKIP
    >>> [f["name"] for f in report["files"]][:2]                           # doctest: +SKIP
    ['01_网格划分示意图.pdf', '02_网格划分示意图.png']

    The manifest lists every file of the zip except itself; an unknown generation raises
    ``NotFound``.
    """
    started = time.perf_counter()
    settings = settings or Settings(home=Path("."))
    today = today or clock.today()
    gen = find_export_generation(session, generation)
    with tempfile.TemporaryDirectory(prefix="gisgrid-package-") as tmp:
        work = Path(tmp)
        finest = int(read_grids(session, gen)["level"].max())
        names = [
            f"01_网格划分示意图_第{level}级.pdf", f"02_网格划分示意图_第{level}级.png", "03_网格图集.pdf",
            "04_用人单位登记册.xlsx", "05_四定人员花名册.xlsx", "06_网格统计表.xlsx",
            f"08_较高及以上风险占比分级图_第{finest}级.pdf",
        ]
        common = {"settings": settings, "generation": gen.name, "issued_on": today, "paper": paper}
        step = _stepper(progress, PACKAGE_STEPS)
        step("网格划分示意图（PDF）")
        export_diagram(session, work / names[0], level=level, **common)
        step("网格划分示意图（PNG）")
        export_diagram(session, work / names[1], level=level, **common)
        step("网格图集")
        export_diagram(session, work / names[2], level=level, atlas=True, **common)
        step("用人单位登记册")
        export_registers(session, work / names[3], generation=gen.name, today=today,
                         stale_months=settings.stale_months)
        step("四定人员花名册")
        export_roster(session, work / names[4], generation=gen.name, today=today, staff_minimums=settings.staff_minimums)
        step("网格统计表")
        write_statistics_book(session, work / names[5], gen, settings, today)
        # Where the risky employers are, at the finest level: what the upper level asks first.
        step("风险分级图")
        export_diagram(session, work / names[6], level=finest, colour_by="risk_share", **common)
        step("网格数据")
        data_files = write_grid_data(read_grids(session, gen), work / DATA_FOLDER)
        step("清单与压缩")
        # File order: the numbered parts, the grid data folder in its place (07 before 08).
        files = sorted([work / n for n in names] + data_files, key=lambda f: f.relative_to(work).as_posix())
        cover = work / COVER_NAME
        cover.write_bytes(cover_note(session, gen, level, paper, settings, today, files, work))
        files.insert(0, cover)
        rows = [_manifest_row(f, work) for f in files]
        manifest = io.StringIO()
        writer = csv.writer(manifest)
        writer.writerow(["文件", "大小（字节）", "SHA-256"])
        writer.writerows([[r["name"], r["size"], r["sha256"]] for r in rows])
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for f, row in zip(files, rows):
                archive.write(f, row["name"])
            # BOM so that Excel opens the UTF-8 CSV with the Chinese names intact.
            archive.writestr(MANIFEST_NAME, "\ufeff" + manifest.getvalue())
    size = Path(path).stat().st_size if isinstance(path, (str, Path)) else None
    return {"path": describe_target(path), "generation": gen.name, "files": rows,
            "manifest": MANIFEST_NAME, "size": size, "seconds": round(time.perf_counter() - started, 1)}


#: What each part of the package is, for the cover note (by the start of its name).
_PARTS = (
    ("00_说明", "本说明"),
    ("01_", "网格划分示意图（矢量 PDF，相邻网格异色，可直接打印）"),
    ("02_", "网格划分示意图（PNG 图片，300 dpi）"),
    ("03_", "网格图集（总图及各街道/乡镇分图，PDF）"),
    ("04_", "用人单位登记册（一格一册，XLSX：每个网格一张登记册及其续表，A4 横向打印）"),
    ("05_", "四定人员花名册（XLSX）"),
    ("06_", "网格统计表（XLSX：各级网格的用人单位、职工、签订率、参保率、风险、重点监管、四定人员、投诉和案件，含合计）"),
    (DATA_FOLDER, "网格边界数据：GeoPackage（每级一个图层）和 Shapefile（属性为 GBK 编码），坐标系 CGCS2000（EPSG:4490）"),
    ("08_", "较高及以上风险占比分级图（最细一级网格，PDF）"),
)


def cover_note(session: Session, gen, level: int, paper: str, settings: Settings, today: dt.date,
               files: list[Path], root: Path) -> bytes:
    """The package's 说明.txt: for whom, which level, unit and date, and what every part holds.

    UTF-8 with a BOM and CRLF line ends, so Notepad on any Windows version shows it right.
    """
    levels = grid_levels(session, gen)
    counts = {lvl: len(read_grids(session, gen, level=lvl)) for lvl in levels}
    employers = int(session.execute(sa.text(
        "SELECT count(*) FROM assignment WHERE generation_id = :g AND grid_id IS NOT NULL"), {"g": gen.id}).scalar())
    lines = [
        f"{settings.city_name}劳动保障监察网格化管理上报材料",
        "",
        f"填报单位：{settings.issuer}",
        f"数据日期：{today.isoformat()}",
        f"网格版本：{gen.name}" + (f"（自 {gen.effective_from.isoformat()} 起施行）" if gen.effective_from else ""),
        f"示意图层级：第 {level} 级网格；纸张：{paper}",
        "网格数量：" + "，".join(f"第 {lvl} 级 {n} 个" for lvl, n in counts.items())
        + f"；已落入网格的用人单位 {employers:,} 家",
        "",
        f"本材料包共 {len(files) + 1} 个文件（另附 {MANIFEST_NAME}，按同一顺序列出每个文件的大小和 SHA-256 校验值）：",
    ]
    folder_done = False
    for part in [COVER_NAME] + [f.relative_to(root).as_posix() for f in files]:
        if part.startswith(DATA_FOLDER + "/"):
            if not folder_done:
                lines.append(f"  {DATA_FOLDER}/  {_describe(DATA_FOLDER)}（{sum(1 for f in files if f.relative_to(root).as_posix().startswith(DATA_FOLDER + '/'))} 个文件）")
                folder_done = True
            continue
        lines.append(f"  {part}  {_describe(part)}")
    lines += [
        "",
        "统计口径：各项数字均含下级网格；四定人员为数据日期在岗人员，一人负责多个网格的只计一次；"
        f"超期未调查指超过 {settings.stale_months} 个月未更新调查。",
        "",
        "填表人：____________    审核人：____________    联系电话：____________",
    ]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _describe(name: str) -> str:
    return next((text for start, text in _PARTS if name.startswith(start)), "")


def write_statistics_book(session: Session, path: Path, gen, settings: Settings, today: dt.date) -> None:
    """网格统计表: one printable sheet per level below the city (each with the city's totals
    row), then every grid of every level on the data sheet 全部网格 (one header row)."""
    from gisgrid.analysis.stats import grid_statistics
    from gisgrid.export.printing import open_workbook, print_on
    from gisgrid.export.statistics import statistics_title, write_statistics_sheet

    data = summarise_grids(session, gen.name, today, stale_months=settings.stale_months)
    with open_workbook(path) as book:
        for lvl in grid_levels(session, gen)[1:]:
            stats = grid_statistics(session, gen.id, lvl, today=today, stale_months=settings.stale_months)
            write_statistics_sheet(book, stats, statistics_title(stats, settings.city_name), settings.issuer,
                                   sheet_name=f"第{lvl}级 {stats.level_label}"[:31])
        sheet = book.add_worksheet("全部网格")
        head = book.add_format({"bold": True, "font_name": "宋体", "font_size": 10, "bg_color": "#DDE5EC",
                                "border": 1, "text_wrap": True})
        body = book.add_format({"font_name": "宋体", "font_size": 10, "border": 1})
        for col, name in enumerate(data.columns):
            sheet.write_string(0, col, str(name), head)
            sheet.set_column(col, col, 12 if col < 2 else 8)
        sheet.set_row(0, 42)  # wrapped headings: a spreadsheet does not grow the row itself
        for row, values in enumerate(data.itertuples(index=False), start=1):
            for col, value in enumerate(values):
                if isinstance(value, str):
                    sheet.write_string(row, col, value, body)
                elif value is None or pd.isna(value):
                    sheet.write_blank(row, col, None, body)
                else:
                    sheet.write_number(row, col, float(value), body)
        print_on(sheet, "A3", (0, 0), "全部网格统计数据")
        sheet.freeze_panes(1, 2)


def _stepper(progress, steps: int):
    count = iter(range(1, steps + 1))
    return (lambda label: progress(next(count), steps, label)) if progress else (lambda label: None)


def _manifest_row(path: Path, root: Path) -> dict:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"name": path.relative_to(root).as_posix(), "size": path.stat().st_size, "sha256": digest}


def write_grid_data(grids: gpd.GeoDataFrame, folder: Path) -> list[Path]:
    """Grids as a GeoPackage (one layer per level) and Shapefiles (one per level, GBK).

    Geometry stays in CGCS2000 (EPSG:4490), the filing datum; Shapefile field names are
    at most 10 characters (``code``, ``name``, ``level``, ``kind``, ``parent``,
    ``employers``) and the ``.cpg`` says GBK.

    Examples
    --------
    >>> write_grid_data(grids, Path("/tmp/out"))   # doctest: +SKIP
    [PosixPath('/tmp/out/网格数据.gpkg'), PosixPath('/tmp/out/shp/level2_街道乡镇.shp'), ...]
    """
    folder.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame({
        "code": grids["code"].astype(str), "name": grids["name"].astype(str), "level": grids["level"].astype(int),
        "kind": grids["kind"].map(lambda k: KIND_LABELS.get(k, k)), "parent": grids["parent_code"].fillna(""),
        "employers": grids["employers"].astype(int),
    }, geometry=grids.geometry.values, crs=grids.crs)
    written = []
    gpkg = folder / "网格数据.gpkg"
    for level, part in frame.groupby("level"):
        part.to_file(gpkg, layer=f"level{level}", driver="GPKG", engine="pyogrio")
    written.append(gpkg)
    shp_dir = folder / "shp"
    shp_dir.mkdir(exist_ok=True)
    for level, part in frame.groupby("level"):
        stem = shp_dir / f"level{level}"
        part.to_file(stem.with_suffix(".shp"), driver="ESRI Shapefile", encoding="GBK", engine="pyogrio")
        written += sorted(p for p in shp_dir.iterdir() if p.stem == stem.stem)
    return written


def summarise_grids(session: Session, generation: str | None = None, today: dt.date | None = None,
                    stale_months: int = DEFAULT_STALE_MONTHS) -> pd.DataFrame:
    """One row per grid: code, name, level, parent, area, employers by risk level, staff, and
    the indicators of :mod:`gisgrid.analysis.indicators` in percent (empty where no data).

    Employers and 四定 staff of a grid include those of its descendants (each person once).
    """
    gen = find_export_generation(session, generation)
    grids = read_grids(session, gen)
    employers = read_employers(session, gen)
    parent_of = dict(zip(grids["id"], grids["parent_code"]))
    id_of = dict(zip(grids["code"], grids["id"]))
    counts = pd.DataFrame(0, index=grids["id"], columns=[*RISK_LEVELS, "headcount"], dtype="int64")
    per_grid = employers.groupby(["grid_id", "risk_level"]).size().unstack(fill_value=0)
    heads = employers.groupby("grid_id")["headcount"].sum()
    for gid, row in per_grid.iterrows():
        node = int(gid)
        while node is not None:  # add the finest grid's counts to every ancestor
            for lvl, n in row.items():
                counts.at[node, int(lvl)] += int(n)
            counts.at[node, "headcount"] += int(heads.get(gid, 0))
            parent = parent_of.get(node)
            node = id_of.get(parent) if parent else None
    area = grids.geometry.to_crs(epsg=gauss_kruger_epsg(float(grids.total_bounds[[0, 2]].mean()))).area / 1e6
    table = pd.DataFrame({
        "网格编码": grids["code"], "网格名称": grids["name"], "级别": grids["level"],
        "类型": grids["kind"].map(lambda k: KIND_LABELS.get(k, k)), "上级网格编码": grids["parent_code"].fillna(""),
        "面积（平方千米）": area.round(3).values,
        "用人单位（家）": counts[list(RISK_LEVELS)].sum(axis=1).values,
        **{f"{label}（家）": counts[lvl].values for lvl, (label, _) in RISK_LEVELS.items()},
        "职工人数": counts["headcount"].values,
    })
    rates = pd.concat([grid_indicators(session, gen.id, int(lvl), stale_months=stale_months, today=today)
                       for lvl in sorted(set(grids["level"]))])
    # 四定 rolled up like every other count: a street holds its own and its communities' staff.
    table["四定人员（人）"] = grids["code"].map(rates["staff_total"]).fillna(0).astype(int).values
    for key in ("risk_share", "contract_rate", "insured_rate", "stale_share"):
        table[f"{INDICATORS[key].label}（%）"] = grids["code"].map(rates[key]).round(1).values
    return table

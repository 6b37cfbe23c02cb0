"""Write the grids of a generation as GeoPackage, Shapefile, GeoJSON or KML.

The attribute names are the ones :mod:`gisgrid.boundaries.read` detects (代码, 名称,
上级代码, 类型), so export → import gives back the same grids. Shapefiles are written
in GBK with a ``.cpg`` by default, which Chinese desktop GIS reads correctly.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy.orm import Session

from gisgrid.boundaries.validate import generation_frame
from gisgrid.crs import STORAGE_CRS, parse_crs, wgs84_to_shifted
from gisgrid.errors import InputError, NotFound
from gisgrid.labels import KIND_LABELS

FORMATS = {"gpkg": ("GPKG", ".gpkg"), "shp": ("ESRI Shapefile", ".shp"), "geojson": ("GeoJSON", ".geojson"),
           "kml": ("KML", ".kml")}
ENCODINGS = ("gbk", "utf-8")


def export_grids(session: Session, path: str | Path, fmt: str, *, generation: str | None = None,
                 level: int | None = None, crs: str | None = None, encoding: str = "gbk") -> dict:
    """Write the grids of a generation to ``path``.

    Parameters
    ----------
    fmt
        ``gpkg`` (one layer per level), ``shp`` (``.shp`` or ``.zip`` path), ``geojson`` or ``kml``.
        Without ``level``, a single-layer format with several levels is written as
        one file per level (``name_level2.shp`` …).
    level
        Only this level.
    crs
        Output CRS: ``EPSG:xxxx`` (default EPSG:4490), or ``gcj02``/``bd09`` for
        an Amap/Baidu basemap (re-import with the same ``--crs``). KML is always
        WGS84 longitude/latitude.
    encoding
        Shapefile attribute encoding: ``gbk`` (default) or ``utf-8``; a ``.cpg`` says which.

    Returns
    -------
    dict
        ``generation``, ``format``, ``crs``, ``files`` and ``grids`` per level.

    Examples
    --------
    >>> export_grids(session, "out/grids.shp", "shp", level=3)  # doctest: +SKIP
    {'generation': '2027版', 'format': 'shp', 'crs': 'EPSG:4490', 'files': ['out/grids.shp'], 'grids': {3: 250}}
    """
    from gisgrid.db.queries import find_generation

    if fmt not in FORMATS:
        raise InputError(f"--format was {fmt!r}; expected one of {', '.join(FORMATS)}")
    encoding = (encoding or "gbk").lower()
    if encoding not in ENCODINGS:
        raise InputError(f"--encoding was {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    declared = parse_crs(crs or STORAGE_CRS)
    if fmt == "kml" and not declared.shifted and declared.crs.to_epsg() not in (4326, 4490):
        raise InputError(f"--crs was {crs!r}; KML holds WGS84 longitude/latitude only (or gcj02/bd09)")
    gen = find_generation(session, generation)
    frame = generation_frame(session, gen.id)
    if level is not None:
        frame = frame[frame["level"] == level]
    if frame.empty:
        raise NotFound(f"generation {gen.name!r} has no grids" + (f" at level {level}" if level else ""))
    path = Path(path)
    levels = sorted(int(v) for v in frame["level"].unique())
    files = []
    for lv in levels:
        table = _table(frame[frame["level"] == lv], declared, fmt, encoding)
        files.append(_write(table, path, fmt, lv, several=len(levels) > 1, encoding=encoding))
    return {"generation": gen.name, "format": fmt, "crs": declared.name,
            "encoding": encoding if fmt == "shp" else "utf-8",
            "files": sorted({str(f) for f in files}),
            "grids": {lv: int((frame["level"] == lv).sum()) for lv in levels}}


def _table(frame: gpd.GeoDataFrame, declared, fmt: str, encoding: str) -> gpd.GeoDataFrame:
    # dBase field names hold 10 bytes: 上级代码 is 8 in GBK but 12 in UTF-8, so a
    # UTF-8 Shapefile uses the civil-affairs abbreviation SJDM (read back as the parent).
    parent = "SJDM" if fmt == "shp" and encoding == "utf-8" else "上级代码"
    table = gpd.GeoDataFrame({
        "代码": frame["code"].values, "名称": frame["name"].values,
        parent: frame["parent_code"].where(frame["parent_code"].notna(), None).values,
        "类型": [KIND_LABELS.get(k, k) for k in frame["kind"]], "层级": frame["level"].astype(int).values,
    }, geometry=frame.geometry.values, crs=STORAGE_CRS)
    if fmt == "kml":
        table.insert(0, "Name", frame["name"].values)  # what Google Earth shows as the label
    if declared.shifted:
        shifted = shapely.transform(table.geometry.values, lambda xy: np.column_stack(
            wgs84_to_shifted(xy[:, 0], xy[:, 1], declared.name)))
        return table.set_geometry(shifted).set_crs("EPSG:4326", allow_override=True)
    return table.to_crs(declared.crs)


def _write(table: gpd.GeoDataFrame, path: Path, fmt: str, level: int, several: bool, encoding: str) -> Path:
    driver, suffix = FORMATS[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gpkg":
        table.to_file(path, layer=f"level_{level}", driver=driver)
        return path
    stem = f"{path.stem}_level{level}" if several else path.stem
    if fmt == "shp" and path.suffix.lower() == ".zip":
        return _write_zipped_shapefile(table, path.with_name(f"{stem}.zip"), encoding)
    target = path.with_name(stem + suffix)
    if fmt == "shp":
        table.to_file(target, driver=driver, encoding=encoding.upper())
        target.with_suffix(".cpg").write_text(encoding.upper(), encoding="ascii")
    else:
        target.unlink(missing_ok=True)
        table.to_file(target, driver=driver)
    return target


def _write_zipped_shapefile(table: gpd.GeoDataFrame, archive: Path, encoding: str) -> Path:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / f"{archive.stem}.shp"
        table.to_file(shp, driver="ESRI Shapefile", encoding=encoding.upper())
        shp.with_suffix(".cpg").write_text(encoding.upper(), encoding="ascii")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for part in sorted(Path(tmp).iterdir()):
                z.write(part, part.name)
    return archive

"""Read grid boundary files: formats, attribute fields, CRS → CGCS2000 (EPSG:4490)."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import shapely

from gisgrid.crs import STORAGE_CRS, DeclaredCrs, geometries_to_storage, parse_crs
from gisgrid.errors import InputError

# Common field names in Chinese division files and in English ones, most specific first.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("网格编码", "网格代码", "区划代码", "行政区划代码", "代码", "编码", "code", "gridcode",
             "grid_code", "adcode", "dm", "xzqdm"),
    "name": ("网格名称", "区划名称", "名称", "name", "gridname", "grid_name", "mc", "xzqmc"),
    "parent": ("上级代码", "上级编码", "父级代码", "上级网格编码", "parent_code", "parent", "pcode", "sjdm"),
    "kind": ("类型", "网格类型", "类别", "kind", "type"),
    "parent_name": ("上级名称", "父级名称", "上级网格名称", "parent_name", "sjmc"),
}

KIND_WORDS = (  # order matters: 街道 before 道, 社区 before 区
    ("街道", "street"), ("社区", "community"), ("园区", "park"), ("网格", "grid"),
    ("乡", "township"), ("镇", "town"), ("村", "village"), ("区", "district"), ("县", "district"),
    ("市", "city"),
)
ENGLISH_KINDS = ("city", "district", "street", "town", "township", "park", "community", "village", "grid")


@dataclass
class GridFile:
    """A boundary file read into memory, geometry already in EPSG:4490."""

    path: Path
    frame: gpd.GeoDataFrame  # columns: code, name, parent_code, kind, geometry
    source_crs: str
    fields: dict[str, str | None]
    warnings: list[dict] = field(default_factory=list)


def read_grid_file(path: str | Path, *, code_field: str | None = None, name_field: str | None = None,
                   parent_field: str | None = None, crs: str | None = None,
                   encoding: str | None = None, layer: str | None = None) -> GridFile:
    """Read a grid boundary file and bring it to CGCS2000 geographic (EPSG:4490).

    Parameters
    ----------
    path
        GeoJSON, Shapefile (``.shp`` or ``.zip``), GeoPackage or KML.
    code_field, name_field, parent_field
        Attribute names; detected from common Chinese/English names when omitted.
    crs
        The CRS of the coordinates when the file does not declare one, or to
        override a wrong declaration (``EPSG:xxxx``).
    encoding
        Attribute encoding when the file does not declare one (e.g. ``gbk``);
        a Shapefile's ``.cpg`` is used otherwise. Names that look garbled
        (GBK or UTF-8 bytes read with the wrong encoding) are refused with the
        encoding to use.
    layer
        The layer of a GeoPackage or KML with several layers, or the Shapefile
        inside a ``.zip`` holding several.

    Returns
    -------
    GridFile
        With ``frame`` columns ``code``, ``name``, ``parent_code``, ``kind``.

    Examples
    --------
    A file with no CRS is refused rather than guessed:

    >>> read_grid_file("no_prj.shp")  # doctest: +SKIP
    InputError: no_prj.shp declares no coordinate system; ...
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"file {path} does not exist")
    raw = _read_frame(path, encoding, layer)
    if raw.empty:
        raise InputError(f"{path.name} contains no features")
    _check_encoding(path, raw, encoding)
    declared = _declared_crs(path, raw, crs)
    fields = {
        "code": _pick_field(path, raw, "code", code_field, required=True),
        "name": _pick_field(path, raw, "name", name_field, required=True),
        "parent": _pick_field(path, raw, "parent", parent_field, required=False),
        "kind": _pick_field(path, raw, "kind", None, required=False),
        "parent_name": _pick_field(path, raw, "parent_name", None, required=False),
    }
    frame = gpd.GeoDataFrame({
        "code": _text_column(raw, fields["code"]),
        "name": _text_column(raw, fields["name"]),
        "parent_code": _text_column(raw, fields["parent"]) if fields["parent"] else None,
        "kind": _kinds(raw, fields["kind"], fields["name"]),
        "parent_name": _text_column(raw, fields["parent_name"]) if fields["parent_name"] else None,
    }, geometry=shapely.force_2d(raw.geometry.values))  # KML and CAD exports carry Z; grids are 2-D
    if declared.shifted:
        frame = frame.set_geometry(geometries_to_storage(frame.geometry.values, declared), crs=STORAGE_CRS)
    else:
        frame = frame.set_crs(declared.crs).to_crs(STORAGE_CRS)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="feature")
    unnamed = frame.index[pd.isna(frame["name"])].tolist()
    if unnamed:
        raise InputError(
            f"{path.name}: features {unnamed[:10]}{' …' if len(unnamed) > 10 else ''} have no name in field "
            f"{fields['name']!r}; every grid needs one: name the field with --name-field "
            f"(fields: {', '.join(c for c in raw.columns if c != raw.geometry.name)})"
        )
    _check_bounds(path, raw, frame, declared, given=crs)
    return GridFile(path=path, frame=frame, source_crs=declared.name, fields=fields)


def _read_frame(path: Path, encoding: str | None, layer: str | None) -> gpd.GeoDataFrame:
    source, layer = _source(path, layer)
    encoding = encoding or _cpg_codepage(path)
    options = {"encoding": encoding} if encoding else {}
    if layer is not None:
        options["layer"] = layer
    try:
        return gpd.read_file(source, **options)
    except Exception as exc:  # pyogrio raises several types; all mean "cannot read"
        reason = str(exc).splitlines()[0]
        if "codec can't decode" in reason and not encoding:
            raise InputError(f"cannot read the attributes of {path.name}: they are not UTF-8 and the file "
                             "declares no encoding (.cpg); give it, e.g. --encoding gbk") from None
        raise InputError(f"cannot read {path.name} as a GIS file: {reason}") from None


def _declared_crs(path: Path, raw: gpd.GeoDataFrame, given: str | None) -> DeclaredCrs:
    if given:
        return parse_crs(given)
    if raw.crs is None:
        hint = _crs_hint(raw)
        raise InputError(
            f"{path.name} declares no coordinate system (no .prj or crs member); "
            "declare it with --crs, e.g. --crs EPSG:4490 (CGCS2000), --crs EPSG:4547 (Gauss–Krüger 114°E) "
            "or --crs gcj02 (traced on an Amap basemap)" + (f"; {hint}" if hint else "")
        )
    epsg = raw.crs.to_epsg()
    if epsg is None:
        # A local projection (e.g. a city's own central meridian) has no EPSG code:
        # convert with its full definition, record its name (the column holds 40 characters).
        return DeclaredCrs(raw.crs.name[:40] or "custom", pyproj.CRS(raw.crs))
    return parse_crs(f"EPSG:{epsg}")


def _pick_field(path: Path, raw: pd.DataFrame, role: str, given: str | None, required: bool) -> str | None:
    columns = [c for c in raw.columns if c != raw.geometry.name]
    if given:
        if given not in columns:
            raise InputError(f"{path.name} has no field {given!r}; its fields are {', '.join(columns)}")
        return given
    lowered = {c.lower(): c for c in columns}
    for alias in FIELD_ALIASES[role]:
        column = lowered.get(alias.lower())
        # KML always has a Name field, often empty, with the real name in another field.
        if column is not None and _has_values(raw[column]):
            return column
    if required:
        option = {"code": "--code-field", "name": "--name-field"}[role]
        raise InputError(
            f"{path.name}: no {role} field found among {', '.join(columns)}; name it with {option}"
        )
    return None


def _has_values(column: pd.Series) -> bool:
    return bool((column.astype("string").str.strip().fillna("") != "").any())


def _text_column(raw: pd.DataFrame, column: str) -> pd.Series:
    # Codes are identifiers: keep them as text, never as numbers (leading zeros).
    values = raw[column].astype("string").str.strip()
    values = values.str.replace(r"\.0$", "", regex=True)
    return values.where(values != "", None).to_numpy(dtype=object)


def _kinds(raw: pd.DataFrame, kind_field: str | None, name_field: str) -> list[str]:
    labels = raw[kind_field].astype("string") if kind_field else raw[name_field].astype("string")
    return [kind_from_label(str(label)) if label is not pd.NA else "grid" for label in labels]


def kind_from_label(label: str) -> str:
    """Map a Chinese (街道, 镇, 社区…) or English kind label or a name to a grid kind.

    >>> kind_from_label("龙湖镇"), kind_from_label("新华街道"), kind_from_label("village")
    ('town', 'street', 'village')
    """
    text = label.strip()
    if text.lower() in ENGLISH_KINDS:
        return text.lower()
    for word, kind in KIND_WORDS:
        if text.endswith(word):
            return kind
    for word, kind in KIND_WORDS:
        if word in text:
            return kind
    return "grid"


def geometry_problems(frame: gpd.GeoDataFrame) -> list[dict]:
    """Empty or invalid geometries, each with the feature number and the reason."""
    problems = []
    for feature, geom in frame.geometry.items():
        if geom is None or geom.is_empty:
            problems.append({"kind": "empty_geometry", "feature": int(feature),
                             "message": f"feature {feature} has an empty geometry"})
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append({"kind": "invalid_geometry", "feature": int(feature),
                             "message": f"feature {feature} is a {geom.geom_type}; grids must be polygons"})
        elif not geom.is_valid:
            problems.append({"kind": "invalid_geometry", "feature": int(feature),
                             "message": f"feature {feature}: {shapely.is_valid_reason(geom)}"})
    return problems


def _cpg_codepage(path: Path) -> str | None:
    """A ``.cpg`` GDAL does not understand, as ArcGIS writes it (``ANSI 936``) → ``cp936``."""
    cpg = path.with_suffix(".cpg")
    if path.suffix.lower() != ".shp" or not cpg.exists():
        return None
    text = cpg.read_text(encoding="ascii", errors="replace").strip()
    match = re.fullmatch(r"(?:ANSI|OEM|CP)?\s*(\d{3,5})", text, flags=re.IGNORECASE)
    return f"cp{match.group(1)}" if match and text.lower() not in ("936", "cp936") else None


# -- containers and layers --------------------------------------------------------------

_INNER_FORMATS = (".shp", ".gpkg", ".geojson", ".json", ".kml")


def _source(path: Path, layer: str | None) -> tuple[str | Path, str | None]:
    """The GDAL source and layer to read; a choice is required when there are several."""
    if path.suffix.lower() == ".zip":
        return _zip_member(path, layer), None
    if path.suffix.lower() in (".gpkg", ".kml", ".kmz"):
        try:
            layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        except Exception as exc:  # pyogrio raises several types; all mean "cannot read"
            raise InputError(f"cannot read {path.name} as a GIS file: {str(exc).splitlines()[0]}") from None
        if layer is not None and layer not in layers:
            raise InputError(f"{path.name} has no layer {layer!r}; its layers are {', '.join(layers)}")
        if layer is None and len(layers) > 1:
            raise InputError(f"{path.name} has {len(layers)} layers ({', '.join(layers)}); "
                             "choose one with --layer")
        return path, layer
    return path, layer


def _zip_member(path: Path, layer: str | None) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if Path(n).suffix.lower() in _INNER_FORMATS
                     and not Path(n).name.startswith(".") and "__MACOSX" not in n]
    except zipfile.BadZipFile:
        raise InputError(f"{path.name} is not a readable .zip archive") from None
    if layer is not None:
        names = [n for n in names if Path(n).stem == layer or n == layer]
    if not names:
        wanted = f"named {layer!r} " if layer else ""
        raise InputError(f"{path.name} holds no Shapefile, GeoPackage, GeoJSON or KML {wanted}to read")
    if len(names) > 1:
        raise InputError(f"{path.name} holds {len(names)} files ({', '.join(names)}); "
                         "choose one with --layer NAME (the file name without extension)")
    return f"/vsizip/{path.resolve()}/{names[0]}"


# -- encodings ----------------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]")


def _check_encoding(path: Path, raw: gpd.GeoDataFrame, given: str | None) -> None:
    """Refuse garbled names (mojibake) with the encoding that reads them right."""
    columns = [c for c in raw.columns if c != raw.geometry.name]
    texts = []  # values first: a garbled name is what a planner recognises
    for column in columns:
        texts += [v for v in raw[column].head(200) if isinstance(v, str)]
    texts += columns
    found = detect_mojibake(texts)
    if found is None:
        return
    encoding, garbled, readable = found
    declared = f"was read as {given}" if given else "declares no encoding (.cpg) or a wrong one"
    example = f"{garbled!r} reads as {readable!r} in {encoding}" if readable else f"{garbled!r} is garbled"
    raise InputError(f"{path.name}: Chinese names look garbled ({example}); the file {declared}: "
                     f"give --encoding {encoding}")


def detect_mojibake(texts: list[str]) -> tuple[str, str, str | None] | None:
    """The encoding that un-garbles these texts: ``(encoding, garbled, readable)`` or None.

    Catches GBK or UTF-8 bytes read as Latin-1 (a Shapefile without ``.cpg``),
    UTF-8 read as GBK (characters from the rare GBK rows that UTF-8 lead bytes
    land on), and replacement characters (bytes that did not decode at all).

    Examples
    --------
    >>> detect_mojibake(["¶«·ç½ÖµÀ"])
    ('gbk', '¶«·ç½ÖµÀ', '东风街道')
    >>> detect_mojibake(["东风街道", "Café"]) is None
    True
    """
    rare = 0
    candidates = [t for t in texts if isinstance(t, str) and any(ord(ch) > 127 for ch in t)]
    for text in candidates:
        if "\ufffd" in text:
            return "gbk", text, None
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            raw = None
        if raw is not None:
            for encoding, label in (("utf-8", "utf-8"), ("gb18030", "gbk")):
                try:
                    fixed = raw.decode(encoding)
                except UnicodeDecodeError:
                    continue
                if _CJK.search(fixed):
                    return label, text, fixed
        try:
            fixed = text.encode("gb18030").decode("utf-8")
            if fixed != text and _CJK.search(fixed):
                return "utf-8", text, fixed
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        if _mostly_rare(text):
            rare += 1
    if candidates and rare >= max(1, len(candidates) // 2):
        example = next(t for t in candidates if _mostly_rare(t))
        return "utf-8", example, None
    return None


def _mostly_rare(text: str) -> bool:
    """UTF-8 read as GBK gives mostly rare characters (outside GB2312 level 1, lead
    byte 0xB0–0xD7 and trail byte ≥ 0xA1), where real names use common ones."""
    chars = _CJK.findall(text)
    if len(chars) < 2:
        return False
    common = 0
    for ch in chars:
        code = ch.encode("gb18030")
        common += len(code) == 2 and 0xB0 <= code[0] <= 0xD7 and code[1] >= 0xA1
    return common / len(chars) < 0.5


# -- coordinates that cannot be what the CRS says ---------------------------------------------

# CGCS2000 Gauss–Krüger with the zone number prefixed to x: 3° zones 25–45 are
# EPSG:4513–4533, 6° zones 13–23 are EPSG:4491–4501.
_PREFIXED_3 = (25, 45, 4513)
_PREFIXED_6 = (13, 23, 4491)
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


def _crs_hint(raw: gpd.GeoDataFrame) -> str | None:
    """What the raw coordinates look like, as a --crs suggestion."""
    geoms = [g for g in raw.geometry.values if g is not None and not g.is_empty]
    if not geoms:
        return None
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    if CHINA_BOUNDS[0] <= xmin and xmax <= CHINA_BOUNDS[2] and CHINA_BOUNDS[1] <= ymin and ymax <= CHINA_BOUNDS[3]:
        return ("the coordinates look like longitude/latitude: --crs EPSG:4490 (CGCS2000), "
                "or gcj02/bd09 if traced on an Amap/Baidu basemap")
    if xmin >= 1e7:
        zone = int(xmin // 1e6)
        for first, last, epsg in (_PREFIXED_3, _PREFIXED_6):
            if first <= zone <= last:
                size = "3°" if first == 25 else "6°"
                return (f"x = {xmin:,.0f} looks like Gauss–Krüger with the zone prefix {zone} ({size} zone): "
                        f"--crs EPSG:{epsg + zone - first} (CGCS2000)")
    if 1e5 <= xmin and xmax <= 1e6 and 1e5 <= ymin <= 6.5e6:
        return ("the coordinates look like Gauss–Krüger metres without a zone prefix: "
                "--crs EPSG:4534–4554 (CGCS2000 3° zone, e.g. EPSG:4547 for 114°E)")
    return None


def _check_bounds(path: Path, raw: gpd.GeoDataFrame, frame: gpd.GeoDataFrame, declared: DeclaredCrs,
                  given: str | None) -> None:
    geoms = [g for g in frame.geometry.values if g is not None and not g.is_empty]
    if not geoms:
        return
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    inside = (CHINA_BOUNDS[0] <= xmin and xmax <= CHINA_BOUNDS[2]
              and CHINA_BOUNDS[1] <= ymin and ymax <= CHINA_BOUNDS[3])
    if inside:
        return
    hint = _crs_hint(raw)
    source = f"--crs {given}" if given else f"its declared CRS {declared.name}"
    raise InputError(f"{path.name}: read with {source}, the grids fall outside China "
                     f"(lon {xmin:.3f}…{xmax:.3f}, lat {ymin:.3f}…{ymax:.3f}); the CRS is wrong"
                     + (f": {hint}" if hint else "; give the right one with --crs"))

"""Read grid boundary files: formats, attribute fields, CRS → CGCS2000 (EPSG:4490)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
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
                   encoding: str | None = None) -> GridFile:
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
        Attribute encoding when the file does not declare one (e.g. ``gbk``).

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
    raw = _read_frame(path, encoding)
    if raw.empty:
        raise InputError(f"{path.name} contains no features")
    declared = _declared_crs(path, raw, crs)
    fields = {
        "code": _pick_field(path, raw, "code", code_field, required=True),
        "name": _pick_field(path, raw, "name", name_field, required=True),
        "parent": _pick_field(path, raw, "parent", parent_field, required=False),
        "kind": _pick_field(path, raw, "kind", None, required=False),
    }
    frame = gpd.GeoDataFrame({
        "code": _text_column(raw, fields["code"]),
        "name": _text_column(raw, fields["name"]),
        "parent_code": _text_column(raw, fields["parent"]) if fields["parent"] else None,
        "kind": _kinds(raw, fields["kind"], fields["name"]),
    }, geometry=raw.geometry.values)
    if declared.shifted:
        frame = frame.set_geometry(geometries_to_storage(frame.geometry.values, declared), crs=STORAGE_CRS)
    else:
        frame = frame.set_crs(declared.crs).to_crs(STORAGE_CRS)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="feature")
    return GridFile(path=path, frame=frame, source_crs=declared.name, fields=fields)


def _read_frame(path: Path, encoding: str | None) -> gpd.GeoDataFrame:
    source = f"zip://{path}" if path.suffix.lower() == ".zip" else path
    options = {"encoding": encoding} if encoding else {}
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
        raise InputError(
            f"{path.name} declares no coordinate system (no .prj or crs member); "
            "declare it with --crs, e.g. --crs EPSG:4490 (CGCS2000), --crs EPSG:4547 (Gauss–Krüger 114°E) "
            "or --crs gcj02 (traced on an Amap basemap)"
        )
    return parse_crs(raw.crs.to_string() if raw.crs.to_epsg() is None else f"EPSG:{raw.crs.to_epsg()}")


def _pick_field(path: Path, raw: pd.DataFrame, role: str, given: str | None, required: bool) -> str | None:
    columns = [c for c in raw.columns if c != raw.geometry.name]
    if given:
        if given not in columns:
            raise InputError(f"{path.name} has no field {given!r}; its fields are {', '.join(columns)}")
        return given
    lowered = {c.lower(): c for c in columns}
    for alias in FIELD_ALIASES[role]:
        if alias.lower() in lowered:
            return lowered[alias.lower()]
    if required:
        option = {"code": "--code-field", "name": "--name-field"}[role]
        raise InputError(
            f"{path.name}: no {role} field found among {', '.join(columns)}; name it with {option}"
        )
    return None


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

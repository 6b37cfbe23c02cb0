"""An offline basemap from a local MBTiles file (``GISGRID_BASEMAP=mbtiles:/path/city.mbtiles``).

MBTiles (https://github.com/mapbox/mbtiles-spec, 1.3) is one SQLite file of web-Mercator
tiles: ``tiles(zoom_level, tile_column, tile_row, tile_data)`` with rows counted from the
south (TMS), and ``metadata(name, value)`` naming the format, zoom range, bounds and
attribution. The app serves its tiles at ``/basemap/{z}/{x}/{y}`` so planners can draw along
roads and rivers on an intranet. The file is only read (opened read-only); gisgrid's data
stays in PostgreSQL — SQLite here is the basemap's file format, not a database of ours.

Raster tiles (png, jpg, webp) are drawn by Leaflet as they are. Vector tiles (pbf) would need
a style and a renderer in the browser that gisgrid does not ship yet: such a file is refused
with a clear message.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class MBTilesError(ValueError):
    """The file is missing, not an MBTiles file, or of a kind gisgrid cannot draw."""


@dataclass(frozen=True)
class MBTilesInfo:
    path: Path
    format: str
    media_type: str
    min_zoom: int
    max_zoom: int
    attribution: str
    name: str


_local = threading.local()


def _connect(path: Path) -> sqlite3.Connection:
    cache = getattr(_local, "connections", None)
    if cache is None:
        cache = _local.connections = {}
    conn = cache.get(path)
    if conn is None:
        conn = cache[path] = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    return conn


def read_info(path: Path) -> MBTilesInfo:
    """The file's format and zoom range; MBTilesError naming the file and what is wrong."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MBTilesError(f"底图文件 {path} 不存在；请检查 GISGRID_BASEMAP=mbtiles:路径")
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise MBTilesError(f"底图文件 {path} 不是 MBTiles（SQLite）文件；请提供 .mbtiles 格式的瓦片文件")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
            zooms = conn.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise MBTilesError(f"底图文件 {path} 缺少 MBTiles 的 metadata 或 tiles 表（{exc}）；"
                           "请用 MBTiles 1.x 工具（如 gdal_translate、tippecanoe、mb-util）重新生成") from None
    fmt = (meta.get("format") or "").strip().lower()
    if fmt == "pbf":
        raise MBTilesError(f"底图文件 {path} 是矢量瓦片（pbf）；gisgrid 目前只能显示栅格底图（png、jpg、webp），"
                           "请先渲染为栅格 MBTiles")
    if fmt not in MEDIA_TYPES:
        raise MBTilesError(f"底图文件 {path} 的瓦片格式为 {fmt or '（未注明）'}；应为 png、jpg 或 webp "
                           "（metadata 表的 format 项）")
    if zooms[0] is None:
        raise MBTilesError(f"底图文件 {path} 没有任何瓦片")
    return MBTilesInfo(path=path.resolve(), format=fmt, media_type=MEDIA_TYPES[fmt],
                       min_zoom=int(meta.get("minzoom", zooms[0])), max_zoom=int(meta.get("maxzoom", zooms[1])),
                       attribution=meta.get("attribution") or "本地底图", name=meta.get("name") or path.stem)


def read_tile(info: MBTilesInfo, z: int, x: int, y: int) -> bytes | None:
    """The tile at web-map (XYZ) address z/x/y, or None where the file has none."""
    if not (0 <= z <= 30 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        return None
    row = _connect(info.path).execute(
        "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
        (z, x, (2 ** z - 1) - y)).fetchone()  # TMS rows count from the south
    return bytes(row[0]) if row else None

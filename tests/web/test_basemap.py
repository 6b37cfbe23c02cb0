"""An offline basemap from a local MBTiles file: served by the app (no external link), XYZ rows
flipped from TMS, missing tiles empty, bad files refused with the file named, hostile
attribution shown as text."""

from __future__ import annotations

import sqlite3
import struct
import zlib

import pytest

from gisgrid.config import ConfigError, Settings, load_settings
from gisgrid.maps.assets import find_external_links


def _png(grey: int) -> bytes:
    """A valid 1×1 greyscale PNG (the file's own bytes are what the app must return)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes([0, grey]))) + chunk(b"IEND", b""))


def _mbtiles(path, fmt="png", attribution='<a href="http://evil.example/">底图</a><script>alert(1)</script>'):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE metadata (name text, value text)")
    conn.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
    conn.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "测试底图"), ("format", fmt), ("minzoom", "0"),
                                                            ("maxzoom", "2"), ("attribution", attribution)])
    for z in range(3):
        for x in range(2 ** z):
            for row in range(2 ** z):
                conn.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, row, _png(10 * z + x + row)))
    conn.commit()
    conn.close()
    return path


def test_local_basemap_is_served_and_drawn(demo_url, tmp_path):
    from gisgrid.web import create_app

    path = _mbtiles(tmp_path / "city.mbtiles")
    settings = load_settings({"GISGRID_HOME": str(tmp_path), "GISGRID_BASEMAP": f"mbtiles:{path}"})
    assert settings.basemap == "mbtiles" and settings.basemap_path == path.resolve()
    app = create_app({"TESTING": True}, settings=Settings(home=tmp_path, database_url=demo_url, basemap="mbtiles",
                                                         basemap_path=path.resolve()))
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert page.count("L.tileLayer(") == 1 and "/basemap/{z}/{x}/{y}" in page
    assert find_external_links(page) == [] and "evil.example" not in page and "<script>alert" not in page
    tile = client.get("/basemap/2/1/0")  # XYZ row 0 at z 2 is TMS row 3
    assert tile.status_code == 200 and tile.mimetype == "image/png" and tile.data == _png(10 * 2 + 1 + 3)
    assert "max-age" in tile.headers["Cache-Control"]
    assert client.get("/basemap/5/0/0").status_code == 204
    assert client.get("/basemap/2/9/0").status_code == 400   # not a tile of zoom 2
    assert client.get("/basemap/a/b/c").status_code == 400
    assert app.test_client(user=None).get("/basemap/0/0/0").status_code in (302, 401)
    plain = create_app({"TESTING": True}, settings=Settings(home=tmp_path, database_url=demo_url))
    assert plain.test_client().get("/basemap/0/0/0").status_code == 404  # none configured: off by default


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "不存在"),
    (lambda p: p.write_text("not a database"), "不是 MBTiles"),
    (lambda p: _mbtiles(p, fmt="pbf"), "矢量瓦片"),
    (lambda p: _mbtiles(p, fmt="tiff"), "tiff"),
])
def test_bad_basemap_files_are_refused_naming_the_file(tmp_path, setup, message):
    path = tmp_path / "bad.mbtiles"
    setup(path)
    with pytest.raises(ConfigError) as caught:
        load_settings({"GISGRID_HOME": str(tmp_path), "GISGRID_BASEMAP": f"mbtiles:{path}"})
    assert message in str(caught.value) and "bad.mbtiles" in str(caught.value)

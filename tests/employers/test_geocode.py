"""Geocoders: the offline gazetteer and an online provider (geopy, Baidu) against a fake server on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from gisgrid.crs import wgs84_to_shifted
from gisgrid.employers.geocode import (
    ChainGeocoder, GazetteerEntry, GazetteerGeocoder, ProviderGeocoder, build_provider,
)

TRUE_POINT = (113.7345678, 34.3212345)


@pytest.fixture
def fake_baidu():
    """A Baidu geocoding v3 look-alike answering in BD-09 on 127.0.0.1."""
    bx, by = wgs84_to_shifted(np.array([TRUE_POINT[0]]), np.array([TRUE_POINT[1]]), "bd09")
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = parse_qs(urlparse(self.path).query)
            seen.append(query)
            if "示范" in query["address"][0]:
                body = {"status": 0, "result": {"location": {"lng": float(bx[0]), "lat": float(by[0])},
                                                "level": "门址", "precise": 1}}
            else:
                body = {"status": 0, "result": []}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/geocoding/v3/", seen
    server.shutdown()
    server.server_close()


def test_baidu_results_are_converted_from_bd09(fake_baidu):
    url, seen = fake_baidu
    provider = build_provider("baidu", "test-key", url)
    hit = provider.geocode("示范市文昌街道和平路1号")
    assert abs(hit.lon - TRUE_POINT[0]) < 1e-7 and abs(hit.lat - TRUE_POINT[1]) < 1e-7
    assert (hit.method, hit.precision) == ("provider", "门址")
    assert seen[0]["ak"] == ["test-key"] and seen[0]["output"] == ["json"]
    assert provider.geocode("别处") is None


def test_chain_tries_the_gazetteer_first(fake_baidu):
    url, seen = fake_baidu
    gazetteer = GazetteerGeocoder([GazetteerEntry("419901001", "文昌街道", 2, "419901", 113.70, 34.30)])
    chain = ChainGeocoder(gazetteer, build_provider("baidu", "k", url))
    assert chain.geocode("示范市文昌街道和平路1号").method == "gazetteer" and seen == []
    assert chain.geocode("示范市某处").method == "provider"


def test_provider_refuses_unknown_crs():
    with pytest.raises(ValueError, match="expected bd09, gcj02, wgs84 or cgcs2000"):
        ProviderGeocoder(object(), "mars")


def test_import_uses_the_provider_after_the_gazetteer(fake_baidu, run_cli, tmp_path, engine):
    from tests.fixtures.handdrawn import write_grid_files

    url, _ = fake_baidu
    paths = write_grid_files(tmp_path)
    for level in (1, 2, 3):
        run_cli("grids", "import", paths[level], "--level", level, "--generation", "2026", "--commit")
    run_cli("grids", "activate", "2026", "--effective-from", "2026-01-01", "--commit")
    (tmp_path / "r.csv").write_text("单位名称,地址\n甲公司,测试市示范路1号\n乙公司,别处\n", encoding="utf-8")
    report = json.loads(run_cli("employers", "import", tmp_path / "r.csv", "--geocoder", "baidu",
                                "--geocoder-key", "k", "--geocoder-url", url, "--json").output)
    assert report["located_by"] == {"provider": 1, "none": 1} and report["unlocated"] == 1

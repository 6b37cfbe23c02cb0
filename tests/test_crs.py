"""Coordinate systems: GCJ-02/BD-09 undone to under a millimetre, declared CRSs parsed."""

from __future__ import annotations

import numpy as np
import prcoords  # independent implementation, a test dependency
import pytest

from gisgrid.crs import (
    bd09_to_wgs84, gauss_kruger_epsg, gcj02_to_wgs84, parse_crs, points_to_storage, wgs84_to_shifted,
)
from gisgrid.errors import InputError

RNG = np.random.default_rng(3)
LON = RNG.uniform(100, 125, 500)
LAT = RNG.uniform(20, 45, 500)


def _metres(dlon, dlat, lat):
    return np.hypot(dlon * 111_320 * np.cos(np.radians(lat)), dlat * 110_540)


def test_gcj02_forward_matches_an_independent_implementation():
    x, y = wgs84_to_shifted(LON, LAT, "gcj02")
    for lon, lat, gx, gy in zip(LON[:50], LAT[:50], x[:50], y[:50]):
        ref_lat, ref_lon = prcoords.wgs_gcj((lat, lon))
        assert _metres(gx - ref_lon, gy - ref_lat, lat) < 0.01


@pytest.mark.parametrize("system, inverse", [("gcj02", gcj02_to_wgs84), ("bd09", bd09_to_wgs84)])
def test_inverse_is_under_a_millimetre(system, inverse):
    sx, sy = wgs84_to_shifted(LON, LAT, system)
    shift = _metres(sx - LON, sy - LAT, LAT)
    assert shift.min() > 100  # the shift is real: hundreds of metres
    x, y = inverse(sx, sy)
    assert _metres(x - LON, y - LAT, LAT).max() < 0.001


def test_gcj02_inverse_against_prcoords_precise_inverse():
    sx, sy = wgs84_to_shifted(LON[:50], LAT[:50], "gcj02")
    x, y = gcj02_to_wgs84(sx, sy)
    for lon, lat, gx, gy in zip(x, y, sx, sy):
        ref_lat, ref_lon = prcoords.gcj_wgs_bored((gy, gx))
        assert _metres(lon - ref_lon, lat - ref_lat, lat) < 0.01


@pytest.mark.parametrize("text, name", [
    ("EPSG:4490", "EPSG:4490"), ("4547", "EPSG:4547"), ("CGCS2000", "EPSG:4490"), ("wgs84", "EPSG:4326"),
    ("GCJ02", "gcj02"), ("gcj-02", "gcj02"), ("BD09", "bd09"), ("百度", "bd09"), ("EPSG:2383", "EPSG:2383"),
])
def test_parse_crs(text, name):
    assert parse_crs(text).name == name


def test_parse_crs_refuses_with_what_is_allowed():
    with pytest.raises(InputError, match=r"CRS was 'mars'; expected EPSG:xxxx .* gcj02 .* bd09"):
        parse_crs("mars")


def test_gauss_kruger_zone_to_storage():
    x, y = points_to_storage([500000.0], [3800000.0], parse_crs("EPSG:4547"))
    assert x[0] == pytest.approx(114.0, abs=1e-9)
    assert gauss_kruger_epsg(113.7) == 4547 and gauss_kruger_epsg(75.1) == 4534 and gauss_kruger_epsg(140) == 4554

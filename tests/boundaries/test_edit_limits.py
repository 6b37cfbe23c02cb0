"""What one edit may cost: indexed snapping (same result as all-pairs) and the vertex cap."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Polygon, box

from gisgrid.boundaries.edit import _snap_vertices, replace_geometry, split_grid
from gisgrid.config import Settings
from gisgrid.errors import InputError
from tests.boundaries.defects import V3, V4, deg
from tests.boundaries.snap_oracle import snap_all_pairs


def _wobbly_ring(rng, centre, radius, n):
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.8, 1.2, n)
    return np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)])


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    drawn = Polygon(_wobbly_ring(rng, (0, 0), 1.0, int(rng.integers(4, 60))))
    if seed % 3 == 0:  # a hole and a second part
        drawn = shapely.MultiPolygon([Polygon(drawn.exterior, [_wobbly_ring(rng, (0, 0), 0.3, 8)[::-1]]),
                                      Polygon(_wobbly_ring(rng, (3, 0), 0.5, 12))])
    # Neighbours' boundaries near the drawn one: close enough that many vertices snap to a
    # vertex, many to an edge, and some stay.
    lines = [LineString(_wobbly_ring(rng, rng.normal(0, 0.1, 2), 1.0, int(rng.integers(3, 80))))
             for _ in range(int(rng.integers(1, 4)))]
    reference = shapely.union_all([*lines, box(-1.5, -1.5, 1.5, 1.5).boundary])
    tolerance = float(rng.choice([0.0, 0.01, 0.05, 0.2, 0.5]))
    return drawn, reference, tolerance


@pytest.mark.parametrize("seed", range(150))
def test_indexed_snapping_equals_the_all_pairs_result(seed):
    drawn, reference, tolerance = _random_case(seed)
    new = _snap_vertices(drawn, reference, tolerance)
    old = snap_all_pairs(drawn, reference, tolerance)
    assert np.array_equal(shapely.get_coordinates(new), shapely.get_coordinates(old))
    assert new.geom_type == old.geom_type


def test_random_cases_exercise_every_branch():
    """The oracle comparison means something: vertex snaps, edge snaps and untouched vertices all occur."""
    kinds = set()
    for seed in range(150):
        drawn, reference, tolerance = _random_case(seed)
        before = shapely.get_coordinates(drawn)
        after = shapely.get_coordinates(_snap_vertices(drawn, reference, tolerance))
        ref = {tuple(c) for c in shapely.get_coordinates(reference)}
        for b, a in zip(before, after):
            kinds.add("kept" if (a == b).all() else "vertex" if tuple(a) in ref else "edge")
    assert kinds == {"kept", "vertex", "edge"}


def test_snapping_onto_a_vertex_wins_over_a_nearer_edge():
    reference = LineString([(0, 0), (10, 0)])
    drawn = Polygon([(0.3, 0.1), (5, 0.05), (5, 5), (0.3, 5)])
    coords = shapely.get_coordinates(_snap_vertices(drawn, reference, 0.5))
    assert tuple(coords[0]) == (0.0, 0.0)   # vertex within 0.5 m-units, though the edge is nearer
    assert tuple(coords[1]) == (5.0, 0.0)   # no vertex near: onto the edge
    assert tuple(coords[2]) == (5.0, 5.0)   # too far: kept


# -- the vertex cap --------------------------------------------------------------------------

def _circle(n: int, radius=0.5, centre=(2.5, 1.0)) -> dict:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = deg(Polygon(np.column_stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)])))
    return json.loads(shapely.to_geojson(ring))


def test_api_refuses_a_boundary_over_the_vertex_limit_naming_count_and_limit(draft, settings):
    from gisgrid.web import create_app

    client = create_app({"TESTING": True}, settings=settings.with_(max_edit_vertices=500)).test_client()
    big = client.put(f"/api/generations/draft/grids/{V4}/geometry", json={"geometry": _circle(600)})
    assert big.status_code == 400
    message = big.get_json()["message"]
    assert "有 601 个节点" in message and "最多接受 500 个" in message and "GISGRID_MAX_EDIT_VERTICES" in message
    line = {"type": "LineString", "coordinates": [[2.5 + i * 1e-6, -0.5] for i in range(501)]}
    long_line = client.post(f"/api/generations/draft/grids/{V3}/split", json={"line": line})
    assert long_line.status_code == 400 and "拆分线（line）有 501 个节点" in long_line.get_json()["message"]
    # As WKT the same limit holds (counted by shapely once parsed).
    wkt = shapely.to_wkt(shapely.from_geojson(json.dumps(_circle(600))))
    as_wkt = client.put(f"/api/generations/draft/grids/{V4}/geometry", json={"geometry": wkt})
    assert as_wkt.status_code == 400 and "有 601 个节点" in as_wkt.get_json()["message"]


def test_under_the_limit_the_edit_goes_through(draft, settings):
    from gisgrid.web import create_app

    client = create_app({"TESTING": True}, settings=settings.with_(max_edit_vertices=500)).test_client()
    line = json.loads(shapely.to_geojson(deg(LineString([(2.5, -0.5), (2.5, 2.5)]))))
    ok = client.post(f"/api/generations/draft/grids/{V3}/split", json={"line": line, "version": 1})
    assert ok.status_code == 200, ok.get_json()


def test_domain_functions_take_the_limit_too(draft):
    with pytest.raises(InputError, match=r"geometry has 601 vertices; at most 600"):
        replace_geometry(draft, "draft", V4, _circle(600), max_vertices=600)
    with pytest.raises(InputError, match=r"line has 3 vertices; at most 2"):
        split_grid(draft, "draft", V3, deg(LineString([(2.5, -0.5), (2.5, 1), (2.5, 2.5)])), max_vertices=2)


def test_vertex_limit_setting():
    from gisgrid.config import ConfigError, load_settings

    assert load_settings({"GISGRID_HOME": "/tmp/g"}).max_edit_vertices == 20_000
    assert load_settings({"GISGRID_HOME": "/tmp/g", "GISGRID_MAX_EDIT_VERTICES": "5000"}).max_edit_vertices == 5000
    with pytest.raises(ConfigError, match="GISGRID_MAX_EDIT_VERTICES was 'many'"):
        load_settings({"GISGRID_HOME": "/tmp/g", "GISGRID_MAX_EDIT_VERTICES": "many"})
    assert Settings(home="/tmp").max_edit_vertices == 20_000

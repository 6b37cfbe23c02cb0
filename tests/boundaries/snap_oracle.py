"""The boundary-edit snapping as it was before the STRtree: every vertex against every
reference vertex and edge.  The tests' oracle for :func:`gisgrid.boundaries.edit._snap_vertices`,
and the "before" of benchmarks/edit_snap.py."""

from __future__ import annotations

import numpy as np
import shapely


def snap_all_pairs(geom, reference, tolerance: float):
    coords = shapely.get_coordinates(geom)
    points = shapely.points(coords)
    vertices = shapely.multipoints(shapely.get_coordinates(reference))
    to_vertex = shapely.get_coordinates(shapely.shortest_line(points, vertices))[1::2]
    to_edge = shapely.get_coordinates(shapely.shortest_line(points, reference))[1::2]
    near_vertex = (shapely.distance(points, vertices) <= tolerance)[:, None]
    near_edge = (shapely.distance(points, reference) <= tolerance)[:, None]
    snapped = np.where(near_vertex, to_vertex, np.where(near_edge, to_edge, coords))
    return shapely.transform(geom, lambda _: snapped)

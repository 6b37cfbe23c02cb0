"""Property: random splits and merges of a valid coverage leave it valid (or are refused)."""

from __future__ import annotations

import pytest
import shapely
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st
from shapely.geometry import LineString

from gisgrid.boundaries.edit import merge_grids, split_grid
from gisgrid.boundaries.validate import validate_generation
from gisgrid.errors import GisgridError

OPERATION = st.one_of(
    st.tuples(st.just("split"), st.integers(0, 50), st.booleans(), st.floats(0.05, 0.95)),
    st.tuples(st.just("merge"), st.integers(0, 50), st.booleans(), st.floats(0, 1)),
)


def _leaves(session) -> list[tuple[str, object]]:
    rows = session.execute(sa.text(
        "SELECT code, ST_AsBinary(geom) FROM grid WHERE level = 3 ORDER BY code")).all()
    return [(code, shapely.from_wkb(bytes(wkb))) for code, wkb in rows]


def _apply(session, op) -> None:
    kind, index, vertical, fraction = op
    leaves = _leaves(session)
    code, geom = leaves[index % len(leaves)]
    if kind == "split":
        xmin, ymin, xmax, ymax = geom.bounds
        if vertical:
            x = xmin + (xmax - xmin) * fraction
            line = LineString([(x, ymin - 0.001), (x, ymax + 0.001)])
        else:
            y = ymin + (ymax - ymin) * fraction
            line = LineString([(xmin - 0.001, y), (xmax + 0.001, y)])
        split_grid(session, "draft", code, line)
    else:
        neighbours = [c for c, g in leaves if c != code
                      and shapely.intersection(g.boundary, geom.boundary).length > 0]
        if neighbours:
            merge_grids(session, "draft", [code, neighbours[int(fraction * (len(neighbours) - 1))]])


# derandomize: the same examples on every run, so a green CI stays green on the same code.
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATION, min_size=1, max_size=5))
def test_random_splits_and_merges_keep_the_coverage_valid(draft, operations):
    outer = draft.begin_nested()
    try:
        for op in operations:
            step = draft.begin_nested()
            try:
                _apply(draft, op)
                step.commit()
            except GisgridError:   # refused (e.g. not siblings): nothing may have changed
                step.rollback()
            report = validate_generation(draft, "draft")
            assert report["errors"] == [], (op, report["errors"][:2])
            total = draft.execute(sa.text(
                "SELECT sum(ST_Area(geom::geography)) FROM grid WHERE level = 3")).scalar()
            parents = draft.execute(sa.text(
                "SELECT sum(ST_Area(geom::geography)) FROM grid WHERE level = 2")).scalar()
            # Splits in lon/lat round new vertices to double precision: a found case lost
            # 5 m² of 8.17 km² (6e-7) without any gap wide enough to be a validation error.
            assert total == pytest.approx(parents, rel=1e-6)
    finally:
        outer.rollback()

"""Property: whatever mix of defects a village layer has, validation lists every one of them.

A generated layer (4–6 villages of random widths per street, tests/boundaries/
multi_defects.py) gets a random subset of the eight defects, each in a village of its
own, and is optionally shifted as GCJ-02 or BD-09 data is. Validating it in memory
(what ``gisgrid grids import`` does before writing) must not raise, must report each
injected kind with the feature it was put in, and must report a shift exactly when
there is one. Derandomized and bounded, so CI runs the same examples in seconds.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gisgrid.boundaries.validate import validate_grids
from tests.boundaries.multi_defects import DEFECTS, NEEDS_NEIGHBOUR, STREETS, eligible, inject, village_rows

# Cuts on a 0.05-unit (≈ 46 m) lattice at least 0.25 units (≈ 230 m) apart.
STEP, MIN_WIDTH = 0.05, 5


@st.composite
def street_cuts(draw, west: float, east: float) -> list[float]:
    slots = round((east - west) / STEP)
    count = draw(st.integers(min_value=4, max_value=6))  # 8 villages: room for all eight
    widths = [MIN_WIDTH] * count
    for _ in range(slots - MIN_WIDTH * count):
        widths[draw(st.integers(min_value=0, max_value=count - 1))] += 1
    edges, x = [], 0
    for w in widths[:-1]:
        x += w
        edges.append(round(west + x * STEP, 6))
    return edges


@st.composite
def defective_layers(draw):
    cuts = [draw(street_cuts(west, east)) for _, west, east in STREETS]
    rows = village_rows(cuts)
    chosen = draw(st.sets(st.sampled_from(DEFECTS), min_size=1))
    targets: dict[str, int] = {}
    # the choosy ones first: overlap and sliver need a neighbour in their street
    for defect in sorted(chosen, key=lambda d: d not in NEEDS_NEIGHBOUR):
        free = [i for i in eligible(rows, defect) if i not in targets.values()]
        targets[defect] = draw(st.sampled_from(free))
    shift = draw(st.sampled_from([None, "gcj02", "bd09"]))
    return rows, targets, shift


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(defective_layers())
def test_every_injected_defect_is_reported(layer):
    from tests.boundaries.multi_defects import memory_frame

    rows, targets, shift = layer
    report = validate_grids(memory_frame(inject(rows, targets), shift))
    items = [i for i in report["errors"] + report["warnings"] if i["level"] == 3]
    kinds = {i["kind"] for i in items}
    for defect, row in targets.items():
        found = [i for i in items if i["kind"] == defect]
        assert found, f"{defect} in feature {row + 1} not reported (shift {shift}): {sorted(kinds)}"
        assert any(row + 1 in i["features"] for i in found), (defect, row + 1, found)
    assert ("suspected_offset" in kinds) == (shift is not None), (shift, sorted(kinds))
    assert {i["kind"] for i in report["errors"]} <= set(DEFECTS) | {"suspected_offset"}, sorted(kinds)

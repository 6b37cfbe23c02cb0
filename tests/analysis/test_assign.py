"""Assignment of employers to their finest grid, on hand-drawn cases."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.fixtures.handdrawn import write_employers, write_grid_files


@pytest.fixture
def loaded(run_cli, tmp_path, engine):
    paths = write_grid_files(tmp_path)
    for level in (1, 2, 3):
        run_cli("grids", "import", paths[level], "--level", level, "--generation", "2026", "--commit")
    run_cli("grids", "activate", "2026", "--effective-from", "2026-01-01", "--commit")
    codes = write_employers(tmp_path / "employers.csv")
    run_cli("employers", "import", tmp_path / "employers.csv", "--commit")
    return codes


def _assignments(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT e.credit_code, g.code AS grid, a.tie, n.code AS nearest, a.distance_m
            FROM assignment a JOIN employer e ON e.id = a.employer_id
            LEFT JOIN grid g ON g.id = a.grid_id LEFT JOIN grid n ON n.id = a.nearest_grid_id
        """)).mappings()
        return {r["credit_code"]: dict(r) for r in rows}


@pytest.mark.parametrize("label, grid, tie", [
    ("inside", "419999001001", False),
    ("edge", "419999001001", True),      # C1/C2 edge: lowest code wins
    ("vertex", "419999001001", True),    # C1, C2 and C3 meet: lowest code wins
])
def test_covered_points_go_to_lowest_code(loaded, engine, label, grid, tie):
    row = _assignments(engine)[loaded[label]]
    assert (row["grid"], row["tie"]) == (grid, tie)
    assert row["nearest"] is None and row["distance_m"] is None


@pytest.mark.parametrize("label, nearest, metres", [
    ("hole", "419999002201", (215, 230)),     # 0.002° of latitude to the hole's edge ≈ 222 m
    ("outside", "419999002201", (450, 470)),  # 0.005° of longitude at 34.31° N ≈ 459 m
])
def test_uncovered_points_get_nearest_grid_in_metres(loaded, engine, label, nearest, metres):
    row = _assignments(engine)[loaded[label]]
    assert row["grid"] is None
    assert row["nearest"] == nearest
    assert metres[0] <= row["distance_m"] <= metres[1]


def test_employer_without_coordinates_is_unassigned_without_nearest(loaded, engine):
    row = _assignments(engine)[loaded["nowhere"]]
    assert row["grid"] is None and row["nearest"] is None


def test_assign_json_contract(loaded, run_cli):
    data = json.loads(run_cli("employers", "assign", "--json").output)
    assert {k: data[k] for k in ("total", "assigned", "unassigned", "ties")} == \
        {"total": 6, "assigned": 3, "unassigned": 3, "ties": 2}
    assert data["unlocated"] == 1 and data["committed"] is False


def test_assign_dry_run_writes_nothing(loaded, run_cli, engine):
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM assignment"))
    run_cli("employers", "assign")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM assignment")).scalar() == 0
    run_cli("employers", "assign", "--commit")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM assignment")).scalar() == 6


def test_moving_an_employer_reassigns_only_it(loaded, engine):
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.db.engine import session_scope

    with session_scope(engine) as session:
        employer_id = session.execute(sa.text("SELECT id FROM employer WHERE credit_code = :c"),
                                      {"c": loaded["hole"]}).scalar()
        session.execute(sa.text("UPDATE employer SET geom = ST_SetSRID(ST_MakePoint(113.725, 34.315), 4490) "
                                "WHERE id = :id"), {"id": employer_id})
        summary = assign_employers(session, employer_ids=[employer_id])
    assert summary == {"generation": "2026", "total": 1, "assigned": 1, "unassigned": 0,
                       "unlocated": 0, "ties": 0}
    assert _assignments(engine)[loaded["hole"]]["grid"] == "419999002201"


def test_grids_list_counts_descendants(loaded, run_cli):
    rows = {r["code"]: r for r in json.loads(run_cli("grids", "list", "--json").output)}
    assert rows["419999"]["employers"] == 3
    assert rows["419999001"]["employers"] == 3 and rows["419999002"]["employers"] == 0
    assert rows["419999001001"]["parent_code"] == "419999001"
    assert rows["419999"]["parent_code"] is None
    assert {rows[c]["level"] for c in rows} == {1, 2, 3}


def test_few_employers_path_agrees_with_the_bulk_path(loaded, engine):
    """Inserts and moves take the per-employer path (assign.FEW); a full run takes the set-based
    one: on points inside, on edges and vertices, in the hole, outside and unlocated, they agree."""
    import numpy as np

    from gisgrid.analysis.assign import assign_employers
    from gisgrid.db.engine import session_scope
    from tests.fixtures.handdrawn import UNIT, X0, Y0

    rng = np.random.default_rng(5)
    xs = np.concatenate([rng.uniform(-0.5, 3.5, 150), [0.75, 1.5, 1.5, 0.0, 3.0, 2.2, 2.5]])
    ys = np.concatenate([rng.uniform(-0.5, 2.5, 150), [1.0, 1.0, 0.5, 1.5, 2.0, 1.0, 0.8]])
    with session_scope(engine) as session:
        ids = [session.execute(sa.text(
            "INSERT INTO employer (name, geom) VALUES (:n, ST_SetSRID(ST_MakePoint(:x, :y), 4490)) RETURNING id"),
            {"n": f"点{i}", "x": float(X0 + x * UNIT), "y": float(Y0 + y * UNIT)}).scalar() for i, (x, y) in enumerate(zip(xs, ys))]
        ids.append(session.execute(sa.text("INSERT INTO employer (name) VALUES ('无坐标') RETURNING id")).scalar())
        for start in range(0, len(ids), 40):
            assign_employers(session, employer_ids=ids[start:start + 40])

    def snapshot():
        with engine.connect() as conn:
            return {r[0]: (r[1], r[2], r[3], None if r[4] is None else round(r[4], 3)) for r in conn.execute(sa.text(
                "SELECT employer_id, grid_id, tie, nearest_grid_id, distance_m FROM assignment"))}

    few = snapshot()
    with session_scope(engine) as session:
        assign_employers(session)
    bulk = snapshot()
    assert set(few) == set(bulk) and len(bulk) == 6 + len(ids)
    assert few == bulk
    assert any(row[1] for row in bulk.values()) and any(row[0] is None and row[2] for row in bulk.values())

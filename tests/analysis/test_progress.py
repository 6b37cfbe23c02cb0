"""Supervision progress per grid (overdue, on-time rate counting open-and-overdue, medians,
complaints per 100 employers, roll-up), early warnings, and Getis-Ord Gi* hot spots checked
against the formula computed by hand."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import sqlalchemy as sa
from shapely.geometry import box

from gisgrid import clock
from gisgrid.analysis.progress import HOT_SPOT_CLASSES, early_warnings, gi_star, grid_progress
from gisgrid.db.engine import session_scope
from gisgrid.supervision.cases import advance_case, close_case, file_case
from gisgrid.supervision.complaints import add_complaint, decide_complaint
from tests.fixtures import handdrawn

D = dt.date
TODAY = D(2026, 12, 1)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def test_gi_star_matches_the_formula_and_finds_the_cluster():
    n = 8
    cells = [box(x, y, x + 1, y + 1) for y in range(n) for x in range(n)]
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 2, n * n).astype(float)
    for x in range(3):
        for y in range(3):
            counts[y * n + x] = 9 + x + y  # a cluster in the south-west corner
    frame = gpd.GeoDataFrame({"c": counts}, geometry=cells)
    z, p, classes = gi_star(frame, "c")
    # Gi* by hand: binary Queen weights including the cell itself
    xbar, s = counts.mean(), np.sqrt((counts ** 2).mean() - counts.mean() ** 2)
    for i in range(n * n):
        xi, yi = i % n, i // n
        near = [j for j in range(n * n) if abs(j % n - xi) <= 1 and abs(j // n - yi) <= 1]
        w = len(near)
        expected = (counts[near].sum() - xbar * w) / (s * np.sqrt((n * n * w - w * w) / (n * n - 1)))
        assert z[i] == pytest.approx(expected, rel=1e-6)
    assert classes[0] == 0 and classes[1 * n + 1] == 0  # the corner: hot at 99 %
    assert HOT_SPOT_CLASSES[classes[n * n - 1]][0] in ("不显著", "冷点（95% 置信）", "冷点（99% 置信）")
    sparse = gpd.GeoDataFrame({"c": np.r_[np.zeros(n * n - 1), 1.0]}, geometry=cells)
    assert gi_star(sparse, "c")[2].count(2) >= n * n - 9  # empty grids are not cold spots (esda's ties)


def test_progress_per_grid_and_early_warnings(run_cli, tmp_path, engine):
    codes = handdrawn.load_city(run_cli, tmp_path)
    with engine.begin() as conn:
        staff = [conn.execute(sa.text("INSERT INTO staff (name, role) VALUES (:n, 'full_time') RETURNING id"),
                              {"n": n}).scalar() for n in ("甲", "乙")]
    with session_scope(engine) as session:
        # C1 (东风社区): one complaint accepted on time (2 days), one open and overdue, one open in time
        on_time = add_complaint(session, received_on=D(2026, 11, 2), summary="a", actor="t", employer=codes["inside"])
        decide_complaint(session, on_time["id"], "accept", actor="t", on=D(2026, 11, 4))
        add_complaint(session, received_on=D(2026, 11, 9), summary="b", actor="t", employer=codes["inside"])
        add_complaint(session, received_on=D(2026, 11, 30), summary="c", actor="t", employer=codes["inside"])
        # a case of C1 closed late: filed 2025-12-01, due 60 working days later, closed 2026-06-01
        case = file_case(session, actor="t", summary="x", employer=codes["inside"], filed_on=D(2025, 12, 1),
                         inspectors=staff)
        advance_case(session, case["id"], actor="t", on=D(2026, 1, 5))
        advance_case(session, case["id"], actor="t", on=D(2026, 2, 5))
        close_case(session, case["id"], "corrected", actor="t", on=D(2026, 6, 1))
        gen = session.execute(sa.text("SELECT id FROM generation WHERE status = 'active'")).scalar()
        units = grid_progress(session, gen, 3)
        streets = grid_progress(session, gen, 2)
        warnings = early_warnings(session, gen)
    c1 = units.loc["419999001001"]
    assert (c1.complaints_open, c1.complaints_overdue, c1.cases_open, c1.overdue) == (2, 1, 0, 1)
    # judged: the accepted complaint (met), the overdue open one (missed), the late case (missed)
    assert c1.judged == 3 and c1.on_time_rate == pytest.approx(33.3)
    assert c1.median_accept_days == 2 and c1.median_close_days == (D(2026, 6, 1) - D(2025, 12, 1)).days
    assert c1.complaints_12m == 3 and c1.employers == 3 and c1.complaints_per_100 == 100.0  # inside, edge, vertex
    assert units.loc["419999002201"].overdue == 0 and np.isnan(units.loc["419999002201"].on_time_rate)
    assert streets.loc["419999001"].complaints_open == 2 and streets.loc["419999001"].judged == 3  # rolled up
    kinds = {(w["kind"], w["grid_code"]) for w in warnings}
    assert ("重复投诉", "419999001001") in kinds and ("超期", "419999001001") in kinds
    repeated = next(w for w in warnings if w["kind"] == "重复投诉")
    assert "90 天内被投诉 3 次" in repeated["text"] and repeated["employer_key"] == codes["inside"]

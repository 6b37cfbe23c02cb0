"""Generations: diff before activation, identity kept, lineage of splits and merges, dates."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from shapely.geometry import box

from gisgrid import clock
from tests.boundaries.defects import CITY, S1, S2, V1, V2, V3, V4, layers, lonlat, write_layers

V5 = "419999002003"
EMPLOYERS = {"stays_v1": (0.5, 0.5), "v2_to_v1": (1.5, 0.5), "v3_to_v5": (2.5, 1.5), "stays_v4": (3.5, 1.0)}


def _g2_villages() -> list[dict]:
    """V1 and V2 merged (into V1), V3 split into V3 (south) and V5 (north), V4 unchanged."""
    rows = {r["code"]: r for r in layers()[3]}
    return [dict(rows[V1], geom=box(0, 0, 2, 2)),
            dict(rows[V3], geom=box(2, 0, 3, 1)),
            dict(code=V5, name="新村", parent=S2, geom=box(2, 1, 3, 2)),
            rows[V4]]


def _import(run_cli, paths, generation):
    for level, path in paths.items():
        run_cli("grids", "import", path, "--level", level, "--generation", generation, "--commit")


def _add_employers(engine):
    with engine.begin() as conn:
        for name, (x, y) in EMPLOYERS.items():
            lon, lat = lonlat(x, y)
            conn.execute(sa.text("INSERT INTO employer (name, geom) VALUES (:n, ST_SetSRID(ST_MakePoint(:x, :y), 4490))"),
                         {"n": name, "x": lon, "y": lat})


def _setup(run_cli, tmp_path, engine):
    _import(run_cli, write_layers(tmp_path / "g1"), "g1")
    _add_employers(engine)
    run_cli("grids", "activate", "g1", "--effective-from", "2026-01-01", "--commit")
    _import(run_cli, write_layers(tmp_path / "g2", _g2_villages()), "g2")


def _scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_diff_lists_added_removed_changed_and_moved_employers(run_cli, tmp_path, engine):
    _setup(run_cli, tmp_path, engine)
    before = _scalar(engine, "SELECT count(*) FROM assignment")
    report = json.loads(run_cli("grids", "diff", "g1", "g2", "--json").output)
    assert [g["code"] for g in report["added"]] == [V5]
    assert [g["code"] for g in report["removed"]] == [V2]
    changed = {g["code"]: g for g in report["changed"]}
    assert set(changed) == {V1, V3}, changed
    assert changed[V1]["changes"] == ["geometry"]
    # V1 doubles (≈ 920 m × 2,220 m more); V3 loses its northern half
    assert changed[V1]["area_change_m2"] > 1.9e6 and changed[V3]["area_change_m2"] < -0.9e6
    assert report["unchanged"] == 4
    moved = {m["name"]: (m["from_code"], m["to_code"]) for m in report["moved"]}
    assert moved == {"v2_to_v1": (V2, V1), "v3_to_v5": (V3, V5)} and report["employers_moved"] == 2
    assert report["lineage"][V5] == [{"code": V3, "relation": "split"}]
    assert sorted(report["lineage"][V1], key=str) == sorted(
        [{"code": V1, "relation": "merge"}, {"code": V2, "relation": "merge"}], key=str)
    # computed in temporary tables: the real assignments are untouched
    assert _scalar(engine, "SELECT count(*) FROM assignment") == before
    text = run_cli("grids", "diff", "g1", "g2").output
    assert f"+ {V5} 新村" in text and f"- {V2} 向阳社区" in text and "2 employers would change grid" in text


def test_identity_kept_for_unchanged_grids_and_lineage_recorded(run_cli, tmp_path, engine, monkeypatch):
    _setup(run_cli, tmp_path, engine)
    monkeypatch.setattr(clock, "today", lambda: dt.date(2027, 1, 5))  # the day has come: activated at once
    out = json.loads(run_cli("grids", "activate", "g2", "--effective-from", "2027-01-01", "--commit",
                             "--json").output)
    assert out["lineage"] == 4
    same = "SELECT count(DISTINCT g.generation_id) FROM grid g WHERE g.code = :c AND g.identity = " \
           "(SELECT identity FROM grid WHERE code = :c ORDER BY id LIMIT 1)"
    for code in (CITY, S1, S2, V4):
        assert _scalar(engine, same, c=code) == 2, code
    for code in (V1, V3):
        assert _scalar(engine, same, c=code) == 1, code
    relations = _scalar(engine, """
        SELECT string_agg(n.code || '<' || o.code || ':' || l.relation, ' ' ORDER BY n.code, o.code)
        FROM grid_lineage l JOIN grid n ON n.id = l.grid_id
        JOIN grid o ON o.identity = l.source_identity AND o.generation_id <> n.generation_id""")
    assert relations == (f"{V1}<{V1}:merge {V1}<{V2}:merge {V3}<{V3}:split {V5}<{V3}:split")


def test_a_future_date_schedules_the_switch_and_the_old_plan_stays_in_force(run_cli, tmp_path, engine,
                                                                            monkeypatch):
    _setup(run_cli, tmp_path, engine)
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 12, 1))
    assigned = _scalar(engine, "SELECT count(*) FROM assignment a JOIN generation n ON n.id = a.generation_id "
                               "WHERE n.name = 'g1'")
    dry = run_cli("grids", "activate", "g2", "--effective-from", "2027-01-01")
    assert "would schedule" in dry.output and _scalar(engine, "SELECT status FROM generation WHERE name = 'g2'") == "draft"
    out = json.loads(run_cli("grids", "activate", "g2", "--effective-from", "2027-01-01", "--commit", "--json").output)
    assert out["scheduled"] and out["in_force_until"] == "2026-12-31" and out["replaces"] == "g1"
    statuses = dict(engine.connect().execute(sa.text("SELECT name, status FROM generation")).all())
    assert statuses == {"g1": "active", "g2": "scheduled"}
    # until the day: the current plan for maps and assignment, both by date
    assert {g["generation"] for g in json.loads(run_cli("grids", "list", "--json").output)} == {"g1"}
    old = json.loads(run_cli("grids", "list", "--on", "2026-06-01", "--level", "3", "--json").output)
    new = json.loads(run_cli("grids", "list", "--on", "2027-02-01", "--level", "3", "--json").output)
    assert {g["generation"] for g in old} == {"g1"} and V2 in [g["code"] for g in old]
    assert {g["generation"] for g in new} == {"g2"} and V5 in [g["code"] for g in new]
    assert _scalar(engine, "SELECT count(*) FROM assignment a JOIN generation n ON n.id = a.generation_id "
                           "WHERE n.name = 'g1'") == assigned
    assert "no scheduled generation is due" in run_cli("grids", "switch-due", "--commit").output
    # the day comes: the worker's check (or cron) switches and reassigns
    monkeypatch.setattr(clock, "today", lambda: dt.date(2027, 1, 1))
    switched = json.loads(run_cli("grids", "switch-due", "--commit", "--json").output)
    assert switched["switched"] and switched["generation"] == "g2" and switched["assignment"]["total"] > 0
    statuses = dict(engine.connect().execute(sa.text("SELECT name, status FROM generation")).all())
    assert statuses == {"g1": "retired", "g2": "active"}
    assert _scalar(engine, "SELECT effective_to FROM generation WHERE name = 'g1'") == dt.date(2026, 12, 31)
    assert _scalar(engine, "SELECT count(*) FROM grid_lineage") > 0


def test_a_scheduled_switch_can_be_cancelled(run_cli, tmp_path, engine, monkeypatch):
    _setup(run_cli, tmp_path, engine)
    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 12, 1))
    run_cli("grids", "activate", "g2", "--effective-from", "2027-01-01", "--commit")
    assert "cancelled" in run_cli("grids", "unschedule", "g2", "--commit").output
    rows = dict(engine.connect().execute(sa.text("SELECT name, status || ' ' || coalesce(effective_to::text, '-') "
                                                 "FROM generation")).all())
    assert rows == {"g1": "active -", "g2": "draft -"}
    assert "not scheduled" in run_cli("grids", "unschedule", "g2", "--commit", expect=1).output


def test_generation_in_force_on_a_date(run_cli, tmp_path, engine, monkeypatch):
    _setup(run_cli, tmp_path, engine)
    monkeypatch.setattr(clock, "today", lambda: dt.date(2027, 1, 5))
    run_cli("grids", "activate", "g2", "--effective-from", "2027-01-01", "--commit")
    old = json.loads(run_cli("grids", "list", "--on", "2026-06-01", "--level", "3", "--json").output)
    new = json.loads(run_cli("grids", "list", "--on", "2027-02-01", "--level", "3", "--json").output)
    assert {g["generation"] for g in old} == {"g1"} and V2 in [g["code"] for g in old]
    assert {g["generation"] for g in new} == {"g2"} and V5 in [g["code"] for g in new]
    assert "no generation was in force on 2025-01-01" in run_cli(
        "grids", "list", "--on", "2025-01-01", expect=1).output


def test_reimport_through_another_crs_keeps_identity(run_cli, tmp_path, engine):
    """A boundary that went through Gauss–Krüger and back differs in the last bits only."""
    _import(run_cli, write_layers(tmp_path / "g1"), "g1")
    run_cli("grids", "activate", "g1", "--effective-from", "2026-01-01", "--commit")
    out = tmp_path / "gk.shp"
    run_cli("grids", "export", "--format", "shp", "-o", out, "--level", "1", "--crs", "EPSG:4547")
    run_cli("grids", "import", out, "--level", "1", "--generation", "g2", "--commit")
    assert _scalar(engine, "SELECT count(DISTINCT identity) FROM grid WHERE code = :c", c=CITY) == 1

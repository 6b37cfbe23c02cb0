"""A plan's changes as events: a unit moved to another street (new code, same identity) is one
move and the two streets follow it; a merge is a merge; a split a split; each touched grid with
its employers before and after."""

from __future__ import annotations

import sqlalchemy as sa

from gisgrid.boundaries.changes import plan_changes
from gisgrid.db.engine import session_scope
from tests.boundaries.defects import S1, S2, V1, V2, V3, V4, lonlat, write_layers


def test_moves_merges_and_splits_read_as_such(run_cli, tmp_path, engine):
    for level, path in write_layers(tmp_path).items():
        run_cli("grids", "import", path, "--level", level, "--generation", "2026版", "--commit")
    run_cli("grids", "activate", "2026版", "--effective-from", "2026-01-01", "--commit")
    with engine.begin() as conn:
        for x in (0.5, 1.5, 1.6, 2.5, 3.5):
            lon, lat = lonlat(x, 1.0)
            conn.execute(sa.text("INSERT INTO employer (name, headcount, geom) VALUES ('单位', 10, "
                                 "ST_SetSRID(ST_MakePoint(:x, :y), 4490))"), {"x": lon, "y": lat})
    run_cli("grids", "draft", "2027草稿", "--from", "2026版", "--commit")
    run_cli("grids", "move-unit", V2, "--to", S2, "--generation", "2027草稿", "--commit")
    run_cli("grids", "merge", V3, V4, "--generation", "2027草稿", "--commit")
    (x0, y0), (x1, y1) = lonlat(0.0, 1.0), lonlat(1.0, 1.0)
    line = f"LINESTRING({x0 - 0.001} {y0}, {x1 + 0.001} {y1})"
    run_cli("grids", "split", V1, "--line", line, "--generation", "2027草稿", "--commit")
    with session_scope(engine, commit=False) as session:
        report = plan_changes(session, "2026版", "2027草稿")
    kinds = {(e["kind"], e["code"]) for e in report["events"]}
    move = next(e for e in report["events"] if e["kind"] == "move")
    assert move["old_code"] == V2 and move["from"] == S1 and move["to"] == S2 and move["code"].startswith(S2)
    assert ("merge", V3) in kinds and next(e for e in report["events"] if e["kind"] == "merge")["codes"] == [V3, V4]
    assert not any(k in ("added", "removed", "reshape") for k, _ in kinds), kinds  # nothing shown twice
    rows = {r["code"]: r for r in report["grids"]}
    assert rows[S1]["change"] == rows[S2]["change"] == "follows"
    assert rows[S1]["before"]["employers"] == 3 and rows[S1]["after"]["employers"] == 1
    assert rows[S2]["before"]["employers"] == 2 and rows[S2]["after"]["employers"] == 4
    assert rows[move["code"]]["after"]["employers"] == 2 and rows[V3]["after"]["employers"] == 2
    split = next(e for e in report["events"] if e["kind"] == "split")
    assert split["code"] == V1 and len(split["codes"]) == 2 and V1 in split["codes"]
    assert all(rows[c]["change"] == "split" for c in split["codes"])  # one part took V2's freed code

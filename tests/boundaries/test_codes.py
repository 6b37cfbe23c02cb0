"""`gisgrid grids code`: codes for uncoded grids, in reading order, never renumbering."""

from __future__ import annotations

import json

import sqlalchemy as sa
from shapely.geometry import box

from tests.boundaries.defects import S1, S2, V3, V4, layers, write_layers

# S1's four uncoded quarters, written in a shuffled order
QUARTERS = {"西南社区": box(0, 0, 1, 1), "东北社区": box(1, 1, 2, 2), "西北社区": box(0, 1, 1, 2),
            "东南社区": box(1, 0, 2, 1)}


def _villages() -> list[dict]:
    rows = {r["code"]: r for r in layers()[3]}
    quarters = [dict(code=None, name=name, parent=S1, geom=geom) for name, geom in QUARTERS.items()]
    return quarters + [rows[V3], dict(rows[V4], code=None)]


def _load(run_cli, tmp_path):
    paths = write_layers(tmp_path, _villages())
    run_cli("grids", "import", paths[1], "--level", "1", "--commit")
    run_cli("grids", "import", paths[2], "--level", "2", "--commit")
    refused = run_cli("grids", "import", paths[3], "--level", "3", expect=1)
    assert "has no code" in refused.output and "grids code" in refused.output
    out = run_cli("grids", "import", paths[3], "--level", "3", "--on-invalid", "report", "--commit", "--json")
    return json.loads(out.output)


def test_uncoded_grids_are_stored_provisionally_and_block_activation(run_cli, tmp_path):
    report = _load(run_cli, tmp_path)
    missing = [i for i in report["validation"]["errors"] if i["kind"] == "missing_code"]
    assert sorted(i["codes"][0] for i in missing) == ["未编码-L3-1", "未编码-L3-2", "未编码-L3-3",
                                                      "未编码-L3-4", "未编码-L3-6"]
    assert "provisional code" in run_cli("grids", "activate", "draft", expect=1).output


def test_codes_follow_reading_order_after_existing_ones(run_cli, tmp_path, engine):
    _load(run_cli, tmp_path)
    dry = json.loads(run_cli("grids", "code", "--generation", "draft", "--json").output)
    assert dry["committed"] is False
    by_name = {p["name"]: p["code"] for p in dry["proposed"]}
    assert by_name == {"西北社区": f"{S1}001", "东北社区": f"{S1}002", "西南社区": f"{S1}003",
                       "东南社区": f"{S1}004", "东河村": f"{S2}002"}   # V3 keeps 001
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM grid WHERE code LIKE '未编码%'")).scalar() == 5
    run_cli("grids", "code", "--generation", "draft", "--commit")
    with engine.connect() as conn:
        codes = dict(conn.execute(sa.text("SELECT name, code FROM grid WHERE level = 3")).all())
        audit = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'grid.code'")).scalar()
    assert codes["西北社区"] == f"{S1}001" and codes["西河村"] == V3 and audit == 5
    report = json.loads(run_cli("grids", "validate", "--generation", "draft", "--json").output)
    assert report["errors"] == []
    again = json.loads(run_cli("grids", "code", "--generation", "draft", "--json").output)
    assert again["proposed"] == []   # nothing left to code, nothing renumbered

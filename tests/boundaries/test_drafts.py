"""Starting a plan: `gisgrid grids draft NAME --from GENERATION` copies a generation into a new draft."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.boundaries.defects import S1, V1, V2, V3, write_layers


def _grids(engine, name: str) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT g.code, g.identity, p.code, g.name, ST_AsBinary(g.geom), p.generation_id = g.generation_id "
            "FROM grid g JOIN generation n ON n.id = g.generation_id LEFT JOIN grid p ON p.id = g.parent_id "
            "WHERE n.name = :n"), {"n": name}).all()
    return {r[0]: (r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows}


def _active(run_cli, tmp_path):
    for level, path in write_layers(tmp_path).items():
        run_cli("grids", "import", path, "--level", level, "--generation", "2026版", "--commit")
    run_cli("grids", "activate", "2026版", "--effective-from", "2026-01-01", "--commit")


def test_dry_run_says_what_would_be_copied_and_writes_nothing(run_cli, tmp_path, engine):
    _active(run_cli, tmp_path)
    result = run_cli("grids", "draft", "2027草稿", "--from", "2026版")
    assert "将复制" in result.output and "7 个网格" in result.output and "--commit" in result.output
    report = json.loads(run_cli("grids", "draft", "2027草稿", "--from", "2026版", "--json").output)
    assert report["grids"] == {"1": 1, "2": 2, "3": 4} and report["committed"] is False
    assert _grids(engine, "2027草稿") == {}


def test_the_copy_keeps_codes_identities_and_parents_inside_the_copy(run_cli, tmp_path, engine):
    _active(run_cli, tmp_path)
    run_cli("grids", "draft", "2027草稿", "--from", "2026版", "--commit")
    source, copy = _grids(engine, "2026版"), _grids(engine, "2027草稿")
    assert copy.keys() == source.keys()
    for code, (identity, parent, name, wkb, same_generation) in copy.items():
        assert (identity, parent, name, wkb) == source[code][:4]
        assert same_generation is None or same_generation  # the parent is the copy's own grid
    with engine.connect() as conn:
        status, source_name = conn.execute(sa.text(
            "SELECT d.status, s.name FROM generation d JOIN generation s ON s.id = d.source_id "
            "WHERE d.name = '2027草稿'")).one()
        audit = conn.execute(sa.text("SELECT actor, entity_id, after FROM audit_log "
                                     "WHERE action = 'generation.draft'")).one()
    assert (status, source_name) == ("draft", "2026版")
    assert audit[:2] == ("cli", "2027草稿") and audit[2]["from"] == "2026版"


def test_the_copy_is_edited_without_touching_its_source(run_cli, tmp_path, engine):
    _active(run_cli, tmp_path)
    run_cli("grids", "draft", "2027草稿", "--from", "2026版", "--commit")
    run_cli("grids", "merge", V1, V2, "--generation", "2027草稿", "--commit")
    assert V2 in _grids(engine, "2026版") and V2 not in _grids(engine, "2027草稿")
    assert _grids(engine, "2027草稿")[V3][1] == "419999002"


def test_an_existing_name_or_unknown_source_is_one_line(run_cli, tmp_path):
    _active(run_cli, tmp_path)
    taken = run_cli("grids", "draft", "2026版", "--from", "2026版", "--commit", expect=1)
    assert "已存在" in taken.output and "Traceback" not in taken.output
    assert len(taken.output.strip().splitlines()) == 1
    missing = run_cli("grids", "draft", "新草稿", "--from", "没有的版本", expect=1)
    assert "没有的版本" in missing.output and "Traceback" not in missing.output
    as_json = json.loads(run_cli("grids", "draft", "2026版", "--from", "2026版", "--json", expect=1).output)
    assert as_json["error"]["kind"] == "conflict"


def test_a_draft_of_a_draft(run_cli, tmp_path, engine):
    for level, path in write_layers(tmp_path).items():
        run_cli("grids", "import", path, "--level", level, "--generation", "甲稿", "--commit")
    run_cli("grids", "draft", "乙稿", "--from", "甲稿", "--commit")
    assert _grids(engine, "乙稿")[V1][1] == S1

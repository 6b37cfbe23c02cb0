"""四定 staff from a roster file: every problem at once, all or nothing, the export round-trips."""

from __future__ import annotations

import datetime as dt
import json

import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from gisgrid.access.scope import user_scope
from gisgrid.access.staff_import import StaffImportRefused, import_staff, read_roster
from gisgrid.db.engine import dispose_engines, get_engine
from gisgrid.errors import InputError
from gisgrid.export.registers import export_roster

TODAY = dt.date(2026, 11, 20)
HEADER = ["网格编码", "网格名称", "级别", "类型", "姓名", "职务", "联系电话", "所在单位", "职责（定责）",
          "任务（定任务）", "起始日期", "截止日期"]


@pytest.fixture(scope="module")
def city_url(demo_copy_app):
    """A copy of the demo city of its own (these tests write staff)."""
    app = demo_copy_app("staff_import_city")
    yield app.config["GISGRID_SETTINGS"].database_url
    dispose_engines()


@pytest.fixture
def session(city_url):
    with Session(get_engine(city_url)) as session:
        yield session
        session.rollback()


def _person(session, username: str) -> dict:
    return dict(session.execute(sa.text(
        "SELECT s.id, s.name, s.phone, s.role FROM app_user u JOIN staff s ON s.id = u.staff_id WHERE u.username = :u"),
        {"u": username}).mappings().one())


def _workbook(path, rows, header=HEADER, title_rows=2):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "四定人员"
    for i in range(title_rows):
        sheet.append([f"标题行 {i + 1}"])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _row(code, name, role="协管员", phone="13800001111", unit=None, duty="信息采集", task=None, start=None,
         end=None):
    return [code, None, None, None, name, role, phone, unit, duty, task, start, end]


def _counts(session) -> tuple[int, int, int]:
    return session.execute(sa.text(
        "SELECT (SELECT count(*) FROM staff), (SELECT count(*) FROM staff_grid), "
        "(SELECT count(*) FROM audit_log WHERE action = 'staff.import')")).one()


def test_every_problem_of_a_file_at_once_and_nothing_written(session, tmp_path):
    street = _person(session, "jc419901001-1")  # in force on 419901001 since 2026-01-01
    rows = [
        _row("419901001001", "王五"),                                             # 4: good
        _row("419999999", "赵六"),                                                # 5: unknown grid
        _row("419901001002", "孙七", role="组长"),                                 # 6: unknown role
        _row("419901001002", "", duty="有职责没有姓名"),                           # 7: missing name
        _row("419901001003", "周八", start="2026-13-01"),                          # 8: bad date
        _row("419901001003", "吴九", start="2026-06-01", end="2026-05-01"),         # 9: to < from
        _row("419901001004", "郑十", phone="1380000"),                             # 10: phone malformed
        _row("419901001001", "王五", duty="又一行"),                               # 11: duplicate of row 4
        _row("419901001", street["name"], role="专职监察员", phone=street["phone"],
             start="2026-03-01"),                                                 # 12: overlaps the database
        ["419901002", "某街道", 2, "街道", "未配备"] + [None] * 7,                  # 13: skipped, no error
        [None] * 12,                                                              # blank: nothing
    ]
    path = _workbook(tmp_path / "花名册.xlsx", rows)
    before = _counts(session)
    with pytest.raises(StaffImportRefused) as refused:
        import_staff(session, path, actor="tests", commit=True, on=TODAY)
    report = refused.value.report
    found = {(p["row"], p["reason"], p["column"]) for p in report["problems"]}
    assert found == {
        (5, "unknown_grid", "网格编码"), (6, "unknown_role", "职务"), (7, "missing_name", "姓名"),
        (8, "bad_date", "起始日期"), (9, "dates_reversed", "截止日期"), (10, "bad_phone", "联系电话"),
        (11, "duplicate_row", "姓名"), (12, "overlap", "起始日期"),
    }, report["problems"]
    assert all(p["file"] == "花名册.xlsx" and p["sheet"] == "四定人员" for p in report["problems"])
    assert {p["cell"] for p in report["problems"] if p["row"] == 8} == {"K8"}
    assert "第 4 行" in next(p["message"] for p in report["problems"] if p["reason"] == "duplicate_row")
    assert report["skipped"] == 1 and report["committed"] is False
    assert "8 处问题" in refused.value.message
    assert _counts(session) == before


def test_an_exported_roster_imports_back_unchanged_and_edits_become_updates(session, tmp_path):
    path = tmp_path / "roster.xlsx"
    exported = export_roster(session, path, today=TODAY)
    report = import_staff(session, path, actor="tests", on=TODAY)
    assert report["problems"] == [] and report["new_people"] == [] and report["new_assignments"] == []
    assert report["updated_assignments"] == [] and report["updated_people"] == []
    assert len(report["unchanged"]) == exported["people"] and report["skipped"] == exported["unstaffed"]
    assert report["sheets"] == [{"sheet": "四定人员", "header_row": 4}]
    # Edit it as a person would: a new duty on one row, an end date, a new coordinator.
    book = openpyxl.load_workbook(path)
    sheet = book.active
    sheet.cell(row=4, column=13, value="截止日期")  # a column of its own, right of 配备情况
    first = next(r for r in range(5, sheet.max_row + 1) if sheet.cell(r, 5).value != "未配备")
    sheet.cell(row=first, column=9, value="新的职责")
    sheet.cell(row=first, column=13, value="2026-12-31")
    sheet.append(["419901001001", None, None, None, "新协管员", "coordinator", "0371-66668888", "示范社区", "巡查",
                  None, dt.datetime(2026, 12, 1)])
    book.save(path)
    edited = import_staff(session, path, actor="tests", on=TODAY)
    assert [a["row"] for a in edited["updated_assignments"]] == [first]
    assert set(edited["updated_assignments"][0]["changes"]) == {"duty", "valid_to"}
    assert [(p["name"], p["role"], p["phone"]) for p in edited["new_people"]] == [
        ("新协管员", "coordinator", "0371-66668888")]
    assert [(a["grid"], a["from"], a["person"]) for a in edited["new_assignments"]] == [
        ("419901001001", dt.date(2026, 12, 1), "new")]
    assert len(edited["unchanged"]) == exported["people"] - 1


def test_commit_writes_audits_and_the_inspector_sees_the_grid_at_once(city_url, tmp_path):
    engine = get_engine(city_url)
    with Session(engine) as session:
        person = _person(session, "xg419901001001-1")
        assert "419901001002" not in user_scope(session, "inspector", person["id"], on=TODAY).own_codes
    rows = [_row("419901001002", person["name"], phone=person["phone"], duty="代管邻近社区", start="2026-11-01"),
            _row("419901001003", "钱新", phone="139 0000 2222", duty="信息采集", start="2026/11/15"),
            _row("419901001004", "钱新", phone="13900002222", duty="政策宣传")]
    path = _workbook(tmp_path / "new.xlsx", rows, title_rows=0)
    with Session(engine) as session:
        before = _counts(session)
        dry = import_staff(session, path, actor="tests", on=TODAY)
        assert _counts(session) == before  # a dry run writes nothing
        assert [p["name"] for p in dry["new_people"]] == ["钱新"] and dry["new_people"][0]["rows"] == [3, 4]
        assert [(a["row"], a["person"], a["staff_id"]) for a in dry["new_assignments"]] == [
            (2, "existing", person["id"]), (3, "new", None), (4, "new", None)]
        done = import_staff(session, path, actor="admin（系统管理员）", commit=True, on=TODAY)
        session.commit()
    assert done["committed"] is True
    with Session(engine) as session:
        staff, assignments, audits = _counts(session)
        assert (staff, assignments, audits) == (before[0] + 1, before[1] + 3, before[2] + 4)  # 3 assignments + 1 person
        actors = set(session.execute(sa.text(
            "SELECT actor FROM audit_log WHERE action = 'staff.import'")).scalars())
        assert actors == {"admin（系统管理员）"}
        scope = user_scope(session, "inspector", person["id"], on=TODAY)
        assert "419901001002" in scope.own_codes
        new = session.execute(sa.text("SELECT id, phone FROM staff WHERE name = '钱新'")).one()
        assert new.phone == "139 0000 2222"
        assert set(user_scope(session, "inspector", new.id, on=TODAY).own_codes) == {"419901001003", "419901001004"}
        # the row without a start date starts on the day of the import
        start = session.execute(sa.text(
            "SELECT sg.valid_from FROM staff_grid sg JOIN grid g ON g.identity = sg.grid_identity "
            "WHERE sg.staff_id = :s AND g.code = '419901001004'"), {"s": new.id}).scalar()
        assert start == TODAY
    # importing the same file again: the person is matched by name and phone, rows unchanged
    with Session(engine) as session:
        again = import_staff(session, path, actor="tests", on=TODAY)
        assert again["new_people"] == [] and len(again["unchanged"]) == 3


def test_csv_in_gbk_with_codes_and_chinese_role_words(session, tmp_path):
    text = ("四定人员花名册\n网格编码;姓名;职务;联系电话;起始日期\n"
            "419901001001;甲;协理员;13800003333;2026年11月1日\n419901001001;乙;part_time;;20261101\n")
    path = tmp_path / "roster.csv"
    path.write_bytes(text.encode("gbk"))
    report = import_staff(session, path, actor="tests", on=TODAY)
    assert [(p["name"], p["role"]) for p in report["new_people"]] == [("甲", "coordinator"), ("乙", "part_time")]
    assert {a["from"] for a in report["new_assignments"]} == {dt.date(2026, 11, 1)}
    assert report["encoding"] == "gb18030" and report["sheets"][0]["header_row"] == 2


def test_files_that_are_no_roster(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    other = tmp_path / "other.csv"
    other.write_text("单位名称,地址\n甲,乙\n", encoding="utf-8")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    for path, message in ((empty, "文件为空"), (other, "花名册表头"), (old, "旧版 .xls")):
        with pytest.raises(InputError, match=message):
            read_roster(path)


def test_cli_dry_run_commit_and_refusal(city_url, tmp_path):
    from gisgrid.cli import cli

    env = {"GISGRID_DATABASE_URL": city_url, "GISGRID_HOME": str(tmp_path / "home")}
    good = _workbook(tmp_path / "good.xlsx", [_row("419901002001", "李命令", phone="13700004444", start="2026-11-02")])
    bad = _workbook(tmp_path / "bad.xlsx", [_row("419901002001", "李命令", role="boss"),
                                           _row("nope", "张")])
    runner = CliRunner()
    dry = runner.invoke(cli, ["staff", "import", str(good)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "试运行" in dry.output and "李命令（新增人员）" in dry.output
    as_json = runner.invoke(cli, ["staff", "import", str(good), "--json"], env=env)
    assert json.loads(as_json.output)["new_people"][0]["name"] == "李命令"
    refused = runner.invoke(cli, ["staff", "import", str(bad), "--commit"], env=env)
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == ["error: bad.xlsx：发现 2 处问题，未导入任何人员（全部改正后再导入）"]
    assert "第 4 行 职务（F4）" in refused.stdout and "第 5 行 网格编码（A5）" in refused.stdout
    refused_json = runner.invoke(cli, ["staff", "import", str(bad), "--json"], env=env)
    document = json.loads(refused_json.stdout)
    assert refused_json.exit_code == 1 and document["error"]["kind"] == "input" and len(document["problems"]) == 2
    committed = runner.invoke(cli, ["staff", "import", str(good), "--commit"], env=env)
    assert committed.exit_code == 0 and "已导入" in committed.output
    with Session(get_engine(city_url)) as session:
        actor = session.execute(sa.text(
            "SELECT a.actor FROM audit_log a WHERE a.action = 'staff.import' AND a.after->>'name' = '李命令' "
            "AND a.entity = 'staff_grid'")).scalar_one()
    assert actor.startswith("cli:")
    missing = runner.invoke(cli, ["staff", "import", str(tmp_path / "none.xlsx")], env=env)
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1

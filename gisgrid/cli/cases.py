"""`gisgrid cases …`: file cases and move them along 立案 → 调查 → 处理 → 结案 on the 60-day clock.

Writes are dry runs unless given ``--commit`` (the dry run checks everything and says what
would happen, e.g. the finish date a filing would get).
"""

from __future__ import annotations

from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, json_option
from gisgrid.cli.workdays import _actor, _date, _outcome


def _on(value: str | None, what: str):
    return _date(value, what) if value else None


@cli.group()
def cases() -> None:
    """Cases (立案 → 调查 → 处理 → 结案): file, list, advance, extend, close, attach documents."""


@cases.command("file")
@click.option("--complaint", "complaint_id", type=int, help="The accepted complaint the case comes from.")
@click.option("--inspection", "inspection_id", type=int, help="The inspection that found the violation.")
@click.option("--employer", help="Or the employer directly: credit code or #ID.")
@click.option("--summary", required=True, help="What the case is about.")
@click.option("--item", "items", multiple=True, help="Item violated (rules, contracts, wages, …); repeatable.")
@click.option("--inspector", "inspectors", multiple=True, help="Staff ID of an inspector; repeatable.")
@click.option("--lead", type=int, help="Staff ID of the lead inspector (one of --inspector).")
@click.option("--on", "on", help="Date of filing (default: the complaint's acceptance date, or today).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def cases_file(ctx: Context, complaint_id, inspection_id, employer, summary, items, inspectors, lead, on, commit):
    """File a case; print its number, grid and the date it must be finished by."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.cases import file_case

    with session_scope(ctx.engine, commit=commit) as session:
        report = file_case(session, actor=_actor(), summary=summary, filed_on=_on(on, "立案日期"),
                           complaint_id=complaint_id, inspection_id=inspection_id, employer=employer,
                           items=items, inspectors=inspectors, lead=lead)
    if not commit:
        report = {**report, "id": None, "number": None}
    text = (f"{'已立案 ' + report['number'] if commit else '可以立案'}：网格 {report['grid_code'] or '（未落入网格）'}，"
            f"立案日期 {report['filed_on']}，办结期限 {report['finish_by'] or '待定'}{_outcome(commit)}\n"
            f"{report['finish_by_explanation']}")
    return {**report, "committed": commit}, text


@cases.command("list")
@click.option("--grid", help="Only this grid and the grids below it.")
@click.option("--status", type=click.Choice(["filed", "investigating", "handling", "closed"]))
@click.option("--overdue", is_flag=True, help="Only open cases past their finish date.")
@click.option("--on", "on", help="The date overdue is judged on (default today).")
@json_option
@click.pass_obj
def cases_list(ctx: Context, grid, status, overdue, on):
    """Cases, open ones first by their finish date."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.cases import list_cases
    from gisgrid.supervision.items import CASE_STATUS

    with session_scope(ctx.engine, commit=False) as session:
        rows = list_cases(session, grid=grid, status=status, overdue=overdue, on=_on(on, "日期"))
    lines = [f"{r['id']} {r['number']} {CASE_STATUS[r['status']]} {r['grid_code'] or '未落入网格'} "
             f"办结期限 {r['finish_by'] or '待定'}{' 超期' if r['overdue'] else ''} {r['employer_name'][:30]}"
             for r in rows]
    return rows, "\n".join(lines) or "没有符合条件的案件"


@cases.command("inspectors")
@click.argument("case_id", type=int)
@click.option("--inspector", "inspectors", multiple=True, required=True, help="Staff ID; repeatable.")
@click.option("--lead", type=int, help="Staff ID of the lead inspector.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def cases_inspectors(ctx: Context, case_id, inspectors, lead, commit):
    """Add inspectors to a case (the investigation needs two)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.cases import add_inspectors

    with session_scope(ctx.engine, commit=commit) as session:
        report = add_inspectors(session, case_id, inspectors, actor=_actor(), lead=lead)
    names = "、".join(s["name"] + ("（主办）" if s["lead"] else "") for s in report["inspectors"])
    return {**report, "committed": commit}, f"案件 {case_id} 的监察员：{names}{_outcome(commit)}"


@cases.command("advance")
@click.argument("case_id", type=int)
@click.option("--note", help="What was done.")
@click.option("--on", "on", help="Date (default today).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def cases_advance(ctx: Context, case_id, note, on, commit):
    """Move a case to its next step (立案 → 调查 → 处理)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.cases import advance_case
    from gisgrid.supervision.items import CASE_STATUS

    with session_scope(ctx.engine, commit=commit) as session:
        report = advance_case(session, case_id, actor=_actor(), on=_on(on, "日期"), note=note)
    return {**report, "committed": commit}, f"案件 {report['number']}：{CASE_STATUS[report['status']]}{_outcome(commit)}"


@cases.command("extend")
@click.argument("case_id", type=int)
@click.option("--approver", required=True, help="Who approved the extension (负责人).")
@click.option("--reason", required=True)
@click.option("--on", "on", help="Date of approval (default today).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def cases_extend(ctx: Context, case_id, approver, reason, on, commit):
    """Extend a case once by 30 working days."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.cases import extend_case

    with session_scope(ctx.engine, commit=commit) as session:
        report = extend_case(session, case_id, actor=_actor(), approver=approver, reason=reason,
                             on=_on(on, "批准日期"))
    return ({**report, "committed": commit},
            f"案件 {report['number']} 办结期限延至 {report['finish_by'] or '待定'}{_outcome(commit)}\n"
            f"{report['finish_by_explanation']}")


@cases.command("close")
@click.argument("case_id", type=int)
@click.option("--conclusion", required=True,
              type=click.Choice(["no_violation", "corrected", "decision", "penalty", "transferred", "withdrawn"]))
@click.option("--serious", multiple=True, help="A serious act found (group_incident, child_labour, …); repeatable.")
@click.option("--note", help="What was decided.")
@click.option("--on", "on", help="Date of closing (default today).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def cases_close(ctx: Context, case_id, conclusion, serious, note, on, commit):
    """Close (结案) a case with its conclusion."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.cases import close_case
    from gisgrid.supervision.items import CONCLUSIONS

    with session_scope(ctx.engine, commit=commit) as session:
        report = close_case(session, case_id, conclusion, actor=_actor(), serious=serious, note=note,
                            on=_on(on, "结案日期"))
    return ({**report, "committed": commit},
            f"案件 {report['number']} 结案：{CONCLUSIONS[conclusion]}（{report['closed_on']}）{_outcome(commit)}")


@cases.command("attach")
@click.argument("case_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--title", required=True, help="What the document is (e.g. 询问笔录).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def cases_attach(ctx: Context, case_id, file, title, commit):
    """Attach a document (PDF, JPEG, PNG, DOCX, XLSX, OFD; up to 10 MB) to a case."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.cases import add_document

    with session_scope(ctx.engine, commit=commit) as session:
        report = add_document(session, case_id, title=title, filename=file.name, data=file.read_bytes(),
                              actor=_actor())
    return {**report, "committed": commit}, f"案件 {case_id} 文书「{title}」{file.name}（{report['size']:,} 字节）{_outcome(commit)}"

"""`gisgrid inspections …` and `gisgrid rectifications …`: patrols, written reviews and orders.

Writes are dry runs unless given ``--commit``.
"""

from __future__ import annotations

import click

from gisgrid.cli.base import Context, cli, json_option
from gisgrid.cli.workdays import _actor, _date, _outcome
from gisgrid.errors import InputError


def _pairs(values, what: str) -> dict:
    """``code=result[:note]`` options into {code: {"result", "note"}}."""
    items = {}
    for value in values:
        code, sep, rest = value.partition("=")
        if not sep:
            raise InputError(f"{what} {value[:40]!r} 应写作 项目=结果[:说明]，如 contracts=violation:未签合同3人")
        result, _, note = rest.partition(":")
        items[code.strip()] = {"result": result.strip(), "note": note.strip() or None}
    return items


def _orders(values) -> list[dict]:
    orders = []
    for value in values:
        parts = value.split(":", 2)
        if len(parts) != 3:
            raise InputError(f"整改要求 {value[:40]!r} 应写作 项目:期限:内容，如 contracts:2026-12-31:补签劳动合同")
        orders.append({"item": parts[0].strip(), "due_on": parts[1].strip(), "text": parts[2]})
    return orders


@cli.group()
def inspections() -> None:
    """Inspections (日常巡查, 书面审查) of registered employers: add, list, show."""


@inspections.command("add")
@click.option("--employer", required=True, help="Credit code or #ID of the employer inspected.")
@click.option("--kind", type=click.Choice(["patrol", "review"]), required=True,
              help="patrol (日常巡查) or review (书面审查 of the previous year).")
@click.option("--on", "on", help="Date of the inspection (default today).")
@click.option("--year", "review_year", type=int, help="Year a review covers (default the year before --on).")
@click.option("--item", "items", multiple=True,
              help="ITEM=ok|violation|na[:note] for the 9 items (rules, contracts, dispatch, child_labour, "
                   "special_protection, hours, wages, social_insurance, other); unnamed items are na.")
@click.option("--findings", help="What was found.")
@click.option("--inspector", "inspectors", multiple=True, required=True, help="Staff ID; repeatable.")
@click.option("--order", "orders", multiple=True, help="Rectification order ITEM:YYYY-MM-DD:text; repeatable.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def inspections_add(ctx: Context, employer, kind, on, review_year, items, findings, inspectors, orders, commit):
    """Record an inspection and its rectification orders."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.inspections import add_inspection

    with session_scope(ctx.engine, commit=commit) as session:
        report = add_inspection(session, actor=_actor(), employer=employer, kind=kind,
                                inspected_on=_date(on, "检查日期") if on else None, review_year=review_year,
                                items=_pairs(items, "检查项目"), findings=findings, inspectors=inspectors,
                                orders=_orders(orders))
    if not commit:
        report = {**report, "id": None, "rectifications": [None] * len(report["rectifications"])}
    text = (f"{'已录入检查记录 ' + str(report['id']) if commit else '可以录入'}：{report['employer_name']}，"
            f"网格 {report['grid_code'] or '（未落入网格）'}，{report['inspected_on']}，"
            f"{len(report['violations'])} 项存在违法行为，整改要求 {len(report['rectifications'])} 条{_outcome(commit)}")
    return {**report, "committed": commit}, text


@inspections.command("list")
@click.option("--grid", help="Only this grid and the grids below it.")
@click.option("--employer", "employer_id", type=int, help="Only this employer (ID).")
@click.option("--kind", type=click.Choice(["patrol", "review"]))
@click.option("--year", type=int, help="Only inspections of this calendar year.")
@json_option
@click.pass_obj
def inspections_list(ctx: Context, grid, employer_id, kind, year):
    """Inspections, newest first."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.inspections import list_inspections
    from gisgrid.supervision.items import INSPECTION_KINDS

    with session_scope(ctx.engine, commit=False) as session:
        rows = list_inspections(session, grid=grid, employer_id=employer_id, kind=kind, year=year)
    lines = [f"{r['id']} {r['inspected_on']} {INSPECTION_KINDS[r['kind']]} {r['grid_code'] or '未落入网格'} "
             f"{r['employer_name'][:30]} 违法 {r['violations']} 项 未整改 {r['open_orders']} 条" for r in rows]
    return rows, "\n".join(lines) or "没有符合条件的检查记录"


@cli.group()
def rectifications() -> None:
    """Rectification orders (责令改正): list, settle (met or refused)."""


@rectifications.command("list")
@click.option("--grid", help="Only this grid and the grids below it.")
@click.option("--status", type=click.Choice(["open", "done", "refused"]))
@click.option("--overdue", is_flag=True, help="Only open orders past their due date.")
@click.option("--on", "on", help="The date overdue is judged on (default today).")
@json_option
@click.pass_obj
def rectifications_list(ctx: Context, grid, status, overdue, on):
    """Orders, open ones first by due date."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.inspections import list_rectifications
    from gisgrid.supervision.items import ITEMS, RECTIFICATION_STATUS

    with session_scope(ctx.engine, commit=False) as session:
        rows = list_rectifications(session, grid=grid, status=status, overdue=overdue,
                                   on=_date(on, "日期") if on else None)
    lines = [f"{r['id']} {RECTIFICATION_STATUS[r['status']]} 期限 {r['due_on']}{' 逾期' if r['overdue'] else ''} "
             f"{r['grid_code'] or '未落入网格'} {r['employer_name'][:30]} {ITEMS[r['item']]}" for r in rows]
    return rows, "\n".join(lines) or "没有符合条件的整改要求"


@rectifications.command("settle")
@click.argument("rectification_id", type=int)
@click.argument("outcome", type=click.Choice(["done", "refused"]))
@click.option("--on", "on", help="Date it was met or found refused (default today).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def rectifications_settle(ctx: Context, rectification_id, outcome, on, commit):
    """Record an order as met (done) or refused (refused: grades the employer C)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.inspections import settle_rectification
    from gisgrid.supervision.items import RECTIFICATION_STATUS

    with session_scope(ctx.engine, commit=commit) as session:
        report = settle_rectification(session, rectification_id, outcome, actor=_actor(),
                                      on=_date(on, "日期") if on else None)
    return ({**report, "committed": commit},
            f"整改要求 {rectification_id}：{RECTIFICATION_STATUS[outcome]}（{report['settled_on']}）{_outcome(commit)}")


@inspections.command("due")
@click.option("--grid", help="Only this grid and the grids below it.")
@click.option("--on", "on", help="The day the plan is judged on (default today).")
@json_option
@click.pass_obj
def inspections_due(ctx: Context, grid, on):
    """Employers due for inspection by their grade's interval (D monthly, C quarterly, …)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.inspections import due_inspections

    with session_scope(ctx.engine, commit=False) as session:
        report = due_inspections(session, scheme=ctx.settings.grade_scheme, grid=grid,
                                 on=_date(on, "日期") if on else None)
    plan = "，".join(f"{g} 每 {m} 个月" for g, m in report["plan"].items())
    lines = [f"截至 {report['on']} 应检查 {report['total']} 家（{plan}）"]
    lines += [f"{r['credit_code'] or '#' + str(r['id'])} {r['integrity_grade'] or '未评级'} {r['grid_code'] or '未落入网格'} "
              f"{r['name'][:30]} 上次检查 {r['last_on'] or '从未'}" for r in report["rows"]]
    return report, "\n".join(lines)

"""`gisgrid complaints …`: enter complaints (placed and routed to their grid), list, decide.

Writes are dry runs unless given ``--commit`` (the dry run still places and routes, and says
where the complaint would go and by when it must be accepted).
"""

from __future__ import annotations

import click

from gisgrid.cli.base import Context, cli, json_option
from gisgrid.cli.workdays import _actor, _date, _outcome


@cli.group()
def complaints() -> None:
    """Complaints (投诉举报): add, list, accept or refuse."""


@complaints.command("add")
@click.option("--employer", help="The employer complained about: credit code or #ID.")
@click.option("--lon", type=float, help="Longitude (CGCS2000) of the workplace.")
@click.option("--lat", type=float, help="Latitude (CGCS2000) of the workplace.")
@click.option("--address", help="Address of the workplace (placed by the grid names in it).")
@click.option("--employer-name", help="Name of the employer as the complainant gives it.")
@click.option("--received", required=True, help="Date received (YYYY-MM-DD): day 0 of the 5-working-day clock.")
@click.option("--summary", required=True, help="What the complaint is about.")
@click.option("--complainant", help="Name of the complainant.")
@click.option("--phone", help="Phone of the complainant.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def complaints_add(ctx: Context, employer, lon, lat, address, employer_name, received, summary, complainant, phone,
                   commit):
    """Enter a complaint; print its id, grid and the date it must be accepted by."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.complaints import LOCATED_LABELS, add_complaint

    with session_scope(ctx.engine, commit=commit) as session:
        report = add_complaint(session, received_on=_date(received, "收到日期"), summary=summary, actor=_actor(),
                               employer=employer, employer_name=employer_name, lon=lon, lat=lat, address=address,
                               complainant=complainant, phone=phone)
    if not commit:
        report = {**report, "id": None, "receipt": None}
    where = f"网格 {report['grid_code']}" if report["grid_code"] else "未落入任何网格（由市级处理）"
    text = (f"投诉{'已登记 ' + str(report['id']) + '（回执号 ' + report['receipt'] + '）' if commit else '可以登记'}：{where}，"
            f"{LOCATED_LABELS[report['located_by']]}；受理期限 {report['accept_by'] or '待定'}{_outcome(commit)}\n"
            f"{report['accept_by_explanation']}")
    return {**report, "committed": commit}, text


@complaints.command("list")
@click.option("--grid", help="Only this grid and the grids below it.")
@click.option("--overdue", is_flag=True, help="Only complaints not accepted or refused by their deadline.")
@click.option("--on", "on", help="The date overdue is judged on (default today).")
@json_option
@click.pass_obj
def complaints_list(ctx: Context, grid, overdue, on):
    """Complaints, open ones first by their acceptance deadline."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.complaints import STATUS_LABELS, list_complaints

    with session_scope(ctx.engine, commit=False) as session:
        rows = list_complaints(session, grid=grid, overdue=overdue, on=_date(on, "日期") if on else None)
    lines = [f"{r['id']} {r['received_on']} {STATUS_LABELS[r['status']]} {r['grid_code'] or '未落入网格'} "
             f"受理期限 {r['accept_by'] or '待定'}{' 超期' if r['overdue'] else ''} {r['summary'][:40]}" for r in rows]
    return rows, "\n".join(lines) or "没有符合条件的投诉"


@complaints.command("decide")
@click.argument("complaint_id", type=int)
@click.argument("decision", type=click.Choice(["accept", "refuse"]))
@click.option("--reason", help="Why it is refused (required for refuse).")
@click.option("--on", "on", help="Date of the decision (default today).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def complaints_decide(ctx: Context, complaint_id, decision, reason, on, commit):
    """Accept or refuse a complaint (stops its 5-working-day clock)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.complaints import STATUS_LABELS, decide_complaint

    with session_scope(ctx.engine, commit=commit) as session:
        report = decide_complaint(session, complaint_id, decision, actor=_actor(), reason=reason,
                                  on=_date(on, "处理日期") if on else None)
    return {**report, "committed": commit}, f"投诉 {complaint_id}：{STATUS_LABELS[report['status']]}{_outcome(commit)}"

"""`gisgrid incidents …`: emergency incidents raised in a grid and pushed up its chain.

Writes are dry runs unless given ``--commit``.
"""

from __future__ import annotations

import click

from gisgrid.cli.base import Context, cli, json_option
from gisgrid.cli.workdays import _actor, _outcome


@cli.group()
def incidents() -> None:
    """Emergency incidents (应急监管): raise, note, close, list."""


@incidents.command("raise")
@click.option("--grid", help="Code of the grid where it happens.")
@click.option("--employer", help="Or the employer (credit code or #ID): its grid.")
@click.option("--kind", required=True,
              type=click.Choice(["collective_petition", "group_arrears", "stoppage", "extreme", "other"]))
@click.option("--title", required=True)
@click.option("--summary", required=True)
@click.option("--people", type=int, help="How many people are involved.")
@click.option("--at", "occurred_at", help="When it happened (YYYY-MM-DD HH:MM, China time; default now).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def incidents_raise(ctx: Context, grid, employer, kind, title, summary, people, occurred_at, commit):
    """Raise an incident; print the chain of grids and staff it reaches."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.incidents import raise_incident

    with session_scope(ctx.engine, commit=commit) as session:
        report = raise_incident(session, actor=_actor(), kind=kind, title=title, summary=summary, grid=grid,
                                employer=employer, people=people, occurred_at=occurred_at)
    if not commit:
        report = {**report, "id": None}
    chain = " → ".join(f"{c['code']} {c['name']}（{'、'.join(c['staff']) or '无四定人员'}）" for c in report["chain"])
    text = f"{'已上报应急事件 ' + str(report['id']) if commit else '可以上报'}：{chain}{_outcome(commit)}"
    return {**report, "committed": commit}, text


@incidents.command("note")
@click.argument("incident_id", type=int)
@click.argument("note")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def incidents_note(ctx: Context, incident_id, note, commit):
    """Add a progress note to an open incident."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.incidents import add_note

    with session_scope(ctx.engine, commit=commit) as session:
        report = add_note(session, incident_id, note, actor=_actor())
    return {**report, "committed": commit}, f"应急事件 {incident_id}：已记录处置进展{_outcome(commit)}"


@incidents.command("close")
@click.argument("incident_id", type=int)
@click.option("--result", required=True, help="The result, reported back up the chain.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def incidents_close(ctx: Context, incident_id, result, commit):
    """Close an incident with its result."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.incidents import close_incident

    with session_scope(ctx.engine, commit=commit) as session:
        report = close_incident(session, incident_id, result, actor=_actor())
    return {**report, "committed": commit}, f"应急事件 {incident_id} 已办结{_outcome(commit)}"


@incidents.command("list")
@click.option("--status", type=click.Choice(["open", "closed"]))
@click.option("--grid", help="Only this grid and the grids below it.")
@json_option
@click.pass_obj
def incidents_list(ctx: Context, status, grid):
    """Incidents, open ones first."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.incidents import KINDS, STATUS, list_incidents

    with session_scope(ctx.engine, commit=False) as session:
        rows = list_incidents(session, status=status, grid=grid)
    lines = [f"{r['id']} {STATUS[r['status']]} {KINDS[r['kind']]} {r['grid_code'] or ''} {r['title'][:40]}"
             for r in rows]
    return rows, "\n".join(lines) or "没有应急事件"

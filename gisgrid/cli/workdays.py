"""`gisgrid workdays …`: working-day deadlines on the State Council calendar, and its overrides.

``add`` only reads. ``set`` and ``year`` write (dry run unless ``--commit``): an override of one
date, or the declaration that a year the library does not know has been entered in full; both
recompute the open deadlines and say which moved.
"""

from __future__ import annotations

import datetime as dt

import click

from gisgrid.cli.base import Context, cli, json_option


def _actor() -> str:
    from gisgrid.employers.queries import current_actor

    return f"cli:{current_actor()}"


def _date(value: str, what: str) -> dt.date:
    from gisgrid.errors import InputError

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{what}为 {value[:20]!r}；应为 YYYY-MM-DD 格式的日期") from None


def _outcome(commit: bool) -> str:
    return "" if commit else "（试运行：未写入，加 --commit 执行）"


def _moved_text(moved: list[dict]) -> str:
    if not moved:
        return "没有未结期限因此改变"
    lines = [f"{len(moved)} 个未结期限随之改变："]
    lines += [f"  {m['subject']} {m['subject_id']} {m['kind']}: {m['before']} → {m['after']}" for m in moved]
    return "\n".join(lines)


@cli.group()
def workdays() -> None:
    """Working days (holidays and make-up workdays) for statutory deadlines."""


@workdays.command("add")
@click.argument("start")
@click.argument("days", type=int)
@json_option
@click.pass_obj
def workdays_add(ctx: Context, start, days):
    """The DAYS-th working day after START (START is day 0), and how it was counted."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.workdays import add_workdays

    with session_scope(ctx.engine, commit=False) as session:
        deadline = add_workdays(session, _date(start, "起算日期"), days)
    data = deadline.computation()
    return data, data["explanation"]


@workdays.command("set")
@click.argument("day")
@click.argument("kind", type=click.Choice(["holiday", "workday", "default"]))
@click.option("--reason", default="", help="The notice or local decision behind it (required but for default).")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def workdays_set(ctx: Context, day, kind, reason, commit):
    """Make DAY a holiday or a make-up workday (default: back to the calendar's own)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.workdays import set_override

    with session_scope(ctx.engine, commit=commit) as session:
        report = set_override(session, _date(day, "日期"), kind, reason, actor=_actor())
    text = (f"{report['date']}：{report['before']} → {report['after']}{_outcome(commit)}\n"
            + _moved_text(report["moved"]))
    return {**report, "committed": commit}, text


@workdays.command("year")
@click.argument("year", type=int)
@click.option("--source", required=True, help="The State Council notice the year was entered from.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def workdays_year(ctx: Context, year, source, commit):
    """Declare YEAR entered in full (its holidays and make-up workdays set one by one)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.workdays import enter_year

    with session_scope(ctx.engine, commit=commit) as session:
        report = enter_year(session, year, source, actor=_actor())
    text = (f"{year} 年按 {source} 录入：放假 {report['holidays']} 天、调休上班 {report['workdays']} 天"
            f"{_outcome(commit)}\n" + _moved_text(report["moved"]))
    return {**report, "committed": commit}, text


@workdays.command("list")
@click.option("--year", type=int, help="Only this year's entries.")
@json_option
@click.pass_obj
def workdays_list(ctx: Context, year):
    """The overrides and the years entered by hand."""
    import sqlalchemy as sa

    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=False) as session:
        rows = [dict(r) for r in session.execute(sa.text(
            "SELECT day, kind, reason, entered_by FROM calendar_override "
            "WHERE CAST(:y AS integer) IS NULL OR extract(year FROM day) = :y ORDER BY day"), {"y": year}).mappings()]
        years = [dict(r) for r in session.execute(sa.text(
            "SELECT year, source, entered_by FROM calendar_year ORDER BY year")).mappings()]
    words = {"holiday": "放假", "workday": "调休上班"}
    lines = [f"{r['day']} {words[r['kind']]} {r['reason']}（{r['entered_by']}）" for r in rows] or ["没有本地录入的日期"]
    lines += [f"{y['year']} 年已按 {y['source']} 录入完毕" for y in years]
    return {"overrides": rows, "years": years}, "\n".join(lines)

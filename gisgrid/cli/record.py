"""`gisgrid grades record YEAR` and `gisgrid employers flags`: grades and key-supervision flags
from the supervision record (gisgrid.supervision.record). Dry runs unless given ``--commit``."""

from __future__ import annotations

import click

from gisgrid.cli.base import Context, cli, json_option
from gisgrid.cli.employers import employers
from gisgrid.cli.workdays import _actor, _date, _outcome


def _rules(ctx: Context):
    from gisgrid.analysis.risk import RiskRules

    return RiskRules(grades=ctx.settings.grade_scheme)


@cli.group()
def grades() -> None:
    """Yearly integrity grades (人社部规〔2016〕1号) computed from the record."""


@grades.command("record")
@click.argument("year", type=int)
@click.option("--commit", is_flag=True, help="Write the grades (default: report what would change).")
@json_option
@click.pass_obj
def grades_record(ctx: Context, year: int, commit: bool):
    """Grade every employer for YEAR on the record of the year before; list what changes."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.record import grade_from_record

    with session_scope(ctx.engine, commit=commit) as session:
        report = grade_from_record(session, year, rules=_rules(ctx), actor=_actor(), write=commit)
    counts = "，".join(f"{g} 级 {n} 家" for g, n in report["counts"].items())
    lines = [f"{year} 年度诚信等级（依据 {report['basis_year']} 年度记录，{report['scheme']} 等级）：{report['graded']} 家，"
             f"{counts}；与已存等级不同 {report['changed']} 家{_outcome(commit)}"]
    lines += [f"  {c['name'][:30]}：{c['before'] or '无'} → {c['after']}（{c['reasons']}）" for c in report["changes"][:50]]
    return {**report, "committed": commit}, "\n".join(lines)


@employers.command("flags")
@click.option("--on", "on", help="The day the 12 months end on (default today).")
@click.option("--commit", is_flag=True, help="Write the counts (default: report what would change).")
@json_option
@click.pass_obj
def employers_flags(ctx: Context, on: str | None, commit: bool):
    """Count each employer's complaints of the last 12 months from the record and recompute its
    risk and key-supervision flags (run daily: the window moves)."""
    from gisgrid.db.engine import session_scope
    from gisgrid.supervision.record import refresh_flags

    with session_scope(ctx.engine, commit=commit) as session:
        report = refresh_flags(session, rules=_rules(ctx), on=_date(on, "日期") if on else None, actor=_actor())
    text = (f"截至 {report['on']}：核对 {report['counted']} 家，投诉次数改变 {report['changed']} 家，风险等级或重点监管"
            f"标记改变 {report['risk_changed']} 家，新纳入重点监管（12个月内投诉2次及以上）{len(report['now_key'])} 家"
            f"{_outcome(commit)}")
    return {**report, "committed": commit}, text

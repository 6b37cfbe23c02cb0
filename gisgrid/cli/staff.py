"""`gisgrid staff …`: 四定 staff from a roster file, and grids against the staffing standard.

Writes are dry runs unless given ``--commit``. A refused file prints one ``error:`` line on
stderr and every problem on stdout (or one JSON report with ``error``), exit status 1.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, error_document, json_option


def _actor(given: str | None) -> str:
    from gisgrid.employers.queries import current_actor

    return given or f"cli:{current_actor()}"


@cli.group()
def staff() -> None:
    """四定 staff: import a roster (XLSX/CSV), check grids against the staffing standard."""


@staff.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--actor", help="Who imports, for the audit log (default: cli:<operating-system user>).")
@click.option("--commit", is_flag=True, help="Write; without it nothing is written.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def staff_import(ctx: Context, path: Path, actor: str | None, commit: bool, as_json: bool):
    """Import staff and their grids from a roster (the columns `gisgrid export roster` writes).

    All or nothing: any problem (unknown grid or role, no name, bad date, overlap …) refuses
    the whole file, with every problem listed by sheet, row and column.
    """
    from gisgrid.access.staff_import import StaffImportRefused, import_staff
    from gisgrid.db.engine import session_scope

    refused = None
    with session_scope(ctx.engine, commit=commit) as session:
        try:
            report = import_staff(session, path, actor=_actor(actor), commit=commit)
        except StaffImportRefused as exc:
            refused, report = exc, exc.report
            session.rollback()
    if refused:
        if as_json:
            report["error"] = error_document(refused.kind, refused.message, refused.details)["error"]
            click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
        else:
            click.echo(f"error: {refused.message}", err=True)
            click.echo(format_import(report))
        raise click.exceptions.Exit(1)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(format_import(report))


def format_import(report: dict) -> str:
    """An import report as lines a person reads (every problem, then what would change)."""
    lines = []
    problems = report["problems"]
    if problems:
        kinds = Counter(p["reason"] for p in problems)
        lines.append(f"{len(problems)} 处问题（" + "，".join(f"{k} {n}" for k, n in kinds.most_common()) + "）：")
        for p in problems:
            where = (f"工作表 {p['sheet']} " if p["sheet"] else "") + f"第 {p['row']} 行"
            column = f" {p['column']}" + (f"（{p['cell']}）" if p.get("cell") and p["cell"] != p["column"] else "")
            lines.append(f"  {where}{column if p['column'] else ''}：{p['message']}")
    else:
        verb = "已导入" if report["committed"] else "将导入（试运行：未写入，加 --commit 执行）"
        lines.append(f"{report['file']}：{verb}；{report['rows']} 行，新增人员 {len(report['new_people'])} 人，"
                     f"新增任职 {len(report['new_assignments'])} 条，修改任职 {len(report['updated_assignments'])} 条，"
                     f"未变 {len(report['unchanged'])} 条，跳过未配备 {report['skipped']} 行")
        for a in report["new_assignments"]:
            who = "新增人员" if a["person"] == "new" else f"已有人员 #{a['staff_id']}"
            lines.append(f"  + 第 {a['row']} 行 {a['grid']} {a['grid_name']}：{a['name']}（{who}），"
                         f"{a['from']} 至 {a['to'] or '今'}")
        for a in report["updated_assignments"]:
            changed = "、".join(a["changes"])
            lines.append(f"  ~ 第 {a['row']} 行 {a['grid']} {a['grid_name']}：{a['name']}（任职 #{a['assignment_id']}，"
                         f"修改 {changed}）")
        for p in report["updated_people"]:
            lines.append(f"  ~ 人员 #{p['staff_id']} {p['name']}：修改 {'、'.join(p['changes'])}")
    return "\n".join(lines)


@staff.command("check")
@click.option("--generation", help="Generation name (default: the active one).")
@click.option("--all", "show_all", is_flag=True, help="List every grid with a standard, not only those off it.")
@json_option
@click.pass_obj
def staff_check(ctx: Context, generation: str | None, show_all: bool):
    """Grids below (or above) the staffing standard (GISGRID_STAFF_MINIMUMS) today."""
    from gisgrid.access.staffing import staffing_check
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine, commit=False) as session:
        rows = staffing_check(session, generation, rules=ctx.settings.staff_minimums)
    ruled = [r for r in rows if r["rule"] is not None]
    shown = ruled if show_all else [r for r in ruled if r["status"] != "ok"]
    under = sum(1 for r in ruled if r["status"] == "under")
    over = sum(1 for r in ruled if r["status"] == "over")
    lines = [f"{r['code']} {r['name']}：{r['text']}（标准 {r['rule']}）" for r in shown]
    lines.append(f"有配备标准的网格 {len(ruled)} 个：不足 {under} 个，超编 {over} 个")
    return shown, "\n".join(lines)

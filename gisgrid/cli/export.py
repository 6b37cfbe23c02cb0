"""`gisgrid export …`: diagrams, registers, rosters and filing packages for the upper level."""

from __future__ import annotations

from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, json_option


@cli.group()
def export() -> None:
    """Exports for filing upward: diagram PNG/PDF, registers, roster, package."""


@export.command("diagram")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="PATH.png (300 dpi) or PATH.pdf (vector, fonts embedded).")
@click.option("--level", type=int, help="Level of the coloured grids (default 2, or the level below --grid).")
@click.option("--grid", "grid_code", help="Only inside this grid code.")
@click.option("--paper", type=click.Choice(["A4", "A3"]), default="A4", show_default=True)
@click.option("--employers", is_flag=True, help="Overlay employers coloured by risk level.")
@click.option("--atlas", is_flag=True, help="PDF only: overview page, then one page per street/town.")
@click.option("--generation", help="Generation name (default: the active one).")
@click.option("--colour-by", "colour_by",
              type=click.Choice(["employers", "risk_share", "contract_rate", "insured_rate", "stale_share"]),
              help="Fill grids by this indicator in classes (分级图) instead of adjacent colours.")
@json_option
@click.pass_obj
def export_diagram_cmd(ctx: Context, output: Path, level, grid_code, paper, employers, atlas, generation,
                       colour_by):
    """Grid division diagram (网格划分示意图) as PNG or PDF."""
    from gisgrid.db.engine import session_scope
    from gisgrid.export.diagram import export_diagram

    with session_scope(ctx.engine) as session:
        report = export_diagram(session, output, level=level, grid_code=grid_code, paper=paper, employers=employers,
                                atlas=atlas, settings=ctx.settings, generation=generation, colour_by=colour_by)
    first = report["pages"][0]
    for page in report["pages"]:
        page.pop("_key_pages", None)
    return report, (f"wrote {output} ({report['format'].upper()}, {paper}, {len(report['pages'])} page(s), "
                    f"{report['grids']} grids: {report['labelled']} labelled, {report['numbered']} numbered; "
                    f"scale 1:{first['scale']}, {first['crs']}) in {report['seconds']} s")


@export.command("register")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="PATH.xlsx, or a directory with --split.")
@click.option("--grid", "grid_code", help="Only grids inside this grid code (or this grid alone).")
@click.option("--level", type=int, help="Level of the grids that get a register (default: the finest).")
@click.option("--split", is_flag=True, help="One file per grid in the directory given by -o.")
@click.option("--generation", help="Generation name (default: the active one).")
@json_option
@click.pass_obj
def export_register_cmd(ctx: Context, output: Path, grid_code, level, split, generation):
    """Employer registers, one per grid (一格一册), as XLSX."""
    from gisgrid.db.engine import session_scope
    from gisgrid.export.registers import export_registers

    _check_suffix(output, ".xlsx", allow_dir=split)
    with session_scope(ctx.engine) as session:
        report = export_registers(session, output, grid_code=grid_code, level=level, split=split,
                                  generation=generation, stale_months=ctx.settings.stale_months)
    where = f"{len(report['files'])} files in {output}" if split else str(output)
    return report, (f"wrote {where}: {len(report['sheets'])} level-{report['level']} grid registers, "
                    f"{report['employers']} employers")


@export.command("stats")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="PATH.xlsx (titled, A4 landscape, ready to print) or PATH.csv.")
@click.option("--level", type=int, help="Level of the rows (default: the level below --grid, or 2).")
@click.option("--grid", "grid_code", help="Only grids inside this grid code; its figures are the totals row.")
@click.option("--generation", help="Generation name (default: the active one).")
@json_option
@click.pass_obj
def export_stats_cmd(ctx: Context, output: Path, level, grid_code, generation):
    """The statistics table per grid (网格统计表): employers, 职工, rates, risk, 四定, complaints, cases."""
    from gisgrid.db.engine import session_scope
    from gisgrid.errors import InputError
    from gisgrid.export.statistics import FORMATS, export_statistics

    if output.suffix.lower() not in FORMATS:
        raise InputError(f"输出文件为 {str(output)!r}；应为 .xlsx 或 .csv 文件")
    with session_scope(ctx.engine) as session:
        report = export_statistics(session, output, level=level, grid_code=grid_code, settings=ctx.settings,
                                   generation=generation)
    return report, (f"wrote {output}: {report['title']}, {report['grids']} level-{report['level']} grids"
                    + (f" with the totals of {report['parent']}" if report["parent"] else ""))


@export.command("roster")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="PATH.xlsx")
@click.option("--grid", "grid_code", help="Only this grid and the grids inside it.")
@click.option("--generation", help="Generation name (default: the active one).")
@json_option
@click.pass_obj
def export_roster_cmd(ctx: Context, output: Path, grid_code, generation):
    """The 四定 staff roster (grid, person, role, phone, duty, task, from) as XLSX."""
    from gisgrid.db.engine import session_scope
    from gisgrid.export.registers import export_roster

    _check_suffix(output, ".xlsx")
    with session_scope(ctx.engine) as session:
        report = export_roster(session, output, grid_code=grid_code, generation=generation,
                               staff_minimums=ctx.settings.staff_minimums)
    return report, (f"wrote {output}: {report['people']} staff rows for {report['grids']} grids, "
                    f"{report['unstaffed']} grids without staff")


@export.command("package")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path), help="PATH.zip")
@click.option("--level", type=int, default=2, show_default=True, help="Level of the diagram's coloured grids.")
@click.option("--paper", type=click.Choice(["A4", "A3"]), default="A3", show_default=True)
@click.option("--generation", help="Generation name (default: the active one).")
@json_option
@click.pass_obj
def export_package_cmd(ctx: Context, output: Path, level, paper, generation):
    """The filing package (上报材料): diagrams, atlas, registers, roster, grid data, summary, manifest."""
    from gisgrid.db.engine import session_scope
    from gisgrid.export.package import export_package

    _check_suffix(output, ".zip")
    with session_scope(ctx.engine) as session:
        report = export_package(session, output, level=level, paper=paper, settings=ctx.settings,
                                generation=generation)
    return report, (f"wrote {output}: {len(report['files'])} files, {report['size']:,} bytes "
                    f"in {report['seconds']} s (manifest: {report['manifest']})")


def _check_suffix(path: Path, suffix: str, allow_dir: bool = False) -> None:
    from gisgrid.errors import InputError

    if allow_dir:
        if path.suffix.lower() == suffix:
            raise InputError(f"--split writes one file per grid; -o was {str(path)!r}; expected a directory")
        return
    if path.suffix.lower() != suffix:
        raise InputError(f"output was {str(path)!r}; expected a {suffix} path")

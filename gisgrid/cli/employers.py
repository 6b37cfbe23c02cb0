"""`gisgrid employers …`: the employer register and assignment."""

from __future__ import annotations

from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, json_option

@cli.group()
def employers() -> None:
    """Employers: import the register, assign to grids."""


@employers.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--crs", help="CRS of rows without a 坐标系 value: CGCS2000 (default), WGS84, gcj02, bd09, EPSG:xxxx.")
@click.option("--encoding", help="Text encoding of a CSV when it is not UTF-8 or GBK.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def employers_import(ctx: Context, path: Path, crs: str | None, encoding: str | None, commit: bool):
    """Import employers from a CSV or XLSX register and assign them."""
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.db.engine import session_scope
    from gisgrid.db.queries import active_generation
    from gisgrid.employers.register import load_register, read_register, validate_register

    frame = read_register(path, encoding)
    if crs:
        from gisgrid.crs import parse_crs

        parse_crs(crs)  # refuse an unknown --crs before reading every row
    good, rejected, warnings = validate_register(frame, default_crs=crs)
    with session_scope(ctx.engine) as session:
        loaded = load_register(session, good, path.name)
        if active_generation(session) is not None and loaded["changed_ids"]:
            loaded["assignment"] = assign_employers(session, employer_ids=loaded["changed_ids"])
        if not commit:
            session.rollback()
    loaded.pop("changed_ids")
    report = {"file": str(path), "rows": len(frame), **loaded, "rejected": rejected,
              "warnings": warnings, "committed": commit}
    verb = "imported" if commit else "would import (dry run; add --commit)"
    lines = [f"{verb}: {report['imported']} new, {report['updated']} updated, {report['unchanged']} "
             f"unchanged, {len(rejected)} problems in rejected rows"]
    lines += [f"  row {p['row']} {p['column']}: {p['message']}" for p in rejected[:20]]
    return report, "\n".join(lines)


@employers.command("assign")
@click.option("--generation")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def employers_assign(ctx: Context, generation: str | None, commit: bool):
    """Assign every employer to its finest grid (set-based, in PostGIS)."""
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine) as session:
        report = assign_employers(session, generation)
        if not commit:
            session.rollback()
    report["committed"] = commit
    verb = "assigned" if commit else "would assign (dry run; add --commit)"
    return report, (f"{verb} {report['assigned']} of {report['total']} employers in generation "
                    f"{report['generation']!r}; {report['unassigned']} unassigned "
                    f"({report['unlocated']} without coordinates), {report['ties']} edge ties")

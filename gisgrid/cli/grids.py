"""`gisgrid grids …`: import, list and activate grid generations."""

from __future__ import annotations

from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, json_option

@cli.group()
def grids() -> None:
    """Grid boundaries: import, list, activate."""


@grids.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--level", required=True, type=int, help="1 = city, 2 = street/town, 3 = community/village …")
@click.option("--generation", default=None, help="Draft generation to import into (default: 'draft').")
@click.option("--code-field")
@click.option("--name-field")
@click.option("--parent-field")
@click.option("--crs", help="CRS of the file when it declares none (or to override it): EPSG:4547, gcj02, bd09 …")
@click.option("--encoding", help="Attribute encoding when the file declares none, e.g. gbk.")
@click.option("--commit", is_flag=True, help="Write; without it nothing is written.")
@json_option
@click.pass_obj
def grids_import(ctx: Context, path: Path, level: int, generation: str | None, code_field, name_field,
                 parent_field, crs, encoding, commit: bool):
    """Import grid polygons from a GeoJSON, Shapefile, GeoPackage or KML file."""
    from gisgrid.boundaries.load import import_grids
    from gisgrid.boundaries.read import read_grid_file
    from gisgrid.db.engine import session_scope

    grid_file = read_grid_file(path, code_field=code_field, name_field=name_field,
                               parent_field=parent_field, crs=crs, encoding=encoding)
    with session_scope(ctx.engine) as session:
        report = import_grids(session, grid_file, level=level, generation=generation or "draft")
        if not commit:
            session.rollback()
    report["committed"] = commit
    verb = "imported" if commit else "would import (dry run; add --commit to write)"
    text = (f"{verb} {report['features']} level-{level} grids into generation {report['generation']!r}: "
            f"{report['created']} new, {report['updated']} changed, {report['unchanged']} unchanged "
            f"(CRS {report['source_crs']})")
    return report, text


@grids.command("list")
@click.option("--level", type=int)
@click.option("--generation")
@json_option
@click.pass_obj
def grids_list(ctx: Context, level: int | None, generation: str | None):
    """List grids with their parent and employer counts."""
    from gisgrid.db.engine import session_scope
    from gisgrid.db.queries import list_grids

    with session_scope(ctx.engine) as session:
        rows = list_grids(session, generation, level)
    lines = [f"{'  ' * (r['level'] - 1)}{r['code']}  {r['name']}  ({r['kind']}, {r['employers']} 家用人单位)"
             for r in rows]
    return rows, "\n".join(lines) or "no grids"


@grids.command("activate")
@click.argument("name")
@click.option("--effective-from", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date it takes effect.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def grids_activate(ctx: Context, name: str, effective_from, commit: bool):
    """Make a draft generation active and reassign every employer."""
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.boundaries.generations import activate_generation
    from gisgrid.db.engine import session_scope

    with session_scope(ctx.engine) as session:
        report = activate_generation(session, name, effective_from.date() if effective_from else None)
        report["assignment"] = assign_employers(session, name)
        if not commit:
            session.rollback()
    report["committed"] = commit
    a = report["assignment"]
    verb = "activated" if commit else "would activate (dry run; add --commit)"
    return report, (f"{verb} {name!r} from {report['effective_from']}; assigned {a['assigned']} of "
                    f"{a['total']} employers, {a['unassigned']} unassigned, {a['ties']} ties")

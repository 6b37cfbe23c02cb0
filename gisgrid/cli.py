"""The ``gisgrid <noun> <verb>`` command line (a stable contract, DESIGN.md).

Commands that write do a dry run unless given ``--commit``; every command takes
``--json``; errors exit non-zero with one clear line.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

import click

from gisgrid.config import Settings, load_settings
from gisgrid.errors import GisgridError


class Context:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from gisgrid.db.engine import prepare_database

            self._engine = prepare_database(self.settings)
        return self._engine


def json_option(func):
    """Add ``--json`` and print the command's returned dict/list as text or JSON."""

    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @functools.wraps(func)
    def wrapper(*args, as_json: bool, **kwargs):
        result = func(*args, **kwargs)
        if result is None:
            return
        data, text = result
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            click.echo(text)

    return wrapper


class CommandError(click.ClickException):
    """A GisgridError on its way out: one line on stderr, exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


class GisgridGroup(click.Group):
    """Turns every GisgridError raised by a subcommand into one clear line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GisgridError as exc:
            raise CommandError(exc.message) from None


@click.group(cls=GisgridGroup)
@click.version_option(package_name="gisgrid")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """gisgrid — 劳动保障监察网格化管理 GIS service."""
    try:
        ctx.obj = Context(load_settings())
    except GisgridError as exc:
        raise CommandError(exc.message) from None


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="gisgrid")


# --------------------------------------------------------------------------- db
@cli.group()
def db() -> None:
    """The database: the private local PostGIS cluster and migrations."""


def _cluster(ctx: Context):
    from gisgrid.db.cluster import LocalCluster

    if not ctx.settings.managed:
        return None
    return LocalCluster(ctx.settings)


@db.command("up")
@json_option
@click.pass_obj
def db_up(ctx: Context):
    """Initialise and start the private cluster, create PostGIS, apply migrations."""
    from gisgrid.db.engine import database_url, prepare_database
    from gisgrid.db.migrate import current_revision

    cluster = _cluster(ctx)
    done = cluster.up() if cluster else []
    engine = prepare_database(ctx.settings)
    data = {"done": done, "revision": current_revision(engine), "url": database_url(ctx.settings)}
    return data, "\n".join(done + [f"database ready at revision {data['revision']}"])


@db.command("down")
@json_option
@click.pass_obj
def db_down(ctx: Context):
    """Stop the private cluster."""
    cluster = _cluster(ctx)
    if cluster is None:
        raise GisgridError("GISGRID_DATABASE_URL is set: gisgrid does not manage that server")
    stopped = cluster.down()
    return {"stopped": stopped}, "server stopped" if stopped else "server was not running"


@db.command("status")
@json_option
@click.pass_obj
def db_status(ctx: Context):
    """Whether the database runs, and its URL (for psql and scripts)."""
    from gisgrid.db.engine import database_url, get_engine

    cluster = _cluster(ctx)
    if cluster is not None:
        data = cluster.status().as_dict()
    else:
        data = {"managed": False, "url": database_url(ctx.settings), "running": _reachable(ctx.settings)}
    if data["running"]:
        from gisgrid.db.migrate import current_revision, head_revision

        data["revision"] = current_revision(get_engine(data["url"]))
        data["head"] = head_revision()
    lines = [f"{k}: {v}" for k, v in data.items()]
    return data, "\n".join(lines)


def _reachable(settings: Settings) -> bool:
    import sqlalchemy as sa

    from gisgrid.db.engine import database_url, get_engine

    try:
        with get_engine(database_url(settings)).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False


@db.command("upgrade")
@json_option
@click.pass_obj
def db_upgrade(ctx: Context):
    """Apply pending migrations."""
    from gisgrid.db.migrate import current_revision

    revision = current_revision(ctx.engine)
    return {"revision": revision}, f"database at revision {revision}"


@db.command("reset")
@click.option("--commit", is_flag=True, help="Really drop every table and record.")
@json_option
@click.pass_obj
def db_reset(ctx: Context, commit: bool):
    """Drop the gisgrid database and recreate it empty (dry run without --commit)."""
    from gisgrid.db.engine import dispose_engines, prepare_database

    cluster = _cluster(ctx)
    if cluster is None:
        raise GisgridError("GISGRID_DATABASE_URL is set: reset a server you do not manage with its own tools")
    if not commit:
        return ({"committed": False},
                f"would drop and recreate the database in {cluster.datadir}; run with --commit to do it")
    dispose_engines()
    cluster.drop_database()
    prepare_database(ctx.settings)
    return {"committed": True}, "database dropped and recreated empty"


# ------------------------------------------------------------------------- demo
@cli.command()
@click.option("--employers", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--serve", is_flag=True, help="Serve the web app afterwards.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@json_option
@click.pass_obj
def demo(ctx: Context, employers: int, serve: bool, host: str, port: int):
    """Load the demonstration city (idempotent: a second run changes nothing)."""
    from gisgrid.demo.load import load_demo

    report = load_demo(ctx.engine, ctx.settings.home, employers)
    a, e = report["assignment"], report["employers"]
    text = (f"demo city loaded: employers {e['imported']} new, {e['updated']} updated, "
            f"{e['unchanged']} unchanged, {e['rejected']} rejected; assigned {a['assigned']} of "
            f"{a['total']}, unassigned {a['unassigned']}, ties {a['ties']}")
    if serve:
        click.echo(text)
        _serve(ctx, host, port)
        return None
    return report, text


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.pass_obj
def serve(ctx: Context, host: str, port: int) -> None:
    """Serve the web app."""
    _serve(ctx, host, port)


def _serve(ctx: Context, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from gisgrid.web import create_app

    ctx.engine  # start the database before the first request
    app = create_app(settings=ctx.settings)
    click.echo(f"gisgrid serving on http://{host}:{port}/ (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False)


# ------------------------------------------------------------------------ grids
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
@click.option("--crs", help="CRS of the file when it declares none, e.g. EPSG:4547.")
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


# -------------------------------------------------------------------- employers
@cli.group()
def employers() -> None:
    """Employers: import the register, assign to grids."""


@employers.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--encoding", help="Text encoding of a CSV when it is not UTF-8 or GBK.")
@click.option("--commit", is_flag=True)
@json_option
@click.pass_obj
def employers_import(ctx: Context, path: Path, encoding: str | None, commit: bool):
    """Import employers from a CSV or XLSX register and assign them."""
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.db.engine import session_scope
    from gisgrid.db.queries import active_generation
    from gisgrid.employers.register import load_register, read_register, validate_register

    frame = read_register(path, encoding)
    good, rejected, warnings = validate_register(frame)
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


if __name__ == "__main__":  # pragma: no cover
    main()

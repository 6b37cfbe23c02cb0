"""`gisgrid db …`: the private PostGIS cluster and migrations."""

from __future__ import annotations

from pathlib import Path

import click

from gisgrid.cli.base import Context, cli, json_option
from gisgrid.errors import GisgridError

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
    from gisgrid.db.engine import database_url, prepare_database, public_url
    from gisgrid.db.migrate import current_revision

    cluster = _cluster(ctx)
    done = cluster.up() if cluster else []
    engine = prepare_database(ctx.settings)
    url = cluster.public_url if cluster else public_url(database_url(ctx.settings))
    data = {"done": done, "revision": current_revision(engine), "url": url}
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
    """Whether the database runs, its URL and where its password is (never the password itself).

    For psql: ``PGPASSWORD="$(cat PASSWORD_FILE)" psql URL``.
    """
    from gisgrid.db.engine import database_url, get_engine, public_url

    settings = ctx.settings
    cluster = _cluster(ctx)
    if cluster is not None:
        data = cluster.status().as_dict()
    else:
        web = settings.web_database_url
        data = {"managed": False, "url": public_url(database_url(settings)), "password_file": None,
                "web_url": public_url(web) if web else None, "running": _reachable(settings)}
    if data["running"]:
        from gisgrid.db.migrate import current_revision, head_revision

        data["revision"] = current_revision(get_engine(database_url(settings)))
        data["head"] = head_revision()
    lines = [f"{k}: {v}" for k, v in data.items() if k != "web_url" or v]
    if not data["web_url"]:
        lines.append("web_url: not set; `gisgrid serve` needs GISGRID_WEB_DATABASE_URL (README: Web role)")
    return data, "\n".join(lines)


def _reachable(settings) -> bool:
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


@db.command("rebuild-cells")
@click.option("--commit", is_flag=True, help="Write the recounted cells (dry run: count and roll back).")
@json_option
@click.pass_obj
def db_rebuild_cells(ctx: Context, commit: bool):
    """Recount the employers per map cell (the counts behind city-zoom vector tiles).

    Triggers keep the counts right through every write; this repairs them after a restore
    of the employer table alone or triggers disabled by hand.
    """
    from gisgrid.db.engine import session_scope
    from gisgrid.maps.tiles import rebuild_employer_cells

    with session_scope(ctx.engine, commit=commit) as session:
        counted = rebuild_employer_cells(session)
    verb = "recounted" if commit else "would recount (dry run, use --commit)"
    return {"employers": counted, "committed": commit}, f"{verb} {counted} located employers into map cells"


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@json_option
@click.pass_obj
def db_backup(ctx: Context, path: Path, force: bool):
    """Write a backup of the database to PATH (a tar: pg_dump custom format + manifest.json).

    Reading the database is no write: no --commit needed. PATH is created 0600.
    """
    from gisgrid.db.backup import backup_database

    manifest = backup_database(ctx.settings, ctx.engine, path, force=force)
    rows = sum(t["rows"] for t in manifest["tables"].values())
    text = (f"backup written to {path}: schema version {manifest['schema_version']}, "
            f"{len(manifest['tables'])} tables, {rows} rows, {manifest['dump']['bytes']} bytes, "
            f"sha256 {manifest['dump']['sha256']}")
    return {"path": str(path), **manifest}, text


@db.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--commit", is_flag=True, help="Really restore (dry run: check the backup and the target).")
@json_option
@click.pass_obj
def db_restore(ctx: Context, path: Path, commit: bool):
    """Restore a backup from `gisgrid db backup` into the empty database (dry run without --commit)."""
    from gisgrid.db.backup import restore_database
    from gisgrid.db.engine import dispose_engines, prepare_database

    report = restore_database(ctx.settings, ctx.engine, path, commit=commit)
    backup = report["backup"]
    counts = ", ".join(f"{name} {rows}" for name, rows in report["tables"].items() if rows)
    what = (f"backup {path} of {backup['created_at']} (gisgrid {backup['gisgrid_version']}, "
            f"schema version {backup['schema_version']}), rows: {counts or 'none'}")
    if not commit:
        return report, f"would restore {what} into {report['target']}; run with --commit to do it"
    dispose_engines()
    from gisgrid.db.migrate import current_revision

    report["revision"] = current_revision(prepare_database(ctx.settings))  # later migrations, web grants
    return report, (f"restored {what} into {report['target']}; every table matches the manifest; "
                    f"database at schema version {report['revision']}")

"""`gisgrid demo` and `gisgrid serve`."""

from __future__ import annotations

import click

from gisgrid.cli.base import Context, cli, json_option

@cli.command()
@click.option("--employers", default=20_000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--serve", is_flag=True, help="Serve the web app afterwards.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--sample-record", is_flag=True,
              help="Also add sample complaints, cases, inspections and an incident (once, into a city without any).")
@json_option
@click.pass_obj
def demo(ctx: Context, employers: int, serve: bool, host: str, port: int, sample_record: bool):
    """Load the demonstration city (idempotent: a second run changes nothing)."""
    from gisgrid.demo.load import load_demo

    report = load_demo(ctx.engine, ctx.settings.home, employers, password=ctx.settings.demo_password,
                       sample_record=sample_record)
    a, e, accounts = report["assignment"], report["employers"], report["accounts"]
    where = (f"the password {accounts['generated_password']} (generated now, kept in {accounts['password_file']})"
             if accounts["generated_password"] else
             f"the password in {accounts['password_file']}" if accounts["password_file"]
             else "the password in GISGRID_DEMO_PASSWORD")
    text = (f"demo city loaded: employers {e['imported']} new, {e['updated']} updated, "
            f"{e['unchanged']} unchanged, {e['rejected']} rejected; assigned {a['assigned']} of "
            f"{a['total']}, unassigned {a['unassigned']}, ties {a['ties']}; {accounts['added']} accounts added"
            + (f"; sample record: {report['sample_record']['complaints']} complaints, {report['sample_record']['cases']} "
               f"cases, {report['sample_record']['inspections']} inspections, {report['sample_record']['incidents']} "
               "incident" if report.get("sample_record") else "") + ". "
            f"Log in as admin, planner, leader or an inspector such as jc419901001-1 or xg419901001001-1 "
            f"with {where}")
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


ROOT_WARNING = (
    "warning: gisgrid serve is running as root; a flaw in the web app would then hold the whole "
    "machine. Run it as a service user instead: useradd --system --create-home gisgrid, and start "
    "it with deploy/gisgrid.service (README: Running as a service)"
)
NO_WEB_ROLE = (
    "GISGRID_DATABASE_URL is set but GISGRID_WEB_DATABASE_URL is not: the web app connects only as its "
    "own role without ownership or DDL rights; create it (CREATE ROLE gisgrid_web LOGIN PASSWORD '…' "
    "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT, README: Web role) and set "
    "GISGRID_WEB_DATABASE_URL=postgresql://gisgrid_web:PASSWORD@HOST:PORT/DATABASE"
)


def _serve(ctx: Context, host: str, port: int) -> None:
    # waitress: a pure-Python multi-threaded WSGI server that runs the same on a
    # county intranet server as here (Werkzeug's server is for development only).
    import os

    from waitress import serve as serve_wsgi

    from gisgrid.db.engine import get_web_engine
    from gisgrid.errors import ConfigError
    from gisgrid.web import create_app

    if not ctx.settings.managed and not ctx.settings.web_database_url:
        raise ConfigError(NO_WEB_ROLE)
    if os.geteuid() == 0:
        click.echo(ROOT_WARNING, err=True)
    # Start and prepare the database, and check the web role, before the first request.
    role = get_web_engine(ctx.settings).url.username
    app = create_app(settings=ctx.settings, serve_host=host)  # a trusted Host name (GISGRID_TRUSTED_HOSTS)
    from gisgrid.jobs.queue import start_worker_process; start_worker_process(ctx.settings)  # noqa: E702  (exports)
    click.echo(f"gisgrid serving on http://{host}:{port}/ as database role {role} (Ctrl+C to stop)")
    serve_wsgi(app, host=host, port=port, threads=8, ident="gisgrid")

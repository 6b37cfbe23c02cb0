"""`gisgrid demo` and `gisgrid serve`."""

from __future__ import annotations

import click

from gisgrid.cli.base import Context, cli, json_option

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
    # waitress: a pure-Python multi-threaded WSGI server that runs the same on a
    # county intranet server as here (Werkzeug's server is for development only).
    from waitress import serve as serve_wsgi

    from gisgrid.web import create_app

    ctx.engine  # start the database before the first request
    app = create_app(settings=ctx.settings)
    click.echo(f"gisgrid serving on http://{host}:{port}/ (Ctrl+C to stop)")
    serve_wsgi(app, host=host, port=port, threads=8, ident="gisgrid")

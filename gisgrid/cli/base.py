"""The command-line core: the top-level group, the shared context and ``--json``.

Commands that write do a dry run unless given ``--commit``; every command takes
``--json``; errors exit non-zero with one clear line.
"""

from __future__ import annotations

import functools
import json

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

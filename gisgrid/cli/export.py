"""`gisgrid export …`: diagrams, registers, rosters and filing packages for the upper level."""

from __future__ import annotations

import click

from gisgrid.cli.base import cli


@cli.group()
def export() -> None:
    """Exports for filing upward: diagram PNG/PDF, registers, roster, package."""

"""The ``gisgrid <noun> <verb>`` command line (a stable contract, DESIGN.md).

Commands that write do a dry run unless given ``--commit``; every command takes
``--json``; errors exit non-zero with one clear line. Each noun has its module.
"""

from __future__ import annotations

from gisgrid.cli import db, demo, employers, export, grids  # noqa: F401  (register the commands)
from gisgrid.cli import jobs  # noqa: F401,E402  (gisgrid jobs …)
from gisgrid.cli import users  # noqa: F401,E402  (gisgrid users …)
from gisgrid.cli import staff  # noqa: F401,E402  (gisgrid staff …)
from gisgrid.cli import workdays  # noqa: F401,E402  (gisgrid workdays …)
from gisgrid.cli import complaints  # noqa: F401,E402  (gisgrid complaints …)
from gisgrid.cli import cases  # noqa: F401,E402  (gisgrid cases …)
from gisgrid.cli import inspections  # noqa: F401,E402  (gisgrid inspections|rectifications …)
from gisgrid.cli import record  # noqa: F401,E402  (gisgrid grades record, gisgrid employers flags)
from gisgrid.cli import incidents  # noqa: F401,E402  (gisgrid incidents …)
from gisgrid.cli.base import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="gisgrid")


if __name__ == "__main__":  # pragma: no cover
    main()

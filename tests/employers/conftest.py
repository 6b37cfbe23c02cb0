"""Fixtures of the employer tests: the hand-drawn grids, imported and active."""

from __future__ import annotations

import pytest

from tests.fixtures.handdrawn import write_grid_files


@pytest.fixture
def grids(run_cli, tmp_path, engine):
    """The hand-drawn 3-level grid set as the active generation "2026"."""
    paths = write_grid_files(tmp_path)
    for level in (1, 2, 3):
        run_cli("grids", "import", paths[level], "--level", level, "--generation", "2026", "--commit")
    run_cli("grids", "activate", "2026", "--effective-from", "2026-01-01", "--commit")

"""Fixtures of the boundary tests."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.boundaries.defects import write_layers


@pytest.fixture
def draft(run_cli, tmp_path, engine):
    """A session on the valid hand-drawn coverage (tests/boundaries/defects.py), imported as a draft."""
    for level, path in write_layers(tmp_path).items():
        run_cli("grids", "import", path, "--level", level, "--commit")
    with Session(engine) as session:
        yield session

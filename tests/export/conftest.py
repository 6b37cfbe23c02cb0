"""Fixtures for the export tests: a session on the shared demo city (read-only)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from gisgrid.config import Settings
from gisgrid.db.engine import get_engine


@pytest.fixture
def demo_session(demo_url):
    with Session(get_engine(demo_url)) as session:
        yield session
        session.rollback()


@pytest.fixture
def demo_settings(demo_url, tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=demo_url)


@pytest.fixture
def demo_cli(demo_url, tmp_path):
    """Run ``gisgrid ARGS…`` against the demo city; return the click Result."""
    from click.testing import CliRunner

    from gisgrid.cli import cli

    env = {"GISGRID_DATABASE_URL": demo_url, "GISGRID_HOME": str(tmp_path / "home")}

    def run(*args, expect: int | None = 0):
        result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, result.output
        return result

    return run

"""Test fixtures: a throwaway PostGIS cluster, a fresh database per test, the CLI and the app.

The cluster is the product's own :class:`LocalCluster` in a temporary
``GISGRID_HOME`` on a free port (as root its server runs as ``postgres``). Every
test that needs the database gets a new database copied from a migrated template,
so tests never see each other's rows. A skipped test fails the run: a database or
browser test that silently does not run proves nothing.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from gisgrid.config import Settings
from gisgrid.db.cluster import LocalCluster
from gisgrid.db.engine import dispose_engines, get_engine, prepare_database

_counter = itertools.count()
_skipped: list[str] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _logged_in_test_clients():
    """Every ``app.test_client()`` logs in as admin and sends CSRF tokens (tests/auth_helpers.py).

    Session-wide and first, so module fixtures' clients are logged in too.
    """
    import flask

    from tests.auth_helpers import AuthClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flask.Flask, "test_client_class", AuthClient)
        yield


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    home = tmp_path_factory.mktemp("gisgrid-home")
    settings = Settings(home=home, db_port=_free_port())
    # Durability buys nothing in a throwaway cluster and costs seconds per test.
    cluster = LocalCluster(settings, extra_conf={"fsync": "off", "synchronous_commit": "off",
                                                 "full_page_writes": "off"})
    cluster.up()
    prepare_database(settings)  # PostGIS + migrations in the template database "gisgrid"
    dispose_engines()
    yield cluster
    dispose_engines()
    cluster.down()


@pytest.fixture
def db_url(pg_cluster) -> str:
    return pg_cluster.create_database(f"test_{next(_counter)}", template="gisgrid")


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url)


@pytest.fixture
def engine(db_url):
    engine = get_engine(db_url)
    yield engine
    dispose_engines()


@pytest.fixture
def cli_env(db_url, tmp_path) -> dict[str, str]:
    return {"GISGRID_DATABASE_URL": db_url, "GISGRID_HOME": str(tmp_path / "home")}


@pytest.fixture
def run_cli(cli_env):
    """Run ``gisgrid ARGS…`` in-process; return the click Result."""
    from gisgrid.cli import cli

    runner = CliRunner()

    def run(*args: str, expect: int | None = 0):
        result = runner.invoke(cli, [str(a) for a in args], env=cli_env, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, result.output
        return result

    return run


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _skipped and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line(
            f"TESTS SKIPPED, FAILING: {len(_skipped)} skipped test(s) count as failures: "
            + ", ".join(_skipped[:10]), red=True)


@pytest.fixture(scope="session")
def demo_url(pg_cluster, tmp_path_factory) -> str:
    """A database with the demonstration city loaded once (shared, read-only for tests)."""
    from gisgrid.demo.load import load_demo

    url = pg_cluster.create_database("demo_city", template="gisgrid")
    from tests.auth_helpers import PASSWORD

    # The demo's accounts (admin, planner, leader, one per staff member) get the tests' password.
    load_demo(get_engine(url), tmp_path_factory.mktemp("demo-home"), password=PASSWORD)
    return url


#: The demo apps' GISGRID_MAP_TILES_ABOVE: clusters for the demo city's employers.
CLUSTERS_UP_TO = 50_000


@pytest.fixture(scope="session")
def demo_app(demo_url, pg_cluster, tmp_path_factory):
    """The app on the demo city, connected as the web role (gisgrid_web), as in production."""
    from gisgrid.web import create_app

    web_url = pg_cluster.web_url_for(demo_url.rsplit("/", 1)[1])
    # The demo's 20,000 employers would be drawn as vector tiles by default (issue 15): the
    # page tests read the clustered layer, the tile tests make their own app (test_tiles*).
    settings = Settings(home=tmp_path_factory.mktemp("app-home"), database_url=demo_url,
                        web_database_url=web_url, map_tiles_above=CLUSTERS_UP_TO)
    return create_app({"TESTING": True}, settings=settings)


@pytest.fixture(scope="session")
def demo_copy_app(pg_cluster, demo_url, tmp_path_factory):
    """``make(name)``: the app on a new copy of the demo city, as the web role — for tests that
    write (visits, staff, jobs a walk queues) and must not change the shared demo database."""
    from gisgrid.web import create_app

    def make(name: str):
        dispose_engines()  # a template database must have no connections
        url = pg_cluster.create_database(name, template="demo_city")
        settings = Settings(home=tmp_path_factory.mktemp(f"{name}-home"), database_url=url,
                            web_database_url=pg_cluster.web_url_for(name), map_tiles_above=CLUSTERS_UP_TO)
        return create_app({"TESTING": True}, settings=settings)

    return make


@pytest.fixture
def client(demo_app):
    return demo_app.test_client()

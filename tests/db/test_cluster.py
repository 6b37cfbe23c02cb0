"""The private PostgreSQL cluster and the one-line errors around it."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gisgrid.cli import cli
from gisgrid.config import Settings
from gisgrid.db import cluster as cluster_module
from gisgrid.db.cluster import LocalCluster, find_bindir
from gisgrid.db.engine import dispose_engines, ensure_postgis, get_engine
from gisgrid.db.migrate import head_revision
from gisgrid.errors import DatabaseError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    """A second cluster of our own, for lifecycle tests (started, then stopped)."""
    home = tmp_path_factory.mktemp("lifecycle")
    cluster = LocalCluster(Settings(home=home, db_port=_free_port()), extra_conf={"fsync": "off"})
    yield cluster
    dispose_engines()
    cluster.down()


def _cli(env: dict, *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_status_before_up_says_not_running(tmp_path):
    env = {"GISGRID_HOME": str(tmp_path / "h"), "GISGRID_DB_PORT": str(_free_port()),
           "GISGRID_DATABASE_URL": ""}
    result = _cli(env, "db", "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["running"] is False and data["initialised"] is False
    assert data["url"].startswith("postgresql://gisgrid@127.0.0.1:")


def test_up_status_down_and_url_works_for_psql_and_sqlalchemy(own_cluster):
    env = {"GISGRID_HOME": str(own_cluster.home), "GISGRID_DB_PORT": str(own_cluster.port),
           "GISGRID_DATABASE_URL": ""}
    result = _cli(env, "db", "up")
    assert result.exit_code == 0, result.output
    assert "initialised a PostgreSQL" in result.output and f"revision {head_revision()}" in result.output
    assert "would drop" in _cli(env, "db", "reset").output  # dry run by default
    status = json.loads(_cli(env, "db", "status", "--json").output)
    assert status["running"] is True and status["revision"] == status["head"] == head_revision()
    # The URL is a libpq URI (psql) and a SQLAlchemy URL (plain, as printed); the password
    # is not in it but in the file it names.
    password = open(status["password_file"]).read().strip()
    out = subprocess.run(["psql", status["url"], "-Atc", "SELECT postgis_lib_version()"],
                         capture_output=True, text=True, env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip().startswith("3."), out.stderr
    engine = sa.create_engine(status["url"], connect_args={"password": password})
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM generation")).scalar() == 0
    engine.dispose()
    assert "server stopped" in _cli(env, "db", "down").output
    dispose_engines()
    assert json.loads(_cli(env, "db", "status", "--json").output)["running"] is False
    # a command that needs the database starts it again on demand
    result = _cli(env, "grids", "list", "--json")
    assert result.exit_code == 1 and "no generation is active" in result.output
    assert json.loads(_cli(env, "db", "status", "--json").output)["running"] is True


def test_port_in_use_is_one_clear_line(own_cluster):
    own_cluster.up()
    own_cluster.down()
    dispose_engines()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", own_cluster.port))
        squatter.listen()
        with pytest.raises(DatabaseError, match=rf"port {own_cluster.port} on 127.0.0.1 is in use.*GISGRID_DB_PORT"):
            own_cluster.up()
    own_cluster.up()


def test_data_directory_of_another_version(tmp_path):
    cluster = LocalCluster(Settings(home=tmp_path, db_port=_free_port()))
    cluster.datadir.mkdir(parents=True)
    (cluster.datadir / "PG_VERSION").write_text("9\n")
    with pytest.raises(DatabaseError, match=r"made by PostgreSQL 9, but the server binaries .* are PostgreSQL 1\d"):
        cluster.up()


def test_missing_server_binaries_name_the_debian_package(monkeypatch):
    monkeypatch.setattr(cluster_module.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(cluster_module.shutil, "which", lambda name: None)
    with pytest.raises(DatabaseError, match=r"apt-get install postgresql-15 postgresql-15-postgis-3"):
        find_bindir()
    with pytest.raises(DatabaseError, match=r"GISGRID_PG_BINDIR is /nonexistent"):
        find_bindir(cluster_module.Path("/nonexistent"))


def test_database_without_postgis_and_no_right_to_create_it(pg_cluster):
    pg_cluster._psql("postgres", "CREATE ROLE plain LOGIN PASSWORD 'plainpw'")
    pg_cluster._psql("postgres", 'CREATE DATABASE "bare" OWNER plain TEMPLATE template0')
    url = f"postgresql://plain:plainpw@127.0.0.1:{pg_cluster.port}/bare"
    with pytest.raises(DatabaseError, match=r"has no PostGIS extension .* CREATE EXTENSION postgis"):
        ensure_postgis(get_engine(url))
    dispose_engines()


def test_database_without_postgis_gets_it_when_allowed(pg_cluster):
    url = pg_cluster.create_database("bare_super", template="template0")
    assert ensure_postgis(get_engine(url)).startswith("3.")
    dispose_engines()


def test_unreachable_server_is_one_line_and_exit_1(tmp_path):
    env = {"GISGRID_DATABASE_URL": f"postgresql://x:y@127.0.0.1:{_free_port()}/nothing",
           "GISGRID_HOME": str(tmp_path)}
    result = _cli(env, "grids", "list")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to postgresql://x:***@")


def test_reset_refuses_a_server_it_does_not_manage(tmp_path):
    env = {"GISGRID_HOME": str(tmp_path), "GISGRID_DATABASE_URL": "postgresql://x@127.0.0.1:1/y"}
    result = _cli(env, "db", "reset")
    assert result.exit_code == 1 and "do not manage" in result.output

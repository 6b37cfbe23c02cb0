"""The web app connects as the non-privileged web role, and `gisgrid serve` says so."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gisgrid.db.engine import get_web_engine
from gisgrid.db.roles import WEB_ROLE


@pytest.fixture
def web_engine(demo_app, client):
    assert client.get("/").status_code == 200  # the pages work as the web role
    return get_web_engine(demo_app.config["GISGRID_SETTINGS"])


def test_web_app_connects_as_the_web_role_without_rights(web_engine):
    with web_engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )).one()
    assert tuple(row) == (WEB_ROLE, False, False, False)


@pytest.mark.parametrize("statement", [
    "CREATE TABLE x (id integer)",
    "DROP TABLE employer",
    "CREATE ROLE intruder LOGIN",
    "TRUNCATE employer",
    "ALTER TABLE employer ADD COLUMN secret text",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "DROP TRIGGER employer_cells_inserted ON employer",
    "ALTER TABLE employer DISABLE ROW LEVEL SECURITY",
])
def test_web_role_cannot_change_the_schema_or_roles(web_engine, statement):
    with web_engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError) as caught:
        conn.execute(sa.text(statement))
    assert "permission denied" in str(caught.value) or "must be owner" in str(caught.value)


def test_web_role_writes_rows_through_the_cell_triggers(web_engine):
    """A placement by hand updates the map cells by trigger, as the web role (rolled back):
    for a user who sees everything, and for an inspector, who cannot read employer_cell
    (row-level security) but whose change still moves the count (the trigger writes as owner)."""
    cells = "SELECT sum(count) FROM employer_cell WHERE z = (SELECT min(z) FROM employer_cell)"
    one = "SELECT min(a.employer_id) FROM assignment a JOIN employer e ON e.id = a.employer_id WHERE e.geom IS NOT NULL"
    with web_engine.connect() as conn:
        trans = conn.begin()
        conn.execute(sa.text("SELECT set_config('gisgrid.scope', 'all', true)"))
        before = conn.execute(sa.text(cells)).scalar()
        employer, grid = conn.execute(sa.text(
            f"SELECT employer_id, grid_id FROM assignment WHERE employer_id = ({one})")).one()
        moved = conn.execute(sa.text("UPDATE employer SET geom = NULL WHERE id = :id"), {"id": employer}).rowcount
        after = conn.execute(sa.text(cells)).scalar()
        trans.rollback()
        trans = conn.begin()
        conn.execute(sa.text("SELECT set_config('gisgrid.grids', :g, true)"), {"g": str(grid)})
        assert conn.execute(sa.text(cells)).scalar() is None  # no city-wide cells for a scoped user
        scoped = conn.execute(sa.text("UPDATE employer SET geom = NULL WHERE id = :id"), {"id": employer}).rowcount
        conn.execute(sa.text("SELECT set_config('gisgrid.scope', 'all', true)"))
        after_scoped = conn.execute(sa.text(cells)).scalar()
        trans.rollback()
    assert moved == 1 and before > 0 and after == before - 1
    assert scoped == 1 and after_scoped == before - 1


def test_web_role_queues_an_export_job(demo_app, web_engine):
    """Requesting a long export (export_job row + procrastinate's defer function) works as the web role."""
    from sqlalchemy.orm import Session

    from gisgrid.jobs.exports import request_export

    with Session(web_engine) as session:
        job, new = request_export(session, demo_app.config["GISGRID_SETTINGS"], "package",
                                  {"level": 2, "paper": "A3"}, "web-role-test")
        queued = session.execute(sa.text("SELECT count(*) FROM procrastinate_jobs")).scalar()
        session.rollback()
    assert new and job["status"] == "queued" and queued >= 1


def test_serve_as_root_warns_on_stderr(monkeypatch, demo_url, pg_cluster, tmp_path):
    import os

    import waitress

    from gisgrid.cli import cli

    served = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.append(kw))  # no server started
    monkeypatch.setattr("gisgrid.jobs.queue.start_worker_process", lambda settings: None)  # nor a worker
    env = {"GISGRID_DATABASE_URL": demo_url, "GISGRID_HOME": str(tmp_path),
           "GISGRID_WEB_DATABASE_URL": pg_cluster.web_url_for(demo_url.rsplit("/", 1)[1])}
    result = CliRunner().invoke(cli, ["serve", "--port", "5999"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "running as root" in result.stderr and "deploy/gisgrid.service" in result.stderr
    assert f"as database role {WEB_ROLE}" in result.stdout and served == [
        {"host": "127.0.0.1", "port": 5999, "threads": 8, "ident": "gisgrid"}]


def test_serve_on_an_external_database_without_web_role_refuses(monkeypatch, demo_url, tmp_path):
    import os

    import waitress

    from gisgrid.cli import cli

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: pytest.fail("must not serve"))
    env = {"GISGRID_DATABASE_URL": demo_url, "GISGRID_HOME": str(tmp_path)}
    result = CliRunner().invoke(cli, ["serve"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "GISGRID_WEB_DATABASE_URL is not" in lines[0] and "CREATE ROLE" in lines[0]

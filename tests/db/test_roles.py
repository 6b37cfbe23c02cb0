"""The web role's privileges, secrets kept out of output and logs, file modes."""

from __future__ import annotations

import json
import stat

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gisgrid.cli import cli
from gisgrid.config import Settings, load_settings
from gisgrid.db import roles
from gisgrid.db.engine import dispose_engines, get_engine, get_web_engine, prepare_web_role
from gisgrid.errors import ConfigError, DatabaseError

PERSONAL = "王小明-110101199003077777"


def _cli(env: dict, *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _web_url(pg_cluster, db_url: str) -> str:
    return pg_cluster.web_url_for(db_url.rsplit("/", 1)[1])


def test_web_role_is_plain_and_owns_nothing(pg_cluster, db_url):
    with get_engine(db_url).connect() as conn:
        row = conn.execute(sa.text(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolbypassrls, rolreplication, rolcanlogin, "
            "(SELECT count(*) FROM pg_class WHERE relowner = r.oid) FROM pg_roles r WHERE rolname = :r"),
            {"r": roles.WEB_ROLE}).one()
    assert tuple(row) == (False, False, False, False, False, False, True, 0)
    dispose_engines()


def test_web_role_reads_and_writes_rows_of_every_app_table(pg_cluster, db_url):
    engine = get_engine(_web_url(pg_cluster, db_url))
    with engine.begin() as conn:
        gen = conn.execute(sa.text("INSERT INTO generation (name) VALUES ('2030版') RETURNING id")).scalar()
        conn.execute(sa.text("UPDATE generation SET note = 'x' WHERE id = :id"), {"id": gen})
        conn.execute(sa.text("DELETE FROM generation WHERE id = :id"), {"id": gen})
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    with engine.begin() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'x'"))
    dispose_engines()


def test_grants_are_idempotent_and_cover_tables_made_later(pg_cluster, db_url):
    owner = get_engine(db_url)
    assert roles.grant_web_role(owner, roles.WEB_ROLE) == []  # the template had them: nothing to do
    with owner.begin() as conn:  # as a later migration would
        conn.execute(sa.text("CREATE TABLE later_table (id serial PRIMARY KEY, note text)"))
        conn.execute(sa.text(f"GRANT TRUNCATE ON generation TO {roles.WEB_ROLE}"))
    granted = roles.grant_web_role(owner, roles.WEB_ROLE)
    assert granted == [f"REVOKE ALL ON public.generation FROM {roles.WEB_ROLE}",
                       f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.generation TO {roles.WEB_ROLE}"]
    assert roles.grant_web_role(owner, roles.WEB_ROLE) == []
    with get_engine(_web_url(pg_cluster, db_url)).begin() as conn:
        conn.execute(sa.text("INSERT INTO later_table (note) VALUES ('default privileges')"))
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text("TRUNCATE generation"))
    dispose_engines()


def test_external_database_web_role_errors_name_the_fix(pg_cluster, db_url, tmp_path):
    missing = Settings(home=tmp_path, database_url=db_url,
                       web_database_url=db_url.replace("gisgrid:", "nobody_here:", 1))
    with pytest.raises(DatabaseError, match=r"'nobody_here' named in GISGRID_WEB_DATABASE_URL does not exist.*"
                                            r"CREATE ROLE nobody_here LOGIN"):
        prepare_web_role(missing, get_engine(db_url))
    same = Settings(home=tmp_path, database_url=db_url, web_database_url=db_url)
    with pytest.raises(DatabaseError, match=r"connects as 'gisgrid', the same account as GISGRID_DATABASE_URL"):
        prepare_web_role(same, get_engine(db_url))
    dispose_engines()


def test_web_engine_refuses_a_privileged_web_url(pg_cluster, db_url, tmp_path):
    pg_cluster._psql("postgres", "CREATE ROLE too_mighty LOGIN CREATEDB PASSWORD 'mightypw'")
    url = db_url.rsplit("@", 1)[1]
    settings = Settings(home=tmp_path, database_url=db_url, web_database_url=f"postgresql://too_mighty:mightypw@{url}")
    with pytest.raises(DatabaseError, match=r"role 'too_mighty' has CREATEDB; it must be a plain role"):
        get_web_engine(settings)
    dispose_engines()
    pg_cluster._psql(db_url.rsplit("/", 1)[1], "DROP OWNED BY too_mighty")  # the grants it was given
    pg_cluster._psql("postgres", "DROP ROLE too_mighty")


def test_web_url_without_database_url_is_a_config_error():
    with pytest.raises(ConfigError, match="GISGRID_WEB_DATABASE_URL is set but GISGRID_DATABASE_URL is not"):
        load_settings({"GISGRID_HOME": "/tmp/x", "GISGRID_WEB_DATABASE_URL": "postgresql://w:p@h/d"})


def test_password_files_and_server_log_are_owner_only(pg_cluster):
    for path in (pg_cluster.password_file, pg_cluster.web_password_file, pg_cluster.logfile):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_status_never_prints_a_password(pg_cluster, db_url):
    owner_pw = pg_cluster.password_file.read_text().strip()
    web_pw = pg_cluster.web_password_file.read_text().strip()
    managed = {"GISGRID_HOME": str(pg_cluster.home), "GISGRID_DB_PORT": str(pg_cluster.port),
               "GISGRID_DATABASE_URL": ""}
    text, as_json = _cli(managed, "db", "status"), _cli(managed, "db", "status", "--json")
    for result in (text, as_json):
        assert result.exit_code == 0, result.output
        assert owner_pw not in result.output and web_pw not in result.output
    data = json.loads(as_json.output)
    assert data["running"] is True and data["url"] == f"postgresql://gisgrid@127.0.0.1:{pg_cluster.port}/gisgrid"
    assert data["password_file"] == str(pg_cluster.password_file)
    assert data["web_url"].startswith("postgresql://gisgrid_web@")
    assert data["web_password_file"] == str(pg_cluster.web_password_file)
    assert f"password_file: {pg_cluster.password_file}" in text.output

    external = {"GISGRID_HOME": str(pg_cluster.home), "GISGRID_DATABASE_URL": db_url,
                "GISGRID_WEB_DATABASE_URL": _web_url(pg_cluster, db_url)}
    for args in (("db", "status"), ("db", "status", "--json"), ("db", "up", "--json")):
        result = _cli(external, *args)
        assert result.exit_code == 0, result.output
        assert owner_pw not in result.output and web_pw not in result.output and ":***@" in result.output
    dispose_engines()


def test_errors_hide_bound_values(db_url):
    engine = get_engine(db_url)
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.connect() as conn:
        conn.execute(sa.text("SELECT CAST(:name AS text), 1 / 0"), {"name": PERSONAL})
    assert "division by zero" in str(caught.value)
    assert PERSONAL not in str(caught.value) and "parameters hidden" in str(caught.value)
    dispose_engines()


def test_server_log_keeps_no_statement_or_row_of_a_failed_write(pg_cluster, db_url):
    engine = get_engine(db_url)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        # the status check fails: PostgreSQL would log "Failing row contains (…)" and the statement
        conn.execute(sa.text("INSERT INTO generation (name, status) VALUES (:name, 'nonsense')"), {"name": PERSONAL})
    log = pg_cluster.logfile.read_text(errors="replace")
    assert "generation_status_ck" in log  # the error itself is logged …
    assert PERSONAL not in log and "Failing row" not in log and "STATEMENT" not in log  # … without the data
    dispose_engines()

"""The web app's database role: least privilege for the process that faces the network.

Two roles use a gisgrid database:

- the **owner** (``gisgrid`` in the private cluster, the account of
  ``GISGRID_DATABASE_URL`` otherwise): the command line, migrations, imports and
  backups connect as it; it owns every table;
- the **web role** (``gisgrid_web`` in the private cluster, the account of
  ``GISGRID_WEB_DATABASE_URL`` otherwise): the web app connects only as it. It is
  ``LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS``, owns nothing,
  and may read and write rows (``SELECT, INSERT, UPDATE, DELETE`` on the app's
  tables, ``USAGE`` on their sequences; only ``SELECT, INSERT`` on the audit log and the
  login attempts) but not change the schema, ``TRUNCATE`` or make roles. Because it owns no table, row-level security policies apply to it.

:func:`grant_web_role` runs after every migration run (``prepare_database``) and
after a restore; it looks the privileges up in the catalogs first and grants only
what is missing, so a steady-state start writes nothing and waits for no lock.
``ALTER DEFAULT PRIVILEGES`` covers tables later migrations (and generation
partitions) create.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gisgrid.errors import DatabaseError

#: The web role of the private cluster.
WEB_ROLE = "gisgrid_web"
#: What the web role may do to rows; nothing else (no TRUNCATE, REFERENCES, TRIGGER).
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: Tables the web role may read but not write.
READ_ONLY_TABLES = ("alembic_version",)
#: Tables the web role may read and append to, never change: the audit trail cannot be
#: edited through the app (a compromised web process cannot cover its tracks).
APPEND_ONLY_TABLES = ("audit_log", "login_attempt")
ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS"
# Serialises concurrent starts (the web server and a command) granting at once:
# two GRANTs on one table in parallel fail with "tuple concurrently updated".
_LOCK_KEY = 0x6769_7367_7264  # "gisgrd"

#: SQL a database administrator runs once for an external database (README "Web role").
CREATE_ROLE_SQL = (
    "CREATE ROLE gisgrid_web LOGIN PASSWORD '…' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
)

_APP_RELATIONS = """
SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relname, c.relkind,
       has_table_privilege(r.oid, c.oid, 'SELECT') AS can_select,
       has_table_privilege(r.oid, c.oid, 'INSERT') AND has_table_privilege(r.oid, c.oid, 'UPDATE')
           AND has_table_privilege(r.oid, c.oid, 'DELETE') AS can_write,
       has_table_privilege(r.oid, c.oid, 'TRUNCATE, REFERENCES, TRIGGER') AS too_much,
       has_table_privilege(r.oid, c.oid, 'INSERT') AS can_insert,
       has_table_privilege(r.oid, c.oid, 'UPDATE, DELETE') AS can_change,
       CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(r.oid, c.oid, 'USAGE') END AS can_use
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN (SELECT oid FROM pg_roles WHERE rolname = :role) r
WHERE n.nspname = current_schema()
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""

_DEFAULT_ACLS = """
SELECT d.defaclobjtype, array_agg(a.privilege_type::text) AS privileges
FROM pg_default_acl d
CROSS JOIN LATERAL aclexplode(d.defaclacl) a
WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
  AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = :role)
GROUP BY d.defaclobjtype
"""


def ensure_web_role(engine: Engine, password: str, *, set_password: bool, role: str = WEB_ROLE) -> bool:
    """Create the private cluster's web role, or enforce its attributes; return whether it was created.

    ``set_password`` re-sets the password of an existing role (its password file was
    just generated again).
    """
    with engine.begin() as conn:
        _lock(conn)
        row = conn.execute(sa.text(
            "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolinherit OR rolreplication "
            "OR rolbypassrls OR NOT rolcanlogin FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
        ident = _quote(conn, role)
        if row is None:
            # psycopg2 binds the password as a quoted literal; DDL takes no server-side parameters.
            conn.execute(sa.text(f"CREATE ROLE {ident} {ROLE_ATTRIBUTES} PASSWORD :pw"), {"pw": password})
            return True
        if row[0]:
            conn.execute(sa.text(f"ALTER ROLE {ident} {ROLE_ATTRIBUTES}"))
        if set_password:
            conn.execute(sa.text(f"ALTER ROLE {ident} PASSWORD :pw"), {"pw": password})
        return False


def grant_web_role(engine: Engine, role: str) -> list[str]:
    """Give ``role`` row access to the app's tables in the current schema; return what was granted.

    Idempotent: only missing privileges are granted, and privileges beyond rows
    (TRUNCATE, REFERENCES, TRIGGER) are revoked.

    Raises
    ------
    DatabaseError
        When the role does not exist (naming the SQL that creates it), or when it
        is the owner account itself.
    """
    with engine.begin() as conn:
        owner = conn.execute(sa.text("SELECT current_user")).scalar()
        if role == owner:
            raise DatabaseError(
                f"GISGRID_WEB_DATABASE_URL connects as {role!r}, the same account as GISGRID_DATABASE_URL; "
                f"the web app needs its own role without ownership: {CREATE_ROLE_SQL} (README, Web role)"
            )
        if not conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}).scalar():
            raise DatabaseError(
                f"the web role {role!r} named in GISGRID_WEB_DATABASE_URL does not exist; "
                f"ask the database administrator to run: {CREATE_ROLE_SQL.replace('gisgrid_web', role)}"
            )
        rows = conn.execute(sa.text(_APP_RELATIONS), {"role": role}).mappings().all()
        defaults = dict(conn.execute(sa.text(_DEFAULT_ACLS), {"role": role}).all())
        schema_usage = conn.execute(sa.text(
            "SELECT has_schema_privilege(:role, current_schema(), 'USAGE')"), {"role": role}).scalar()
        statements = _missing_grants(conn, role, rows, defaults, schema_usage)
        if statements:
            _lock(conn)
            for statement in statements:
                conn.execute(sa.text(statement))
        return statements


#: PostGIS's bounding-box test behind ``&&`` (the GiST index of employer.geom). Row-level
#: security lets an index serve only LEAKPROOF operators, so without this mark every tile
#: query of the web role read all employers (benchmarks/maps.py --explain: Seq Scan).
#: The function returns a boolean from two boxes; its only error is on mixed SRIDs, and
#: employer.geom has one (4490): it tells nothing about a row beyond the answer.
LEAKPROOF_FUNCTIONS = ("geometry_overlaps(geometry, geometry)",)


def mark_leakproof(engine: Engine) -> list[str]:
    """Mark :data:`LEAKPROOF_FUNCTIONS` LEAKPROOF when the owner may (a superuser, as in the
    private cluster); return the statements run. Idempotent, run at every start (an
    ``ALTER EXTENSION postgis UPDATE`` or a restore drops the mark). On a database where the
    owner is no superuser, the administrator runs them once (README, Web role)."""
    with engine.begin() as conn:
        if not conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
            return []
        done = []
        for signature in LEAKPROOF_FUNCTIONS:
            leakproof = conn.execute(sa.text("SELECT proleakproof FROM pg_proc WHERE oid = CAST(:f AS regprocedure)"),
                                     {"f": signature}).scalar()
            if leakproof is False:
                _lock(conn)
                statement = f"ALTER FUNCTION {signature} LEAKPROOF"
                conn.execute(sa.text(statement))
                done.append(statement)
        return done


def check_web_role(engine: Engine) -> str:
    """Refuse a web connection whose role could do more than read and write rows; return its name."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("""
            SELECT r.rolname, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolbypassrls,
                   (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid
                      AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())),
                   has_schema_privilege(r.oid, current_schema(), 'CREATE')
            FROM pg_roles r WHERE r.rolname = current_user""")).one()
    name, superuser, createdb, createrole, bypassrls, owned, create_in_schema = row
    wrong = [label for label, bad in (("SUPERUSER", superuser), ("CREATEDB", createdb),
                                      ("CREATEROLE", createrole), ("BYPASSRLS", bypassrls)) if bad]
    if wrong:
        raise DatabaseError(
            f"the web app's database role {name!r} has {', '.join(wrong)}; it must be a plain role: "
            f"{CREATE_ROLE_SQL.replace('gisgrid_web', name)} (README, Web role)"
        )
    if owned:
        raise DatabaseError(
            f"the web app's database role {name!r} owns {owned} table(s) in the schema; "
            "the tables must belong to the owner account of GISGRID_DATABASE_URL (README, Web role)"
        )
    if create_in_schema:
        raise DatabaseError(
            f"the web app's database role {name!r} may create tables in the schema (PostgreSQL before 15 "
            "lets everyone do so in public); run: REVOKE CREATE ON SCHEMA public FROM PUBLIC"
        )
    return name


def _missing_grants(conn: Connection, role: str, rows, defaults: dict, schema_usage: bool) -> list[str]:
    ident = _quote(conn, role)
    statements: list[str] = []
    if not schema_usage:
        statements.append(f"GRANT USAGE ON SCHEMA {_quote(conn, _schema(conn))} TO {ident}")
    for row in rows:
        if row["too_much"]:
            statements.append(f"REVOKE ALL ON {row['name']} FROM {ident}")
        if row["relkind"] == "S":
            if not row["can_use"] or row["too_much"]:
                statements.append(f"GRANT USAGE ON SEQUENCE {row['name']} TO {ident}")
        elif row["relname"] in APPEND_ONLY_TABLES:
            if row["too_much"] or row["can_change"]:
                statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {row['name']} FROM {ident}")
            if not (row["can_select"] and row["can_insert"]):
                statements.append(f"GRANT SELECT, INSERT ON {row['name']} TO {ident}")
        elif row["relname"] in READ_ONLY_TABLES:
            if not row["can_select"] or row["too_much"]:
                statements.append(f"GRANT SELECT ON {row['name']} TO {ident}")
        elif not (row["can_select"] and row["can_write"]) or row["too_much"]:
            statements.append(f"GRANT {', '.join(TABLE_PRIVILEGES)} ON {row['name']} TO {ident}")
    schema = _quote(conn, _schema(conn))
    if not set(TABLE_PRIVILEGES) <= set(defaults.get("r", [])):
        statements.append(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
                          f"GRANT {', '.join(TABLE_PRIVILEGES)} ON TABLES TO {ident}")
    if "USAGE" not in defaults.get("S", []):
        statements.append(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE ON SEQUENCES TO {ident}")
    return statements


def _schema(conn: Connection) -> str:
    return conn.execute(sa.text("SELECT current_schema()")).scalar()


def _lock(conn: Connection) -> None:
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)

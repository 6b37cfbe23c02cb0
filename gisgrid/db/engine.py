"""One engine per process, one session per request or command.

:func:`prepare_database` is what every command calls first: it starts the
private cluster when gisgrid manages one, makes sure PostGIS is there, applies
the migrations and grants the web role its row privileges. With
``GISGRID_DATABASE_URL`` nothing is started.

The web app connects through :func:`get_web_engine` only: as the non-privileged
web role of :mod:`gisgrid.db.roles`, never as the owner. Engines hide bound
parameters from errors and logs (they are employer data).
"""

from __future__ import annotations

import logging
import re
import weakref
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.config import Settings
from gisgrid.db import roles
from gisgrid.db.cluster import LocalCluster
from gisgrid.errors import DatabaseError

_engines: dict[str, Engine] = {}
#: Every engine made, cached or not any more (weakly: an engine nobody holds is gone).
_made: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_prepared: set[str] = set()
_checked_web: set[str] = set()
log = logging.getLogger(__name__)

POSTGIS_PACKAGE_HINT = "apt-get install postgresql-15-postgis-3"


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the database these settings point at."""
    if settings.database_url:
        return settings.database_url
    return LocalCluster(settings).url


def web_database_url(settings: Settings) -> str | None:
    """The URL the web app connects with: the web role's (None: external database, no web role set)."""
    if settings.managed:
        return LocalCluster(settings).web_url
    return settings.web_database_url


def public_url(url: str) -> str:
    """``url`` for printing: the password shown as ``***``."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def sqlalchemy_url(url: str) -> str:
    """Pin the fixed-stack driver (psycopg2) for a plain ``postgresql://`` URL.

    ``gisgrid db status`` prints the plain form because psql and libpq accept it;
    SQLAlchemy 2.1 would map that form to psycopg 3.
    """
    return re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg2://", url)


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url`` (created on first use)."""
    engine = _engines.get(url)
    if engine is None:
        # hide_parameters: a failing statement's error and log lines never show bound
        # values (names, ID numbers, phone numbers of employers' staff).
        engine = sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, hide_parameters=True)
        _engines[url] = engine
        _made.add(engine)
    return engine


def dispose_engines() -> None:
    """Close every pooled connection of every engine this process made, and forget the cache.

    Also the engines no longer in the cache: an app keeps the engine it started with
    (gisgrid.web.db), and its pool must close too (a database used as a template must have
    no connections).
    """
    for engine in {*_engines.values(), *_made}:
        engine.dispose()
    _engines.clear()
    _prepared.clear()
    _checked_web.clear()


def prepare_database(settings: Settings, migrate: bool = True) -> Engine:
    """Start what is needed, check PostGIS, apply migrations, grant the web role; return the owner's engine."""
    if settings.managed:
        LocalCluster(settings).up()
    url = database_url(settings)
    if url in _prepared:
        return get_engine(url)
    engine = get_engine(url)
    ensure_postgis(engine)
    if migrate:
        from gisgrid.db.migrate import upgrade_database

        upgrade_database(engine)
    prepare_web_role(settings, engine)
    _prepared.add(url)
    return engine


def prepare_web_role(settings: Settings, engine: Engine) -> list[str]:
    """Make (private cluster) and grant the web role; return the statements that were needed."""
    roles.mark_leakproof(engine)  # the geometry index under row-level security
    if settings.managed:
        cluster = LocalCluster(settings)
        password, new = cluster.ensure_web_password()
        roles.ensure_web_role(engine, password, set_password=new)
        return roles.grant_web_role(engine, roles.WEB_ROLE)
    if settings.web_database_url:
        role = sa.engine.make_url(settings.web_database_url).username
        if not role:
            raise DatabaseError(f"GISGRID_WEB_DATABASE_URL {public_url(settings.web_database_url)} names no user; "
                                "expected postgresql://gisgrid_web:PASSWORD@HOST:PORT/DATABASE")
        return roles.grant_web_role(engine, role)
    return []


def get_web_engine(settings: Settings) -> Engine:
    """The web app's engine: the database prepared by the owner, connected as the web role.

    The one place the web app (pages, API, tiles) gets its engine from. With an
    external database and no ``GISGRID_WEB_DATABASE_URL`` it falls back to the
    owner's engine with a warning (``gisgrid serve`` refuses that case).
    """
    owner = prepare_database(settings)
    url = web_database_url(settings)
    if url is None:
        if "owner-fallback" not in _checked_web:
            log.warning("GISGRID_WEB_DATABASE_URL is not set: the web app connects as the database owner")
            _checked_web.add("owner-fallback")
        return owner
    engine = get_engine(url)
    if url not in _checked_web:
        try:
            roles.check_web_role(engine)
        except sa.exc.OperationalError as exc:
            raise DatabaseError(f"cannot connect to {_safe(engine)}: {_first_line(exc)}") from None
        _checked_web.add(url)
    return engine


def ensure_postgis(engine: Engine) -> str:
    """Create the PostGIS extension if it is missing; return its version."""
    try:
        with engine.begin() as conn:
            version = conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            ).scalar()
            if version:
                return version
            available = conn.execute(
                sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
            if not available:
                raise DatabaseError(
                    f"PostGIS is not installed on the server of {_safe(engine)}; "
                    f"install it with: {POSTGIS_PACKAGE_HINT}"
                )
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            return conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            ).scalar()
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot connect to {_safe(engine)}: {_first_line(exc)}") from None
    except sa.exc.ProgrammingError as exc:
        raise DatabaseError(
            f"the database {_safe(engine)} has no PostGIS extension and this account cannot create it "
            f"({_first_line(exc)}); ask its administrator to run CREATE EXTENSION postgis"
        ) from None


@contextmanager
def session_scope(engine: Engine, commit: bool = True) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error.

    ``commit=False`` is the dry run of commands that write: everything runs, inside
    one transaction, and is rolled back at the end.
    """
    session = sessionmaker(bind=engine, future=True)()
    try:
        yield session
        session.commit() if commit else session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _safe(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=True)


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__

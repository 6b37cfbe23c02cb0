"""One engine per process, one session per request or command.

:func:`prepare_database` is what every command calls first: it starts the
private cluster when gisgrid manages one, makes sure PostGIS is there and applies
the migrations. With ``GISGRID_DATABASE_URL`` nothing is started.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.config import Settings
from gisgrid.db.cluster import LocalCluster
from gisgrid.errors import DatabaseError

_engines: dict[str, Engine] = {}
_prepared: set[str] = set()

POSTGIS_PACKAGE_HINT = "apt-get install postgresql-15-postgis-3"


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the database these settings point at."""
    if settings.database_url:
        return settings.database_url
    return LocalCluster(settings).url


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
        engine = sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True)
        _engines[url] = engine
    return engine


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _prepared.clear()


def prepare_database(settings: Settings, migrate: bool = True) -> Engine:
    """Start what is needed, check PostGIS, apply migrations; return the engine."""
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
    _prepared.add(url)
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

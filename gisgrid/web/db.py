"""One database session per request, closed in teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.db.engine import get_web_engine


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = _sessions()()
    return g.db_session


def _sessions() -> sessionmaker:
    """The app's session factory on the web role's engine (gisgrid.db.roles), never the owner's.

    Made at the app's first request and kept: get_web_engine brings up and checks a private
    cluster (pg_ctl status, postgres --version and psql as child processes, ~40 ms), work for
    once per process, not for every request (it was 27 % of the web process's samples while
    ten heavy exports ran and their clients polled: benchmarks/exports_load.py).
    """
    factory = current_app.extensions.get("gisgrid_sessions")
    if factory is None:
        settings = current_app.config["GISGRID_SETTINGS"]
        factory = current_app.extensions["gisgrid_sessions"] = sessionmaker(bind=get_web_engine(settings))
    return factory


def close_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback() if exc else session.commit()
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_session)

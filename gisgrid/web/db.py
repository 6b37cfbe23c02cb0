"""One database session per request, closed in teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.db.engine import prepare_database


def get_session() -> Session:
    if "db_session" not in g:
        settings = current_app.config["GISGRID_SETTINGS"]
        # prepare_database is cached per process after the first call.
        g.db_session = sessionmaker(bind=prepare_database(settings))()
    return g.db_session


def close_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback() if exc else session.commit()
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_session)

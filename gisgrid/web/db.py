"""One database session per request, closed in teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.db.engine import get_web_engine


def get_session() -> Session:
    if "db_session" not in g:
        settings = current_app.config["GISGRID_SETTINGS"]
        # As the web role (gisgrid.db.roles), never the owner; prepared once per process.
        g.db_session = sessionmaker(bind=get_web_engine(settings))()
    return g.db_session


def close_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback() if exc else session.commit()
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_session)

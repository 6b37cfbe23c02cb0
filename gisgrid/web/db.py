"""One database session per request, closed in teardown; every transaction carries the scope.

Row-level security (migration 0007) shows the web role only the employer rows of the
logged-in user's scope: each transaction of the request sets ``gisgrid.scope`` and
``gisgrid.grids`` with ``set_config(…, true)`` (``SET LOCAL``), from ``g.scope``. Before the
gate has decided who is asking (the login itself), and for anonymous requests, they are
empty, and no employer row is visible.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.db.engine import get_web_engine

_SET_SCOPE = "SELECT set_config('gisgrid.scope', %(scope)s, true), set_config('gisgrid.grids', %(grids)s, true)"


def get_session() -> Session:
    if "db_session" not in g:
        session = g.db_session = _sessions()()
        event.listen(session, "after_begin", _scope_transaction)
    return g.db_session


def scope_settings() -> dict[str, str]:
    """The values of ``gisgrid.scope`` and ``gisgrid.grids`` for this request's user."""
    scope = g.get("scope")
    if scope is None:
        return {"scope": "none", "grids": ""}
    if scope.everything:
        return {"scope": "all", "grids": ""}
    return {"scope": "grids", "grids": ",".join(str(i) for i in sorted(scope.grid_ids))}


def apply_scope(session: Session) -> None:
    """Set the scope in the transaction running now (the gate calls it once ``g.scope`` is known)."""
    session.connection().exec_driver_sql(_SET_SCOPE, scope_settings())


def _scope_transaction(session, transaction, connection) -> None:
    connection.exec_driver_sql(_SET_SCOPE, scope_settings())


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


def commit_change(change):
    """Run ``change()`` in this request's session and commit; roll back and re-raise on any error.

    The error handler answers a refused write, so teardown would otherwise commit half of it.
    """
    session = get_session()
    try:
        result = change()
    except Exception:
        session.rollback()
        raise
    session.commit()
    return result


def close_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback() if exc else session.commit()
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_session)

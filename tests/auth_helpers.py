"""Logged-in test clients and browsers.

Every Flask test client of the suite is an :class:`AuthClient` (``tests/conftest.py``
installs it): on its first request it logs in through the real login form — as ``admin``
unless told otherwise — and it sends the page's CSRF token with every POST/PUT/DELETE, as
the pages' scripts do. ``app.test_client(user=None)`` is an anonymous client;
``app.test_client(csrf=False)`` sends no token.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask.testing import FlaskClient

from gisgrid.access import add_user, start_session
from gisgrid.db.engine import database_url, get_engine, session_scope

PASSWORD = "Gg-test-password-2026"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def owner_engine(app):
    return get_engine(database_url(app.config["GISGRID_SETTINGS"]))


def ensure_user(app, username: str = "admin", role: str = "admin", *, grid_codes: tuple[str, ...] = (),
                staff_id: int | None = None, password: str = PASSWORD, display_name: str | None = None) -> str:
    """Create the account ``username`` in the app's database unless it exists; return its name."""
    with session_scope(owner_engine(app)) as session:
        exists = session.execute(sa.text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}).first()
        if not exists:
            add_user(session, username, role, actor="tests", password=password, grid_codes=grid_codes,
                     staff_id=staff_id, display_name=display_name)
    return username


def session_cookie(app, username: str) -> tuple[str, str]:
    """(cookie name, token) of a new login session of ``username``, made without the login form."""
    from gisgrid.web.auth import cookie_name

    with session_scope(owner_engine(app)) as session:
        user_id = session.execute(sa.text("SELECT id FROM app_user WHERE username = :u"),
                                  {"u": username}).scalar_one()
        token = start_session(session, user_id, "127.0.0.1")
    return cookie_name(app), token


def log_in_page(page, app, base_url: str, username: str = "admin", role: str = "admin", **user) -> None:
    """Give a Playwright page a logged-in session of ``username`` (created if needed)."""
    ensure_user(app, username, role, **user)
    name, token = session_cookie(app, username)
    page.context.add_cookies([{"name": name, "value": token, "url": base_url}])


class AuthClient(FlaskClient):
    """A test client that logs in on its first request and sends CSRF tokens."""

    def __init__(self, *args, user: str | None = "admin", role: str = "admin", csrf: bool = True,
                 password: str = PASSWORD, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.role, self.csrf, self.password = user, role, csrf, password
        self._ready = user is None
        self.csrf_token: str | None = None

    def log_in(self, username: str, password: str, *, expect_ok: bool = True):
        page = super().open("/login", method="GET")
        match = _TOKEN.search(page.get_data(as_text=True))
        assert match, page.get_data(as_text=True)[:500]
        response = super().open("/login", method="POST", data={
            "username": username, "password": password, "csrf_token": match.group(1)})
        if expect_ok:
            assert response.status_code == 303, response.get_data(as_text=True)[:500]
        self.csrf_token = None  # a login starts a new CSRF token too
        return response

    def _prepare(self) -> None:
        if self._ready:
            return
        self._ready = True
        ensure_user(self.application, self.user, self.role, password=self.password)
        self.log_in(self.user, self.password)

    def fresh_token(self) -> str:
        """The CSRF token of the current (Flask) session, as a page's meta tag carries it."""
        page = super().open("/login", method="GET")
        self.csrf_token = _TOKEN.search(page.get_data(as_text=True)).group(1)
        return self.csrf_token

    def open(self, *args, **kwargs):
        self._prepare()
        method = (kwargs.get("method") or "GET").upper()
        if self.csrf and method not in ("GET", "HEAD", "OPTIONS") and self.user is not None:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token or self.fresh_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

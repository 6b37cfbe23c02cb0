"""A WSGI app served on 127.0.0.1 for the browser tests (werkzeug, threaded, a free port).

Pages the tests open in Chromium through the ``browser`` fixture of
``tests/web/test_browser.py`` are logged in: each new page gets a session cookie of the
account ``user`` (default ``admin``) of the newest app being served (cookies are per host,
not per port, so one cookie serves every app on the same database).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from werkzeug.serving import make_server

#: (base URL, Flask app, user name) of every app being served, newest last.
SERVING: list[tuple[str, object, str | None]] = []


@contextmanager
def serve_live(app, user: str | None = "admin"):
    """Serve ``app`` for the duration of the block; yields its base URL (``http://127.0.0.1:PORT``).

    ``app`` may be a WSGI wrapper with the Flask app in ``.app``; ``user=None`` serves
    pages to an anonymous browser.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    entry = (url, getattr(app, "app", app), user)
    SERVING.append(entry)
    try:
        yield url
    finally:
        SERVING.remove(entry)
        server.shutdown()


def log_in_new_page(page) -> None:
    """Give ``page`` the login session of the newest served app's user (if any)."""
    from tests.auth_helpers import log_in_page

    if SERVING and SERVING[-1][2] is not None:
        url, app, user = SERVING[-1]
        log_in_page(page, app, url, user)  # an account the test made, or admin (made here)


class LoggedInBrowser:
    """A Playwright browser whose new pages are logged in (see the module's docstring)."""

    def __init__(self, browser):
        self._browser = browser

    def new_page(self, *args, **kwargs):
        page = self._browser.new_page(*args, **kwargs)
        log_in_new_page(page)
        return page

    def __getattr__(self, name):
        return getattr(self._browser, name)

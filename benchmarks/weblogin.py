"""Log a benchmark client in to a served gisgrid over HTTP, as a browser does.

``GET /login`` (keeps the CSRF cookie, reads the hidden ``csrf_token``), then ``POST /login``
with username, password and the token: 303 and a ``gisgrid_session`` cookie. The returned
``Cookie:`` header value is sent with every later request of that client.

Only loopback addresses are contacted.
"""

from __future__ import annotations

import http.client
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SESSION_COOKIES = ("gisgrid_session", "__Host-gisgrid_session")


def _cookies(response, jar: dict[str, str]) -> None:
    for header in response.msg.get_all("Set-Cookie") or []:
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = morsel.value


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def log_in(port: int, username: str, password: str, source: str = "127.0.0.1", timeout: float = 60) -> str:
    """The ``Cookie`` header of a new login session of ``username`` (raises on any refusal)."""
    return log_in_for_writes(port, username, password, source, timeout)[0]


def log_in_for_writes(port: int, username: str, password: str, source: str = "127.0.0.1",
                      timeout: float = 60) -> tuple[str, str]:
    """``(Cookie header, CSRF token)`` of a new login session: the token goes in ``X-CSRFToken``
    of every POST (a login starts a new token, so it is read after logging in)."""
    jar: dict[str, str] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if response.status != 200:
            raise RuntimeError(f"GET /login answered {response.status}")
        _cookies(response, jar)
        match = _TOKEN.search(body)
        if not match:
            raise RuntimeError("GET /login has no csrf_token field")
        form = urlencode({"username": username, "password": password, "csrf_token": match.group(1)})
        conn.request("POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie_header(jar)})
        response = conn.getresponse()
        response.read()
        if response.status != 303:
            raise RuntimeError(f"POST /login as {username!r} answered {response.status}")
        _cookies(response, jar)
        conn.request("GET", "/login", headers={"Cookie": cookie_header(jar)})
        response = conn.getresponse()
        match = _TOKEN.search(response.read().decode("utf-8", "replace"))
        _cookies(response, jar)
        if not match:
            raise RuntimeError(f"no csrf_token after logging in as {username!r}")
    finally:
        conn.close()
    if not any(name in jar for name in SESSION_COOKIES):
        raise RuntimeError(f"POST /login as {username!r} set no session cookie")
    return cookie_header(jar), match.group(1)

"""What every request may be and what every response says about itself.

- **Host names** (DNS rebinding): Flask's ``TRUSTED_HOSTS`` from ``GISGRID_TRUSTED_HOSTS``,
  by default the serve address, ``localhost``, ``127.0.0.1`` and ``::1``; any other
  ``Host`` header answers 400 before a view runs.
- **Request size**: ``MAX_CONTENT_LENGTH`` from ``GISGRID_MAX_UPLOAD_MB``; a larger body
  answers 413, whether or not the view would have read it.
- **Response headers**: ``nosniff``, ``Referrer-Policy``, a ``Permissions-Policy`` that
  turns off the device APIs the app never uses, ``X-Frame-Options: DENY`` (with the CSP's
  ``frame-ancestors 'none'``, see :mod:`gisgrid.web.csp`), and ``Cache-Control: no-store``
  on everything but the static assets: pages, GeoJSON, tiles, searches and downloads carry
  employers' names, addresses and contacts, which must not stay in a shared browser's or
  proxy's cache.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from gisgrid.config import DEFAULT_TRUSTED_HOSTS, Settings
from gisgrid.errors import InputError

#: Device and sensor features no gisgrid page uses; ``()`` denies them to every frame.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
    "microphone", "midi", "payment", "usb"))
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Frame-Options": "DENY",
}
# Addresses a server listens on that no browser puts in a Host header.
_WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")


class _Ipv6Literal(str):
    """A bracketed IPv6 address (``[::1]``) in a form Werkzeug's host check can match.

    ``werkzeug.sansio.utils.host_is_trusted`` drops a port from each trusted name by
    cutting it at its first ``:``, which leaves ``[`` of an IPv6 literal, so ``::1``
    would never match; this name keeps its colons when cut.
    """

    def partition(self, sep):  # noqa: D102 - see the class docstring
        return (str(self), "", "") if sep == ":" else super().partition(sep)


def trusted_hosts(settings: Settings, serve_host: str | None = None) -> list[str]:
    """The host names the app answers to, in the form Flask's ``TRUSTED_HOSTS`` takes.

    Examples
    --------
    >>> from pathlib import Path
    >>> trusted_hosts(Settings(home=Path("/tmp")), "10.1.2.3")
    ['10.1.2.3', 'localhost', '127.0.0.1', '[::1]']
    >>> trusted_hosts(Settings(home=Path("/tmp"), trusted_hosts=("grid.example.cn",)), "0.0.0.0")
    ['grid.example.cn']
    """
    if settings.trusted_hosts is not None:
        names = list(settings.trusted_hosts)
    else:
        serve = (serve_host or "").strip().lower()
        names = ([serve] if serve not in _WILDCARD_ADDRESSES else []) + list(DEFAULT_TRUSTED_HOSTS)
    out: list[str] = []
    for name in names:
        # Werkzeug gives up on the whole list at a name it cannot IDNA-encode, and IPv6
        # literals need their brackets (the Host header has them).
        name = _Ipv6Literal(f"[{name.strip('[]')}]") if ":" in name else name
        if name not in out:
            out.append(name)
    return out


def refuse_large_body() -> None:
    """``before_request``: 413 for a declared body above the limit, even if no view reads it."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def refuse_nul() -> None:
    """``before_request``: 400 for a NUL character in the path or a query parameter.

    PostgreSQL text cannot hold NUL (the driver raises), and no code, name or number has one.
    """
    args = request.args
    if "\x00" in request.path or any("\x00" in k or any("\x00" in v for v in args.getlist(k)) for k in args):
        where = "地址" if "\x00" in request.path else "查询参数"
        raise InputError(f"请求{where}中含有 NUL 字符（%00）；编码、名称和数字中都不会有该字符")


def add_headers(response: Response) -> Response:
    """``after_request``: the fixed security headers, and no-store on everything personal."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint not in ("static", "tiles.basemap_tile"):  # basemap tiles hold no personal data
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
        response.headers.pop("ETag", None)
    return response


def limits_config(settings: Settings, serve_host: str | None = None) -> dict:
    """The Flask settings behind the limits: ``MAX_CONTENT_LENGTH`` and ``TRUSTED_HOSTS``."""
    return {"MAX_CONTENT_LENGTH": int(settings.max_upload_mb * 1024 * 1024),
            "TRUSTED_HOSTS": trusted_hosts(settings, serve_host)}


def init_app(app: Flask) -> None:
    app.before_request(refuse_large_body)
    app.before_request(refuse_nul)
    app.after_request(add_headers)

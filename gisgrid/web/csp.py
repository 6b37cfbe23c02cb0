"""Content-Security-Policy: a per-request nonce for our inline scripts and styles.

Every HTML response carries a policy that lets the page run only scripts and styles
served by the app or carrying this request's nonce.  ``csp_nonce()`` is a Jinja global:
templates write ``<script nonce="{{ csp_nonce() }}">``.  The map pages' folium parts
are tagged in :func:`tag_inline_elements`, called on markup gisgrid generated itself —
never on a whole response, which would bless whatever had been injected into it.

``GISGRID_CSP`` (:attr:`gisgrid.config.Settings.csp`) selects ``on`` (enforce, the
default), ``report-only`` (the browser reports violations in its console and blocks
nothing) or ``off``.
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, current_app, g

HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"

# Tile hosts the basemap layers of gisgrid.maps.grid_map load <img> tiles from; only these
# are allowed, and only when that basemap is configured (tests/web/test_csp.py checks
# that every tile URL of a rendered map is covered).
BASEMAP_IMAGE_HOSTS = {
    "none": (),
    "osm": ("https://tile.openstreetmap.org",),
    # Leaflet spreads the requests over subdomains t0–t7 ("subdomains": "01234567").
    "tianditu": tuple(f"https://t{i}.tianditu.gov.cn" for i in range(8)),
    # The local MBTiles basemap is served by the app itself ('self').
    "mbtiles": (),
}

# JSON (API answers, GeoJSON) is never meant to be a document; if someone opens it in a
# tab or frames it, nothing in it may load or run.  Other non-HTML responses get no
# policy: on a subresource (static assets, vector tiles) a policy is ignored, and the
# downloads (PDF, PNG, XLSX, ZIP) run no script of ours but are shown by the browser's
# own viewers, which a page policy has no business restricting.
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_JSON_MIMETYPES = ("application/json", "application/geo+json")

_INLINE_TAG = re.compile(r"<(script|style)(?=[\s>])(?![^>]*\snonce=)", re.IGNORECASE)


def csp_nonce() -> str:
    """This request's nonce (22 URL-safe characters, made on first use).

    Examples
    --------
    >>> from flask import Flask
    >>> with Flask(__name__).test_request_context():
    ...     csp_nonce() == csp_nonce() and len(csp_nonce()) >= 22
    True
    """
    nonce = g.get("csp_nonce")
    if nonce is None:
        # 128 bits from the OS generator: a nonce must not be guessable or reused.
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def tag_inline_elements(markup: str, nonce: str | None = None) -> str:
    """Add ``nonce="…"`` to every ``<script>`` and ``<style>`` start tag in `markup`.

    Only for markup gisgrid generated (folium's header and body parts), where user
    text is already HTML-escaped and so cannot contain a start tag of its own.

    Examples
    --------
    >>> tag_inline_elements('<style>p {}</style><script src="/a.js"></script>', "abc")
    '<style nonce="abc">p {}</style><script nonce="abc" src="/a.js"></script>'
    """
    nonce = nonce or csp_nonce()
    return _INLINE_TAG.sub(lambda m: f'<{m.group(1)} nonce="{nonce}"', markup)


def build_policy(nonce: str, basemap: str = "none") -> str:
    """The page policy for one response.

    Examples
    --------
    >>> "img-src 'self' data: blob: https://tile.openstreetmap.org" in build_policy("n", "osm")
    True
    """
    if basemap not in BASEMAP_IMAGE_HOSTS:
        raise ValueError(f"basemap was {basemap!r}; expected one of {', '.join(BASEMAP_IMAGE_HOSTS)}")
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        # <style> elements and stylesheets: ours and nonce-tagged only; no style=""
        # attributes either (colours are classes; scripts set styles through the DOM).
        f"style-src 'self' 'nonce-{nonce}'",
        " ".join(["img-src 'self' data: blob:", *BASEMAP_IMAGE_HOSTS[basemap]]),
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        # No page of ours is ever framed, not even by ourselves (clickjacking); with
        # X-Frame-Options: DENY for browsers that predate the directive (gisgrid.web.security).
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
    return "; ".join(directives)


def add_policy(response: Response) -> Response:
    """``after_request``: the policy on HTML responses, a locked-down one on JSON."""
    settings = current_app.config["GISGRID_SETTINGS"]
    mode = settings.csp
    if mode == "off":
        return response
    header = REPORT_ONLY_HEADER if mode == "report-only" else HEADER
    if response.status_code in (204, 304):
        return response  # no document (an empty tile is a 204 with Flask's default type)
    if response.mimetype == "text/html":
        response.headers[header] = build_policy(csp_nonce(), settings.basemap)
    elif response.mimetype in _JSON_MIMETYPES:
        response.headers[header] = JSON_POLICY
    return response


def init_app(app: Flask) -> None:
    from gisgrid.config import CSP_MODES

    mode = app.config["GISGRID_SETTINGS"].csp
    if mode not in CSP_MODES:
        raise ValueError(f"Settings.csp was {mode!r}; expected one of {', '.join(CSP_MODES)}")
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(add_policy)

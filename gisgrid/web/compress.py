"""gzip for large text responses (GeoJSON, map pages) when the browser accepts it.

Werkzeug's development server and a bare WSGI deployment do not compress; a
20,000-employer GeoJSON is ~7 MB raw and ~0.6 MB gzipped, which matters on a
county intranet link.
"""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

MIN_SIZE = 16 * 1024
COMPRESSIBLE = ("text/html", "application/json", "application/geo+json", "text/css",
                "application/javascript", "text/javascript")


def compress_response(response: Response) -> Response:
    if (response.direct_passthrough or response.status_code != 200
            or "gzip" not in request.headers.get("Accept-Encoding", "")
            or response.headers.get("Content-Encoding")
            or response.mimetype not in COMPRESSIBLE):
        return response
    data = response.get_data()
    if len(data) < MIN_SIZE:
        return response
    response.set_data(gzip.compress(data, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(response.get_data()))
    response.vary.add("Accept-Encoding")
    return response


def init_app(app: Flask) -> None:
    app.after_request(compress_response)

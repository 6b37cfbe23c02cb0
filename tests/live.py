"""A WSGI app served on 127.0.0.1 for the browser tests (werkzeug, threaded, a free port)."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from werkzeug.serving import make_server


@contextmanager
def serve_live(app):
    """Serve ``app`` for the duration of the block; yields its base URL (``http://127.0.0.1:PORT``)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()

"""The Flask web app: ``create_app()`` builds it; nothing happens at import."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from gisgrid.config import Settings, load_settings


class _IdConverter(IntegerConverter):
    """Werkzeug's ``int`` converter bounded to PostgreSQL's ``integer`` (the id columns): a path
    id such as 99999999999999999999 made ``CAST(:id AS integer)`` fail with a 500."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**31 - 1,
                 signed: bool = False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(test_config: dict | None = None, settings: Settings | None = None, *,
               serve_host: str | None = None) -> Flask:
    """Build the app. ``settings`` default to the ``GISGRID_*`` environment.

    ``serve_host`` is the address ``gisgrid serve --host`` listens on: with
    ``GISGRID_TRUSTED_HOSTS`` unset it is trusted as a ``Host`` name besides localhost.
    """
    from gisgrid.web import security

    app = Flask(__name__)
    # <int:…> ids are PostgreSQL integers: a larger number matches no route (404), never a 500.
    app.url_map.converters["int"] = _IdConverter
    settings = settings or load_settings()
    app.config.from_mapping(
        GISGRID_SETTINGS=settings,
        JSON_AS_ASCII=False,
        **security.limits_config(settings, serve_host),
    )
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False

    from gisgrid.web import auth, compress, csp, db, errors, maps

    db.init_app(app)
    security.init_app(app)
    csp.init_app(app)
    compress.init_app(app)
    errors.init_app(app)
    auth.init_app(app)  # after the size and NUL checks, before every view
    app.register_blueprint(maps.bp)
    from gisgrid.web import boundaries_api; app.register_blueprint(boundaries_api.bp)  # noqa: E702
    from gisgrid.web import employers_api; app.register_blueprint(employers_api.bp)  # noqa: E702
    from gisgrid.web import exports; app.register_blueprint(exports.bp)  # noqa: E702
    from gisgrid.web import tiles; app.register_blueprint(tiles.bp)  # noqa: E702
    from gisgrid.web import admin; app.register_blueprint(admin.bp)  # noqa: E702
    from gisgrid.web import visits; app.register_blueprint(visits.bp)  # noqa: E702
    from gisgrid.web import staff; app.register_blueprint(staff.bp)  # noqa: E702
    from gisgrid.web import complaints; app.register_blueprint(complaints.bp)  # noqa: E702
    from gisgrid.web import cases; app.register_blueprint(cases.bp)  # noqa: E702
    from gisgrid.web import inspections; app.register_blueprint(inspections.bp)  # noqa: E702
    from gisgrid.web import incidents; app.register_blueprint(incidents.bp)  # noqa: E702
    from gisgrid.web import supervision; app.register_blueprint(supervision.bp)  # noqa: E702
    from gisgrid.web import plan_changes; app.register_blueprint(plan_changes.bp)  # noqa: E702
    from gisgrid.web import staff_import; app.register_blueprint(staff_import.bp)  # noqa: E702
    from gisgrid.web import stats; app.register_blueprint(stats.bp)  # noqa: E702
    from gisgrid.web import plan; app.register_blueprint(plan.bp)  # noqa: E702
    return app

"""The web app's engine is prepared once, not in every request (issue 10: a plain page under load)."""

from __future__ import annotations

import sqlalchemy as sa


def test_the_web_engine_is_prepared_once_per_app_not_per_request(settings, monkeypatch):
    import gisgrid.web.db as web_db
    from gisgrid.web import create_app

    prepared = []
    real = web_db.get_web_engine
    monkeypatch.setattr(web_db, "get_web_engine", lambda s: prepared.append(s) or real(s))
    app = create_app({"TESTING": True}, settings=settings)
    for _ in range(3):
        with app.test_request_context("/"):
            assert web_db.get_session().execute(sa.text("SELECT 1")).scalar() == 1
    assert len(prepared) == 1

"""Fixtures for the job tests: a private copy of the demo city per test, its settings and app.

The jobs write rows (export jobs, the queue) and the tests change data to see the digest
move, so each test gets its own database copied from the shared demo city (a file copy in
the server, about a second) instead of writing into the shared one.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.orm import Session

from gisgrid.config import Settings
from gisgrid.db.engine import dispose_engines, get_engine

_counter = itertools.count()


@pytest.fixture
def city_url(pg_cluster, demo_url) -> str:
    # CREATE DATABASE … TEMPLATE needs the template without connections: close the pools.
    dispose_engines()
    return pg_cluster.create_database(f"jobs_city_{next(_counter)}", template="demo_city")


@pytest.fixture
def city_settings(city_url, tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=city_url)


@pytest.fixture
def city_engine(city_url):
    return get_engine(city_url)


@pytest.fixture
def city_session(city_engine):
    with Session(city_engine) as session:
        yield session
        session.rollback()


@pytest.fixture
def city_client(city_settings):
    from gisgrid.web import create_app

    return create_app({"TESTING": True}, settings=city_settings).test_client()


DIAGRAM = {"level": None, "grid": None, "paper": "A4", "format": "png", "colour": None, "employers": False}

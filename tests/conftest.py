"""Test fixtures: a real PostGIS database per test session, in the embedded cluster.

``TEST_DATABASE_URL`` points the suite at another server instead. Nothing is mocked.
"""

from __future__ import annotations

import os
import uuid

import psycopg2
import pytest

from gis.config import get_settings
from gis.db import admin
from gis.db.connection import close_pools, database_url
from gis.db.migrate import migrate


def _fresh_db_url(tag: str) -> str:
    base = os.environ.get("TEST_DATABASE_URL") or database_url()
    name = f"gridmap_test_{tag}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    return base.rsplit("/", 1)[0] + "/" + name


def make_database(tag: str, *, migrated: bool = True) -> str:
    """Create an empty database (PostGIS on, schema migrated unless told not to)."""
    url = _fresh_db_url(tag)
    admin.create_database(url)
    admin.ensure_extensions(url)
    if migrated:
        conn = psycopg2.connect(url)
        try:
            migrate(conn, get_settings().migrations_dir)
        finally:
            conn.close()
    return url


@pytest.fixture(scope="session")
def database_factory():
    """Create throw-away databases; all are dropped at the end of the session."""
    made: list[str] = []

    def factory(tag: str = "db", *, migrated: bool = True) -> str:
        url = make_database(tag, migrated=migrated)
        made.append(url)
        return url

    yield factory
    close_pools()
    for url in made:
        admin.drop_database(url)


@pytest.fixture(scope="session")
def schema_url(database_factory) -> str:
    """A migrated, empty database shared by tests that roll their changes back."""
    return database_factory("schema")


@pytest.fixture
def schema_conn(schema_url):
    """A connection to the empty schema database; everything it does is rolled back."""
    conn = psycopg2.connect(schema_url)
    yield conn
    conn.rollback()
    conn.close()


@pytest.fixture(scope="session")
def demo_url(database_factory) -> str:
    """A database holding the demo district (seed 1), loaded once; tests must not modify it."""
    from gis.demo import build_demo, load_demo

    url = database_factory("demo")
    conn = psycopg2.connect(url)
    try:
        load_demo(conn, build_demo(seed=1))
        conn.commit()
    finally:
        conn.close()
    return url


@pytest.fixture
def demo_conn(demo_url):
    """A connection to the demo database; rolled back afterwards."""
    conn = psycopg2.connect(demo_url)
    yield conn
    conn.rollback()
    conn.close()


@pytest.fixture(scope="session")
def coverage_demo_url(database_factory) -> str:
    """Another copy of the demo district (seed 1), for tests whose pages store coverage results.

    Coverage is not computed yet: the first coverage page or API call computes and stores it.
    """
    from gis.demo import build_demo, load_demo

    url = database_factory("coverage")
    conn = psycopg2.connect(url)
    try:
        load_demo(conn, build_demo(seed=1))
        conn.commit()
    finally:
        conn.close()
    return url

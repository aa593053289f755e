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


def _rolled_back(url: str):
    conn = psycopg2.connect(url)
    yield conn
    conn.rollback()
    conn.close()


@pytest.fixture
def schema_conn(schema_url):
    """A connection to the empty schema database; everything it does is rolled back."""
    yield from _rolled_back(schema_url)


@pytest.fixture
def two_communities(schema_conn):
    """A :class:`world.World` with 桃源社区 (0–400 m) and 白塔社区 (400–800 m), rolled back."""
    from world import COMMUNITY, OTHER, World

    w = World(schema_conn)
    w.community(COMMUNITY, "桃源社区", (0, 0, 400, 300))
    w.community(OTHER, "白塔社区", (400, 0, 800, 300))
    return w


@pytest.fixture(scope="session")
def writable_demo_url(database_factory):
    """Make a database holding a copy of the demo district (seed 1): ``writable_demo_url(tag)``.

    For tests whose pages or calls write (store results, save edits, add centres): each gets a
    copy of its own.
    """
    from gis.demo import build_demo, load_demo

    def factory(tag: str) -> str:
        url = database_factory(tag)
        conn = psycopg2.connect(url)
        try:
            load_demo(conn, build_demo(seed=1))
            conn.commit()
        finally:
            conn.close()
        return url

    return factory


@pytest.fixture(scope="session")
def demo_url(writable_demo_url) -> str:
    """A database holding the demo district (seed 1), loaded once; tests must not modify it."""
    return writable_demo_url("demo")


@pytest.fixture
def demo_conn(demo_url):
    """A connection to the demo database; rolled back afterwards."""
    yield from _rolled_back(demo_url)


@pytest.fixture(scope="session")
def coverage_demo_url(writable_demo_url) -> str:
    """Another copy of the demo district (seed 1), for tests whose pages store coverage results.

    Coverage is not computed yet: the first coverage page or API call computes and stores it.
    """
    return writable_demo_url("coverage")


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium (Debian's, through Playwright), one per test module.

    Without it the browser tests are skipped on a developer's machine, but fail under CI
    (``CI=true``), where ``make test`` installs it: a skipped browser test must not pass CI.
    """
    from browser import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        message = "/usr/bin/chromium is missing (Debian package `chromium`; make browser-deps)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()

"""The database connection of the current request's app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2.extensions
from flask import current_app

from gis.db.connection import connection


@contextmanager
def db() -> Iterator[psycopg2.extensions.connection]:
    """Borrow a pooled connection to the app's database for one transaction."""
    with connection(current_app.config.get("DATABASE_URL") or None) as conn:
        yield conn

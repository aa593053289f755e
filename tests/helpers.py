"""Small helpers shared by the test modules: SQL on a database URL, page text, the app.

Imported as ``helpers`` (pytest puts ``tests/`` on the path, as for ``smallmap``).
"""

from __future__ import annotations

import html
import json
import re

import psycopg2

from web import create_app

# an absolute or protocol-relative URL to another host: pages must load nothing from one
URL_RE = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*")


def rows(url: str, sql: str, params=()):
    """All rows of ``sql`` run on a fresh connection to ``url``."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def execute(url: str, sql: str, params=()) -> None:
    """Run ``sql`` on a fresh connection to ``url`` and commit."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def contains(page: str, text: str) -> bool:
    """Whether ``text`` is in the page: as HTML-escaped text, or JSON-escaped (map data)."""
    escaped = html.escape(text)
    return any(t in page for t in (text, escaped, json.dumps(text)[1:-1],
                                   json.dumps(escaped)[1:-1]))


def app_for(database_url: str, **config):
    """The app on ``database_url`` without a basemap (nothing from another host)."""
    return create_app({"DATABASE_URL": database_url, "BASEMAP": "none", **config})

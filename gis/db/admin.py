"""Database administration: create/drop databases, extensions, backup and restore."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

EXTENSIONS_REQUIRED = ("postgis",)
EXTENSIONS_OPTIONAL = ("pgrouting",)


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def dbname_of(url: str) -> str:
    """Database name of a libpq URL."""
    return urlsplit(url).path.lstrip("/") or "postgres"


def create_database(url: str) -> bool:
    """Create the database of ``url`` if missing (connecting to ``postgres``); return if created."""
    name = dbname_of(url)
    conn = psycopg2.connect(_with_dbname(url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
                        .format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def drop_database(url: str) -> None:
    """Drop the database of ``url`` (ending its other sessions first)."""
    name = dbname_of(url)
    conn = psycopg2.connect(_with_dbname(url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                        .format(sql.Identifier(name)))
    finally:
        conn.close()


def ensure_extensions(url: str) -> list[str]:
    """Create PostGIS (required) and pgRouting (when installed); return those now present."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for ext in EXTENSIONS_REQUIRED:
                cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}")
                            .format(sql.Identifier(ext)))
            cur.execute("SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
                        (list(EXTENSIONS_OPTIONAL),))
            for (ext,) in cur.fetchall():
                cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} CASCADE")
                            .format(sql.Identifier(ext)))
            cur.execute("SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def backup(url: str, path: Path, pg_dump: str = "pg_dump") -> None:
    """Write a custom-format dump of the database to ``path``."""
    subprocess.run([pg_dump, "--format=custom", "--no-owner", f"--file={path}", url],
                   check=True, capture_output=True, text=True)


def restore(url: str, path: Path, pg_restore: str = "pg_restore") -> None:
    """Replace the database's objects with those of the dump at ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such backup file")
    subprocess.run([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
                    f"--dbname={url}", str(path)], check=True, capture_output=True, text=True)

"""Migration runner: ``migrations/NNNN_name.sql`` applied in order, once each, in a transaction."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg2
import psycopg2.extensions

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 73_105_001  # advisory lock: two `gridmap db migrate` never interleave


class MigrationError(RuntimeError):
    """A migration file is misnamed or failed to apply."""


def migration_files(directory: Path) -> list[Path]:
    """Return the migration files of ``directory`` in the order they apply.

    Raises
    ------
    MigrationError
        If a ``.sql`` file does not follow ``NNNN_name.sql`` or two share a number.
    """
    files = sorted(directory.glob("*.sql"))
    seen: dict[str, Path] = {}
    for f in files:
        m = MIGRATION_NAME.match(f.name)
        if not m:
            raise MigrationError(f"{f}: migration files must be named NNNN_lower_snake.sql")
        if m.group(1) in seen:
            raise MigrationError(f"{f} and {seen[m.group(1)]} share the number {m.group(1)}")
        seen[m.group(1)] = f
    return files


def applied(conn: psycopg2.extensions.connection) -> set[str]:
    """Names of the migrations already recorded in ``schema_migrations``."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return set()
        cur.execute("SELECT name FROM schema_migrations")
        return {r[0] for r in cur.fetchall()}


def migrate(conn: psycopg2.extensions.connection, directory: Path) -> list[str]:
    """Apply every pending migration of ``directory``.

    Parameters
    ----------
    conn
        An open connection; it is committed after each migration.
    directory
        Folder of ``NNNN_name.sql`` files.

    Returns
    -------
    list of str
        Names of the migrations applied now (empty when up to date).

    Raises
    ------
    MigrationError
        Naming the file whose SQL failed; that migration is rolled back, earlier ones stay.
    """
    files = migration_files(directory)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    conn.commit()
    done: list[str] = []
    try:
        already = applied(conn)
        for f in files:
            if f.name in already:
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute(f.read_text(encoding="utf-8"))
                    cur.execute("INSERT INTO schema_migrations(name) VALUES (%s)", (f.name,))
                conn.commit()
            except psycopg2.Error as exc:
                conn.rollback()
                raise MigrationError(f"{f.name}: {exc.pgerror or exc}".strip()) from exc
            done.append(f.name)
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.commit()
    return done

"""Connections: a thread-safe pool per database URL, and a transaction context manager."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions
from psycopg2.pool import ThreadedConnectionPool

from gis.config import Settings, get_settings

_pools: dict[str, ThreadedConnectionPool] = {}
_lock = threading.Lock()


def database_url(settings: Settings | None = None) -> str:
    """Return the libpq URL in use: ``DATABASE_URL`` or the embedded cluster's."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    from gis.db.cluster import cluster_for

    return cluster_for(settings).url_for(settings.database_name)


def connect(url: str | None = None) -> psycopg2.extensions.connection:
    """Open a new connection (not pooled); the caller closes it."""
    return psycopg2.connect(url or database_url())


def get_pool(url: str | None = None) -> ThreadedConnectionPool:
    """Return the shared connection pool for ``url`` (created on first use)."""
    url = url or database_url()
    with _lock:
        pool = _pools.get(url)
        if pool is None or pool.closed:
            pool = ThreadedConnectionPool(1, get_settings().pool_max, url)
            _pools[url] = pool
        return pool


def close_pools() -> None:
    """Close every pool (tests and shutdown)."""
    with _lock:
        for pool in _pools.values():
            if not pool.closed:
                pool.closeall()
        _pools.clear()


@contextmanager
def connection(url: str | None = None) -> Iterator[psycopg2.extensions.connection]:
    """Borrow a pooled connection for one transaction: commit on success, roll back on error."""
    pool = get_pool(url)
    conn = pool.getconn()
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        pool.putconn(conn, close=conn.closed != 0)

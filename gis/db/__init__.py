"""Database access: the embedded cluster, connections and migrations."""

from gis.db.connection import connect, connection, database_url, get_pool

__all__ = ["connect", "connection", "database_url", "get_pool"]

"""The region hierarchy (city → district → street → community): shared lookups and SQL.

Every engine reports on "a region and everything under it"; the recursive CTE and the region
header they use live here once.
"""

from __future__ import annotations

from typing import Any

import psycopg2.extensions

__all__ = ["SUBREGIONS_SQL", "RegionNotFoundError", "region_header", "single_district"]

# `sub` = the region %(region)s and all its descendants; every region when %(region)s is NULL.
# Prefix a query with it and filter with `code IN (SELECT code FROM sub)`.
SUBREGIONS_SQL = """
WITH RECURSIVE sub(code) AS (
    SELECT code FROM regions WHERE %(region)s::text IS NULL OR code = %(region)s
    UNION SELECT r.code FROM regions r JOIN sub ON r.parent_code = sub.code
)"""


class RegionNotFoundError(LookupError):
    """A well-formed region code that is not in the ``regions`` table."""


def region_header(conn: psycopg2.extensions.connection, region: str | None) -> dict[str, Any]:
    """``{"code", "name", "level"}`` of ``region``; for None, the single root (or "全部").

    Raises
    ------
    RegionNotFoundError
        If ``region`` is not in the ``regions`` table.
    """
    with conn.cursor() as cur:
        if region is None:
            cur.execute("SELECT code, name, level FROM regions WHERE parent_code IS NULL"
                        " ORDER BY code LIMIT 2")
            rows = cur.fetchall()
            if len(rows) != 1:
                return {"code": None, "name": "全部", "level": None}
            row = rows[0]
        else:
            cur.execute("SELECT code, name, level FROM regions WHERE code = %s", (region,))
            row = cur.fetchone()
            if row is None:
                raise RegionNotFoundError(f"region {region} is not in the regions table")
    return {"code": row[0], "name": row[1], "level": row[2]}


def single_district(conn: psycopg2.extensions.connection) -> str | None:
    """The code of the database's district when it holds exactly one, else None.

    Examples
    --------
    >>> single_district(conn)  # the demo database  # doctest: +SKIP
    '530103000000'
    """
    with conn.cursor() as cur:
        cur.execute("SELECT code FROM regions WHERE level = 'district' ORDER BY code LIMIT 2")
        rows = cur.fetchall()
    return rows[0][0].strip() if len(rows) == 1 else None

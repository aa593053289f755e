"""New service centres from the planner: validation and storage (planned or candidate).

Used by the what-if map ("保存为规划服务站") and by siting ("adopt"). Existing centres change
everybody's access and come by import, so this module creates only ``planned`` and ``candidate``
ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import psycopg2.extensions

from gis.access import LEVELS

__all__ = ["CENTER_FIELDS", "NEW_CENTER_STATUSES", "CenterError", "check_new_center",
           "insert_center"]

Connection = psycopg2.extensions.connection

CENTER_FIELDS = ("name", "level", "lon", "lat", "radius_m", "floor_area_m2", "status")
# what the API may create: existing centres change everybody's access and come by import
NEW_CENTER_STATUSES = ("planned", "candidate")
NAME_MAX = 100

# the smallest region holding the point becomes the centre's region_code
_INSERT_CENTER_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geom)
INSERT INTO service_centers (name, level, status, radius_m, floor_area_m2, region_code, geom)
SELECT %(name)s, %(level)s, %(status)s, %(radius_m)s, %(floor_area_m2)s,
       (SELECT r.code FROM regions r, p WHERE ST_Intersects(r.geom, p.geom)
        ORDER BY array_position(ARRAY['community', 'street', 'district', 'city'], r.level),
                 r.code
        LIMIT 1),
       p.geom
FROM p
RETURNING id, code, name, level, status, radius_m::float8, floor_area_m2::float8, region_code,
          ST_X(geom), ST_Y(geom)
"""


class CenterError(ValueError):
    """A new centre's field is missing or wrong; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _number(payload: Mapping[str, Any], key: str, *, required: bool, low: float | None = None,
            high: float | None = None, positive: bool = False) -> float | None:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise CenterError(key, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CenterError(key, f"must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise CenterError(key, f"must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise CenterError(key, "must be a finite number")
    if positive and not number > 0:
        raise CenterError(key, f"must be positive, not {number:g}")
    if (low is not None and number < low) or (high is not None and number > high):
        raise CenterError(key, f"must be between {low:g} and {high:g}, not {number:g}")
    return number


def check_new_center(payload: Any) -> dict[str, Any]:
    """Validate the fields of a new service centre.

    Parameters
    ----------
    payload : mapping
        ``name`` (text, required), ``level`` (``street``, ``community``, ``grid`` or
        ``building``), ``lon`` and ``lat`` (EPSG:4326), optional ``radius_m`` (own service
        radius; default the level's norm), ``floor_area_m2`` and ``status`` (``planned``, the
        default, or ``candidate``).

    Returns
    -------
    dict
        The cleaned values, every key of :data:`CENTER_FIELDS` present.

    Raises
    ------
    CenterError
        Naming the first field at fault (unknown fields too).
    """
    if not isinstance(payload, Mapping):
        raise CenterError("body", "must be a JSON object")
    unknown = sorted(set(payload) - set(CENTER_FIELDS))
    if unknown:
        raise CenterError(unknown[0], f"is not a field of a centre (fields: "
                                      f"{', '.join(CENTER_FIELDS)})")
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CenterError("name", "is required (a non-empty text)")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise CenterError("name", f"is longer than {NAME_MAX} characters")
    level = payload.get("level")
    if level not in LEVELS:
        raise CenterError("level", f"must be one of {', '.join(LEVELS)}, not {level!r}")
    status = payload.get("status") or "planned"
    if status not in NEW_CENTER_STATUSES:
        raise CenterError("status", f"must be one of {', '.join(NEW_CENTER_STATUSES)}, "
                                    f"not {status!r}")
    return {
        "name": name, "level": level, "status": status,
        "lon": _number(payload, "lon", required=True, low=-180, high=180),
        "lat": _number(payload, "lat", required=True, low=-90, high=90),
        # numeric(8, 1) columns
        "radius_m": _number(payload, "radius_m", required=False, positive=True, high=9_999_999),
        "floor_area_m2": _number(payload, "floor_area_m2", required=False, positive=True,
                                 high=999_999_999),
    }


def insert_center(conn: Connection, payload: Any) -> dict[str, Any]:
    """Validate and store a new (planned or candidate) service centre.

    Its ``region_code`` is the smallest region holding the point (NULL outside every region).
    The insert happens in the caller's transaction; nothing is written when validation fails.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    payload : mapping
        See :func:`check_new_center`.

    Returns
    -------
    dict
        The stored centre: ``id``, ``code``, ``name``, ``level``, ``status``, ``radius_m``
        (None: the level's norm), ``floor_area_m2``, ``region_code``, ``lon``, ``lat``.

    Raises
    ------
    CenterError
        If a field is missing or wrong.
    """
    values = check_new_center(payload)
    with conn.cursor() as cur:
        cur.execute(_INSERT_CENTER_SQL, values)
        row = cur.fetchone()
    keys = ("id", "code", "name", "level", "status", "radius_m", "floor_area_m2",
            "region_code", "lon", "lat")
    return dict(zip(keys, row, strict=True))

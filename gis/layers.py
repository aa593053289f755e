"""Map layers of a region as GeoJSON FeatureCollections, built in PostGIS.

Every layer is one set-based query (``ST_AsGeoJSON`` + ``json_build_object`` / ``json_agg``):
the database returns the finished FeatureCollection and Python only hands it on. The web app
calls these functions and never writes SQL of its own.

A layer can be limited to a region (a street, a community ...: the region and everything under
it in the ``regions`` tree) and to a bounding box in EPSG:4326.

Examples
--------
>>> from gis.db import connection
>>> from gis import layers
>>> with connection() as conn:                                    # doctest: +SKIP
...     fc = layers.grids(conn, region="530103002001")
...     summary = layers.region_summary(conn)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2.extensions

from gis.config import Norms, get_settings
from gis.regions import RegionNotFoundError

__all__ = [
    "LAYERS",
    "RegionNotFoundError",
    "UnknownLayerError",
    "buildings",
    "check_bbox",
    "check_digits",
    "check_region_code",
    "communities",
    "get_layer",
    "grids",
    "region_summary",
    "service_centers",
    "streets",
]

Connection = psycopg2.extensions.connection
FeatureCollection = dict[str, Any]

_REGION_CODE = re.compile(r"^[0-9]{12}$")

# Coordinates are rounded to 7 decimals (~1 cm): more only inflates the page.
_DIGITS = 7


class UnknownLayerError(LookupError):
    """A layer name that :data:`LAYERS` does not know."""


def check_region_code(code: str | None) -> str | None:
    """Validate a 12-digit statistical region code.

    Parameters
    ----------
    code : str or None
        The code, e.g. ``"530103002001"`` (桃源社区); None means "no region filter".

    Returns
    -------
    str or None
        The code, stripped of surrounding blanks, or None.

    Raises
    ------
    ValueError
        If the code is not exactly 12 digits.
    """
    return check_digits(code, _REGION_CODE, "region code {!r} is not a 12-digit statistical "
                                            "division code")


def check_digits(code: str | None, pattern: re.Pattern, message: str) -> str | None:
    """``code`` stripped when it matches ``pattern``; None stays None; else ValueError(message)."""
    if code is None:
        return None
    code = str(code).strip()
    if not pattern.match(code):
        raise ValueError(message.format(code))
    return code


def check_bbox(bbox: str | Sequence[float] | None) -> tuple[float, float, float, float] | None:
    """Validate a bounding box ``minx,miny,maxx,maxy`` in EPSG:4326 (longitude, latitude).

    Parameters
    ----------
    bbox : str, sequence of 4 floats or None
        ``"102.70,25.04,102.73,25.06"`` or ``(102.70, 25.04, 102.73, 25.06)``.

    Returns
    -------
    tuple of 4 floats or None
        The box, or None when no box was given.

    Raises
    ------
    ValueError
        If the box does not have four finite numbers, min > max, or lies outside lon/lat range.
    """
    if bbox is None or bbox == "":
        return None
    parts = bbox.split(",") if isinstance(bbox, str) else list(bbox)
    try:
        box = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"bbox {bbox!r} must be four numbers minx,miny,maxx,maxy") from None
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise ValueError(f"bbox {bbox!r} must be four numbers minx,miny,maxx,maxy")
    minx, miny, maxx, maxy = box
    if minx > maxx or miny > maxy:
        raise ValueError(f"bbox {bbox!r}: min must not exceed max")
    if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise ValueError(f"bbox {bbox!r} is not in EPSG:4326 longitude/latitude")
    return box  # type: ignore[return-value]


# --- shared SQL fragments ------------------------------------------------------------------------
# `scope` holds the region asked for and all its descendants; with no region it is empty and every
# filter below is switched off by `%(region)s IS NULL`. Only these fixed fragments are pasted into
# the queries; values always travel as parameters.

_SCOPE = """
WITH RECURSIVE scope(code) AS (
    SELECT code FROM regions WHERE code = %(region)s
    UNION
    SELECT r.code FROM regions r JOIN scope s ON r.parent_code = s.code
),
area AS (SELECT geom FROM regions WHERE code = %(region)s)
"""


def _in_scope(column: str) -> str:
    return f"(%(region)s::text IS NULL OR {column} IN (SELECT code FROM scope))"


def _in_bbox(column: str) -> str:
    return (f"(%(xmin)s::float8 IS NULL OR {column} && "
            f"ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326))")


# a building belongs to a region by its community code, or, when it has none, by where it stands
_BUILDING_IN_SCOPE = f"""(
    {_in_scope("b.community_code")}
    OR (b.community_code IS NULL AND ST_Intersects(b.geom, (SELECT geom FROM area)))
)"""

# a centre belongs to a region by its region code or by standing inside it
_CENTER_IN_SCOPE = f"""(
    {_in_scope("c.region_code")}
    OR ST_Intersects(c.geom, (SELECT geom FROM area))
)"""


def _collection(features_sql: str) -> str:
    """Wrap a query yielding ``(feature json, sort key)`` rows into one FeatureCollection."""
    return f"""
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(f.feature ORDER BY f.sort_key), '[]'::json)
)
FROM ({features_sql}) AS f
"""


def _params(region: str | None, bbox: Sequence[float] | None, **extra: Any) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = bbox if bbox is not None else (None, None, None, None)
    return {"region": region, "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax, **extra}


def _prepare(conn: Connection, region: str | None,
             bbox: str | Sequence[float] | None) -> dict[str, Any]:
    """Validate the filters and check that the region exists."""
    region = check_region_code(region)
    box = check_bbox(bbox)
    if region is not None:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM regions WHERE code = %s", (region,))
            if cur.fetchone() is None:
                raise RegionNotFoundError(f"region {region} is not in the regions table")
    return _params(region, box)


def _fetch_json(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


# --- regions -------------------------------------------------------------------------------------

_REGIONS_SQL = _SCOPE + """,
rs AS (
    SELECT r.code, r.level, r.name, r.parent_code, r.geom
    FROM regions r
    WHERE r.level = %(level)s AND r.geom IS NOT NULL
      AND """ + _in_scope("r.code") + " AND " + _in_bbox("r.geom") + """
),
-- a community stands for itself, a street (or district) for the communities under it
comm AS (
    SELECT rs.code AS region, c.code AS community
    FROM rs JOIN regions c ON c.level = 'community'
        AND (c.code = rs.code OR c.parent_code = rs.code
             OR c.parent_code IN (SELECT s.code FROM regions s WHERE s.parent_code = rs.code))
),
bstat AS (
    SELECT comm.region, count(b.id) AS n, coalesce(sum(b.households), 0) AS households,
           coalesce(sum(b.residents), 0) AS residents
    FROM comm JOIN buildings b ON b.community_code = comm.community
    GROUP BY comm.region
),
gstat AS (
    SELECT comm.region,
           count(g.id) FILTER (WHERE g.layer = 'governance') AS governance,
           count(g.id) FILTER (WHERE g.layer = 'party') AS party
    FROM comm JOIN grids g ON g.community_code = comm.community
    GROUP BY comm.region
),
cstat AS (SELECT region, count(*) AS n FROM comm GROUP BY region)
SELECT json_build_object(
    'type', 'Feature',
    'id', rs.code,
    'geometry', ST_AsGeoJSON(rs.geom, %(digits)s)::json,
    'properties', json_build_object(
        'code', rs.code,
        'level', rs.level,
        'name', rs.name,
        'parent_code', rs.parent_code,
        'parent_name', p.name,
        'area_km2', round((ST_Area(rs.geom::geography) / 1e6)::numeric, 3),
        'communities', coalesce(cstat.n, 0),
        'grids_governance', coalesce(gstat.governance, 0),
        'grids_party', coalesce(gstat.party, 0),
        'buildings', coalesce(bstat.n, 0),
        'households', coalesce(bstat.households, 0),
        'residents', coalesce(bstat.residents, 0)
    )
) AS feature, rs.code AS sort_key
FROM rs
LEFT JOIN regions p ON p.code = rs.parent_code
LEFT JOIN bstat ON bstat.region = rs.code
LEFT JOIN gstat ON gstat.region = rs.code
LEFT JOIN cstat ON cstat.region = rs.code
"""


def _regions(conn: Connection, level: str, region: str | None,
             bbox: str | Sequence[float] | None) -> FeatureCollection:
    params = _prepare(conn, region, bbox)
    params.update(level=level, digits=_DIGITS)
    return _fetch_json(conn, _collection(_REGIONS_SQL), params)


def communities(conn: Connection, *, region: str | None = None,
                bbox: str | Sequence[float] | None = None) -> FeatureCollection:
    """Community (社区) outlines with their totals.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit code of a region; only communities in it (or it itself) are returned.
        Default: every community in the database.
    bbox : str or sequence of 4 floats, optional
        ``minx,miny,maxx,maxy`` in EPSG:4326; only features intersecting it.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection. Properties: ``code``, ``level``, ``name``, ``parent_code``,
        ``parent_name``, ``area_km2``, ``communities``, ``grids_governance``, ``grids_party``,
        ``buildings``, ``households``, ``residents``. Regions without geometry are left out.

    Raises
    ------
    ValueError
        If ``region`` or ``bbox`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    return _regions(conn, "community", region, bbox)


def streets(conn: Connection, *, region: str | None = None,
            bbox: str | Sequence[float] | None = None) -> FeatureCollection:
    """Street (街道) outlines with the totals of their communities.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit code of a region; only streets in it (or it itself) are returned.
    bbox : str or sequence of 4 floats, optional
        ``minx,miny,maxx,maxy`` in EPSG:4326; only features intersecting it.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection with the properties of :func:`communities`.

    Raises
    ------
    ValueError
        If ``region`` or ``bbox`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    return _regions(conn, "street", region, bbox)


# --- grids ---------------------------------------------------------------------------------------

_GRIDS_SQL = _SCOPE + """,
g AS (
    SELECT g.* FROM grids g
    WHERE """ + _in_scope("g.community_code") + " AND " + _in_bbox("g.geom") + """
),
-- the party grid and the governance grid with the same code are one grid in the seeds' sense
-- ("统一、要重合"): a grid shows the staff and branches attached to either of the pair
twin AS (
    SELECT g.id, o.id AS other_id
    FROM g JOIN grids o ON o.code = g.code AND o.layer <> g.layer
),
pair AS (
    SELECT id, id AS attached_id FROM g
    UNION ALL
    SELECT id, other_id FROM twin
),
-- buildings carry their governance grid; a party grid holds the buildings whose interior point
-- lies inside it
bstat AS (
    SELECT b.grid_id AS id, count(*) AS n, sum(b.households) AS households,
           sum(b.residents) AS residents
    FROM buildings b
    WHERE b.grid_id IN (SELECT id FROM g WHERE layer = 'governance')
    GROUP BY b.grid_id
    UNION ALL
    SELECT g.id, count(*), sum(b.households), sum(b.residents)
    FROM g JOIN buildings b ON b.geom && g.geom AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
    WHERE g.layer = 'party'
    GROUP BY g.id
),
staff AS (
    SELECT pair.id,
           json_agg(s.name ORDER BY s.id) FILTER (WHERE s.role = 'head') AS heads,
           json_agg(s.name ORDER BY s.id) FILTER (WHERE s.role = 'full_time') AS full_time,
           json_agg(s.name ORDER BY s.id) FILTER (WHERE s.role = 'part_time') AS part_time
    FROM pair JOIN grid_staff s ON s.grid_id = pair.attached_id
    GROUP BY pair.id
),
branch AS (
    SELECT pair.id, json_agg(o.name ORDER BY o.id) AS names
    FROM pair JOIN party_orgs o ON o.grid_id = pair.attached_id AND o.kind <> 'building_group'
    GROUP BY pair.id
)
SELECT json_build_object(
    'type', 'Feature',
    'id', g.id,
    'geometry', ST_AsGeoJSON(g.geom, %(digits)s)::json,
    'properties', json_build_object(
        'id', g.id,
        'code', g.code,
        'layer', g.layer,
        'name', g.name,
        'community_code', g.community_code,
        'community_name', c.name,
        'version', g.version,
        'area_km2', round((ST_Area(g.geom::geography) / 1e6)::numeric, 4),
        'buildings', coalesce(bstat.n, 0),
        'households', coalesce(bstat.households, 0),
        'residents', coalesce(bstat.residents, 0),
        'heads', coalesce(staff.heads, '[]'::json),
        'full_time_workers', coalesce(staff.full_time, '[]'::json),
        'part_time_workers', coalesce(staff.part_time, '[]'::json),
        'branches', coalesce(branch.names, '[]'::json)
    )
) AS feature, g.layer || g.code AS sort_key
FROM g
LEFT JOIN regions c ON c.code = g.community_code
LEFT JOIN bstat ON bstat.id = g.id
LEFT JOIN staff ON staff.id = g.id
LEFT JOIN branch ON branch.id = g.id
"""


def grids(conn: Connection, *, region: str | None = None,
          bbox: str | Sequence[float] | None = None) -> FeatureCollection:
    """Grids (网格) of both layers with what is attached to them.

    A party grid (党建网格) and the governance grid (综治网格) with the same code are one grid
    in the seeds' sense, so each shows the staff and branches attached to either of the two.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit code of a region; only grids of communities in it.
    bbox : str or sequence of 4 floats, optional
        ``minx,miny,maxx,maxy`` in EPSG:4326; only features intersecting it.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection, one feature per row of ``grids``. Properties: ``id``,
        ``code``, ``layer`` (party / governance), ``name``, ``community_code``,
        ``community_name``, ``version``, ``area_km2``, ``buildings``, ``households``,
        ``residents`` (a governance grid counts the buildings assigned to it, a party grid the
        buildings standing in it), ``heads`` (网格长), ``full_time_workers`` and
        ``part_time_workers`` (网格员), ``branches`` (the grid's party branch names).

    Raises
    ------
    ValueError
        If ``region`` or ``bbox`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    params = _prepare(conn, region, bbox)
    params.update(digits=_DIGITS)
    return _fetch_json(conn, _collection(_GRIDS_SQL), params)


# --- buildings -----------------------------------------------------------------------------------

_BUILDINGS_SQL = _SCOPE + """,
bs AS (
    SELECT b.* FROM buildings b
    WHERE """ + _BUILDING_IN_SCOPE + " AND " + _in_bbox("b.geom") + """
),
orgs AS (
    SELECT o.building_id,
           json_agg(o.name ORDER BY o.id) FILTER (WHERE o.kind = 'building_group') AS groups,
           json_agg(json_build_object('kind', o.kind, 'name', o.name) ORDER BY o.id)
               FILTER (WHERE o.kind <> 'building_group') AS others
    FROM party_orgs o
    WHERE o.building_id IN (SELECT id FROM bs)
    GROUP BY o.building_id
),
resp AS (
    SELECT mb.building_id, json_agg(m.name ORDER BY m.id) AS names
    FROM member_buildings mb JOIN members m ON m.id = mb.member_id
    WHERE mb.building_id IN (SELECT id FROM bs)
    GROUP BY mb.building_id
)
SELECT json_build_object(
    'type', 'Feature',
    'id', bs.id,
    'geometry', ST_AsGeoJSON(bs.geom, %(digits)s)::json,
    'properties', json_build_object(
        'id', bs.id,
        'code', bs.code,
        'name', bs.name,
        'community_code', bs.community_code,
        'grid_id', bs.grid_id,
        'grid_code', g.code,
        'kind', bs.kind,
        'form', bs.form,
        'households', bs.households,
        'residents', bs.residents,
        'migrant_households', bs.migrant_households,
        'floors', bs.floors,
        'is_rental', bs.is_rental,
        'party_groups', coalesce(orgs.groups, '[]'::json),
        'other_orgs', coalesce(orgs.others, '[]'::json),
        'responsible_members', coalesce(resp.names, '[]'::json)
    )
) AS feature, bs.id AS sort_key
FROM bs
LEFT JOIN grids g ON g.id = bs.grid_id
LEFT JOIN orgs ON orgs.building_id = bs.id
LEFT JOIN resp ON resp.building_id = bs.id
"""


def buildings(conn: Connection, *, region: str | None = None,
              bbox: str | Sequence[float] | None = None) -> FeatureCollection:
    """Building footprints (楼栋 / 楼宇) with their party group and responsible members.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit code of a region; buildings of its communities (and buildings without a
        community code standing inside it).
    bbox : str or sequence of 4 floats, optional
        ``minx,miny,maxx,maxy`` in EPSG:4326; only features intersecting it.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection. Properties: ``id``, ``code``, ``name``,
        ``community_code``, ``grid_id``, ``grid_code``, ``kind``, ``form``, ``households``,
        ``residents``, ``migrant_households``, ``floors``, ``is_rental``, ``party_groups``
        (楼栋党小组 names), ``other_orgs`` (other party orgs seated in the building, as
        ``{"kind", "name"}``), ``responsible_members`` (党员责任区: names of the members
        looking after it).

    Raises
    ------
    ValueError
        If ``region`` or ``bbox`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    params = _prepare(conn, region, bbox)
    params.update(digits=_DIGITS)
    return _fetch_json(conn, _collection(_BUILDINGS_SQL), params)


# --- service centres -----------------------------------------------------------------------------

_CENTERS_SQL = _SCOPE + """,
cs AS (
    SELECT c.* FROM service_centers c
    WHERE """ + _CENTER_IN_SCOPE + " AND " + _in_bbox("c.geom") + """
)
SELECT json_build_object(
    'type', 'Feature',
    'id', cs.id,
    'geometry', ST_AsGeoJSON(cs.geom, %(digits)s)::json,
    'properties', json_build_object(
        'id', cs.id,
        'code', cs.code,
        'name', cs.name,
        'level', cs.level,
        'status', cs.status,
        'floor_area_m2', cs.floor_area_m2,
        'region_code', cs.region_code,
        'region_name', r.name,
        'building_id', cs.building_id,
        'radius_m', coalesce(cs.radius_m, CASE cs.level
            WHEN 'street' THEN %(r_street)s
            WHEN 'community' THEN %(r_community)s
            WHEN 'grid' THEN %(r_grid)s
            ELSE %(r_building)s END),
        'radius_is_norm', cs.radius_m IS NULL
    )
) AS feature, cs.id AS sort_key
FROM cs
LEFT JOIN regions r ON r.code = cs.region_code
"""


def service_centers(conn: Connection, *, region: str | None = None,
                    bbox: str | Sequence[float] | None = None,
                    norms: Norms | None = None) -> FeatureCollection:
    """Party-mass service centres and stations (党群服务中心 / 站) with their service radius.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit code of a region; centres coded to it or below it, or standing inside it.
    bbox : str or sequence of 4 floats, optional
        ``minx,miny,maxx,maxy`` in EPSG:4326; only features intersecting it.
    norms : Norms, optional
        Planning norms giving the default radius per level; default: the settings' norms.

    Returns
    -------
    dict
        A GeoJSON FeatureCollection of points. Properties: ``id``, ``code``, ``name``,
        ``level``, ``status``, ``floor_area_m2``, ``region_code``, ``region_name``,
        ``building_id``, ``radius_m`` (the centre's own radius, or the norm of its level) and
        ``radius_is_norm``.

    Raises
    ------
    ValueError
        If ``region`` or ``bbox`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    norms = norms or get_settings().norms
    params = _prepare(conn, region, bbox)
    params.update(digits=_DIGITS, **{f"r_{level}": norms.radius_for_level(level)
                                     for level in ("street", "community", "grid", "building")})
    return _fetch_json(conn, _collection(_CENTERS_SQL), params)


# --- registry and summary ------------------------------------------------------------------------

LAYERS: dict[str, Callable[..., FeatureCollection]] = {
    "streets": streets,
    "communities": communities,
    "grids": grids,
    "buildings": buildings,
    "centers": service_centers,
}
"""Layer name (as used in ``/api/layers/<layer>``) → function returning its FeatureCollection."""


def get_layer(conn: Connection, name: str, *, region: str | None = None,
              bbox: str | Sequence[float] | None = None) -> FeatureCollection:
    """Return the layer called ``name`` (a key of :data:`LAYERS`).

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    name : str
        One of ``streets``, ``communities``, ``grids``, ``buildings``, ``centers``.
    region : str, optional
        12-digit region code to limit the layer to.
    bbox : str or sequence of 4 floats, optional
        ``minx,miny,maxx,maxy`` in EPSG:4326.

    Returns
    -------
    dict
        The GeoJSON FeatureCollection.

    Raises
    ------
    UnknownLayerError
        If there is no layer called ``name``.
    ValueError
        If ``region`` or ``bbox`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    try:
        func = LAYERS[name]
    except KeyError:
        raise UnknownLayerError(
            f"unknown layer {name!r}: choose one of {', '.join(LAYERS)}") from None
    return func(conn, region=region, bbox=bbox)


_SUMMARY_SQL = _SCOPE + """,
-- with no region asked for, name the place: walk down from the single root while there is
-- exactly one child (a city holding one district is shown as that district)
chain AS (
    SELECT r.code, r.name, r.level, 0 AS depth
    FROM regions r
    WHERE %(region)s::text IS NULL AND r.parent_code IS NULL
      AND (SELECT count(*) FROM regions WHERE parent_code IS NULL) = 1
    UNION ALL
    SELECT c.code, c.name, c.level, chain.depth + 1
    FROM chain JOIN regions c ON c.parent_code = chain.code
    WHERE (SELECT count(*) FROM regions x WHERE x.parent_code = chain.code) = 1
),
place AS (
    SELECT code, name, level FROM regions WHERE code = %(region)s
    UNION ALL
    (SELECT code, name, level FROM chain ORDER BY depth DESC LIMIT 1)
),
rg AS (SELECT * FROM regions r WHERE """ + _in_scope("r.code") + """),
g AS (SELECT * FROM grids g WHERE """ + _in_scope("g.community_code") + """),
b AS (SELECT * FROM buildings b WHERE """ + _BUILDING_IN_SCOPE + """),
c AS (SELECT * FROM service_centers c WHERE """ + _CENTER_IN_SCOPE + """),
ext AS (
    SELECT ST_Extent(geom) AS box FROM (
        SELECT geom FROM rg WHERE geom IS NOT NULL
        UNION ALL SELECT geom FROM g
        UNION ALL SELECT geom FROM b
        UNION ALL SELECT geom FROM c
    ) AS everything
)
SELECT json_build_object(
    'region', (SELECT json_build_object('code', code, 'name', name, 'level', level)
               FROM place LIMIT 1),
    'streets', (SELECT count(*) FROM rg WHERE level = 'street'),
    'communities', (SELECT count(*) FROM rg WHERE level = 'community'),
    'grids', json_build_object(
        'governance', (SELECT count(*) FROM g WHERE layer = 'governance'),
        'party', (SELECT count(*) FROM g WHERE layer = 'party')),
    'buildings', (SELECT count(*) FROM b),
    'rental_buildings', (SELECT count(*) FROM b WHERE is_rental),
    'households', (SELECT coalesce(sum(households), 0) FROM b),
    'residents', (SELECT coalesce(sum(residents), 0) FROM b),
    'centers', json_build_object(
        'total', (SELECT count(*) FROM c),
        'existing', (SELECT count(*) FROM c WHERE status = 'existing'),
        'street', (SELECT count(*) FROM c WHERE level = 'street'),
        'community', (SELECT count(*) FROM c WHERE level = 'community'),
        'grid', (SELECT count(*) FROM c WHERE level = 'grid'),
        'building', (SELECT count(*) FROM c WHERE level = 'building')),
    'bbox', (SELECT CASE WHEN box IS NULL THEN NULL
                        ELSE json_build_array(ST_XMin(box), ST_YMin(box),
                                              ST_XMax(box), ST_YMax(box)) END FROM ext)
)
"""


def region_summary(conn: Connection, *, region: str | None = None) -> dict[str, Any]:
    """Counts for a legend or KPI box, and the extent to fit a map to.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit region code; default: the whole database.

    Returns
    -------
    dict
        ``region`` (``{"code", "name", "level"}`` of the region asked for; with no region, the
        place the data covers — the single root walked down while it has one child — or None),
        ``streets``, ``communities``, ``grids`` (``{"governance", "party"}``), ``buildings``,
        ``rental_buildings``, ``households``, ``residents``, ``centers`` (``{"total",
        "existing", "street", "community", "grid", "building"}``) and ``bbox``
        (``[minx, miny, maxx, maxy]`` in EPSG:4326, or None for an empty database).

    Raises
    ------
    ValueError
        If ``region`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    params = _prepare(conn, region, None)
    return _fetch_json(conn, _SUMMARY_SQL, params)

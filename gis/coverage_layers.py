"""Stored coverage gaps as map layers, and the region navigation of the coverage page.

These functions read what :func:`gis.coverage.run_coverage` stored in ``coverage_gaps``: the
gaps as a GeoJSON FeatureCollection (one set-based query, finished in PostGIS like
:mod:`gis.layers`), which grids and buildings each gap concerns (to colour them by status), the
gaps of each grid, the breadcrumb of a region and its children with their gap counts.
:func:`ensure_report` is the one that may write: it runs the engine where nothing is stored yet.

Examples
--------
>>> from gis.db import connection
>>> from gis import coverage_layers
>>> with connection() as conn:                                    # doctest: +SKIP
...     fc = coverage_layers.gap_features(conn, region="530103002004")
...     status = coverage_layers.gap_targets(conn, region="530103002004")
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg2.extensions

from gis.access_store import access_is_fresh
from gis.config import Norms, get_settings
from gis.coverage import GAP_KINDS, CoverageReport, load_report, run_coverage
from gis.layers import RegionNotFoundError, check_digits, check_region_code
from gis.regions import SUBREGIONS_SQL

__all__ = ["GridNotFoundError", "check_grid_code", "child_regions", "computed_at", "ensure_report",
           "gap_features", "gap_targets", "grid_gaps", "region_names", "region_trail"]

Connection = psycopg2.extensions.connection
FeatureCollection = dict[str, Any]

_DIGITS = 7  # ~1 cm, as in gis.layers
_GRID_CODE = re.compile(r"^[0-9]{15}$")


class GridNotFoundError(LookupError):
    """A well-formed grid code that no grid of the region asked for has."""


def check_grid_code(code: str | None) -> str | None:
    """Validate a 15-digit grid code (community code + 3-digit serial).

    Parameters
    ----------
    code : str or None
        The code, e.g. ``"530103002004001"``; None means "no grid".

    Returns
    -------
    str or None
        The code, stripped of surrounding blanks, or None.

    Raises
    ------
    ValueError
        If the code is not exactly 15 digits.
    """
    return check_digits(code, _GRID_CODE, "grid code {!r} is not 15 digits (community code + "
                                          "serial)")

# the region asked for and everything under it (every region when none is asked for)
_SUB = SUBREGIONS_SQL

# same order as gis.coverage.load_report, so the gap table and the layers line up
_GAPS_SQL = _SUB + """
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(x.feature ORDER BY x.ord, x.region_code, x.object_code, x.id),
                         '[]'::json))
FROM (
    SELECT g.id, array_position(%(kinds)s, g.kind) AS ord, g.region_code, g.object_code,
           json_build_object(
               'type', 'Feature',
               'id', g.id,
               'geometry', ST_AsGeoJSON(g.geom, %(digits)s)::json,
               'properties', json_build_object(
                   'id', g.id, 'kind', g.kind, 'severity', g.severity, 'layer', g.layer,
                   'region_code', g.region_code, 'region_name', r.name,
                   'object_type', g.object_type, 'object_id', g.object_id,
                   'object_code', g.object_code, 'explanation', g.explanation,
                   'remedy', g.remedy, 'details', g.details,
                   'computed_at', g.computed_at)
           ) AS feature
    FROM coverage_gaps g
    LEFT JOIN regions r ON r.code = g.region_code
    WHERE g.region_code IN (SELECT code FROM sub)
      AND (%(kind)s::text IS NULL OR g.kind = %(kind)s)
      AND (%(ids)s::bigint[] IS NULL OR g.id = ANY(%(ids)s::bigint[]))
) AS x
"""

# Which grids and buildings a gap concerns. A party grid and the governance grid with the same
# code are one grid in the seeds' sense ("统一、要重合"), so a grid's gap marks both; an overlap
# marks both grids; a unit's gap marks its building; a branch's gap marks its building, or its
# grid when it has no building.
_HITS = """,
gaps AS (SELECT * FROM coverage_gaps WHERE region_code IN (SELECT code FROM sub)),
grid_hit AS (
    SELECT gp.id AS gap_id, gp.object_id AS grid_id FROM gaps gp WHERE gp.object_type = 'grid'
    UNION
    SELECT gp.id, (gp.details ->> 'other_grid_id')::int FROM gaps gp
    WHERE gp.kind = 'grid_overlap' AND gp.details ? 'other_grid_id'
    UNION
    SELECT gp.id, o.grid_id FROM gaps gp JOIN party_orgs o ON o.id = gp.object_id
    WHERE gp.object_type = 'party_org' AND o.building_id IS NULL AND o.grid_id IS NOT NULL
),
building_hit AS (
    SELECT gp.id AS gap_id, gp.object_id AS building_id FROM gaps gp
    WHERE gp.object_type = 'building'
    UNION
    SELECT gp.id, (gp.details ->> 'building_id')::int FROM gaps gp
    WHERE gp.object_type = 'unit' AND gp.details ? 'building_id'
    UNION
    SELECT gp.id, o.building_id FROM gaps gp JOIN party_orgs o ON o.id = gp.object_id
    WHERE gp.object_type = 'party_org' AND o.building_id IS NOT NULL
)"""

_TARGETS_SQL = _SUB + _HITS + """
SELECT 'grid', twin.id, array_agg(DISTINCT h.gap_id ORDER BY h.gap_id)
FROM grid_hit h JOIN grids g ON g.id = h.grid_id JOIN grids twin ON twin.code = g.code
GROUP BY twin.id
UNION ALL
SELECT 'building', h.building_id, array_agg(DISTINCT h.gap_id ORDER BY h.gap_id)
FROM building_hit h WHERE h.building_id IS NOT NULL
GROUP BY h.building_id
"""

# A grid's gaps (by grid code, both layers): those of the grid itself (see above) and those of
# the buildings in it — assigned to the governance grid, or standing in the party grid.
_GRID_GAPS_SQL = _SUB + _HITS + """,
codes AS (
    SELECT g.code, (array_agg(g.name ORDER BY g.layer))[1] AS name  -- governance name first
    FROM grids g WHERE g.community_code IN (SELECT code FROM sub) GROUP BY g.code
),
hit AS (
    SELECT g.code, h.gap_id FROM grid_hit h JOIN grids g ON g.id = h.grid_id
    UNION
    SELECT g.code, h.gap_id FROM building_hit h JOIN buildings b ON b.id = h.building_id
    JOIN grids g ON g.id = b.grid_id
    UNION
    SELECT g.code, h.gap_id FROM building_hit h JOIN buildings b ON b.id = h.building_id
    JOIN grids g ON g.layer = 'party' AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
)
SELECT c.code, c.name,
       coalesce(array_agg(hit.gap_id ORDER BY hit.gap_id) FILTER (WHERE hit.gap_id IS NOT NULL),
                '{}')
FROM codes c LEFT JOIN hit ON hit.code = c.code
GROUP BY c.code, c.name ORDER BY c.code
"""

# whether a community under the region has no stored KPIs yet (coverage never run there)
_COMPUTED_SQL = _SUB + """
SELECT max(k.computed_at) FROM coverage_kpis k WHERE k.region_code IN (SELECT code FROM sub)
"""

_NAMES_SQL = _SUB + """
SELECT r.code, r.name FROM regions r WHERE r.code IN (SELECT code FROM sub) ORDER BY r.code
"""

_TRAIL_SQL = """
WITH RECURSIVE up(code, name, level, parent_code, depth) AS (
    SELECT code, name, level, parent_code, 0 FROM regions WHERE code = %(region)s
    UNION ALL
    SELECT r.code, r.name, r.level, r.parent_code, up.depth + 1
    FROM regions r JOIN up ON r.code = up.parent_code
    WHERE up.depth < 10
)
SELECT code, name, level FROM up ORDER BY depth DESC
"""

_CHILDREN_SQL = """
WITH RECURSIVE kids AS (
    SELECT code, name, level FROM regions WHERE parent_code IS NOT DISTINCT FROM %(region)s
),
tree(root, code) AS (
    SELECT code, code FROM kids
    UNION SELECT tree.root, r.code FROM tree JOIN regions r ON r.parent_code = tree.code
),
counted AS (
    SELECT tree.root, count(g.id) AS gaps
    FROM tree JOIN coverage_gaps g ON g.region_code = tree.code
    GROUP BY tree.root
)
SELECT kids.code, kids.name, kids.level, coalesce(counted.gaps, 0)
FROM kids LEFT JOIN counted ON counted.root = kids.code
ORDER BY kids.code
"""


def _check(conn: Connection, region: str | None) -> str | None:
    """Validate ``region`` and check that it exists."""
    region = check_region_code(region)
    if region is not None:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM regions WHERE code = %s", (region,))
            if cur.fetchone() is None:
                raise RegionNotFoundError(f"region {region} is not in the regions table")
    return region


def gap_features(conn: Connection, *, region: str | None = None, kind: str | None = None,
                 ids: Sequence[int] | None = None) -> FeatureCollection:
    """The stored gaps under ``region`` as a GeoJSON FeatureCollection.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit region code; gaps of the communities under it. Default: every stored gap.
    kind : str, optional
        Only gaps of this kind (one of :data:`gis.coverage.GAP_KINDS`).
    ids : sequence of int, optional
        Only the gaps with these ids (e.g. those of one grid, :func:`grid_gaps`).

    Returns
    -------
    dict
        A FeatureCollection ordered like :func:`gis.coverage.load_report`'s gaps. Each feature's
        ``id`` is the gap's id; its geometry (EPSG:4326) is what the gap is about — the hole,
        the overlap, the grid or the building — or null when the gap has no place (a branch
        with neither building nor grid). Properties: ``id``, ``kind``, ``severity``, ``layer``,
        ``region_code``, ``region_name``, ``object_type``, ``object_id``, ``object_code``,
        ``explanation``, ``remedy``, ``details`` and ``computed_at``.

    Raises
    ------
    ValueError
        If ``region`` is malformed or ``kind`` is not a gap kind.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    region = _check(conn, region)
    if kind is not None and kind not in GAP_KINDS:
        raise ValueError(f"unknown gap kind {kind!r}: choose one of {', '.join(GAP_KINDS)}")
    with conn.cursor() as cur:
        cur.execute(_GAPS_SQL, {"region": region, "kind": kind, "kinds": list(GAP_KINDS),
                                "ids": None if ids is None else [int(i) for i in ids],
                                "digits": _DIGITS})
        return cur.fetchone()[0]


def gap_targets(conn: Connection, *,
                region: str | None = None) -> dict[str, dict[int, list[int]]]:
    """Which grids and buildings the stored gaps under ``region`` concern.

    A grid is concerned by its own gaps and by those of its twin in the other grid layer (same
    code), and by the overlaps it takes part in; a building by its own gaps, by those of the
    units in it and of the branch based in it. Gaps of a whole community (holes) concern
    neither.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit region code; default: every stored gap.

    Returns
    -------
    dict
        ``{"grid": {grid_id: [gap_id, ...]}, "building": {building_id: [gap_id, ...]}}``;
        objects without gaps are absent.

    Raises
    ------
    ValueError
        If ``region`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    region = _check(conn, region)
    out: dict[str, dict[int, list[int]]] = {"grid": {}, "building": {}}
    with conn.cursor() as cur:
        cur.execute(_TARGETS_SQL, {"region": region})
        for object_type, object_id, gap_ids in cur.fetchall():
            out[object_type][object_id] = list(gap_ids)
    return out


def region_trail(conn: Connection, region: str) -> list[dict[str, str]]:
    """The breadcrumb of ``region``: its ancestors from the root down, then itself.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str
        12-digit region code.

    Returns
    -------
    list of dict
        ``{"code", "name", "level"}`` from the top (city or district) to ``region``.

    Raises
    ------
    ValueError
        If ``region`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    region = _check(conn, region)
    with conn.cursor() as cur:
        cur.execute(_TRAIL_SQL, {"region": region})
        return [{"code": c, "name": n, "level": lv} for c, n, lv in cur.fetchall()]


def child_regions(conn: Connection, region: str | None) -> list[dict[str, Any]]:
    """The regions directly under ``region``, with the number of stored gaps under each.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str or None
        12-digit region code; None for the top of the tree (regions without a parent).

    Returns
    -------
    list of dict
        ``{"code", "name", "level", "gaps"}`` ordered by code (empty for a community).

    Raises
    ------
    ValueError
        If ``region`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    region = _check(conn, region)
    with conn.cursor() as cur:
        cur.execute(_CHILDREN_SQL, {"region": region})
        return [{"code": c, "name": n, "level": lv, "gaps": int(k)}
                for c, n, lv, k in cur.fetchall()]


def grid_gaps(conn: Connection, *, region: str,
              grid: str | None = None) -> list[dict[str, Any]]:
    """The grids under ``region`` (by code, both layers as one) with the ids of their gaps.

    A grid's gaps are those :func:`gap_targets` marks it with, and those of the buildings in it
    (assigned to the governance grid, or standing in the party grid).

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str
        12-digit region code, normally a community's.
    grid : str, optional
        15-digit grid code: only this grid.

    Returns
    -------
    list of dict
        ``{"code", "name", "gaps": [gap_id, ...]}`` ordered by grid code.

    Raises
    ------
    ValueError
        If ``region`` or ``grid`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    GridNotFoundError
        If ``grid`` is given but is not a grid under ``region``.
    """
    region = _check(conn, region)
    grid = check_grid_code(grid)
    with conn.cursor() as cur:
        cur.execute(_GRID_GAPS_SQL, {"region": region})
        out = [{"code": c, "name": n, "gaps": list(ids)} for c, n, ids in cur.fetchall()]
    if grid is None:
        return out
    out = [g for g in out if g["code"] == grid]
    if not out:
        raise GridNotFoundError(f"grid {grid} is not a grid of region {region}")
    return out


def region_names(conn: Connection, *, region: str | None = None) -> dict[str, str]:
    """Names of ``region`` and of every region under it (all regions when None), by code."""
    region = _check(conn, region)
    with conn.cursor() as cur:
        cur.execute(_NAMES_SQL, {"region": region})
        return dict(cur.fetchall())


def computed_at(conn: Connection, *, region: str | None = None) -> datetime | None:
    """When coverage was last computed under ``region`` (None if never)."""
    region = _check(conn, region)
    with conn.cursor() as cur:
        cur.execute(_COMPUTED_SQL, {"region": region})
        return cur.fetchone()[0]


def ensure_report(conn: Connection, *, region: str | None = None, planned: bool = False,
                  norms: Norms | None = None) -> CoverageReport:
    """The coverage report of ``region`` for one view, recomputed when the stored one differs.

    The view counts the existing centres only, or (``planned``) the planned centres too as
    serving ("with the plan"). The stored results are recomputed
    (:func:`gis.coverage.run_coverage`, in the caller's transaction) when a community under
    ``region`` has none, or has the other view's; for the view with the plan, also when the
    plan may have changed since: the walking access is not current for the planned centres, or
    was recomputed after the coverage (no walking network: always).

    Raises
    ------
    ValueError
        If ``region`` is malformed.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    norms = norms or get_settings().norms
    region = _check(conn, region)
    with conn.cursor() as cur:
        cur.execute(SUBREGIONS_SQL + """
            SELECT count(*) FILTER (WHERE k.region_code IS NULL),
                   coalesce(bool_and(k.planned = %(planned)s), true),
                   min(k.computed_at),
                   (SELECT max(computed_at) FROM access_runs),
                   EXISTS (SELECT 1 FROM walk_edges)
            FROM regions r LEFT JOIN coverage_kpis k ON k.region_code = r.code
            WHERE r.level = 'community' AND r.code IN (SELECT code FROM sub)""",
                    {"region": region, "planned": planned})
        missing, same_view, computed, access_at, network = cur.fetchone()
    current = not missing and same_view
    if current and planned:
        current = (network and access_is_fresh(conn, norms, planned=True)
                   and access_at is not None and computed is not None and computed >= access_at)
    if not current:
        return run_coverage(conn, region=region, norms=norms, planned=planned)
    return load_report(conn, region=region)

"""Grid boundary edits that keep a community tiled: preview, commit, history, restore.

Every edit — reshape, create, split, merge, delete, restore — becomes a list of *changes* (a
grid's new geometry, a new grid, or a grid removed) in one community and one layer, and goes
through the same path:

1. the new geometry is checked (GeoJSON in EPSG:4326, a valid non-empty polygon), snapped to the
   edges of the neighbouring grids and of the community (so no slivers appear), and must lie in
   the community (overhangs below the gap tolerance are trimmed);
2. neighbours of the same layer that it now covers are clipped (and the clipping is reported);
   a neighbour that would vanish is an error — merge instead;
3. the changes are written in a savepoint: versions bumped, history rows written (who, what, the
   geometry after), governance buildings reassigned, and coverage recomputed for the community;
4. a *preview* reports per grid households / residents / buildings before and after, the
   buildings that change grid, holes the edit opens, the clipping and the coverage KPIs before and
   after — then rolls the savepoint back; a *commit* keeps it.

A stale ``version`` raises :class:`VersionConflictError` (HTTP 409) and changes nothing; every other
refusal raises :class:`EditError` naming the field at fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg2.errors
import psycopg2.extensions

from gis.config import Norms, get_settings
from gis.coverage import KPI_SHARES, load_report, run_coverage

__all__ = ["EditError", "EditResult", "VersionConflictError", "copy_to_other_layer",
           "create_grid", "delete_grid",
           "grid_history", "merge_grids", "renumber", "reshape_grid", "restore_grid",
           "split_grid", "suggest_balance_split", "undelete_grid"]

Connection = psycopg2.extensions.connection

# snapping distance to neighbouring edges, degrees (≈ 0.5 m)
SNAP_DEG = 5e-6


class EditError(ValueError):
    """An edit that cannot be made; ``field`` names what is wrong (for a 4xx answer)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class VersionConflictError(EditError):
    """The grid changed since the planner loaded it (HTTP 409)."""


@dataclass
class EditResult:
    """What an edit does (preview) or did (commit)."""

    action: str
    community_code: str
    layer: str
    committed: bool
    grids: list[dict[str, Any]] = field(default_factory=list)
    moved_buildings: list[dict[str, Any]] = field(default_factory=list)
    clipped: list[dict[str, Any]] = field(default_factory=list)
    new_holes: list[dict[str, Any]] = field(default_factory=list)
    detached: list[dict[str, Any]] = field(default_factory=list)
    kpis_before: dict[str, Any] = field(default_factory=dict)
    kpis_after: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dict(self.__dict__)


# --- reading -----------------------------------------------------------------------------------

def _grid(cur, grid_id: int, *, lock: bool = True) -> dict[str, Any]:
    cur.execute("SELECT id, code, layer, community_code, name, version FROM grids WHERE id = %s"
                + (" FOR UPDATE" if lock else ""), (grid_id,))
    row = cur.fetchone()
    if row is None:
        raise EditError("id", f"grid {grid_id} does not exist")
    return dict(zip(("id", "code", "layer", "community_code", "name", "version"), row,
                    strict=True))


def _check_version(grid: dict[str, Any], version: Any) -> None:
    if version is None:
        raise EditError("version", "is required (the version the edit was made on)")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise EditError("version", f"must be an integer, not {version!r}") from None
    if version != grid["version"]:
        raise VersionConflictError(
            "version", f"grid {grid['code']} is at version {grid['version']}, not {version}:"
                       " reload and edit again")


def _geometry_sql(cur, geometry: Any, name: str = "geometry") -> str:
    """Check a GeoJSON polygon and return it as hex EWKB (EPSG:4326, MultiPolygon)."""
    if isinstance(geometry, str):
        try:
            geometry = json.loads(geometry)
        except ValueError:
            raise EditError(name, "is not JSON") from None
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise EditError(name, "must be a GeoJSON geometry object")
    crs = geometry.get("crs")
    if crs is not None:
        crs_name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) \
            else str(crs)
        if not crs_name.upper().endswith(("4326", "CRS84")):
            raise EditError(name, f"must be in EPSG:4326 (longitude/latitude), not {crs_name}")
    if geometry["type"] not in ("Polygon", "MultiPolygon"):
        raise EditError(name, f"must be a Polygon or MultiPolygon, not {geometry['type']}")
    try:
        cur.execute("SAVEPOINT geojson")
        cur.execute("""
            SELECT ST_IsEmpty(g), ST_IsValid(g), ST_IsValidReason(g),
                   ST_XMin(g) >= -180 AND ST_XMax(g) <= 180 AND ST_YMin(g) >= -90
                   AND ST_YMax(g) <= 90,
                   encode(ST_AsEWKB(ST_Multi(g)), 'hex')
            FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326) AS g) x""",
                    (json.dumps({k: v for k, v in geometry.items() if k != "crs"}),))
        empty, valid, reason, in_degrees, ewkb = cur.fetchone()
        cur.execute("RELEASE SAVEPOINT geojson")
    except psycopg2.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT geojson")
        raise EditError(name, f"is not a readable GeoJSON geometry "
                              f"({exc.diag.message_primary})") from None
    if empty:
        raise EditError(name, "is empty")
    if not in_degrees:
        raise EditError(name, "coordinates are not longitude/latitude (EPSG:4326)")
    if not valid:
        raise EditError(name, f"is not a valid polygon: {reason}")
    return ewkb


# --- the common path ---------------------------------------------------------------------------

_STATS_SQL = """
SELECT g.id, g.code, g.name, g.version,
       count(b.id), coalesce(sum(b.households), 0), coalesce(sum(b.residents), 0),
       round(ST_Area(g.geom::geography)::numeric, 1)
FROM grids g
LEFT JOIN buildings b ON b.community_code = g.community_code
    AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
WHERE g.id = ANY(%(ids)s)
GROUP BY g.id
"""

_STAND_SQL = """
SELECT b.id, coalesce(b.name, b.code), (
    SELECT g.id FROM grids g WHERE g.layer = %(layer)s AND g.community_code = b.community_code
      AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom)) ORDER BY g.id LIMIT 1)
FROM buildings b
WHERE b.community_code = %(community)s
  AND ST_Intersects(b.geom, ST_GeomFromEWKB(decode(%(area)s, 'hex')))
"""

_HOLES_SQL = """
SELECT coalesce(json_agg(json_build_object(
           'area_m2', round(ST_Area(h.geom::geography)::numeric, 1),
           'geometry', ST_AsGeoJSON(h.geom, 7)::json)), '[]'::json)
FROM (SELECT (ST_Dump(ST_CollectionExtract(ST_Difference(r.geom, coalesce(
          (SELECT ST_Union(g.geom) FROM grids g
           WHERE g.community_code = r.code AND g.layer = %(layer)s),
          'SRID=4326;POLYGON EMPTY'::geometry)), 3))).geom
      FROM regions r WHERE r.code = %(community)s) h
WHERE ST_Area(h.geom::geography) > %(min_area)s
"""


def _stats(cur, ids: list[int]) -> dict[int, dict[str, Any]]:
    cur.execute(_STATS_SQL, {"ids": ids})
    return {r[0]: {"id": r[0], "code": r[1], "name": r[2], "version": r[3], "buildings": r[4],
                   "households": int(r[5]), "residents": int(r[6]), "area_m2": float(r[7])}
            for r in cur.fetchall()}


def _holes(cur, community: str, layer: str, norms: Norms) -> list[dict[str, Any]]:
    cur.execute(_HOLES_SQL, {"community": community, "layer": layer,
                             "min_area": norms.gap_min_area_m2})
    return cur.fetchone()[0]


def _kpis(report) -> dict[str, Any]:
    k = report.kpis
    out = {name: k[name] for name in KPI_SHARES}
    out.update({"gap_counts": {g: n for g, n in k["gap_counts"].items() if n},
                "gaps": len(report.gaps)})
    return out


def _prepare(cur, community: str, layer: str, ewkb: str, *, own: list[int],
             norms: Norms, snap: bool = True) -> str:
    """Snap a new geometry to its neighbours and the community; trim tiny overhangs."""
    cur.execute("""
        WITH g AS (SELECT ST_GeomFromEWKB(decode(%(g)s, 'hex')) AS geom),
        edges AS (
            SELECT ST_Collect(ST_Boundary(x.geom)) AS geom FROM (
                SELECT geom FROM grids WHERE community_code = %(c)s AND layer = %(layer)s
                  AND NOT (id = ANY(%(own)s))
                UNION ALL SELECT geom FROM regions WHERE code = %(c)s) x),
        snapped AS (
            SELECT ST_MakeValid(CASE WHEN e.geom IS NULL OR NOT %(snap)s THEN g.geom
                   ELSE ST_Snap(g.geom, e.geom, %(tol)s) END) AS geom FROM g, edges e)
        SELECT ST_Area(ST_Difference(s.geom, r.geom)::geography),
               encode(ST_AsEWKB(ST_Multi(ST_CollectionExtract(
                   ST_Intersection(s.geom, r.geom), 3))), 'hex'),
               ST_Area(ST_Intersection(s.geom, r.geom)::geography)
        FROM snapped s, regions r WHERE r.code = %(c)s""",
                {"g": ewkb, "c": community, "layer": layer, "own": own, "tol": SNAP_DEG,
                 "snap": snap})
    outside, inside, area = cur.fetchone()
    if outside > norms.gap_min_area_m2:
        raise EditError("geometry", f"{outside:,.0f} m² lie outside community {community}: "
                                    "a grid must stay inside its community")
    if not area or area <= norms.gap_min_area_m2:
        raise EditError("geometry", "has no area inside the community")
    return inside


def _clip_neighbours(cur, community: str, layer: str, ewkb: str, *, own: list[int],
                     norms: Norms) -> list[dict[str, Any]]:
    """Cut the new geometry out of the other grids of the layer; report what each loses."""
    cur.execute("""
        SELECT id, code, ST_Area(ST_Intersection(geom, n.g)::geography),
               ST_Area(ST_Difference(geom, n.g)::geography),
               ST_AsGeoJSON(ST_CollectionExtract(ST_Intersection(geom, n.g), 3), 7)
        FROM grids, (SELECT ST_GeomFromEWKB(decode(%(g)s, 'hex')) AS g) n
        WHERE community_code = %(c)s AND layer = %(layer)s AND NOT (id = ANY(%(own)s))
          AND ST_Intersects(geom, n.g)
          -- interiors meet in an area; measured on the (robust) intersection, since
          -- ST_Relate throws on nearly coincident edges
          AND ST_Area(ST_CollectionExtract(ST_Intersection(geom, n.g), 3)) > 0
        ORDER BY id""", {"g": ewkb, "c": community, "layer": layer, "own": own})
    clipped = []
    for gid, code, lost, left, shape in cur.fetchall():
        if left <= norms.gap_min_area_m2:
            raise EditError("geometry", f"would swallow grid {code} entirely: merge the two "
                                        "grids instead")
        # every overlap is cut, however small; slivers below the gap tolerance go unreported
        clipped.append({"id": gid, "code": code, "area_m2": round(lost, 1),
                        "geometry": json.loads(shape),
                        "reported": lost > norms.gap_min_area_m2})
    for c in clipped:
        cur.execute("""
            UPDATE grids SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(
                ST_Difference(geom, ST_GeomFromEWKB(decode(%(g)s, 'hex')))), 3)),
                version = version + 1, updated_at = now()
            WHERE id = %(id)s""", {"g": ewkb, "id": c["id"]})
    return clipped


def _history(cur, ids: list[int], action: str, user: str) -> None:
    cur.execute("""
        INSERT INTO grid_history (grid_id, version, code, layer, geom, changed_by, action, name,
                                  community_code)
        SELECT id, version, code, layer, geom, %(user)s, %(action)s, name, community_code
        FROM grids WHERE id = ANY(%(ids)s)""", {"ids": ids, "user": user, "action": action})


# Governance buildings belong to the grid holding most of their footprint. ``{scope}`` is a
# condition on ``b`` (buildings). Areas are computed only for footprints that cross grids.
REASSIGN_BUILDINGS_SQL = """
    WITH cand AS (
        SELECT b.id, g.id AS gid, b.geom AS bg, g.geom AS gg,
               count(*) OVER (PARTITION BY b.id) AS n
        FROM buildings b JOIN grids g
          ON g.community_code = b.community_code AND g.layer = 'governance'
         AND ST_Intersects(g.geom, b.geom)
        WHERE {scope}),
    best AS (
        SELECT DISTINCT ON (id) id, gid FROM cand
        ORDER BY id, CASE WHEN n = 1 THEN 0 ELSE -ST_Area(ST_Intersection(gg, bg)) END, gid),
    lost AS (
        UPDATE buildings b SET grid_id = NULL
        WHERE {scope} AND b.grid_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM best
                                                                 WHERE best.id = b.id))
    UPDATE buildings b SET grid_id = best.gid FROM best
    WHERE best.id = b.id AND b.grid_id IS DISTINCT FROM best.gid"""


def _reassign(cur, community: str, layer: str) -> None:
    """Reassign the community's buildings after its governance grids changed."""
    if layer != "governance":
        return
    cur.execute(REASSIGN_BUILDINGS_SQL.format(scope="b.community_code = %(c)s"), {"c": community})


@dataclass
class _Edit:
    action: str
    community: str
    layer: str
    touched: list[int]          # grids whose geometry the edit sets (before it runs)
    area_ewkb: str | None       # where buildings may change grid (None: the whole community)


def _run(conn: Connection, edit: _Edit, apply, *, commit: bool, user: str,
         norms: Norms | None) -> EditResult:
    """Measure, apply (``apply(cur) -> (ids after, clipped, detached)``), measure, keep or undo."""
    norms = norms or get_settings().norms
    result = EditResult(edit.action, edit.community, edit.layer, committed=commit)
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT grid_edit")
        try:
            before_report = load_report(conn, region=edit.community)
            if not before_report.communities:  # coverage never run here: run it now
                before_report = run_coverage(conn, region=edit.community, norms=norms,
                                             refresh_access=False)
            result.kpis_before = _kpis(before_report)
            holes_before = {round(h["area_m2"]) for h in _holes(cur, edit.community, edit.layer,
                                                                norms)}
            stand_area = edit.area_ewkb
            if stand_area is None:
                cur.execute("SELECT encode(ST_AsEWKB(geom), 'hex') FROM regions WHERE code = %s",
                            (edit.community,))
                stand_area = cur.fetchone()[0]
            params = {"layer": edit.layer, "community": edit.community, "area": stand_area}
            cur.execute(_STAND_SQL, params)
            stand_before = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
            cur.execute("SELECT array_agg(id) FROM grids WHERE community_code = %s"
                        " AND layer = %s", (edit.community, edit.layer))
            before = _stats(cur, cur.fetchone()[0] or [])
            ids_after, clipped, detached = apply(cur)
            result.clipped = [{k: v for k, v in c.items() if k != "reported"}
                              for c in clipped if c.get("reported", True)]
            result.detached = detached
            changed = sorted(set(ids_after) | {c["id"] for c in clipped})
            _history(cur, changed, edit.action, user)
            _reassign(cur, edit.community, edit.layer)
            cur.execute(_STAND_SQL, params)
            stand_after = {r[0]: r[2] for r in cur.fetchall()}
            after = _stats(cur, changed)
            for gid in sorted(set(changed) | set(edit.touched)):
                b, a = before.get(gid), after.get(gid)
                result.grids.append({"id": gid, "code": (a or b)["code"],
                                     "before": b, "after": a})
            result.moved_buildings = [
                {"id": bid, "name": name, "from_grid": old, "to_grid": stand_after.get(bid)}
                for bid, (name, old) in sorted(stand_before.items())
                if stand_after.get(bid) != old]
            result.new_holes = [h for h in _holes(cur, edit.community, edit.layer, norms)
                                if round(h["area_m2"]) not in holes_before]
            result.kpis_after = _kpis(run_coverage(conn, region=edit.community, norms=norms,
                                                   refresh_access=False))
            if commit:
                cur.execute("RELEASE SAVEPOINT grid_edit")
            else:
                cur.execute("ROLLBACK TO SAVEPOINT grid_edit")
        except psycopg2.errors.InternalError_ as exc:
            cur.execute("ROLLBACK TO SAVEPOINT grid_edit")
            if "TopologyException" not in str(exc):
                raise
            # GEOS cannot decide on nearly coincident edges; nothing was changed
            raise EditError("geometry", "the new boundary runs too close along a neighbour's "
                                        "edge to be compared reliably; move it slightly and "
                                        "try again") from None
        except BaseException:
            cur.execute("ROLLBACK TO SAVEPOINT grid_edit")
            raise
    return result


def _set_geometry(cur, grid_id: int, ewkb: str) -> None:
    cur.execute("UPDATE grids SET geom = ST_GeomFromEWKB(decode(%s, 'hex')),"
                " version = version + 1, updated_at = now() WHERE id = %s", (ewkb, grid_id))


def _new_name(cur, community: str, layer: str, code: str) -> str:
    """Name a new grid the way its siblings are named (桃源社区第5网格), numbered by its code."""
    serial = int(code[12:])
    cur.execute("SELECT name FROM grids WHERE community_code = %s AND layer = %s"
                " AND name ~ '[0-9]' ORDER BY code LIMIT 1", (community, layer))
    row = cur.fetchone()
    if row is not None:
        match = re.match(r"^(.*?)(\d+)(\D*)$", row[0])
        if match:
            return f"{match.group(1)}{serial}{match.group(3)}"
    return f"第{serial}{'党建' if layer == 'party' else ''}网格"


def _next_code(cur, community: str, layer: str) -> str:
    cur.execute("SELECT coalesce(max(substr(code, 13)::int), 0) + 1 FROM grids"
                " WHERE community_code = %s AND layer = %s", (community, layer))
    serial = cur.fetchone()[0]
    if serial > 999:
        raise EditError("code", f"community {community} has no free grid serial left")
    return f"{community}{serial:03d}"


# --- the operations ----------------------------------------------------------------------------

def reshape_grid(conn: Connection, grid_id: int, geometry: Any, version: Any, *,
                 commit: bool = False, user: str = "gridmap", norms: Norms | None = None,
                 snap: bool = True) -> EditResult:
    """Give a grid a new boundary (dragged vertices); neighbours it now covers are clipped.

    ``snap`` pulls vertices within about 0.5 m onto the neighbours' and the community's edges.
    """
    norms = norms or get_settings().norms
    with conn.cursor() as cur:
        g = _grid(cur, grid_id)
        _check_version(g, version)
        ewkb = _prepare(cur, g["community_code"], g["layer"], _geometry_sql(cur, geometry),
                        own=[grid_id], norms=norms, snap=snap)
    return _replace(conn, g, ewkb, "update", commit=commit, user=user, norms=norms)


def _replace(conn: Connection, g: dict[str, Any], ewkb: str, action: str, *, commit: bool,
             user: str, norms: Norms) -> EditResult:
    """Set grid ``g`` to the (checked) geometry ``ewkb``, clipping what it now covers."""
    grid_id = g["id"]
    with conn.cursor() as cur:
        cur.execute("SELECT encode(ST_AsEWKB(ST_Union(geom, ST_GeomFromEWKB(decode(%s, 'hex'))))"
                    ", 'hex') FROM grids WHERE id = %s", (ewkb, grid_id))
        area = cur.fetchone()[0]

    def apply(cur):
        clipped = _clip_neighbours(cur, g["community_code"], g["layer"], ewkb, own=[grid_id],
                                   norms=norms)
        _set_geometry(cur, grid_id, ewkb)
        return [grid_id], clipped, []

    return _run(conn, _Edit(action, g["community_code"], g["layer"], [grid_id], area), apply,
                commit=commit, user=user, norms=norms)


def create_grid(conn: Connection, community: str, layer: str, geometry: Any, *,
                name: str | None = None, commit: bool = False, user: str = "gridmap",
                norms: Norms | None = None) -> EditResult:
    """Draw a new grid (next code of its community); grids it covers are clipped."""
    norms = norms or get_settings().norms
    if layer not in ("governance", "party"):
        raise EditError("layer", f"must be governance or party, not {layer!r}")
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM regions WHERE code = %s AND level = 'community'",
                    (community,))
        if cur.fetchone() is None:
            raise EditError("community_code", f"{community} is not a community")
        ewkb = _prepare(cur, community, layer, _geometry_sql(cur, geometry), own=[],
                        norms=norms)

    def apply(cur):
        clipped = _clip_neighbours(cur, community, layer, ewkb, own=[], norms=norms)
        code = _next_code(cur, community, layer)
        cur.execute("INSERT INTO grids (code, layer, community_code, name, geom) VALUES"
                    " (%s, %s, %s, %s, ST_GeomFromEWKB(decode(%s, 'hex'))) RETURNING id",
                    (code, layer, community, name or _new_name(cur, community, layer, code),
                     ewkb))
        return [cur.fetchone()[0]], clipped, []

    return _run(conn, _Edit("create", community, layer, [], ewkb), apply, commit=commit,
                user=user, norms=norms)


def split_grid(conn: Connection, grid_id: int, line: Any, version: Any, *,
               commit: bool = False, user: str = "gridmap",
               norms: Norms | None = None) -> EditResult:
    """Cut a grid in two with a drawn line; the new part gets the next code and no staff."""
    norms = norms or get_settings().norms
    if not isinstance(line, dict) or line.get("type") != "LineString":
        raise EditError("line", "must be a GeoJSON LineString")
    with conn.cursor() as cur:
        g = _grid(cur, grid_id)
        _check_version(g, version)
        cur.execute("SAVEPOINT split_line")
        try:
            cur.execute("""
                SELECT encode(ST_AsEWKB(p.geom), 'hex'), ST_Area(p.geom::geography)
                FROM grids g, LATERAL (SELECT (ST_Dump(ST_Split(g.geom,
                    ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326)))).geom) p
                WHERE g.id = %s ORDER BY ST_Area(p.geom::geography) DESC""",
                        (json.dumps(line), grid_id))
            parts = cur.fetchall()
            cur.execute("RELEASE SAVEPOINT split_line")
        except psycopg2.Error as exc:
            cur.execute("ROLLBACK TO SAVEPOINT split_line")
            raise EditError("line", f"cannot cut the grid ({exc.diag.message_primary})") from None
    if len(parts) != 2:
        raise EditError("line", f"must cut the grid in exactly two parts, not {len(parts)}: "
                                "draw it across the grid from edge to edge")
    small = [a for _, a in parts if a <= norms.gap_min_area_m2]
    if small:
        raise EditError("line", "leaves a part with no area")
    keep, new = parts[0][0], parts[1][0]

    def apply(cur):
        cur.execute("UPDATE grids SET geom = ST_Multi(ST_GeomFromEWKB(decode(%s, 'hex'))),"
                    " version = version + 1, updated_at = now() WHERE id = %s", (keep, grid_id))
        code = _next_code(cur, g["community_code"], g["layer"])
        cur.execute("INSERT INTO grids (code, layer, community_code, name, geom) VALUES"
                    " (%s, %s, %s, %s, ST_Multi(ST_GeomFromEWKB(decode(%s, 'hex'))))"
                    " RETURNING id",
                    (code, g["layer"], g["community_code"],
                     _new_name(cur, g["community_code"], g["layer"], code), new))
        return [grid_id, cur.fetchone()[0]], [], []

    return _run(conn, _Edit("split", g["community_code"], g["layer"], [grid_id], None), apply,
                commit=commit, user=user, norms=norms)


def merge_grids(conn: Connection, ids: list[int], keep: int, versions: dict | list, *,
                commit: bool = False, user: str = "gridmap",
                norms: Norms | None = None) -> EditResult:
    """Merge adjacent grids into ``keep``; the others' staff and branches are detached."""
    norms = norms or get_settings().norms
    try:
        ids = [int(i) for i in ids]
        keep = int(keep)
    except (TypeError, ValueError):
        raise EditError("ids", "must be grid ids") from None
    if len(set(ids)) < 2:
        raise EditError("ids", "name at least two grids to merge")
    if keep not in ids:
        raise EditError("keep", f"grid {keep} is not one of the grids merged")
    if isinstance(versions, list):
        if len(versions) != len(ids):
            raise EditError("versions", "give one version per grid")
        versions = dict(zip(ids, versions, strict=True))
    versions = {int(k): v for k, v in (versions or {}).items()}
    with conn.cursor() as cur:
        grids = [_grid(cur, i) for i in ids]
        for g in grids:
            _check_version(g, versions.get(g["id"]))
        if len({(g["community_code"], g["layer"]) for g in grids}) != 1:
            raise EditError("ids", "grids of different communities or layers cannot merge")
        cur.execute("""
            SELECT ST_NumGeometries(ST_Union(geom)), encode(ST_AsEWKB(ST_Multi(ST_Union(geom))),
                   'hex') FROM grids WHERE id = ANY(%s)""", (ids,))
        parts, union = cur.fetchone()
    if parts != 1:
        raise EditError("ids", "the grids do not touch along an edge: only adjacent grids merge")
    others = [i for i in ids if i != keep]
    g0 = grids[0]

    def apply(cur):
        detached = _detach(cur, others)
        _history_deleted(cur, others, user, detached)
        cur.execute("UPDATE buildings SET grid_id = %s WHERE grid_id = ANY(%s)", (keep, others))
        cur.execute("DELETE FROM grids WHERE id = ANY(%s)", (others,))
        _set_geometry(cur, keep, union)
        return [keep], [], detached

    return _run(conn, _Edit("merge", g0["community_code"], g0["layer"], ids, union), apply,
                commit=commit, user=user, norms=norms)


def _detach(cur, ids: list[int]) -> list[dict[str, Any]]:
    """Cut staff and party organisations loose from grids about to go; say which."""
    cur.execute("""
        SELECT 'staff', id, name, grid_id FROM grid_staff WHERE grid_id = ANY(%(g)s)
        UNION ALL SELECT 'party_org', id, name, grid_id FROM party_orgs WHERE grid_id = ANY(%(g)s)
        ORDER BY 1, 2""", {"g": ids})
    detached = [{"type": t, "id": i, "name": n, "grid_id": g} for t, i, n, g in cur.fetchall()]
    cur.execute("UPDATE grid_staff SET grid_id = NULL WHERE grid_id = ANY(%s)", (ids,))
    cur.execute("UPDATE party_orgs SET grid_id = NULL WHERE grid_id = ANY(%s)", (ids,))
    return detached


def _history_deleted(cur, ids: list[int], user: str, detached: list[dict[str, Any]]) -> None:
    """The last word on a removed grid: a history row with no geometry, and what it held."""
    for gid in ids:
        mine = [{"type": d["type"], "id": d["id"]} for d in detached if d["grid_id"] == gid]
        cur.execute("""
            INSERT INTO grid_history (grid_id, version, code, layer, geom, changed_by, action,
                                      name, community_code, detached)
            SELECT id, version + 1, code, layer, NULL, %s, 'delete', name, community_code, %s
            FROM grids WHERE id = %s""", (user, json.dumps(mine), gid))


def delete_grid(conn: Connection, grid_id: int, version: Any, *, commit: bool = False,
                user: str = "gridmap", norms: Norms | None = None) -> EditResult:
    """Remove a grid (its area becomes a hole until a neighbour takes it)."""
    with conn.cursor() as cur:
        g = _grid(cur, grid_id)
        _check_version(g, version)
        cur.execute("SELECT encode(ST_AsEWKB(geom), 'hex') FROM grids WHERE id = %s",
                    (grid_id,))
        area = cur.fetchone()[0]

    def apply(cur):
        detached = _detach(cur, [grid_id])
        _history_deleted(cur, [grid_id], user, detached)
        cur.execute("DELETE FROM grids WHERE id = %s", (grid_id,))
        return [], [], detached

    return _run(conn, _Edit("delete", g["community_code"], g["layer"], [grid_id], area), apply,
                commit=commit, user=user, norms=norms)


def grid_history(conn: Connection, grid_id: int) -> list[dict[str, Any]]:
    """Every stored version of a grid, newest first (geometry as GeoJSON; None once deleted)."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT version, code, layer, action, changed_by, changed_at,
                   ST_AsGeoJSON(geom, 7)::json
            FROM grid_history WHERE grid_id = %s ORDER BY version DESC""", (grid_id,))
        rows = cur.fetchall()
    if not rows:
        raise EditError("id", f"grid {grid_id} does not exist (it has no history)")
    return [{"version": v, "code": c, "layer": lay, "action": a, "changed_by": who,
             "changed_at": at.isoformat(), "geometry": geom}
            for v, c, lay, a, who, at, geom in rows]


def restore_grid(conn: Connection, grid_id: int, version: Any, *, current_version: Any = None,
                 commit: bool = False, user: str = "gridmap",
                 norms: Norms | None = None) -> EditResult:
    """Bring back a grid's exact geometry of an earlier ``version`` (as a new version).

    Grids that have since taken part of it are clipped back; restoring every grid of a
    community to the same moment brings back that tiling exactly.
    """
    norms = norms or get_settings().norms
    with conn.cursor() as cur:
        cur.execute("SELECT encode(ST_AsEWKB(geom), 'hex') FROM grid_history"
                    " WHERE grid_id = %s AND version = %s", (grid_id, version))
        row = cur.fetchone()
        if row is None or row[0] is None:
            raise EditError("version", f"grid {grid_id} has no stored geometry at version "
                                       f"{version}")
        cur.execute("SELECT 1 FROM grids WHERE id = %s", (grid_id,))
        if cur.fetchone() is None:
            raise EditError("id", f"grid {grid_id} was deleted: draw it again from its history")
        g = _grid(cur, grid_id)
        if current_version is not None:
            _check_version(g, current_version)
    return _replace(conn, g, row[0], "restore", commit=commit, user=user, norms=norms)


def renumber(conn: Connection, community: str, layer: str, *, commit: bool = False,
             user: str = "gridmap", row_m: float = 80.0) -> list[dict[str, str]]:
    """Renumber a community's grids north→south, then west→east within rows of ``row_m``.

    Returns the old and new code of every grid whose code changes; history keeps the old codes.
    """
    if layer not in ("governance", "party"):
        raise EditError("layer", f"must be governance or party, not {layer!r}")
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM regions WHERE code = %s AND level = 'community'",
                    (community,))
        if cur.fetchone() is None:
            raise EditError("community_code", f"{community} is not a community")
        cur.execute("SAVEPOINT renumber")
        cur.execute("""
            SELECT id, code FROM (
                SELECT g.id, g.code, ST_Transform(ST_PointOnSurface(g.geom), 4543) AS p
                FROM grids g WHERE g.community_code = %s AND g.layer = %s) x
            ORDER BY floor(-ST_Y(p) / %s), ST_X(p), id""", (community, layer, row_m))
        rows = cur.fetchall()
        changes = [{"id": gid, "old": old, "new": f"{community}{n + 1:03d}"}
                   for n, (gid, old) in enumerate(rows) if old != f"{community}{n + 1:03d}"]
        if changes:
            # through unused serials first, so the unique (layer, code) never collides
            taken = {int(code[12:]) for _, code in rows} | {int(c["new"][12:]) for c in changes}
            spare = [n for n in range(999, 0, -1) if n not in taken][:len(changes)]
            if len(spare) < len(changes):
                raise EditError("code", f"community {community} has too many grids to renumber")
            for c, n in zip(changes, spare, strict=True):
                cur.execute("UPDATE grids SET code = %s WHERE id = %s",
                            (f"{community}{n:03d}", c["id"]))
            for c in changes:
                cur.execute("UPDATE grids SET code = %s, version = version + 1,"
                            " updated_at = now() WHERE id = %s", (c["new"], c["id"]))
            _history(cur, [c["id"] for c in changes], "renumber", user)
        cur.execute("RELEASE SAVEPOINT renumber" if commit else "ROLLBACK TO SAVEPOINT renumber")
    return changes


def suggest_balance_split(conn: Connection, grid_id: int, *,
                          norms: Norms | None = None) -> dict[str, Any]:
    """Cuts between buildings that bring a grid's parts within the household norm.

    Straight north–south or east–west cuts are tried at every gap between buildings; the first
    cut whose two sides are both within the norm (or, for a grid needing three or more parts,
    whose one side is within it and the rest splits further) is proposed, the balanced ones
    first. The lines go across the grid's extent, ready for :func:`split_grid` (preview first).

    When no cut keeps every part within the norm (560 households: two parts of 280), the most
    even cut is still proposed, and ``outside_norm`` and ``note`` say which parts miss it.

    Returns
    -------
    dict
        ``households`` of the grid, ``parts`` (households of each proposed part), ``lines``
        (GeoJSON LineStrings in EPSG:4326), ``outside_norm`` and, when some part misses the
        norm, a ``note``; no lines when the grid is within the norm or has fewer than two
        buildings apart.
    """
    norms = norms or get_settings().norms
    lo, hi = norms.grid_households_min, norms.grid_households_max
    with conn.cursor() as cur:
        g = _grid(cur, grid_id, lock=False)
        cur.execute("""
            SELECT ST_X(p), ST_Y(p), b.households FROM grids g
            JOIN buildings b ON b.community_code = g.community_code,
            LATERAL (SELECT ST_Transform(ST_PointOnSurface(b.geom), 4543) AS p) x
            WHERE g.id = %s AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))""",
                    (grid_id,))
        pts = np.array(cur.fetchall(), dtype=float).reshape(-1, 3)
        cur.execute("SELECT ST_XMin(e), ST_XMax(e), ST_YMin(e), ST_YMax(e) FROM"
                    " (SELECT ST_Transform(geom, 4543) AS e FROM grids WHERE id = %s) x",
                    (grid_id,))
        box_m = cur.fetchone()
    total = int(pts[:, 2].sum()) if len(pts) else 0
    out: dict[str, Any] = {"id": grid_id, "code": g["code"], "households": total, "parts": [],
                           "lines": [], "outside_norm": []}
    if total <= hi:
        return out
    cuts: list[list[tuple[float, float]]] = []
    parts = _balance(pts, lo, hi, cuts, tuple(box_m))
    if not cuts:
        return out
    lines = cuts
    with conn.cursor() as cur:
        for line in lines:
            cur.execute("SELECT ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_MakeLine("
                        "ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 4543), 4326), 7)",
                        tuple(float(v) for v in (*line[0], *line[1])))
            out["lines"].append(json.loads(cur.fetchone()[0]))
    out["parts"] = parts
    out["outside_norm"] = [p for p in parts if not lo <= p <= hi]
    if out["outside_norm"]:
        out["note"] = (f"没有切法能使每一部分都在 {lo}–{hi} 户之间；按最均衡的切法建议，"
                       f"{len(out['outside_norm'])} 部分仍不合标准")
    return out


def _balance(pts: np.ndarray, lo: int, hi: int, cuts: list, extent: tuple) -> list[int]:
    """Split the points (x, y, households) recursively; record cut lines; return part totals.

    ``extent`` is the (x0, x1, y0, y1) box of the part, so each cut crosses only its part.
    """
    total = int(pts[:, 2].sum())
    if total <= hi or len(pts) < 2:
        return [total]
    best = None
    for axis in (0, 1):
        order = np.argsort(pts[:, axis], kind="stable")
        coord, hh = pts[order, axis], pts[order, 2]
        left = np.cumsum(hh)[:-1]
        gaps = np.flatnonzero(np.diff(coord) > 1.0)  # a real gap between buildings
        for i in gaps:
            a, b = int(left[i]), total - int(left[i])
            ok_a, ok_b = lo <= a <= hi, lo <= b <= hi
            # both within the norm, best balanced; else one side within and the other big
            score = (0 if ok_a and ok_b else 1 if (ok_a and b > hi) or (ok_b and a > hi)
                     else 2, abs(a - b))
            if best is None or score < best[0]:
                best = (score, axis, (coord[i] + coord[i + 1]) / 2, order[:i + 1],
                        order[i + 1:])
    if best is None:
        return [total]
    # no cut keeps a side within the norm (e.g. 560 households: any cut leaves two parts under
    # 300): the most even cut still brings the grid under the maximum
    _, axis, at, first, second = best
    x0, x1, y0, y1 = extent
    if axis == 0:
        cuts.append([(at, y0 - 5), (at, y1 + 5)])
        boxes = (x0, at, y0, y1), (at, x1, y0, y1)
    else:
        cuts.append([(x0 - 5, at), (x1 + 5, at)])
        boxes = (x0, x1, y0, at), (x0, x1, at, y1)
    return (_balance(pts[first], lo, hi, cuts, boxes[0])
            + _balance(pts[second], lo, hi, cuts, boxes[1]))


def copy_to_other_layer(conn: Connection, grid_id: int, *, commit: bool = False,
                        user: str = "gridmap", norms: Norms | None = None) -> EditResult:
    """Make the other layer's grid of the same code coincide with this one (统一、要重合).

    The twin (same code, other layer) takes this grid's exact geometry, clipping its own
    neighbours; without a twin, one is created with this code.
    """
    norms = norms or get_settings().norms
    with conn.cursor() as cur:
        g = _grid(cur, grid_id, lock=False)
        other = "party" if g["layer"] == "governance" else "governance"
        cur.execute("SELECT encode(ST_AsEWKB(geom), 'hex') FROM grids WHERE id = %s",
                    (grid_id,))
        ewkb = cur.fetchone()[0]
        cur.execute("SELECT id FROM grids WHERE layer = %s AND code = %s", (other, g["code"]))
        twin = cur.fetchone()
    if twin is not None:
        with conn.cursor() as cur:
            t = _grid(cur, twin[0])
        return _replace(conn, t, ewkb, "update", commit=commit, user=user, norms=norms)

    def apply(cur):
        clipped = _clip_neighbours(cur, g["community_code"], other, ewkb, own=[], norms=norms)
        cur.execute("INSERT INTO grids (code, layer, community_code, name, geom) VALUES"
                    " (%s, %s, %s, %s, ST_GeomFromEWKB(decode(%s, 'hex'))) RETURNING id",
                    (g["code"], other, g["community_code"], g["name"], ewkb))
        return [cur.fetchone()[0]], clipped, []

    return _run(conn, _Edit("create", g["community_code"], other, [], ewkb), apply,
                commit=commit, user=user, norms=norms)


def undelete_grid(conn: Connection, grid_id: int, *, commit: bool = False,
                  user: str = "gridmap", norms: Norms | None = None) -> EditResult:
    """Bring back a deleted (or merged-away) grid under its own id, code and name.

    Its last geometry comes back (clipping the grids that have taken its place), and the staff
    and party organisations its removal detached are attached again where nobody has
    re-assigned them since.
    """
    norms = norms or get_settings().norms
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM grids WHERE id = %s", (grid_id,))
        if cur.fetchone() is not None:
            raise EditError("id", f"grid {grid_id} is not deleted")
        cur.execute("""
            SELECT d.version, d.code, d.layer, coalesce(d.name, l.name),
                   coalesce(d.community_code, substr(d.code, 1, 12)), d.detached,
                   encode(ST_AsEWKB(l.geom), 'hex')
            FROM grid_history d
            JOIN LATERAL (SELECT name, geom FROM grid_history
                          WHERE grid_id = d.grid_id AND geom IS NOT NULL
                          ORDER BY version DESC LIMIT 1) l ON true
            WHERE d.grid_id = %s AND d.action = 'delete'
            ORDER BY d.version DESC LIMIT 1""", (grid_id,))
        row = cur.fetchone()
        if row is None:
            raise EditError("id", f"grid {grid_id} does not exist (nothing to bring back)")
        version, code, layer, name, community, detached, ewkb = row
        cur.execute("SELECT 1 FROM grids WHERE layer = %s AND code = %s", (layer, code))
        if cur.fetchone() is not None:
            raise EditError("code", f"code {code} is taken by another grid since: renumber "
                                    "or draw the grid again")

    def apply(cur):
        clipped = _clip_neighbours(cur, community, layer, ewkb, own=[], norms=norms)
        cur.execute("""
            INSERT INTO grids (id, code, layer, community_code, name, geom, version)
            VALUES (%s, %s, %s, %s, %s, ST_GeomFromEWKB(decode(%s, 'hex')), %s)""",
                    (grid_id, code, layer, community, name or _new_name(cur, community, layer,
                                                                         code),
                     ewkb, version + 1))
        for item in detached or []:
            table = "grid_staff" if item["type"] == "staff" else "party_orgs"
            cur.execute(f"UPDATE {table} SET grid_id = %s WHERE id = %s AND grid_id IS NULL",
                        (grid_id, item["id"]))
        return [grid_id], clipped, []

    return _run(conn, _Edit("restore", community, layer, [], ewkb), apply, commit=commit,
                user=user, norms=norms)

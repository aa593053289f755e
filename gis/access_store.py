"""Walking access on the database: read buildings, centres and network; store and report results.

:func:`run_access` computes (with :mod:`gis.access`) and replaces ``building_access``,
``center_access``, ``center_isochrones`` and ``access_kpis``, and records the run in
``access_runs`` with a fingerprint of its inputs, so that :func:`access_is_fresh` can tell
the coverage engine whether stored walking results still describe the data.
:func:`load_access_report` reads the KPIs of a region (sums over its communities).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
import shapely

from gis.access import (
    LEVELS,
    AccessModel,
    AccessResult,
    Centres,
    band_of,
    community_kpis,
    isochrones,
    summarize,
)
from gis.config import Norms, get_settings
from gis.crs import dataset_metric_srid
from gis.network import Network, Snap, copy_query, label_components, load_network
from gis.regions import SUBREGIONS_SQL, RegionNotFoundError, region_header

__all__ = ["AccessReport", "access_is_fresh", "building_access", "ensure_access",
           "ensure_isochrones", "fingerprint", "isochrone_features", "load_access_report",
           "load_centres", "load_model", "region_reports", "run_access"]

Connection = psycopg2.extensions.connection

DETOUR_MIN_STRAIGHT_M = 50.0

# Order-independent and exact: a sum of per-row 64-bit hashes (numeric, so it cannot overflow).
# Float sums would change with the physical row order, and a sum of X coordinates misses moves.
_FINGERPRINT_SQL = """
SELECT
  (SELECT count(*) || ':' || coalesce(sum(hashtextextended(
              id || ':' || level || ':' || coalesce(radius_m::text, '-') || ':'
              || encode(ST_AsBinary(geom), 'hex'), 0)), 0)
   FROM service_centers WHERE status = ANY(%(statuses)s))
  || '|' || (SELECT count(*) || ':' || coalesce(sum(hashtextextended(
              id || ':' || source || ':' || target || ':' || length_m::text || ':'
              || encode(ST_AsBinary(geom), 'hex'), 0)), 0)
             FROM walk_edges)
  || '|' || (SELECT count(*) || ':' || coalesce(sum(hashtextextended(
              id || ':' || residents || ':' || coalesce(community_code, '') || ':'
              || encode(ST_AsBinary(geom), 'hex'), 0)), 0)
             FROM buildings)
"""

_BUILDINGS_SQL = """
SELECT id, community_code, residents, ST_X(p), ST_Y(p)
FROM (SELECT id, community_code, residents,
             ST_Transform(ST_PointOnSurface(geom), %(srid)s) AS p FROM buildings) b
ORDER BY id
"""

_CENTRES_SQL = """
SELECT id, level, coalesce(radius_m::float8, CASE level WHEN 'street' THEN %(r_street)s
           WHEN 'community' THEN %(r_community)s WHEN 'grid' THEN %(r_grid)s
           ELSE %(r_building)s END), ST_X(p), ST_Y(p)
FROM (SELECT *, ST_Transform(geom, %(srid)s) AS p FROM service_centers
      WHERE status = ANY(%(statuses)s)) c
ORDER BY id
"""

_ACCESS_COLUMNS = (
    "building_id", "center_id", "straight_m", "walk_m", "reachable", "edge_id", "snap_m",
    "long_snap", "component", "detour", "walk_band_m", "nearest_straight_center_id",
    "nearest_straight_m", "straight_band_m", "within_radius_walk", "within_radius_straight",
    "level_walk_center_ids", "level_walk_m", "level_straight_center_ids", "level_straight_m")

_KPI_COLUMNS = ("buildings", "residents", "residents_unreachable", "residents_within_radius_walk",
                "residents_within_radius_straight")

_CENTER_SQL = """
INSERT INTO center_access (center_id, edge_id, snap_m, long_snap, component, radius_m,
                           buildings, residents, residents_within_radius)
SELECT c.id, s.edge_id, s.snap_m, s.snap_m > %(flag)s, s.component, s.radius_m,
       count(a.building_id), coalesce(sum(b.residents), 0),
       coalesce(sum(b.residents) FILTER (WHERE a.walk_m <= s.radius_m), 0)
FROM centre_in s JOIN service_centers c ON c.id = s.center_id
LEFT JOIN building_access a ON a.center_id = c.id
LEFT JOIN buildings b ON b.id = a.building_id
GROUP BY c.id, s.edge_id, s.snap_m, s.component, s.radius_m
"""



@dataclass
class AccessReport:
    """Access KPIs of one region (sums over its communities) and the run they come from."""

    region: dict[str, Any]
    kpis: dict[str, Any]
    run: dict[str, Any] | None
    long_snaps: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: region, run, KPIs (with band shares) and flagged snaps."""
        return {"region": self.region, "run": self.run, "kpis": self.kpis,
                "long_snaps": self.long_snaps}


def serving_statuses(planned: bool = False) -> list[str]:
    """The centre statuses that serve residents: existing, and planned ones when asked."""
    return ["existing", "planned"] if planned else ["existing"]


def fingerprint(conn: Connection, norms: Norms, *, planned: bool = False) -> str:
    """A digest of what access results depend on: centres, network, buildings and norms.

    ``planned`` counts planned centres as serving (the planner's "with the plan" view).
    """
    with conn.cursor() as cur:
        cur.execute(_FINGERPRINT_SQL, {"statuses": serving_statuses(planned)})
        text = cur.fetchone()[0]
    norms_text = repr((norms.radius_street_m, norms.radius_community_m, norms.radius_grid_m,
                       norms.radius_building_m, norms.walk_bands_m, norms.snap_flag_m, planned))
    return hashlib.sha1((text + norms_text).encode()).hexdigest()


def access_is_fresh(conn: Connection, norms: Norms | None = None, *,
                    planned: bool = False) -> bool:
    """Whether the stored access results were computed from the data as it is now.

    With ``planned``, whether they were computed counting the planned centres too.
    """
    norms = norms or get_settings().norms
    with conn.cursor() as cur:
        cur.execute("SELECT fingerprint FROM access_runs ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
    return row is not None and row[0] == fingerprint(conn, norms, planned=planned)


def load_centres(conn: Connection, srid: int, norms: Norms, *,
                 planned: bool = False) -> Centres:
    """The serving centres (existing; and planned with ``planned``) with their radius."""
    df = copy_query(conn, _CENTRES_SQL, {
        "srid": srid, "statuses": serving_statuses(planned),
        "r_street": norms.radius_street_m, "r_community": norms.radius_community_m,
        "r_grid": norms.radius_grid_m, "r_building": norms.radius_building_m,
    }, names=["id", "level", "radius", "x", "y"])
    return Centres(df["id"].to_numpy(), df[["x", "y"]].to_numpy(float),
                   df["level"].to_numpy(object), df["radius"].to_numpy(float))


def load_model(conn: Connection, srid: int | None = None) -> tuple[AccessModel, pd.DataFrame]:
    """Load the network and the buildings and snap them: the part a what-if does not redo.

    Returns
    -------
    model : AccessModel
    buildings : DataFrame
        ``id``, ``community_code``, ``residents`` of every building, in the model's order.
    """
    srid = srid or dataset_metric_srid(conn)
    net = load_network(conn, srid)
    b = copy_query(conn, _BUILDINGS_SQL, {"srid": srid},
                   names=["id", "community_code", "residents", "x", "y"])
    b["community_code"] = b["community_code"].astype(str)
    return AccessModel.build(net, b[["x", "y"]].to_numpy(float)), b


def _ids(values: np.ndarray) -> pd.Series:
    """Integer ids with -1 meaning none, as a nullable column (written as NULL)."""
    values = np.asarray(values, dtype=np.int64)
    return pd.Series(values, dtype="Int64").mask(values < 0)


def _pg_array(values: np.ndarray, *, integer: bool) -> pd.Series:
    """Format rows of a 2-D array as PostgreSQL array literals (NULL for -1 / NaN)."""
    cols = []
    for j in range(values.shape[1]):
        col = values[:, j]
        if integer:
            text = pd.Series(col.astype(np.int64)).astype(str).where(col >= 0, "NULL")
        else:
            text = pd.Series(np.round(col, 2)).astype(str).where(~np.isnan(col), "NULL")
        cols.append(text)
    return "{" + cols[0].str.cat(cols[1:], sep=",") + "}"


def _copy_access(cur, model: AccessModel, buildings: pd.DataFrame, result: AccessResult,
                 centres: Centres, components: np.ndarray, norms: Norms) -> None:
    net, snap = model.network, model.snap
    cid = np.where(result.center >= 0, centres.ids[np.maximum(result.center, 0)], -1) \
        if len(centres) else np.full(len(buildings), -1)
    near = np.where(result.nearest_straight >= 0,
                    centres.ids[np.maximum(result.nearest_straight, 0)], -1) \
        if len(centres) else np.full(len(buildings), -1)
    on = snap.edge >= 0
    edge = np.where(on, net.edge_ids[np.maximum(snap.edge, 0)], -1) if len(net.edge_ids) \
        else np.full(len(buildings), -1)
    component = np.where(on, components[net.source[np.maximum(snap.edge, 0)]], -1) \
        if len(net.edge_ids) else np.full(len(buildings), -1)
    # a detour ratio means something only beyond the size of a building (a centre in the
    # building itself is metres away in a straight line and tens of metres via the street)
    with np.errstate(divide="ignore", invalid="ignore"):
        detour = np.where(result.straight_m >= DETOUR_MIN_STRAIGHT_M,
                          result.walk_m / result.straight_m, np.nan)
    level_ids = [np.where(m >= 0, centres.ids[np.maximum(m, 0)], -1) if len(centres) else m
                 for m in (result.level_walk, result.level_straight)]
    df = pd.DataFrame({
        "building_id": buildings["id"].to_numpy(),
        "center_id": _ids(cid),
        "straight_m": result.straight_m,
        "walk_m": result.walk_m,
        "reachable": np.where(result.reachable, "t", "f"),
        "edge_id": _ids(edge),
        "snap_m": np.round(snap.dist_m, 2),
        "long_snap": np.where(snap.dist_m > norms.snap_flag_m, "t", "f"),
        "component": _ids(component),
        "detour": np.round(detour, 3),
        "walk_band_m": band_of(result.walk_m, norms.walk_bands_m),
        "nearest_straight_center_id": _ids(near),
        "nearest_straight_m": result.nearest_straight_m,
        "straight_band_m": band_of(result.nearest_straight_m, norms.walk_bands_m),
        "within_radius_walk": np.where(result.within_radius_walk, "t", "f"),
        "within_radius_straight": np.where(result.within_radius_straight, "t", "f"),
        "level_walk_center_ids": _pg_array(level_ids[0], integer=True),
        "level_walk_m": _pg_array(result.level_walk_m, integer=False),
        "level_straight_center_ids": _pg_array(level_ids[1], integer=True),
        "level_straight_m": _pg_array(result.level_straight_m, integer=False),
    })
    buf = io.StringIO()
    df.to_csv(buf, header=False, index=False, na_rep="")
    buf.seek(0)
    cur.copy_expert(f"COPY building_access ({', '.join(_ACCESS_COLUMNS)}) FROM STDIN "
                    "WITH (FORMAT csv)", buf)


def _store_centres(cur, model: AccessModel, result: AccessResult, centres: Centres,
                   components: np.ndarray, norms: Norms) -> None:
    net, c_snap = model.network, result.centre_snap
    on = c_snap.edge >= 0
    edge = np.maximum(c_snap.edge, 0)
    has_net = len(net.edge_ids) > 0
    df = pd.DataFrame({
        "center_id": centres.ids,
        "edge_id": _ids(np.where(on, net.edge_ids[edge], -1) if has_net else c_snap.edge),
        "snap_m": np.round(c_snap.dist_m, 2),
        "component": _ids(np.where(on, components[net.source[edge]], -1) if has_net
                          else c_snap.edge),
        "radius_m": centres.radius_m,
    })
    cur.execute("CREATE TEMP TABLE centre_in (center_id integer, edge_id bigint,"
                " snap_m float8, component integer, radius_m float8) ON COMMIT DROP")
    buf = io.StringIO()
    df.to_csv(buf, header=False, index=False, na_rep="")
    buf.seek(0)
    cur.copy_expert("COPY centre_in FROM STDIN WITH (FORMAT csv)", buf)
    cur.execute(_CENTER_SQL, {"flag": norms.snap_flag_m})
    cur.execute("DROP TABLE centre_in")


def _store_isochrones(cur, net: Network, centres: Centres, c_snap: Snap, norms: Norms) -> int:
    idx, band, geoms = isochrones(net, centres, c_snap, norms.walk_bands_m,
                                  buffer_m=norms.isochrone_buffer_m)
    if len(idx) == 0:
        return 0
    df = pd.DataFrame({"center_id": centres.ids[idx], "band_m": band,
                       "wkb": shapely.to_wkb(geoms, hex=True)})
    buf = io.StringIO()
    df.to_csv(buf, header=False, index=False)
    buf.seek(0)
    cur.execute("CREATE TEMP TABLE iso_in (center_id integer, band_m float8, wkb text)"
                " ON COMMIT DROP")
    cur.copy_expert("COPY iso_in FROM STDIN WITH (FORMAT csv)", buf)
    cur.execute("""
        INSERT INTO center_isochrones (center_id, band_m, geom)
        SELECT center_id, band_m, ST_Multi(ST_CollectionExtract(ST_MakeValid(
            ST_Transform(ST_SetSRID(ST_GeomFromWKB(decode(wkb, 'hex')), %(srid)s), 4326)), 3))
        FROM iso_in""", {"srid": net.srid})
    cur.execute("DROP TABLE iso_in")
    return len(idx)


def ensure_isochrones(conn: Connection, *, region: str | None = None,
                      norms: Norms | None = None, planned: bool = False) -> int:
    """Compute and store the isochrones of the existing centres of ``region`` that have none.

    A centre is of the region when its ``region_code`` or its position is in it, or when it is
    the nearest centre of some building of the region.

    The access page calls this for the region it shows, so a city-scale run can skip
    isochrones (``run_access(with_isochrones=False)``) and still draw them where looked at.
    Stale access results are recomputed first.

    Returns
    -------
    int
        Polygons stored.
    """
    norms = norms or get_settings().norms
    if not access_is_fresh(conn, norms, planned=planned):
        run_access(conn, norms=norms, with_isochrones=False, planned=planned)
    srid = dataset_metric_srid(conn)
    centres = load_centres(conn, srid, norms, planned=planned)
    with conn.cursor() as cur:
        cur.execute(SUBREGIONS_SQL + """
            SELECT c.id FROM service_centers c
            WHERE c.status = ANY(%(statuses)s)
              AND (%(region)s::text IS NULL OR c.region_code IN (SELECT code FROM sub)
                   OR EXISTS (SELECT 1 FROM regions r JOIN sub USING (code)
                              WHERE r.level = 'community' AND ST_Intersects(r.geom, c.geom))
                   -- or it serves residents of the region from outside
                   OR c.id IN (SELECT a.center_id FROM building_access a
                               JOIN buildings b ON b.id = a.building_id
                               WHERE b.community_code IN (SELECT code FROM sub)))
              AND NOT EXISTS (SELECT 1 FROM center_isochrones i WHERE i.center_id = c.id)""",
                    {"region": region, "statuses": serving_statuses(planned)})
        wanted = np.isin(centres.ids, [r[0] for r in cur.fetchall()])
        if not wanted.any():
            return 0
        net = load_network(conn, srid)
        todo = centres.subset(wanted)
        return _store_isochrones(cur, net, todo, net.snap(todo.xy), norms)


def _store_kpis(cur, buildings: pd.DataFrame, result: AccessResult, norms: Norms) -> None:
    kpis = community_kpis(result, buildings["community_code"].to_numpy(),
                          buildings["residents"].to_numpy(), norms.walk_bands_m)
    cur.execute("SELECT code FROM regions WHERE level = 'community' ORDER BY code")
    kpis = kpis.reindex([r[0] for r in cur.fetchall()], fill_value=0)
    keys = [f"{b:g}" for b in sorted(norms.walk_bands_m)]
    rows = pd.DataFrame({
        "region_code": kpis.index,
        **{c: kpis[c].to_numpy() for c in _KPI_COLUMNS},
        "walk": [json.dumps({k: int(r[f"walk_{k}"]) for k in keys}) for _, r in kpis.iterrows()],
        "straight": [json.dumps({k: int(r[f"straight_{k}"]) for k in keys})
                     for _, r in kpis.iterrows()],
    })
    buf = io.StringIO()
    rows.to_csv(buf, header=False, index=False)
    buf.seek(0)
    cur.copy_expert(f"COPY access_kpis (region_code, {', '.join(_KPI_COLUMNS)}, "
                    "walk_band_residents, straight_band_residents) FROM STDIN WITH (FORMAT csv)",
                    buf)


def run_access(conn: Connection, *, norms: Norms | None = None,
               with_isochrones: bool = True, planned: bool = False) -> AccessReport:
    """Compute walking and straight-line access for every building and store it.

    Parameters
    ----------
    conn : psycopg2 connection
        Open connection; the run happens in the caller's transaction (commit to keep it).
    norms : Norms, optional
        Radii, bands and the snap flag distance; the settings' by default.
    with_isochrones : bool, default True
        Also compute each centre's walking isochrones (the slow part at city scale).
    planned : bool, default False
        Count planned centres as serving too ("with the plan"); the run records it.

    Returns
    -------
    AccessReport
        The KPIs of the whole dataset.
    """
    norms = norms or get_settings().norms
    start = time.perf_counter()
    srid = dataset_metric_srid(conn)
    model, buildings = load_model(conn, srid)
    components = label_components(conn, model.network)
    centres = load_centres(conn, srid, norms, planned=planned)
    result = model.evaluate(centres)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE building_access, center_access, center_isochrones, access_kpis")
        _copy_access(cur, model, buildings, result, centres, components, norms)
        _store_centres(cur, model, result, centres, components, norms)
        if with_isochrones:
            _store_isochrones(cur, model.network, centres, result.centre_snap, norms)
        _store_kpis(cur, buildings, result, norms)
        cur.execute("INSERT INTO access_runs (fingerprint, buildings, centers, edges, seconds,"
                    " planned) VALUES (%s, %s, %s, %s, %s, %s)",
                    (fingerprint(conn, norms, planned=planned), len(buildings), len(centres),
                     len(model.network.edge_ids), time.perf_counter() - start, planned))
    return load_access_report(conn, norms=norms)


def load_access_report(conn: Connection, *, region: str | None = None,
                       norms: Norms | None = None) -> AccessReport:
    """Read the stored access KPIs of ``region`` (every community when None).

    Raises
    ------
    LookupError
        If ``region`` is not in the ``regions`` table.
    """
    norms = norms or get_settings().norms
    region_row = region_header(conn, region)
    code = region_row["code"]
    with conn.cursor() as cur:
        cur.execute(SUBREGIONS_SQL + """
            SELECT coalesce(sum(buildings), 0), coalesce(sum(residents), 0),
                   coalesce(sum(residents_unreachable), 0),
                   coalesce(sum(residents_within_radius_walk), 0),
                   coalesce(sum(residents_within_radius_straight), 0),
                   array_agg(walk_band_residents), array_agg(straight_band_residents)
            FROM access_kpis WHERE region_code IN (SELECT code FROM sub)""", {"region": code})
        n_b, res, unreachable, in_walk, in_straight, walk_bands, straight_bands = cur.fetchone()
        cur.execute("SELECT computed_at, buildings, centers, edges, seconds, planned"
                    " FROM access_runs ORDER BY id DESC LIMIT 1")
        run = cur.fetchone()
        cur.execute(SUBREGIONS_SQL + """
            SELECT 'building', a.building_id, coalesce(b.name, b.code),
                   round(a.snap_m::numeric, 1)
            FROM building_access a JOIN buildings b ON b.id = a.building_id WHERE a.long_snap
              AND b.community_code IN (SELECT code FROM sub)
            UNION ALL
            SELECT 'center', c.center_id, s.name, round(c.snap_m::numeric, 1)
            FROM center_access c JOIN service_centers s ON s.id = c.center_id WHERE c.long_snap
            ORDER BY 1, 2""", {"region": code})
        long_snaps = [{"object_type": t, "id": i, "name": n, "snap_m": float(d)}
                      for t, i, n, d in cur.fetchall()]

    total = pd.Series({"buildings": n_b, "residents": res, "residents_unreachable": unreachable,
                       "residents_within_radius_walk": in_walk,
                       "residents_within_radius_straight": in_straight})
    for mode, rows in (("walk", walk_bands), ("straight", straight_bands)):
        for band in sorted(norms.walk_bands_m):
            key = f"{band:g}"
            total[f"{mode}_{key}"] = sum(int((r or {}).get(key, 0)) for r in (rows or []))
    kpis = summarize(total, norms.walk_bands_m)
    kpis["levels"] = list(LEVELS)
    run_info = None if run is None else {
        "computed_at": run[0].isoformat(), "buildings": run[1], "centers": run[2],
        "edges": run[3], "seconds": round(run[4], 3) if run[4] is not None else None,
        "planned": run[5]}
    return AccessReport(region=region_row, kpis=kpis, run=run_info, long_snaps=long_snaps)


def region_reports(conn: Connection, *, region: str | None = None,
                   norms: Norms | None = None) -> list[AccessReport]:
    """Access reports of ``region`` and every region under it (all regions when None)."""
    with conn.cursor() as cur:
        cur.execute(SUBREGIONS_SQL + """
            SELECT code FROM sub ORDER BY code""", {"region": region})
        codes = [r[0] for r in cur.fetchall()]
    if region is not None and not codes:
        raise RegionNotFoundError(f"region {region} is not in the regions table")
    return [load_access_report(conn, region=c, norms=norms) for c in codes]


# --- reads for the maps ---------------------------------------------------------------------------

_BUILDING_ACCESS_SQL = """
SELECT a.building_id, a.center_id, a.walk_m, a.straight_m, a.reachable, a.walk_band_m,
       a.within_radius_walk, a.snap_m, a.long_snap, a.nearest_straight_center_id,
       a.nearest_straight_m
FROM building_access a
WHERE a.building_id = ANY(%(ids)s::int[])
"""

_ISOCHRONES_SQL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
    json_build_object(
        'type', 'Feature',
        'id', i.center_id || ':' || i.band_m,
        'geometry', ST_AsGeoJSON(i.geom, 6)::json,
        'properties', json_build_object('center_id', i.center_id, 'band_m', i.band_m,
                                        'name', c.name, 'level', c.level))
    ORDER BY i.band_m DESC, i.center_id), '[]'::json))
FROM center_isochrones i JOIN service_centers c ON c.id = i.center_id
WHERE %(ids)s::int[] IS NULL OR i.center_id = ANY(%(ids)s::int[])
"""

def building_access(conn: Connection, *, building_ids: Sequence[int]) -> dict[int, dict]:
    """The stored access of some buildings (``building_access`` rows), by building id.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    building_ids : sequence of int
        The buildings wanted; ids without a stored row are left out.

    Returns
    -------
    dict
        Building id → ``{"center_id", "walk_m", "straight_m", "reachable", "walk_band_m",
        "within_radius_walk", "snap_m", "long_snap", "nearest_straight_center_id",
        "nearest_straight_m"}`` (distances in metres, None where there is none).
    """
    keys = ("center_id", "walk_m", "straight_m", "reachable", "walk_band_m",
            "within_radius_walk", "snap_m", "long_snap", "nearest_straight_center_id",
            "nearest_straight_m")
    with conn.cursor() as cur:
        cur.execute(_BUILDING_ACCESS_SQL, {"ids": [int(i) for i in building_ids]})
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in cur.fetchall()}


def isochrone_features(conn: Connection, *,
                       center_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """The stored walking isochrones as a GeoJSON FeatureCollection (largest band first).

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    center_ids : sequence of int, optional
        Only these centres' isochrones; default all.

    Returns
    -------
    dict
        Features with id ``"<center_id>:<band_m>"`` and properties ``center_id``, ``band_m``,
        ``name`` and ``level`` of the centre.
    """
    ids = None if center_ids is None else [int(i) for i in center_ids]
    with conn.cursor() as cur:
        cur.execute(_ISOCHRONES_SQL, {"ids": ids})
        return cur.fetchone()[0]


def ensure_access(conn: Connection, *, region: str | None = None, isochrones: bool = True,
                  norms: Norms | None = None, planned: bool = False) -> bool:
    """Make the stored access results current, computing only what is missing (no SQL here).

    Stale or missing results are recomputed (:func:`gis.access_store.run_access`, without
    isochrones); with ``isochrones``, the isochrones of the centres of ``region`` are then
    computed where they are missing (:func:`gis.access_store.ensure_isochrones`). Everything
    happens in the caller's transaction: commit to keep it.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit code of the region shown; default everything.
    isochrones : bool, default True
        Also make sure the region's centres have their isochrones.
    norms : Norms, optional
        The settings' norms by default.

    Returns
    -------
    bool
        True when access was (re)computed for this call.
    """
    norms = norms or get_settings().norms
    stale = not access_is_fresh(conn, norms, planned=planned)
    if stale:
        run_access(conn, norms=norms, with_isochrones=False, planned=planned)
    if isochrones:
        ensure_isochrones(conn, region=region, norms=norms, planned=planned)
    return stale

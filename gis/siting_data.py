"""Siting problems from the database: demand, candidate sites and sparse walking distances.

Demand is every building with residents, weighted by residents (or households). Sites are the
existing centres (kept open, each with its own radius) followed by candidates from the source
the planner chooses:

- ``candidates``: service centres stored with status ``candidate``;
- ``units``: buildings of units that offer something (``units.resources``, 资源清单);
- ``public``: public buildings and schools;
- ``network``: walking-network nodes, one per ``spacing_m`` square.

Walking distances come from one bounded Dijkstra per chunk of sites on the access engine's graph
(each site a virtual node on its edge), and only pairs within the cutoff are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from gis import siting_scale
from gis.access import AccessModel, virtual_edges
from gis.access_store import load_centres, load_model, serving_statuses
from gis.centers import CenterError, check_new_center, insert_center
from gis.config import Norms, get_settings
from gis.crs import dataset_metric_srid
from gis.network import copy_query
from gis.regions import SUBREGIONS_SQL
from gis.siting import (
    SitingError,
    SitingProblem,
    SitingSolution,
    solve_mclp,
)

__all__ = ["MODELS", "SOURCES", "SitingData", "adopt_sites", "build_problem", "coverage_curve",
           "describe", "for_region", "proposal", "site_radius", "solve",
           "subset_demand", "walking_pairs"]

Connection = psycopg2.extensions.connection
SOURCES = ("candidates", "units", "public", "network")
# GB/T and the seeds: at least 30 m² of centre per 100 households
M2_PER_100_HOUSEHOLDS = 30.0

_CANDIDATE_SQL = {
    "candidates": """
        SELECT 'C' || id, name, ST_X(p), ST_Y(p), floor_area_m2::float8
        FROM (SELECT *, ST_Transform(geom, %(srid)s) AS p FROM service_centers
              WHERE status = 'candidate') c ORDER BY id""",
    "units": """
        SELECT 'B' || b.id, coalesce(b.name, b.code), ST_X(p), ST_Y(p), NULL::float8
        FROM (SELECT *, ST_Transform(ST_PointOnSurface(geom), %(srid)s) AS p FROM buildings) b
        WHERE EXISTS (SELECT 1 FROM units u WHERE u.building_id = b.id
                      AND coalesce(trim(u.resources), '') <> '')
        ORDER BY b.id""",
    "public": """
        SELECT 'B' || id, coalesce(name, code), ST_X(p), ST_Y(p), NULL::float8
        FROM (SELECT *, ST_Transform(ST_PointOnSurface(geom), %(srid)s) AS p FROM buildings
              WHERE kind IN ('public', 'school')) b ORDER BY id""",
}


@dataclass
class SitingData:
    """A siting problem and what its rows and columns are.

    Attributes
    ----------
    problem : SitingProblem
    demand : DataFrame
        ``id`` (building), ``community_code``, ``residents``, ``households`` per demand point.
    sites : DataFrame
        ``ref`` (``E<centre id>`` existing, ``C<id>`` candidate centre, ``B<id>`` building,
        ``N<id>`` network node), ``name``, ``x``, ``y`` (metric), ``lon``, ``lat``, ``existing``.
    srid : int
    radius_m : float
        The radius of new sites.
    """

    problem: SitingProblem
    demand: pd.DataFrame
    sites: pd.DataFrame
    srid: int
    radius_m: float


def walking_pairs(model: AccessModel, rows: np.ndarray, sites_xy: np.ndarray, cutoff: float, *,
                  chunk: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walking distances from the buildings at ``rows`` to every site, kept within ``cutoff``.

    Returns
    -------
    demand, site, distance_m : ndarray
        ``demand`` indexes ``rows``; a walk is never shorter than the straight line.
    """
    net = model.network
    snap = model.snap
    c_snap = net.snap(sites_xy)
    out_d, out_s, out_m = [], [], []
    ok = np.flatnonzero(c_snap.edge >= 0)
    if len(ok) == 0 or len(rows) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    graph = net.graph(virtual_edges(net, c_snap, np.zeros(len(sites_xy))),
                      n_extra_nodes=len(sites_xy))
    on = snap.edge[rows] >= 0
    rows, b_index = rows[on], np.flatnonzero(on)
    e = snap.edge[rows]
    u, v, length = net.source[e], net.target[e], net.length_m[e]
    along, gap = snap.along_m[rows], snap.dist_m[rows]
    xy = model.building_xy[rows]
    for first in range(0, len(ok), chunk):
        ids = ok[first:first + chunk]
        dist = dijkstra(graph, directed=True, indices=net.n_nodes + ids, limit=cutoff)
        walk = gap + np.minimum(along + dist[:, u], length - along + dist[:, v])
        # a building on a site's own edge may walk straight along it
        same = e[None, :] == c_snap.edge[ids][:, None]
        if same.any():
            r, c = np.nonzero(same)
            direct = gap[c] + c_snap.dist_m[ids[r]] + np.abs(along[c] - c_snap.along_m[ids[r]])
            walk[r, c] = np.minimum(walk[r, c], direct)
        r, c = np.nonzero(walk <= cutoff)
        straight = np.hypot(*(xy[c] - sites_xy[ids[r]]).T)
        out_d.append(b_index[c])
        out_s.append(ids[r])
        out_m.append(np.maximum(walk[r, c], straight))
    return np.concatenate(out_d), np.concatenate(out_s), np.concatenate(out_m)


def _network_sites(model: AccessModel, spacing_m: float) -> pd.DataFrame:
    """One network node per ``spacing_m`` square (the one nearest the square's centre)."""
    net = model.network
    cell = np.floor(net.xy / spacing_m).astype(np.int64)
    centre = (cell + 0.5) * spacing_m
    off = np.hypot(*(net.xy - centre).T)
    order = np.lexsort((off, cell[:, 1], cell[:, 0]))
    first = np.r_[True, (np.diff(cell[order], axis=0) != 0).any(axis=1)]
    chosen = order[first]
    return pd.DataFrame({"ref": [f"N{i}" for i in net.node_ids[chosen]],
                         "name": [f"路网节点 {i}" for i in net.node_ids[chosen]],
                         "x": net.xy[chosen, 0], "y": net.xy[chosen, 1], "floor_area": np.nan})


def build_problem(conn: Connection, *, source: str = "network", level: str = "grid",
                  radius_m: float | None = None, cutoff_m: float | None = None,
                  weight: str = "residents", capacitated: bool = False,
                  candidate_floor_area_m2: float = 200.0, spacing_m: float = 100.0,
                  planned: bool = False, norms: Norms | None = None) -> SitingData:
    """Assemble a :class:`SitingProblem` from the database.

    Parameters
    ----------
    conn : psycopg2 connection
    source : {"candidates", "units", "public", "network"}
        Where candidate sites come from.
    level : str
        Level of the new centres (``grid`` station by default); sets their radius.
    radius_m : float, optional
        Radius of the new centres (default: the level's norm).
    cutoff_m : float, optional
        Longest walk kept as a pair (never less than the largest radius; p-median may want
        more).
    weight : {"residents", "households"}
    capacitated : bool
        Give every site a capacity from its floor area (30 m² per 100 households; candidates
        without one get ``candidate_floor_area_m2``).
    spacing_m : float
        Network candidates: one node per square of this side.
    planned : bool
        Count planned centres (an adopted plan) as already there, like the existing ones, so a
        new run proposes what the plan still leaves uncovered.

    Raises
    ------
    SitingError
        Unknown source or weight, no walking network, or no candidate sites.
    """
    norms = norms or get_settings().norms
    if source not in SOURCES:
        raise SitingError(f"unknown candidate source {source!r}: use {', '.join(SOURCES)}")
    if weight not in ("residents", "households"):
        raise SitingError("weight must be residents or households")
    radius = float(radius_m or norms.radius_for_level(level))
    srid = dataset_metric_srid(conn)
    model, buildings = load_model(conn, srid)
    if model.network.n_nodes == 0:
        raise SitingError("the database has no walking network (gridmap import network FILE)")
    households = copy_query(conn, "SELECT id, households FROM buildings ORDER BY id",
                            names=["id", "households"])
    buildings = buildings.merge(households, on="id", how="left")
    rows = np.flatnonzero(buildings["residents"].to_numpy() > 0)
    demand = buildings.iloc[rows].reset_index(drop=True)
    existing = load_centres(conn, srid, norms, planned=planned)
    area = copy_query(conn, "SELECT id, name, floor_area_m2::float8 FROM service_centers"
                            " WHERE status = ANY(%(statuses)s) ORDER BY id",
                      {"statuses": serving_statuses(planned)},
                      names=["id", "name", "area"])
    sites = pd.DataFrame({"ref": [f"E{i}" for i in existing.ids], "name": area["name"],
                          "x": existing.xy[:, 0], "y": existing.xy[:, 1],
                          "floor_area": area["area"].to_numpy()})
    if source == "network":
        cand = _network_sites(model, spacing_m)
    else:
        cand = copy_query(conn, _CANDIDATE_SQL[source], {"srid": srid},
                          names=["ref", "name", "x", "y", "floor_area"])
    if cand.empty:
        raise SitingError(f"no candidate sites from source {source!r}")
    sites = pd.concat([sites, cand], ignore_index=True)
    sites["existing"] = np.arange(len(sites)) < len(existing)
    to_ll = Transformer.from_crs(srid, 4326, always_xy=True)
    sites["lon"], sites["lat"] = to_ll.transform(sites["x"].to_numpy(), sites["y"].to_numpy())
    site_radius = np.r_[existing.radius_m, np.full(len(cand), np.nan)]
    # existing centres reach as far as their own radius, whatever the model's cutoff
    cutoff = max(float(cutoff_m or 0.0), radius, float(np.nanmax(site_radius, initial=radius)))
    d, s, m = walking_pairs(model, rows, sites[["x", "y"]].to_numpy(float), cutoff)
    weights = demand[weight].to_numpy(float)
    capacity = None
    if capacitated:
        size = (demand["residents"].sum() / max(demand["households"].sum(), 1))
        floor = sites["floor_area"].fillna(candidate_floor_area_m2).to_numpy(float)
        per_household = 1.0 if weight == "households" else size
        capacity = floor / M2_PER_100_HOUSEHOLDS * 100 * per_household
    problem = SitingProblem.from_pairs(weights=weights, n_existing=len(existing),
                                       n_candidates=len(cand), pairs=(d, s, m),
                                       capacity=capacity, site_radius_m=site_radius)
    return SitingData(problem, demand, sites, srid, radius)


def describe(data: SitingData, solution) -> dict[str, Any]:
    """A JSON-ready account of a solution: sites opened, residents they serve, the gain."""
    p, w = data.problem, data.problem.weights
    before = _covered_by_existing(data)
    served = pd.Series(w[solution.assignment >= 0],
                       index=solution.assignment[solution.assignment >= 0]).groupby(level=0).sum()
    sites = [{"ref": data.sites["ref"].iat[j], "name": data.sites["name"].iat[j],
              "lon": round(float(data.sites["lon"].iat[j]), 7),
              "lat": round(float(data.sites["lat"].iat[j]), 7),
              "existing": bool(data.sites["existing"].iat[j]),
              "served": float(served.get(j, 0.0))} for j in solution.open_sites]
    return {
        "model": solution.model, "radius_m": data.radius_m, "objective": solution.objective,
        "gap": solution.gap, "status": solution.status, "seconds": round(solution.seconds, 3),
        "demand_weight": float(w.sum()), "covered_before": before,
        "covered_after": solution.covered_weight, "new_sites": len(solution.new_sites),
        "closed_sites": [data.sites["ref"].iat[j] for j in solution.closed_sites],
        "unreachable_buildings": [int(data.demand["id"].iat[i]) for i in solution.unreachable],
        "sites": sites, **{k: v for k, v in solution.details.items()},
        "existing": p.n_existing, "candidates": p.n_candidates, "pairs": len(p.demand),
    }


def _covered_by_existing(data: SitingData) -> float:
    p = data.problem
    mask = p.within(data.radius_m) & (p.site < p.n_existing)
    return float(p.weights[np.unique(p.demand[mask])].sum())


# --- the siting page: a region's problem, a model by name, per-building results, the curve, ----
# --- adopting the sites, and the "with the plan" view of coverage ---------------------------------

MODELS = ("lscp", "mclp", "pmedian")
# a planned centre's name: "<community>规划党群服务站<n>" (服务中心 for street and community level)
PLAN_SUFFIX = {"street": "规划党群服务中心", "community": "规划党群服务中心",
               "grid": "规划党群服务站", "building": "规划党群服务站"}


def subset_demand(data: SitingData, keep: np.ndarray) -> SitingData:
    """The problem with only the demand points in ``keep`` (a boolean mask over the demand).

    Existing centres all stay (in their order); candidates that reach none of the kept demand
    within the cutoff are dropped, the others keep their order.
    """
    p = data.problem
    keep = np.asarray(keep, dtype=bool)
    new_row = np.full(len(keep), -1)
    new_row[keep] = np.arange(int(keep.sum()))
    pair = keep[p.demand]
    used = np.zeros(p.n_sites, dtype=bool)
    used[:p.n_existing] = True
    used[p.site[pair]] = True
    new_site = np.cumsum(used) - 1
    problem = SitingProblem.from_pairs(
        weights=p.weights[keep], n_existing=p.n_existing,
        n_candidates=int(used[p.n_existing:].sum()),
        pairs=(new_row[p.demand[pair]], new_site[p.site[pair]], p.distance_m[pair]),
        capacity=None if p.capacity is None else p.capacity[used],
        site_radius_m=None if p.site_radius_m is None else p.site_radius_m[used])
    return SitingData(problem, data.demand[keep].reset_index(drop=True),
                      data.sites[used].reset_index(drop=True), data.srid, data.radius_m)


def for_region(conn: Connection, data: SitingData, region: str | None) -> SitingData:
    """The problem restricted to the residents of ``region`` and the regions under it.

    Candidates anywhere may serve them (a site just across a boundary is a site); those that
    reach none of them are dropped. ``None`` keeps everything.
    """
    if region is None:
        return data
    with conn.cursor() as cur:
        cur.execute(SUBREGIONS_SQL + """
            SELECT b.id FROM buildings b WHERE b.community_code IN (SELECT code FROM sub)""",
                    {"region": region})
        ids = [r[0] for r in cur.fetchall()]
    return subset_demand(data, data.demand["id"].isin(ids).to_numpy())


def solve(data: SitingData, *, model: str, k: int | None = None, allow_close: bool = False,
          time_limit: float = 60.0) -> SitingSolution:
    """Solve ``model`` (``lscp``, ``mclp`` or ``pmedian``) on ``data`` at its radius.

    Raises
    ------
    SitingError
        Unknown model, ``k`` missing for MCLP / p-median, or a question the data cannot answer.
    """
    if model not in MODELS:
        raise SitingError(f"unknown model {model!r}: use {', '.join(MODELS)}")
    if model != "lscp" and k is None:
        raise SitingError(f"model {model} needs k (the number of new sites)")
    # the exact MIP when small, the city-scale method (gis.siting_scale) when large
    return siting_scale.solve(data.problem, model, k=k, radius=data.radius_m,
                              allow_close=allow_close, time_limit=time_limit)


def _nearest(problem: SitingProblem, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each demand point's nearest site among the ``pairs`` mask: site (-1) and metres (NaN)."""
    site = np.full(len(problem.weights), -1)
    metres = np.full(len(problem.weights), np.nan)
    if pairs.any():
        d, s, m = problem.demand[pairs], problem.site[pairs], problem.distance_m[pairs]
        order = np.lexsort((s, m, d))
        first = np.r_[True, d[order][1:] != d[order][:-1]]
        site[d[order][first]] = s[order][first]
        metres[d[order][first]] = m[order][first]
    return site, metres


def site_radius(data: SitingData) -> np.ndarray:
    """Every site's radius: an existing centre's own, the data's radius for candidates."""
    own = data.problem.site_radius_m
    if own is None:
        return np.full(data.problem.n_sites, data.radius_m)
    return np.where(np.isnan(own), data.radius_m, own)


def proposal(data: SitingData, solution: SitingSolution) -> dict[str, Any]:
    """:func:`describe`, plus what the map and the before/after comparison need.

    Coverage here is always "within the service radius of an open site" (whatever the model
    optimised), before (existing centres only) and after (the solution's open sites).

    Returns
    -------
    dict
        Everything :func:`describe` returns, with each site also carrying ``index``,
        ``radius_m``, ``served_within`` (residents within its radius it is nearest to) and
        ``floor_area_m2``; and ``residents_within_before`` / ``residents_within_after``,
        ``residents_beyond_before`` / ``residents_beyond_after``, ``share_within_before`` /
        ``share_within_after``, and ``buildings``: per demand building ``id``, ``residents``,
        ``site`` (ref of the site serving it: the nearest open one covering it, else the nearest
        open one within reach, or with capacities the model's assignment; None), ``walk_m``,
        ``covered`` (within a radius of an open site now), ``covered_before`` (within a
        radius of an existing centre), ``site_before`` and ``walk_before_m`` (the same with
        the existing centres only).
    """
    p, w = data.problem, data.problem.weights
    out = describe(data, solution)
    near = p.within(data.radius_m)
    open_mask = np.zeros(p.n_sites, dtype=bool)
    open_mask[solution.open_sites] = True
    existing = p.site < p.n_existing
    before_site, before_m = _nearest(p, near & existing)
    before_reach, before_reach_m = _nearest(p, existing)
    shown_before = np.where(before_site >= 0, before_site, before_reach)
    walk_before = np.where(before_site >= 0, before_m, before_reach_m)
    covering, covering_m = _nearest(p, near & open_mask[p.site])
    reach, reach_m = _nearest(p, open_mask[p.site])
    # the site shown: the nearest open site covering it, else the nearest open one within
    # reach; with capacities, the site the model assigned it to
    site = np.where(covering >= 0, covering, reach)
    walk = np.where(covering >= 0, covering_m, reach_m)
    chosen = (solution.assignment >= 0) & (solution.assignment != site) \
        & (p.capacity is not None)
    if chosen.any():
        pairs = pd.Series(p.distance_m, index=p.demand.astype(np.int64) * p.n_sites + p.site)
        pairs = pairs[~pairs.index.duplicated()]
        rows = np.flatnonzero(chosen)
        site[rows] = solution.assignment[rows]
        walk[rows] = pairs.reindex(rows * p.n_sites + site[rows]).to_numpy()
    covered = covering >= 0
    refs = data.sites["ref"].to_numpy()
    radius = site_radius(data)
    served_within = pd.Series(w[covered], index=covering[covered]).groupby(level=0).sum()
    index_of = {r: j for j, r in enumerate(refs)}
    area = data.sites["floor_area"].to_numpy(float)
    for s in out["sites"]:
        j = index_of[s["ref"]]
        s.update(index=j, radius_m=float(radius[j]),
                 served_within=float(served_within.get(j, 0.0)),
                 floor_area_m2=None if np.isnan(area[j]) else float(area[j]))
    total = float(w.sum())
    before = float(w[before_site >= 0].sum())
    after = float(w[covered].sum())
    out.update(
        residents_within_before=before, residents_within_after=after,
        residents_beyond_before=total - before, residents_beyond_after=total - after,
        share_within_before=round(before / total, 4) if total else None,
        share_within_after=round(after / total, 4) if total else None,
        buildings=[{"id": int(data.demand["id"].iat[i]), "residents": float(w[i]),
                    "site": None if site[i] < 0 else str(refs[site[i]]),
                    "walk_m": None if np.isnan(walk[i]) else round(float(walk[i]), 1),
                    "covered": bool(covered[i]), "covered_before": bool(before_site[i] >= 0),
                    "site_before": None if shown_before[i] < 0 else str(refs[shown_before[i]]),
                    "walk_before_m": None if np.isnan(walk_before[i])
                    else round(float(walk_before[i]), 1)}
                   for i in range(len(w))],
    )
    return out


def coverage_curve(data: SitingData, ks, *, time_limit: float = 30.0) -> list[dict[str, Any]]:
    """Residents covered by the best ``k`` new sites (MCLP at the data's radius), for each k.

    The planner reads diminishing returns off it: how much the k-th site adds.

    Returns
    -------
    list of dict
        ``k``, ``covered`` (residents within a radius), ``share``, ``gap`` (proven optimality
        gap) and ``seconds`` per k, in the order given.

    Raises
    ------
    SitingError
        If a k is negative or more than the candidates.
    """
    total = float(data.problem.weights.sum())
    out = []
    for k in ks:
        sol = solve_mclp(data.problem, k=int(k), radius=data.radius_m, time_limit=time_limit)
        out.append({"k": int(k), "covered": round(sol.covered_weight, 1),
                    "share": round(sol.covered_weight / total, 4) if total else None,
                    "gap": sol.gap, "seconds": round(sol.seconds, 3)})
    return out


def adopt_sites(conn: Connection, sites, *, level: str,
                radius_m: float | None = None) -> list[dict[str, Any]]:
    """Store proposed sites as planned centres, in the caller's transaction.

    Each new centre is named after the community it stands in, or the nearest one
    (``桃源社区规划党群服务站1``, numbered on from the names the community's centres already
    have) unless a ``name`` is
    given. A site that is a stored candidate centre (ref ``C<id>``) is promoted to planned
    instead of being stored twice.

    Parameters
    ----------
    conn : psycopg2 connection
    sites : sequence of mapping
        ``lon``, ``lat``; optional ``name``, ``ref``, ``floor_area_m2``.
    level : str
        Level of the new centres.
    radius_m : float, optional
        Their own radius (None: the level's norm, stored as NULL).

    Returns
    -------
    list of dict
        The stored centres (see :func:`gis.centers.insert_center`).

    Raises
    ------
    CenterError
        Naming the site and field at fault (``sites[2].lon``); nothing is kept by a caller
        that rolls back.
    """
    if not isinstance(sites, list | tuple) or not sites:
        raise CenterError("sites", "must be a non-empty list of sites")
    checked = []
    for n, site in enumerate(sites):
        where = f"sites[{n}]"
        if not isinstance(site, dict):
            raise CenterError(where, "must be an object with lon and lat")
        unknown = sorted(set(site) - {"lon", "lat", "name", "ref", "floor_area_m2"})
        if unknown:
            raise CenterError(f"{where}.{unknown[0]}", "is not a field of a site "
                                                       "(lon, lat, name, ref, floor_area_m2)")
        payload = {"name": site.get("name") or "-", "level": level, "lon": site.get("lon"),
                   "lat": site.get("lat"), "radius_m": radius_m,
                   "floor_area_m2": site.get("floor_area_m2")}
        try:
            values = check_new_center(payload)
        except CenterError as err:
            field = err.field if err.field != "body" else ""
            raise CenterError(f"{where}.{field}" if field in ("lon", "lat", "name",
                                                             "floor_area_m2") else field,
                              str(err).split(": ", 1)[-1]) from None
        ref = site.get("ref")
        if ref is not None and not isinstance(ref, str):
            raise CenterError(f"{where}.ref", f"must be a text, not {ref!r}")
        checked.append((values, site.get("name"), ref))
    stored = []
    suffix = PLAN_SUFFIX[level]
    with conn.cursor() as cur:
        for values, name, ref in checked:
            if ref and ref[0] == "C" and ref[1:].isdigit():
                cur.execute("""
                    UPDATE service_centers SET status = 'planned', level = %(level)s,
                        radius_m = %(radius_m)s,
                        floor_area_m2 = coalesce(%(floor_area_m2)s, floor_area_m2)
                    WHERE id = %(id)s AND status = 'candidate'
                    RETURNING id, code, name, level, status, radius_m::float8,
                              floor_area_m2::float8, region_code, ST_X(geom), ST_Y(geom)""",
                            {**values, "id": int(ref[1:])})
                row = cur.fetchone()
                if row is not None:
                    keys = ("id", "code", "name", "level", "status", "radius_m",
                            "floor_area_m2", "region_code", "lon", "lat")
                    stored.append(dict(zip(keys, row, strict=True)))
                    continue
            if not name:
                cur.execute("""
                    WITH p AS (SELECT ST_SetSRID(ST_Point(%(lon)s, %(lat)s), 4326) AS geom),
                    c AS (  -- the community it stands in, else the nearest one
                        SELECT r.name FROM regions r, p
                        WHERE r.level = 'community'
                        ORDER BY NOT ST_Intersects(r.geom, p.geom), r.geom <-> p.geom, r.code
                        LIMIT 1)
                    SELECT coalesce((SELECT name FROM c), ''),
                           (SELECT coalesce(max(substring(s.name FROM '[0-9]+$')::int), 0)
                            FROM service_centers s
                            WHERE left(s.name, length(coalesce((SELECT name FROM c), '')
                                                      || %(suffix)s))
                                  = coalesce((SELECT name FROM c), '') || %(suffix)s)""",
                            {"lon": values["lon"], "lat": values["lat"], "suffix": suffix})
                community, taken = cur.fetchone()
                name = f"{community}{suffix}{taken + 1}"
            stored.append(insert_center(conn, {**{k: values[k] for k in (
                "level", "lon", "lat", "radius_m", "floor_area_m2")}, "name": name,
                "status": "planned"}))
    return stored

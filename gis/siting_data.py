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

from gis.access import AccessModel, virtual_edges
from gis.access_store import load_centres, load_model
from gis.config import Norms, get_settings
from gis.crs import dataset_metric_srid
from gis.network import copy_query
from gis.siting import SitingError, SitingProblem

__all__ = ["SOURCES", "SitingData", "build_problem", "walking_pairs"]

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
                  norms: Norms | None = None) -> SitingData:
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
    existing = load_centres(conn, srid, norms)
    area = copy_query(conn, "SELECT id, name, floor_area_m2::float8 FROM service_centers"
                            " WHERE status = 'existing' ORDER BY id",
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

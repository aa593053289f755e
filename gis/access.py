"""Resident-to-centre access: nearest centres by walking and by straight line, and isochrones.

Everything here is in memory and vectorised; :mod:`gis.access_store` reads the inputs from
PostGIS and stores the results. Walking distances come from one multi-source Dijkstra
(``scipy.sparse.csgraph.dijkstra(min_only=True)``) from all centres at once, not one search
per building. Buildings and centres are attached to the network at the nearest point of the
nearest edge; the walk from a building to a centre is

    snap(building) + along the edge to an end node + network path + along the centre's edge
    + snap(centre)

and two points on the same edge may also walk straight along it. Each centre is a virtual node
joined to the two ends of its edge. A building in another network component than every centre
is *unreachable* (NaN distance), never at distance 0.

Examples
--------
>>> model = AccessModel(network, building_xy, snap=network.snap(building_xy))  # doctest: +SKIP
>>> result = model.evaluate(centres)                                            # doctest: +SKIP
>>> result.walk_m[:3], result.center[:3]                                        # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis.network import Network, Snap

__all__ = ["LEVELS", "AccessModel", "AccessResult", "Centres", "band_of", "isochrones",
           "virtual_edges", "walk_to_nearest"]

LEVELS = ("street", "community", "grid", "building")


@dataclass
class Centres:
    """Service centres (arrays, one entry per centre).

    Attributes
    ----------
    ids : ndarray of int
        Database ids (or negative ids for what-if centres not yet stored).
    xy : ndarray, shape (c, 2)
        Metric coordinates.
    level : ndarray of str
        ``street``, ``community``, ``grid`` or ``building``.
    radius_m : ndarray of float
        Service radius of each centre (its own, or its level's norm).
    """

    ids: np.ndarray
    xy: np.ndarray
    level: np.ndarray
    radius_m: np.ndarray

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64)
        self.xy = np.asarray(self.xy, dtype=float).reshape(-1, 2)
        self.level = np.asarray(self.level, dtype=object)
        self.radius_m = np.asarray(self.radius_m, dtype=float)
        bad = sorted(set(self.level) - set(LEVELS))
        if bad:
            raise ValueError(f"unknown centre level(s) {', '.join(map(str, bad))}: "
                             f"use {', '.join(LEVELS)}")

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask: np.ndarray) -> Centres:
        """The centres where ``mask`` is true."""
        return Centres(self.ids[mask], self.xy[mask], self.level[mask], self.radius_m[mask])


@dataclass
class AccessResult:
    """Per-building access (arrays, one entry per building; centre indices into the Centres).

    Attributes
    ----------
    center : ndarray of int
        Nearest centre by walking (-1 when unreachable or no network).
    walk_m : ndarray of float
        Walking distance to it (NaN when unreachable).
    straight_m : ndarray of float
        Straight-line distance to that same centre (NaN when none).
    nearest_straight : ndarray of int
        Nearest centre by straight line (-1 when there are no centres).
    nearest_straight_m : ndarray of float
    within_radius_walk, within_radius_straight : ndarray of bool
        Within the own radius of at least one centre, by walking / by straight line.
    level_walk, level_straight : ndarray of int, shape (b, 4)
        Nearest centre of each level in :data:`LEVELS` order (-1 none).
    level_walk_m, level_straight_m : ndarray of float, shape (b, 4)
    """

    center: np.ndarray
    walk_m: np.ndarray
    straight_m: np.ndarray
    nearest_straight: np.ndarray
    nearest_straight_m: np.ndarray
    within_radius_walk: np.ndarray
    within_radius_straight: np.ndarray
    level_walk: np.ndarray
    level_walk_m: np.ndarray
    level_straight: np.ndarray
    level_straight_m: np.ndarray
    centre_snap: Snap = field(repr=False)

    @property
    def reachable(self) -> np.ndarray:
        """Whether some centre can be walked to."""
        return ~np.isnan(self.walk_m)

    def take(self, rows: np.ndarray) -> AccessResult:
        """The result for the buildings at ``rows`` only."""
        kept = {f: getattr(self, f)[rows] for f in (
            "center", "walk_m", "straight_m", "nearest_straight", "nearest_straight_m",
            "within_radius_walk", "within_radius_straight", "level_walk", "level_walk_m",
            "level_straight", "level_straight_m")}
        return AccessResult(**kept, centre_snap=self.centre_snap)


def band_of(distance_m: np.ndarray, bands_m: tuple[float, ...]) -> np.ndarray:
    """The smallest band holding each distance (NaN beyond the last band or when unknown).

    Examples
    --------
    >>> band_of(np.array([0.0, 300.0, 300.5, 999.0, 1200.0, np.nan]), (300.0, 500.0, 1000.0))
    array([ 300.,  300.,  500., 1000.,   nan,   nan])
    """
    bands = np.asarray(sorted(bands_m), dtype=float)
    d = np.asarray(distance_m, dtype=float)
    i = np.searchsorted(bands, np.nan_to_num(d, nan=np.inf), side="left")
    out = np.full(d.shape, np.nan)
    inside = i < len(bands)
    out[inside] = bands[i[inside]]
    return out


def virtual_edges(net: Network, snap: Snap, offset: np.ndarray) -> tuple[np.ndarray, ...]:
    """Edges from each snapped centre's virtual node to both ends of its edge."""
    ok = np.flatnonzero(snap.edge >= 0)
    e = snap.edge[ok]
    virtual = net.n_nodes + ok
    w_source = snap.dist_m[ok] + snap.along_m[ok] + offset[ok]
    w_target = snap.dist_m[ok] + (net.length_m[e] - snap.along_m[ok]) + offset[ok]
    rows = np.concatenate([virtual, virtual])
    cols = np.concatenate([net.source[e], net.target[e]])
    return rows, cols, np.concatenate([w_source, w_target])


def walk_to_nearest(net: Network, b_snap: Snap, c_snap: Snap, *,
                    offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from every building to its nearest centre, in one Dijkstra.

    Parameters
    ----------
    net : Network
    b_snap, c_snap : Snap
        Where the buildings and the centres meet the network.
    offset : ndarray, optional
        Added to every path from centre *i* (≥ 0). With ``offset = R - radius`` the result
        minus ``R`` is each building's smallest ``walk - radius``, i.e. whether some centre
        reaches it within its own radius.

    Returns
    -------
    distance : ndarray of float
        min over centres of (walk + offset); NaN when no centre is reachable.
    centre : ndarray of int
        The index of that centre, -1 when none.
    """
    n_b, n_c = len(b_snap.edge), len(c_snap.edge)
    dist = np.full(n_b, np.nan)
    centre = np.full(n_b, -1)
    if n_b == 0 or n_c == 0 or net.n_nodes == 0 or not (c_snap.edge >= 0).any():
        return dist, centre
    offset = np.zeros(n_c) if offset is None else np.asarray(offset, dtype=float)
    graph = net.graph(virtual_edges(net, c_snap, offset), n_extra_nodes=n_c)
    sources = net.n_nodes + np.flatnonzero(c_snap.edge >= 0)
    d, _, src = dijkstra(graph, directed=True, indices=sources, min_only=True,
                         return_predecessors=True)
    on = b_snap.edge >= 0
    e = np.where(on, b_snap.edge, 0)
    u, v = net.source[e], net.target[e]
    via_u = b_snap.dist_m + b_snap.along_m + d[u]
    via_v = b_snap.dist_m + (net.length_m[e] - b_snap.along_m) + d[v]
    use_v = via_v < via_u
    best = np.where(use_v, via_v, via_u)
    best_src = np.where(use_v, src[v], src[u])
    # two points on one edge may walk straight along it
    same = _same_edge(b_snap, c_snap, offset, np.flatnonzero(on))
    if same is not None:
        rows, direct, cidx = same
        better = direct < best[rows]
        best[rows[better]] = direct[better]
        best_src[rows[better]] = net.n_nodes + cidx[better]
    found = on & np.isfinite(best) & (best_src >= 0)
    dist[found] = best[found]
    centre[found] = best_src[found] - net.n_nodes
    return dist, centre


def _same_edge(b_snap: Snap, c_snap: Snap, offset: np.ndarray,
               buildings: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """For buildings sharing an edge with centres: the best direct walk along it."""
    centres = np.flatnonzero(c_snap.edge >= 0)
    shared = buildings[np.isin(b_snap.edge[buildings], c_snap.edge[centres])]
    if len(shared) == 0:
        return None
    pairs = pd.DataFrame({"b": shared, "edge": b_snap.edge[shared]}).merge(
        pd.DataFrame({"c": centres, "edge": c_snap.edge[centres]}), on="edge")
    b, c = pairs["b"].to_numpy(), pairs["c"].to_numpy()
    direct = (b_snap.dist_m[b] + c_snap.dist_m[c]
              + np.abs(b_snap.along_m[b] - c_snap.along_m[c]) + offset[c])
    best = pd.DataFrame({"b": b, "c": c, "d": direct}).sort_values(["b", "d", "c"]) \
        .drop_duplicates("b")
    return best["b"].to_numpy(), best["d"].to_numpy(), best["c"].to_numpy()


def _nearest_straight(b_xy: np.ndarray, c_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(c_xy) == 0:
        return np.full(len(b_xy), np.nan), np.full(len(b_xy), -1)
    d, i = cKDTree(c_xy).query(b_xy, k=1, workers=-1)
    return d, i


def _within_radius_straight(b_xy: np.ndarray, centres: Centres) -> np.ndarray:
    inside = np.zeros(len(b_xy), dtype=bool)
    if len(centres) and len(b_xy):
        hits = cKDTree(b_xy).query_ball_point(centres.xy, r=centres.radius_m, workers=-1)
        found = [np.asarray(h, dtype=int) for h in hits if len(h)]
        if found:
            inside[np.concatenate(found)] = True
    return inside


@dataclass
class AccessModel:
    """The buildings and the network, prepared once; evaluate any set of centres against them.

    This is what the what-if map uses: moving a centre re-runs :meth:`evaluate` only
    (a Dijkstra and a few vectorised passes), not the loading or the snapping of buildings.

    Attributes
    ----------
    network : Network
    building_xy : ndarray, shape (b, 2)
        A point on each building's surface (metric).
    snap : Snap
        Where each building meets the network.
    """

    network: Network
    building_xy: np.ndarray
    snap: Snap

    @classmethod
    def build(cls, network: Network, building_xy: np.ndarray) -> AccessModel:
        """Snap the buildings onto the network."""
        xy = np.asarray(building_xy, dtype=float).reshape(-1, 2)
        return cls(network, xy, network.snap(xy))

    def evaluate(self, centres: Centres) -> AccessResult:
        """Nearest centres by walking and straight line, overall and per level, for every building.

        Parameters
        ----------
        centres : Centres
            The centres that serve (normally the existing ones, or a what-if set).

        Returns
        -------
        AccessResult
        """
        net, b_xy, b_snap = self.network, self.building_xy, self.snap
        c_snap = net.snap(centres.xy)
        n_b = len(b_xy)
        walk, centre = walk_to_nearest(net, b_snap, c_snap)
        straight = np.full(n_b, np.nan)
        has = centre >= 0
        straight[has] = np.hypot(*(b_xy[has] - centres.xy[centre[has]]).T)
        # rounding can make a walk along a straight street a hair shorter than the chord
        walk[has] = np.maximum(walk[has], straight[has])
        near_d, near_i = _nearest_straight(b_xy, centres.xy)
        if len(centres):
            big_r = float(centres.radius_m.max())
            slack, _ = walk_to_nearest(net, b_snap, c_snap, offset=big_r - centres.radius_m)
            within_walk = np.nan_to_num(slack - big_r, nan=np.inf) <= 1e-9
        else:
            within_walk = np.zeros(n_b, dtype=bool)
        lw = np.full((n_b, len(LEVELS)), -1)
        lwm = np.full((n_b, len(LEVELS)), np.nan)
        ls = np.full((n_b, len(LEVELS)), -1)
        lsm = np.full((n_b, len(LEVELS)), np.nan)
        for j, level in enumerate(LEVELS):
            idx = np.flatnonzero(centres.level == level)
            if len(idx) == 0:
                continue
            sub_snap = Snap(c_snap.edge[idx], c_snap.along_m[idx], c_snap.dist_m[idx])
            d, c = walk_to_nearest(net, b_snap, sub_snap)
            ok = c >= 0
            lw[ok, j], lwm[ok, j] = idx[c[ok]], d[ok]
            d, c = _nearest_straight(b_xy, centres.xy[idx])
            ls[:, j], lsm[:, j] = idx[c], d
        return AccessResult(
            center=centre, walk_m=walk, straight_m=straight,
            nearest_straight=np.asarray(near_i), nearest_straight_m=np.asarray(near_d),
            within_radius_walk=within_walk,
            within_radius_straight=_within_radius_straight(b_xy, centres),
            level_walk=lw, level_walk_m=lwm, level_straight=ls, level_straight_m=lsm,
            centre_snap=c_snap,
        )


def isochrones(net: Network, centres: Centres, c_snap: Snap, bands_m: tuple[float, ...], *,
               buffer_m: float, chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walking isochrones: the streets each centre reaches within each band, as areas.

    The reached network (whole edges, and the reached ends of partly reached edges) is
    buffered by ``buffer_m`` on each side, and holes are filled. Centres are searched in chunks
    (one bounded Dijkstra per chunk), and each centre's pieces are cut from the edges around
    the nodes it reaches only, so the cost follows the size of the isochrones, not the city.

    Returns
    -------
    centre_index, band_m : ndarray
        Which centre and band each polygon belongs to.
    geometry : ndarray of shapely MultiPolygon
        Metric coordinates; centres off the network are left out.
    """
    bands = np.asarray(sorted(bands_m), dtype=float)
    out_c, out_b, out_g = [], [], []
    ok = np.flatnonzero(c_snap.edge >= 0)
    if len(ok) == 0 or len(bands) == 0:
        return np.zeros(0, int), np.zeros(0), np.zeros(0, dtype=object)
    graph = net.graph(virtual_edges(net, c_snap, np.zeros(len(centres))),
                      n_extra_nodes=len(centres))
    for first in range(0, len(ok), chunk):
        ids = ok[first:first + chunk]
        dist = dijkstra(graph, directed=True, indices=net.n_nodes + ids, limit=bands[-1])
        for row, ci in enumerate(ids):
            d = dist[row, :net.n_nodes]
            own = c_snap.edge[ci]
            local = np.union1d(net.incident_edges(np.flatnonzero(np.isfinite(d))), [own])
            for band in bands:
                pieces = list(_reached_pieces(net, local, d, band))
                # the centre's own edge, from its foot both ways, and the walk to its door
                reach = band - c_snap.dist_m[ci]
                along = c_snap.along_m[ci]
                if reach > 0:
                    pieces.append(_piece(net, own, max(along - reach, 0.0),
                                         min(along + reach, net.length_m[own])))
                foot = shapely.line_interpolate_point(net.lines[own],
                                                      along / net.edge_scale[own])
                pieces.append(shapely.LineString([centres.xy[ci], foot.coords[0]]))
                # two segments per quarter circle: round enough at map scale, 2× faster;
                # buffering the pieces one by one and merging them is the same area and many
                # times faster than buffering them as one multiline on a dense real network
                area = shapely.union_all(shapely.buffer(np.asarray(pieces, dtype=object),
                                                        buffer_m, quad_segs=2))
                out_c.append(ci)
                out_b.append(band)
                out_g.append(_fill_holes(area))
    return np.asarray(out_c), np.asarray(out_b), np.asarray(out_g, dtype=object)


def _piece(net: Network, edge: int, start_m: float, end_m: float):
    """The part of ``edge`` between two distances (routing metres) from its source end."""
    scale = net.edge_scale[edge]
    return shapely.ops.substring(net.lines[edge], start_m / scale, end_m / scale)


def _reached_pieces(net: Network, local: np.ndarray, d: np.ndarray, band: float):
    """Lines of the network reached within ``band``: whole edges and the reached ends."""
    length = net.length_m[local]
    ru, rv = band - d[net.source[local]], band - d[net.target[local]]  # metres left at each end
    # unreached ends have -inf left, which never adds up to an edge
    whole = (ru >= length) | (rv >= length) | ((ru >= 0) & (rv >= 0) & (ru + rv >= length))
    yield from net.lines[local[whole]]
    for e, r in zip(local[~whole & (ru > 0)], ru[~whole & (ru > 0)], strict=True):
        yield _piece(net, e, 0.0, r)
    for e, r in zip(local[~whole & (rv > 0)], rv[~whole & (rv > 0)], strict=True):
        yield _piece(net, e, net.length_m[e] - r, net.length_m[e])


def _fill_holes(area) -> shapely.MultiPolygon:
    parts = shapely.get_parts(area)
    filled = shapely.polygons(shapely.get_exterior_ring(parts))
    return shapely.MultiPolygon(list(shapely.get_parts(shapely.union_all(filled))))


def community_kpis(result: AccessResult, community: np.ndarray, residents: np.ndarray,
                   bands_m: tuple[float, ...]) -> pd.DataFrame:
    """Access figures per community: the one place they are computed (stored and what-if).

    Parameters
    ----------
    result : AccessResult
    community : ndarray of str
        Community code of each building.
    residents : ndarray of int
        Residents of each building.
    bands_m : tuple of float
        Band limits; the band columns count residents whose nearest centre is within each
        (cumulative).

    Returns
    -------
    DataFrame
        Indexed by community code: ``buildings``, ``residents``, ``residents_unreachable``,
        ``residents_within_radius_walk``, ``residents_within_radius_straight``, and
        ``walk_<band>`` / ``straight_<band>`` for each band.
    """
    res = np.asarray(residents, dtype=np.int64)
    cols = {
        "buildings": np.ones(len(res), dtype=np.int64), "residents": res,
        "residents_unreachable": np.where(result.reachable, 0, res),
        "residents_within_radius_walk": np.where(result.within_radius_walk, res, 0),
        "residents_within_radius_straight": np.where(result.within_radius_straight, res, 0),
    }
    for band in sorted(bands_m):
        cols[f"walk_{band:g}"] = np.where(np.nan_to_num(result.walk_m, nan=np.inf) <= band,
                                          res, 0)
        cols[f"straight_{band:g}"] = np.where(
            np.nan_to_num(result.nearest_straight_m, nan=np.inf) <= band, res, 0)
    return pd.DataFrame(cols, index=pd.Index(np.asarray(community), name="code")) \
        .groupby(level=0).sum()


def summarize(kpis: pd.DataFrame | pd.Series, bands_m: tuple[float, ...]) -> dict:
    """Turn summed community figures into the KPI dict of reports (counts and shares)."""
    total = kpis.sum() if isinstance(kpis, pd.DataFrame) else kpis
    res = int(total.get("residents", 0))

    def share(n):
        return round(int(n) / res, 4) if res else None

    keys = [f"{b:g}" for b in sorted(bands_m)]
    walk = {k: int(total.get(f"walk_{k}", 0)) for k in keys}
    straight = {k: int(total.get(f"straight_{k}", 0)) for k in keys}
    return {
        "buildings": int(total.get("buildings", 0)), "residents": res,
        "residents_unreachable": int(total.get("residents_unreachable", 0)),
        "residents_within_radius_walk": int(total.get("residents_within_radius_walk", 0)),
        "residents_within_radius_straight": int(total.get("residents_within_radius_straight",
                                                          0)),
        "share_within_radius_walk": share(total.get("residents_within_radius_walk", 0)),
        "share_within_radius_straight": share(total.get("residents_within_radius_straight", 0)),
        "walk_band_residents": walk, "straight_band_residents": straight,
        "walk_band_shares": {k: share(v) for k, v in walk.items()},
        "straight_band_shares": {k: share(v) for k, v in straight.items()},
    }

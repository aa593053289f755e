"""The walking network in memory: a CSR graph, its segments, and snapping points onto it.

The network lives in ``walk_nodes`` / ``walk_edges`` (EPSG:4326). :func:`load_network` reads it
once into numpy arrays in the dataset's metric CRS; :meth:`Network.snap` attaches points
(buildings, centres) to the nearest point of the nearest edge; :func:`label_components` stores the
connected component of every node.

Examples
--------
>>> from gis.db import connection
>>> with connection() as conn:                                       # doctest: +SKIP
...     net = load_network(conn)
...     snap = net.snap(np.array([[500.0, 200.0]]))
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg2.extensions
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["Network", "Snap", "copy_query", "label_components", "load_network", "node_lines"]

Connection = psycopg2.extensions.connection

# sample spacing along segments for the snapping KD-tree (m), and samples looked at per point
_SAMPLE_M = 25.0
_CANDIDATES = 6


def copy_query(conn: Connection, query: str, params: dict | None = None, *,
               names: list[str]) -> pd.DataFrame:
    """Run ``query`` through ``COPY ... TO STDOUT`` and read the rows as a DataFrame (fast)."""
    with conn.cursor() as cur:
        sql = cur.mogrify(query, params or {}).decode()
        buf = io.StringIO()
        cur.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buf)
    buf.seek(0)
    if not buf.getvalue():
        return pd.DataFrame({n: pd.Series(dtype=float) for n in names})
    return pd.read_csv(buf, header=None, names=names)


@dataclass
class Snap:
    """Where points meet the network (arrays, one entry per point).

    Attributes
    ----------
    edge : ndarray of int
        Index of the nearest edge (into :attr:`Network.edge_ids`), -1 when there is no network.
    along_m : ndarray of float
        Distance along that edge from its source node to the foot of the point.
    dist_m : ndarray of float
        Straight distance from the point to the edge (the walk to the street).
    """

    edge: np.ndarray
    along_m: np.ndarray
    dist_m: np.ndarray


@dataclass
class Network:
    """A walking network in metric coordinates, with both directions of every edge.

    Attributes
    ----------
    srid : int
        EPSG code of the metric CRS of ``xy`` and the segments.
    node_ids : ndarray of int
        Database ids of the nodes; position = node index.
    xy : ndarray, shape (n, 2)
        Node coordinates (m).
    edge_ids, source, target, length_m : ndarray
        Database ids, end-node indices and lengths (m) of the edges.
    seg_edge, seg_a, seg_b, seg_start_m : ndarray
        The straight segments of every edge: its edge index, end points, and the distance along
        the edge's geometry at which it starts.
    edge_scale : ndarray
        Stored length over geometric length of every edge (1 when they agree), so positions
        along an edge are in the same metres as the routing weights.
    lines : ndarray of LineString
        Edge geometries, drawn from source to target.
    """

    srid: int
    node_ids: np.ndarray
    xy: np.ndarray
    edge_ids: np.ndarray
    source: np.ndarray
    target: np.ndarray
    length_m: np.ndarray
    seg_edge: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_start_m: np.ndarray
    edge_scale: np.ndarray
    lines: np.ndarray
    _tree: tuple | None = field(default=None, repr=False)
    _strtree: shapely.STRtree | None = field(default=None, repr=False)
    _incidence: tuple | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    def graph(self, extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
              n_extra_nodes: int = 0) -> csr_matrix:
        """The directed CSR graph: every edge both ways, plus ``extra`` (rows, cols, weights).

        Zero-length edges are stored as a tiny positive weight, since CSR drops explicit zeros.
        """
        rows = [self.source, self.target]
        cols = [self.target, self.source]
        weights = [self.length_m, self.length_m]
        if extra is not None:
            rows.append(extra[0])
            cols.append(extra[1])
            weights.append(extra[2])
        n = self.n_nodes + n_extra_nodes
        w = np.maximum(np.concatenate(weights), 1e-9)
        return csr_matrix((w, (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))

    def snap(self, points: np.ndarray) -> Snap:
        """Attach points to the nearest point of the nearest edge (exactly).

        Segments are sampled every 25 m into a KD-tree; each point's 6 nearest samples name
        candidate segments, onto which it is projected (vectorised). A segment without a
        candidate sample is at least (k-th sample distance − half the spacing) away, so a point
        whose best projection is nearer than that is certainly right; the others look at 24
        samples, and the few still unsure are settled by an exact nearest-segment search
        (shapely's STRtree).

        Parameters
        ----------
        points : ndarray, shape (m, 2)
            Metric coordinates in the network's CRS.

        Returns
        -------
        Snap
        """
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        m = len(points)
        if m == 0 or len(self.seg_edge) == 0:
            return Snap(np.full(m, -1), np.full(m, np.nan), np.full(m, np.nan))
        tree, sample_seg = self._sample_tree()
        seg = np.zeros(m, dtype=np.int64)
        t, dist = np.zeros(m), np.zeros(m)
        unsure = np.arange(m)
        for k in (_CANDIDATES, 4 * _CANDIDATES):  # the few unsure points look further
            k = min(k, len(sample_seg))
            sample_d, idx = tree.query(points[unsure], k=k, workers=-1)
            sample_d, idx = sample_d.reshape(-1, k), idx.reshape(-1, k)
            seg[unsure], t[unsure], dist[unsure] = self._project(points[unsure],
                                                                 sample_seg[idx])
            certain = (dist[unsure] <= sample_d[:, -1] - _SAMPLE_M / 2) | \
                (k == len(sample_seg))
            unsure = unsure[~certain]
            if len(unsure) == 0:
                break
        if len(unsure):
            exact = self._segment_tree().query_nearest(shapely.points(points[unsure]),
                                                       all_matches=False)
            seg[unsure[exact[0]]], t[unsure[exact[0]]], dist[unsure[exact[0]]] = \
                self._project(points[unsure[exact[0]]], exact[1][:, None])
        edge = self.seg_edge[seg]
        seg_len = np.hypot(*(self.seg_b[seg] - self.seg_a[seg]).T)
        along = (self.seg_start_m[seg] + t * seg_len) * self.edge_scale[edge]
        return Snap(edge, np.minimum(along, self.length_m[edge]), dist)

    def _project(self, points: np.ndarray, segs: np.ndarray) -> tuple[np.ndarray, ...]:
        """The nearest of each point's candidate segments: (segment, position 0–1, distance)."""
        ax, ay = self.seg_a[:, 0][segs], self.seg_a[:, 1][segs]
        dx, dy = self.seg_b[:, 0][segs] - ax, self.seg_b[:, 1][segs] - ay
        px, py = points[:, :1] - ax, points[:, 1:] - ay
        len2 = dx * dx + dy * dy
        t = np.clip((px * dx + py * dy) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
        dist = np.hypot(px - t * dx, py - t * dy)
        best = np.argmin(dist, axis=1)
        rows = np.arange(len(points))
        return segs[rows, best], t[rows, best], dist[rows, best]

    def _segment_tree(self) -> shapely.STRtree:
        if self._strtree is None:
            self._strtree = shapely.STRtree(shapely.linestrings(
                np.stack([self.seg_a, self.seg_b], axis=1)))
        return self._strtree

    def _sample_tree(self) -> tuple[cKDTree, np.ndarray]:
        if self._tree is None:
            seg_len = np.hypot(*(self.seg_b - self.seg_a).T)
            n_samples = np.maximum(np.ceil(seg_len / _SAMPLE_M).astype(int), 1) + 1
            sample_seg = np.repeat(np.arange(len(seg_len)), n_samples)
            # position of each sample within its segment, 0 … 1
            first = np.cumsum(n_samples) - n_samples
            step = np.arange(len(sample_seg)) - np.repeat(first, n_samples)
            frac = step / np.repeat(n_samples - 1, n_samples)
            a, b = self.seg_a[sample_seg], self.seg_b[sample_seg]
            samples = a + frac[:, None] * (b - a)
            # sliding-midpoint splits build twice as fast and query as fast here
            self._tree = (cKDTree(samples, balanced_tree=False, compact_nodes=False), sample_seg)
        return self._tree

    def incident_edges(self, nodes: np.ndarray) -> np.ndarray:
        """Indices of the edges touching any of ``nodes`` (each once)."""
        if self._incidence is None:
            ends = np.concatenate([self.source, self.target])
            order = np.argsort(ends, kind="stable")
            first = np.searchsorted(ends[order], np.arange(self.n_nodes + 1))
            self._incidence = (order % len(self.source), first)
        edge_of, first = self._incidence
        nodes = np.asarray(nodes, dtype=np.int64)
        counts = first[nodes + 1] - first[nodes]
        starts = np.repeat(first[nodes], counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.unique(edge_of[starts + offsets])

    def components(self) -> np.ndarray:
        """Connected-component label of every node (0 = the largest component)."""
        if self.n_nodes == 0:
            return np.zeros(0, dtype=int)
        _, labels = connected_components(self.graph(), directed=False)
        # relabel by size, largest first, so labels are stable and meaningful
        sizes = np.bincount(labels)
        order = np.argsort(-sizes, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return rank[labels]

    @classmethod
    def from_edges(cls, srid: int, *, node_ids: np.ndarray, node_xy: np.ndarray,
                   edge_ids: np.ndarray, source_ids: np.ndarray, target_ids: np.ndarray,
                   length_m: np.ndarray | None = None, lines: np.ndarray | None = None) -> Network:
        """Build a network from node and edge arrays.

        Parameters
        ----------
        srid : int
            EPSG code of the metric coordinates.
        node_ids, node_xy : ndarray
            Node ids and coordinates.
        edge_ids, source_ids, target_ids : ndarray
            Edge ids and the ids of their end nodes.
        length_m : ndarray, optional
            Routing length of each edge; default the length of its line.
        lines : ndarray of LineString, optional
            Edge geometries; default straight lines between the end nodes.
        """
        node_ids = np.asarray(node_ids, dtype=np.int64)
        node_xy = np.asarray(node_xy, dtype=float).reshape(-1, 2)
        position = pd.Series(np.arange(len(node_ids)), index=node_ids)
        missing = sorted(set(np.asarray(source_ids).tolist() + np.asarray(target_ids).tolist())
                         - set(node_ids.tolist()))
        if missing:
            raise ValueError(f"edges refer to unknown node ids {missing[:5]}")
        source = position.loc[np.asarray(source_ids)].to_numpy()
        target = position.loc[np.asarray(target_ids)].to_numpy()
        if lines is None:
            lines = shapely.linestrings(np.stack([node_xy[source], node_xy[target]], axis=1)) \
                if len(source) else np.empty(0, dtype=object)
        elif len(source):
            # positions are measured from the source end: draw every line that way
            first = shapely.get_coordinates(shapely.get_point(lines, 0))
            backwards = (np.hypot(*(first - node_xy[target]).T)
                         < np.hypot(*(first - node_xy[source]).T))
            lines = np.where(backwards, shapely.reverse(lines), lines)
        coords, owner = shapely.get_coordinates(lines, return_index=True)
        # consecutive vertices of the same line form a segment
        same = owner[1:] == owner[:-1]
        seg_a, seg_b, seg_edge = coords[:-1][same], coords[1:][same], owner[:-1][same]
        seg_len = np.hypot(*(seg_b - seg_a).T)
        geom_len = np.bincount(seg_edge, weights=seg_len, minlength=len(lines))
        # where each segment starts along its edge's geometry
        before = np.concatenate([[0.0], np.cumsum(seg_len)])
        first_seg = np.searchsorted(seg_edge, np.arange(len(lines)))
        seg_start = before[:-1] - before[first_seg][seg_edge] if len(seg_edge) else np.zeros(0)
        length = geom_len if length_m is None else np.asarray(length_m, dtype=float)
        # positions along an edge are kept in routing metres: scale by stored / drawn length
        scale = np.divide(length, geom_len, out=np.ones_like(length), where=geom_len > 0)
        return cls(srid=srid, node_ids=node_ids, xy=node_xy,
                   edge_ids=np.asarray(edge_ids, dtype=np.int64), source=source, target=target,
                   length_m=length, seg_edge=seg_edge, seg_a=seg_a, seg_b=seg_b,
                   seg_start_m=seg_start, edge_scale=scale, lines=lines)


def load_network(conn: Connection, srid: int) -> Network:
    """Read ``walk_nodes`` and ``walk_edges`` into a :class:`Network` in EPSG ``srid``.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    srid : int
        The metric CRS (see :func:`gis.crs.dataset_metric_srid`).

    Returns
    -------
    Network
        Possibly empty (no nodes) when the database has no walking network.
    """
    nodes = copy_query(conn, """
        SELECT id, ST_X(p), ST_Y(p)
        FROM (SELECT id, ST_Transform(geom, %(srid)s) AS p FROM walk_nodes) n ORDER BY id
    """, {"srid": srid}, names=["id", "x", "y"])
    edges = copy_query(conn, """
        SELECT id, source, target, length_m, encode(ST_AsBinary(ST_Transform(geom, %(srid)s)),
                                                     'hex')
        FROM walk_edges ORDER BY id
    """, {"srid": srid}, names=["id", "source", "target", "length_m", "wkb"])
    lines = shapely.from_wkb(edges["wkb"].to_numpy(dtype=object)) if len(edges) else \
        np.empty(0, dtype=object)
    return Network.from_edges(
        srid, node_ids=nodes["id"].to_numpy(dtype=np.int64),
        node_xy=nodes[["x", "y"]].to_numpy(dtype=float),
        edge_ids=edges["id"].to_numpy(dtype=np.int64),
        source_ids=edges["source"].to_numpy(dtype=np.int64),
        target_ids=edges["target"].to_numpy(dtype=np.int64),
        length_m=edges["length_m"].to_numpy(dtype=float), lines=lines)


def label_components(conn: Connection, net: Network) -> np.ndarray:
    """Store every node's connected component in ``walk_nodes.component``; return the labels."""
    labels = net.components()
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE comp_in (id bigint, component integer) ON COMMIT DROP")
        buf = io.StringIO()
        pd.DataFrame({"id": net.node_ids, "c": labels}).to_csv(buf, header=False, index=False)
        buf.seek(0)
        cur.copy_expert("COPY comp_in FROM STDIN WITH (FORMAT csv)", buf)
        cur.execute("UPDATE walk_nodes n SET component = c.component FROM comp_in c"
                    " WHERE c.id = n.id AND n.component IS DISTINCT FROM c.component")
        cur.execute("DROP TABLE comp_in")
    return labels


def node_lines(lines: np.ndarray, *, precision_m: float = 0.001) -> tuple[np.ndarray, ...]:
    """Split lines at every crossing and shared end into edges between nodes.

    Parameters
    ----------
    lines : ndarray of (Multi)LineString
        Metric geometries (roads, paths), in any order and direction.
    precision_m : float, default 0.001
        Ends closer than this are one node.

    Returns
    -------
    node_xy : ndarray, shape (n, 2)
    source, target : ndarray of int
        Node indices of each edge.
    edges : ndarray of LineString
        Edge geometries, drawn from source to target; zero-length pieces are dropped.

    Examples
    --------
    >>> from shapely import LineString
    >>> xy, s, t, e = node_lines(np.array([LineString([(0, 0), (10, 0)]),
    ...                                    LineString([(5, -5), (5, 5)])]))
    >>> len(xy), len(e)   # a cross: 5 nodes, 4 edges
    (5, 4)
    """
    if len(lines) == 0:
        return np.zeros((0, 2)), np.zeros(0, int), np.zeros(0, int), np.zeros(0, dtype=object)
    # union_all splits at every crossing; line_merge then joins pieces through points where
    # only two meet, so edges run from junction to junction
    noded = shapely.get_parts(shapely.line_merge(shapely.union_all(lines)))
    noded = noded[shapely.length(noded) > precision_m]
    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(noded, 0)),
                           shapely.get_coordinates(shapely.get_point(noded, -1))])
    keys = np.round(ends / precision_m).astype(np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    node_xy = np.zeros((len(uniq), 2))
    node_xy[inverse] = ends
    n = len(noded)
    return node_xy, inverse[:n], inverse[n:], noded

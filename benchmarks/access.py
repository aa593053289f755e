"""Benchmark: walking access for a city — 1,000,000 buildings, 2,000 centres, 540k edges.

The city is a generated street grid (100 m blocks, 520 × 520 junctions, 5 % of the street
segments removed at random so walks detour), with buildings and centres scattered over it.
Timed in one run, on the same graph:

- ours, the full run: snapping every building and centre to the nearest edge, walking distance
  to the nearest centre overall, within each centre's own radius and per level (6 multi-source
  Dijkstras), straight-line nearest centres, and the bands;
- ours, the routing alone: one ``scipy.sparse.csgraph.dijkstra(min_only=True)`` from every
  centre's node;
- networkx ``multi_source_dijkstra_path_length`` from the same nodes, on the same graph;
- pgRouting ``pgr_drivingDistance(..., equicost => true)`` on a subset (a 150 × 150 junction
  corner with its centres), against ours on the same subset.

Node distances are compared between the three (they must agree), and the ratios printed.

Usage::

    .venv/bin/python benchmarks/access.py            # the full size
    .venv/bin/python benchmarks/access.py --side 200 --buildings 100000 --centres 300
"""

from __future__ import annotations

import argparse
import io
import os
import time

import numpy as np
import pandas as pd
import psycopg2
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis.access import LEVELS, AccessModel, Centres, band_of
from gis.config import get_settings
from gis.db import admin
from gis.db.connection import database_url
from gis.network import Network

SPACING_M = 100.0


def city(side: int, n_buildings: int, n_centres: int, seed: int):
    """A street grid of side × side junctions, buildings and centres scattered over it."""
    rng = np.random.default_rng(seed)
    xs = np.arange(side) * SPACING_M
    gx, gy = np.meshgrid(xs, xs)
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    idx = np.arange(side * side).reshape(side, side)
    pairs = np.vstack([np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
                       np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])])
    pairs = pairs[rng.random(len(pairs)) >= 0.05]
    net = Network.from_edges(4543, node_ids=np.arange(len(xy)), node_xy=xy,
                             edge_ids=np.arange(len(pairs)), source_ids=pairs[:, 0],
                             target_ids=pairs[:, 1])
    extent = (side - 1) * SPACING_M
    buildings = rng.uniform(0, extent, (n_buildings, 2))
    levels = rng.choice(LEVELS, n_centres, p=[0.05, 0.25, 0.6, 0.1])
    norms = get_settings().norms
    centres = Centres(np.arange(1, n_centres + 1), rng.uniform(0, extent, (n_centres, 2)), levels,
                      [norms.radius_for_level(lv) for lv in levels])
    return net, buildings, centres


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def ours_full(net, buildings, centres):
    model = AccessModel.build(net, buildings)
    result = model.evaluate(centres)
    band_of(result.walk_m, get_settings().norms.walk_bands_m)
    return result


def ours_routing(net, sources):
    return dijkstra(net.graph(), directed=True, indices=sources, min_only=True)


def networkx_routing(net, sources):
    import networkx as nx

    g = nx.Graph()
    g.add_weighted_edges_from(zip(net.source.tolist(), net.target.tolist(),
                                  net.length_m.tolist(), strict=True))
    t0 = time.perf_counter()
    lengths = nx.multi_source_dijkstra_path_length(g, set(sources.tolist()))
    elapsed = time.perf_counter() - t0
    d = np.full(net.n_nodes, np.inf)
    d[list(lengths)] = list(lengths.values())
    return d, elapsed


def subset(net, side: int, corner: int, sources: np.ndarray):
    """The network of the corner × corner junctions at the origin, and the sources in it."""
    keep = (net.node_ids % side < corner) & (net.node_ids // side < corner)
    ok = keep[net.source] & keep[net.target]
    sub = Network.from_edges(net.srid, node_ids=net.node_ids[keep], node_xy=net.xy[keep],
                             edge_ids=net.edge_ids[ok], source_ids=net.node_ids[net.source[ok]],
                             target_ids=net.node_ids[net.target[ok]])
    position = pd.Series(np.arange(sub.n_nodes), index=sub.node_ids)
    inside = [position[net.node_ids[s]] for s in sources if keep[s]]
    return sub, np.asarray(inside)


def pgrouting(sub: Network, sources: np.ndarray) -> tuple[np.ndarray, float]:
    url = database_url().rsplit("/", 1)[0] + f"/gridmap_bench_access_{os.getpid()}"
    admin.create_database(url)
    try:
        admin.ensure_extensions(url)
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE e (id bigint, source bigint, target bigint,"
                        " cost float8, reverse_cost float8)")
            buf = io.StringIO()
            pd.DataFrame({"id": sub.edge_ids, "s": sub.node_ids[sub.source],
                          "t": sub.node_ids[sub.target], "c": sub.length_m,
                          "r": sub.length_m}).to_csv(buf, header=False, index=False)
            buf.seek(0)
            cur.copy_expert("COPY e FROM STDIN WITH (FORMAT csv)", buf)
            conn.commit()
            t0 = time.perf_counter()
            cur.execute("SELECT node, agg_cost FROM pgr_drivingDistance("
                        "'SELECT id, source, target, cost, reverse_cost FROM e', %s, 1e12,"
                        " directed => true, equicost => true)",
                        ([int(sub.node_ids[s]) for s in sources],))
            rows = cur.fetchall()
            elapsed = time.perf_counter() - t0
        conn.close()
    finally:
        admin.drop_database(url)
    position = pd.Series(np.arange(sub.n_nodes), index=sub.node_ids)
    d = np.full(sub.n_nodes, np.inf)
    nodes = np.array([r[0] for r in rows])
    d[position[nodes].to_numpy()] = [r[1] for r in rows]
    return d, elapsed


def main() -> None:
    """Build the city, run everything once, print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=520,
                        help="junctions per side (520: 540k edges)")
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--centres", type=int, default=2000)
    parser.add_argument("--corner", type=int, default=150, help="subset side for pgRouting")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    (net, buildings, centres), t_gen = timed(city, args.side, args.buildings, args.centres,
                                             args.seed)
    print(f"city: {net.n_nodes:,} nodes, {len(net.edge_ids):,} edges, {len(buildings):,}"
          f" buildings, {len(centres):,} centres (generated in {t_gen:.1f} s)", flush=True)
    result, t_full = timed(ours_full, net, buildings, centres)
    print(f"ours, full run (snap + 6 Dijkstras + straight line + bands): {t_full:.2f} s;"
          f" reachable {result.reachable.mean():.1%},"
          f" median walk {np.nanmedian(result.walk_m):.0f} m,"
          f" median detour {np.nanmedian(result.walk_m / result.straight_m):.2f}", flush=True)
    # peers route from the centres' nearest nodes
    sources = np.unique(cKDTree(net.xy).query(centres.xy)[1])
    d_ours, t_ours = timed(ours_routing, net, sources)
    print(f"ours, routing only (scipy dijkstra min_only): {t_ours:.3f} s", flush=True)
    d_nx, t_nx = networkx_routing(net, sources)
    both = np.isfinite(d_ours) & np.isfinite(d_nx)
    diff = np.max(np.abs(d_ours[both] - d_nx[both]))
    assert (np.isfinite(d_ours) == np.isfinite(d_nx)).all(), "reachability differs"
    print(f"networkx multi_source_dijkstra_path_length: {t_nx:.2f} s  "
          f"(max difference {diff:.2e} m)", flush=True)
    sub, sub_sources = subset(net, args.side, args.corner, sources)
    d_sub, t_sub = timed(ours_routing, sub, sub_sources)
    d_pg, t_pg = pgrouting(sub, sub_sources)
    both = np.isfinite(d_sub) & np.isfinite(d_pg)
    diff_pg = np.max(np.abs(d_sub[both] - d_pg[both]))
    print(f"subset {sub.n_nodes:,} nodes / {len(sub.edge_ids):,} edges, {len(sub_sources)}"
          f" sources: ours {t_sub:.3f} s, pgr_drivingDistance(equicost) {t_pg:.2f} s"
          f" (max difference {diff_pg:.2e} m)", flush=True)
    print()
    print(f"full run {t_full:.2f} s (target ≤ 10 s)")
    print(f"routing: networkx / ours = {t_nx / t_ours:.0f}×; full run vs networkx routing alone:"
          f" {t_nx / t_full:.1f}×")
    print(f"subset routing: pgRouting / ours = {t_pg / t_sub:.0f}×")


if __name__ == "__main__":
    main()

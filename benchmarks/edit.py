"""Benchmark: grid edits on the 100,000-building city — preview and commit, p50 / p95.

The coverage benchmark's data (the demo district repeated, about 100,000 buildings and 26,600
grids) is loaded into a scratch database; walking access and coverage are computed once (as
they would be in use). Then 200 random edits — vertex drags (one vertex moved up to 8 m),
splits (a line across a grid) and merges (a grid with an adjacent one) — are each previewed and
committed, timing both. Edits the engine refuses (a drag that makes a bow-tie, say) are counted
and skipped.

Usage::

    .venv/bin/python benchmarks/edit.py [--copies 292] [--edits 200]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import psycopg2

from gis.access_store import run_access
from gis.config import get_settings
from gis.coverage import run_coverage
from gis.db import admin
from gis.db.connection import database_url
from gis.db.migrate import migrate
from gis.demo import build_demo, load_demo
from gis.topology import EditError, merge_grids, reshape_grid, split_grid


def _drag(cur, rng):
    cur.execute("SELECT id, version, ST_AsGeoJSON(geom) FROM grids WHERE layer = 'governance'"
                " ORDER BY random() LIMIT 1")
    gid, version, shape = cur.fetchone()
    geom = json.loads(shape)
    ring = geom["coordinates"][0][0]
    k = int(rng.integers(0, len(ring) - 1))
    dx, dy = rng.uniform(-8e-5, 8e-5, 2)
    ring[k] = [ring[k][0] + dx, ring[k][1] + dy]
    if k == 0:
        ring[-1] = ring[0]
    return "drag", lambda conn, commit: reshape_grid(conn, gid, geom, version, commit=commit)


def _split(cur, rng):
    cur.execute("""
        SELECT id, version, ST_XMin(geom), ST_XMax(geom), ST_YMin(geom), ST_YMax(geom)
        FROM grids WHERE layer = 'governance' ORDER BY random() LIMIT 1""")
    gid, version, x0, x1, y0, y1 = cur.fetchone()
    x = x0 + (x1 - x0) * rng.uniform(0.3, 0.7)
    line = {"type": "LineString", "coordinates": [[x, y0 - 1e-4], [x, y1 + 1e-4]]}
    return "split", lambda conn, commit: split_grid(conn, gid, line, version, commit=commit)


def _merge(cur, rng):
    cur.execute("""
        SELECT a.id, a.version, b.id, b.version FROM
            (SELECT * FROM grids WHERE layer = 'governance' ORDER BY random() LIMIT 1) a
        JOIN grids b ON b.community_code = a.community_code AND b.layer = a.layer
            AND b.id <> a.id AND b.geom && a.geom AND ST_Relate(a.geom, b.geom, 'F***1****')
        LIMIT 1""")
    row = cur.fetchone()
    if row is None:
        return None
    a, va, b, vb = row
    return "merge", lambda conn, commit: merge_grids(conn, [a, b], a, [va, vb], commit=commit)


def main() -> None:
    """Load the city, run the edits, print p50 / p95 per operation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=292, help="districts (292 ≈ 100k buildings)")
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url = database_url().rsplit("/", 1)[0] + f"/gridmap_bench_edit_{os.getpid()}"
    admin.create_database(url)
    try:
        admin.ensure_extensions(url)
        conn = psycopg2.connect(url)
        migrate(conn, get_settings().migrations_dir)
        counts = load_demo(conn, build_demo(seed=args.seed, scale="city", copies=args.copies))
        run_access(conn, with_isochrones=False)
        run_coverage(conn)
        conn.commit()
        print(f"{counts['buildings']:,} buildings, {counts['grids']:,} grids", flush=True)
        rng = np.random.default_rng(args.seed)
        times: dict[str, dict[str, list[float]]] = {}
        refused = 0
        makers = (_drag, _drag, _split, _merge)
        for _ in range(args.edits):
            with conn.cursor() as cur:
                made = makers[int(rng.integers(len(makers)))](cur, rng)
            if made is None:
                continue
            name, run = made
            try:
                t0 = time.perf_counter()
                run(conn, False)
                t1 = time.perf_counter()
                run(conn, True)
                conn.commit()
                t2 = time.perf_counter()
            except EditError:
                conn.rollback()
                refused += 1
                continue
            slot = times.setdefault(name, {"preview": [], "commit": []})
            slot["preview"].append((t1 - t0) * 1000)
            slot["commit"].append((t2 - t1) * 1000)
        conn.close()
    finally:
        admin.drop_database(url)
    print(f"{'edit':<7} {'n':>4} {'preview p50':>12} {'p95':>7} {'commit p50':>11} {'p95':>7}")
    every = {"preview": [], "commit": []}
    for name, slot in sorted(times.items()):
        every["preview"] += slot["preview"]
        every["commit"] += slot["commit"]
        print(f"{name:<7} {len(slot['preview']):>4} {np.median(slot['preview']):>10.0f}ms "
              f"{np.percentile(slot['preview'], 95):>5.0f}ms {np.median(slot['commit']):>9.0f}ms "
              f"{np.percentile(slot['commit'], 95):>5.0f}ms")
    print(f"{'all':<7} {len(every['preview']):>4} {np.median(every['preview']):>10.0f}ms "
          f"{np.percentile(every['preview'], 95):>5.0f}ms {np.median(every['commit']):>9.0f}ms "
          f"{np.percentile(every['commit'], 95):>5.0f}ms")
    print(f"refused: {refused}; target p95 ≤ 200 ms")


if __name__ == "__main__":
    main()

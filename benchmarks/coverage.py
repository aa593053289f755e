"""Benchmark: a full coverage run at 10⁴, 10⁵ (and on request 10⁶) buildings.

The data is the demo district repeated side by side (``build_demo(scale="city", copies=N)``),
so every size holds the same mix of grids, centres, organisations and planted gaps per
building, and the run can be checked against the planted gaps at every size. Each size gets a
throw-away database in the embedded cluster (or under ``DATABASE_URL``'s server), dropped at
the end.

Usage::

    .venv/bin/python benchmarks/coverage.py                  # 10k and 100k buildings
    .venv/bin/python benchmarks/coverage.py --sizes 10000,100000,1000000

The issue names no peer tool for this check (no open-source package computes these gap kinds),
so the figures are our own: seconds per run, and the growth from one size to the next next to
the growth in buildings (near-linear means the two ratios are close).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import psycopg2

from gis.config import get_settings
from gis.coverage import run_coverage
from gis.db import admin
from gis.db.connection import database_url
from gis.db.migrate import migrate
from gis.demo import build_demo

BUILDINGS_PER_DISTRICT = len(build_demo(seed=1).tables["buildings"])


def _scratch_url(size: int) -> str:
    base = os.environ.get("DATABASE_URL") or database_url()
    return base.rsplit("/", 1)[0] + f"/gridmap_bench_coverage_{size}_{os.getpid()}"


def measure(size: int, *, seed: int, runs: int) -> dict:
    """Build, load and check coverage of about ``size`` buildings; return the timings."""
    copies = max(1, math.ceil(size / BUILDINGS_PER_DISTRICT))
    t0 = time.perf_counter()
    data = build_demo(seed=seed, scale="city", copies=copies)
    t_build = time.perf_counter() - t0
    url = _scratch_url(size)
    admin.create_database(url)
    try:
        admin.ensure_extensions(url)
        conn = psycopg2.connect(url)
        try:
            migrate(conn, get_settings().migrations_dir)
            t0 = time.perf_counter()
            admin_counts = _load(conn, data)
            t_load = time.perf_counter() - t0
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                report = run_coverage(conn)
                conn.commit()
                times.append(time.perf_counter() - t0)
            found = sorted(((g["kind"], g["layer"], g["object_id"]) for g in report.gaps),
                           key=str)
            with conn.cursor() as cur:
                cur.execute("SELECT kind, layer, object_id FROM demo_planted_gaps")
                planted = sorted(cur.fetchall(), key=str)
        finally:
            conn.close()
    finally:
        admin.drop_database(url)
    missed = len(set(planted) - set(found))
    extra = len(set(found) - set(planted))
    return {"buildings": admin_counts["buildings"], "grids": admin_counts["grids"],
            "centres": admin_counts["service_centers"], "copies": copies,
            "build_s": t_build, "load_s": t_load, "coverage_s": min(times),
            "first_s": times[0], "gaps": len(found), "missed": missed, "extra": extra}


def _load(conn, data) -> dict[str, int]:
    from gis.demo import load_demo

    counts = load_demo(conn, data)
    conn.commit()
    return counts


def main() -> None:
    """Parse the options, run each size and print a table with the growth ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated building counts (default: 10000,100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2, help="coverage runs per size; best kept")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'buildings':>10} {'grids':>7} {'centres':>7} {'build s':>8} {'load s':>7} "
          f"{'cover s':>8} {'1st s':>7} {'gaps':>6} {'missed':>6} {'extra':>6} "
          f"{'×bldg':>6} {'×time':>6}")
    previous = None
    for size in sizes:
        r = measure(size, seed=args.seed, runs=args.runs)
        growth = ("", "")
        if previous:
            growth = (f"{r['buildings'] / previous['buildings']:.1f}",
                      f"{r['coverage_s'] / previous['coverage_s']:.1f}")
        print(f"{r['buildings']:>10,} {r['grids']:>7,} {r['centres']:>7,} {r['build_s']:>8.2f} "
              f"{r['load_s']:>7.2f} {r['coverage_s']:>8.2f} {r['first_s']:>7.2f} "
              f"{r['gaps']:>6,} {r['missed']:>6} {r['extra']:>6} {growth[0]:>6} {growth[1]:>6}",
              flush=True)
        previous = r


if __name__ == "__main__":
    main()

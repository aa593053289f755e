"""Benchmark: importing building footprints from a GeoPackage (issue 8: 1,000,000 ≤ 60 s).

A synthetic district is made in a scratch database: 10 streets, 1,000 communities of 500 × 500 m
near Kunming, each cut into 4 governance grids. The footprints (8 × 12 m, 1,000 per community)
are written to a GeoPackage in EPSG:4543 (CGCS2000 / 3° Gauss-Krüger CM 102°E, as a surveying
bureau delivers them) with Chinese headers and no community code, so the import does all of its
work: read in batches, reproject, parse, check, COPY, find each footprint's community, upsert by
code and assign each building to the grid holding most of it.

Each size is imported by a child process, so its peak memory (``VmHWM``) is the import's own.
A second import of the same file (every row unchanged) is timed too. No peer tool imports into
this schema, so the figures are rows per second and peak memory; memory should stay flat as the
file grows (batches of 100,000 rows).

Usage::

    .venv/bin/python benchmarks/import.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pyogrio
import shapely
from pyproj import Transformer

from gis.config import get_settings
from gis.db import admin
from gis.db.connection import database_url
from gis.db.migrate import migrate

SRID = 4543
ORIGIN = Transformer.from_crs(4326, SRID, always_xy=True).transform(102.60, 24.90)
COMMUNITY_M = 500.0
PER_COMMUNITY = 1000  # 40 columns × 25 rows of 8 × 12 m footprints


def _layout(n_buildings: int) -> tuple[int, int]:
    communities = max(1, n_buildings // PER_COMMUNITY)
    cols = int(np.ceil(np.sqrt(communities)))
    return communities, cols


def make_database(url: str, n_buildings: int) -> None:
    """Regions (city, district, 10 streets, the communities) and 4 grids per community."""
    communities, cols = _layout(n_buildings)
    to_ll = Transformer.from_crs(SRID, 4326, always_xy=True)
    k = np.arange(communities)
    x0 = ORIGIN[0] + (k % cols) * COMMUNITY_M
    y0 = ORIGIN[1] + (k // cols) * COMMUNITY_M

    def lonlat(g):
        return shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0],
                                                                               xy[:, 1])))

    streets = 10
    community_codes = [f"530103{1 + i % streets:03d}{1 + i // streets:03d}" for i in k]
    boxes = lonlat(shapely.segmentize(shapely.box(x0, y0, x0 + COMMUNITY_M, y0 + COMMUNITY_M),
                                      50.0))
    half = COMMUNITY_M / 2
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO regions (code, level, name, parent_code) VALUES"
                    " ('530100000000', 'city', '昆明市', NULL),"
                    " ('530103000000', 'district', '盘龙区', '530100000000')")
        cur.executemany("INSERT INTO regions (code, level, name, parent_code) VALUES"
                        " (%s, 'street', %s, '530103000000')",
                        [(f"530103{s:03d}000", f"第{s}街道") for s in range(1, streets + 1)])
        rows = []
        grid_rows = []
        for i, code in enumerate(community_codes):
            rows.append((code, f"社区{i + 1}", code[:9] + "000",
                         shapely.to_wkt(shapely.multipolygons([boxes[i]]))))
            for q in range(4):
                gx, gy = x0[i] + (q % 2) * half, y0[i] + (q // 2) * half
                cell = lonlat(shapely.segmentize(shapely.box(gx, gy, gx + half, gy + half), 50.0))
                grid_rows.append((f"{code}{q + 1:03d}", code, f"第{q + 1}网格",
                                  shapely.to_wkt(shapely.multipolygons([cell]))))
        cur.executemany("INSERT INTO regions (code, level, name, parent_code, geom) VALUES"
                        " (%s, 'community', %s, %s, ST_GeomFromText(%s, 4326))", rows)
        cur.executemany("INSERT INTO grids (code, layer, community_code, name, geom) VALUES"
                        " (%s, 'governance', %s, %s, ST_GeomFromText(%s, 4326))", grid_rows)
        cur.execute("ANALYZE")
    conn.close()


def make_geopackage(path: Path, n_buildings: int) -> None:
    """``n_buildings`` footprints in EPSG:4543 with Chinese headers, written in one call."""
    communities, cols = _layout(n_buildings)
    i = np.arange(n_buildings)
    c, j = i // PER_COMMUNITY, i % PER_COMMUNITY
    x = ORIGIN[0] + (c % cols) * COMMUNITY_M + (j % 40) * 12.5 + 2.0
    y = ORIGIN[1] + (c // cols) * COMMUNITY_M + (j // 40) * 20.0 + 4.0
    geoms = shapely.box(x, y, x + 8.0, y + 12.0)
    rng = np.random.default_rng(8)
    households = rng.integers(0, 60, n_buildings)
    frame = pd.DataFrame({
        "楼栋编码": np.char.add("LD", i.astype(str)),
        "名称": np.char.add(np.char.add("楼", (j + 1).astype(str)), "栋"),
        "户数": households,
        "常住人口": households * 3,
        "层数": rng.integers(1, 33, n_buildings),
        "类型": np.where(households > 0, "住宅", "其他"),
    })
    pyogrio.write_dataframe(frame.assign(geometry=geoms).pipe(
        lambda df: __import__("geopandas").GeoDataFrame(df, geometry="geometry", crs=SRID)),
        path, driver="GPKG", layer="楼栋")


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ``ru_maxrss``, it is not inherited
    across exec from the parent that built the file)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(url: str, path: str) -> None:
    """Import ``path`` twice into ``url``; print one JSON line."""
    from gis.io.layer_import import import_file

    out = {}
    for run in ("first", "again"):
        conn = psycopg2.connect(url)
        t = time.perf_counter()
        with conn:
            report = import_file(conn, "buildings", path, batch_size=100_000)
        out[run] = {"seconds": time.perf_counter() - t, "inserted": report.inserted,
                    "updated": report.updated, "unchanged": report.unchanged,
                    "rejected": report.rejected_rows,
                    "peak_rss_mb": _peak_rss_mb()}
        conn.close()
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(community_code), count(grid_id) FROM buildings")
        out["rows"], out["with_community"], out["with_grid"] = cur.fetchone()
    conn.close()
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    base = database_url().rsplit("/", 1)[0]
    print("| buildings | file MB | make s | import s | rows/s | again s (unchanged) | "
          "with community | with grid | peak RSS MB (first, again) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        url = f"{base}/gridmap_bench_import_{n}"
        admin.drop_database(url)
        admin.create_database(url)
        admin.ensure_extensions(url)
        conn = psycopg2.connect(url)
        migrate(conn, get_settings().migrations_dir)
        conn.close()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"buildings_{n}.gpkg"
            t = time.perf_counter()
            make_database(url, n)
            make_geopackage(path, n)
            made = time.perf_counter() - t
            result = subprocess.run([sys.executable, __file__, "--child", url, str(path)],
                                    capture_output=True, text=True, check=False)
            if result.returncode:
                print(result.stderr, file=sys.stderr)
                raise SystemExit(result.returncode)
            r = json.loads(result.stdout.strip().splitlines()[-1])
            size = path.stat().st_size / 1e6
        first, again = r["first"], r["again"]
        assert first["inserted"] == n and again["unchanged"] == n, r
        print(f"| {n:,} | {size:.0f} | {made:.1f} | {first['seconds']:.1f} | "
              f"{n / first['seconds']:,.0f} | {again['seconds']:.1f} | {r['with_community']:,} | "
              f"{r['with_grid']:,} | {first['peak_rss_mb']:.0f}, {again['peak_rss_mb']:.0f} |",
              flush=True)
        admin.drop_database(url)


if __name__ == "__main__":
    main()

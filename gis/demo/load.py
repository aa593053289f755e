"""Build the demo rows and write them to PostGIS in one transaction."""

from __future__ import annotations

import csv
import io

import numpy as np
import psycopg2.extensions
import shapely
from psycopg2 import sql
from pyproj import Transformer

from gis.config import Norms, get_settings
from gis.demo import build, district, layout, organisation, planted
from gis.demo.scale import replicate

# tables the demo fills, in foreign-key order
TABLES = ("regions", "grids", "buildings", "party_orgs", "members", "member_buildings",
          "grid_staff", "units", "service_centers", "ledger_items", "walk_nodes", "walk_edges",
          "grid_history", "demo_planted_gaps")
_COLUMNS = {
    "regions": ("code", "level", "name", "parent_code", "geom"),
    "grids": ("id", "code", "layer", "community_code", "name", "geom", "version"),
    "buildings": ("id", "code", "name", "community_code", "grid_id", "kind", "form",
                  "households", "residents", "migrant_households", "migrant_residents",
                  "floors", "is_rental", "geom"),
    "party_orgs": ("id", "code", "kind", "name", "parent_id", "region_code", "grid_id",
                   "building_id", "has_committee", "secretary"),
    "members": ("id", "name", "phone", "category", "org_id", "home_building_id",
                "is_demonstration_post", "is_probationary"),
    "member_buildings": ("member_id", "building_id"),
    "grid_staff": ("id", "grid_id", "role", "name", "phone", "member_id"),
    "units": ("id", "name", "kind", "building_id", "party_org_id", "joint_org_id", "registered",
              "member_count", "employees", "resources", "offers_space"),
    "service_centers": ("id", "code", "name", "level", "status", "floor_area_m2", "region_code",
                        "building_id", "radius_m", "geom"),
    "ledger_items": ("id", "list", "region_code", "title", "description", "unit_id", "grid_id",
                     "need_id", "resource_id", "status"),
    "walk_nodes": ("id", "geom"),
    "walk_edges": ("id", "source", "target", "length_m", "kind", "geom"),
    "grid_history": ("grid_id", "version", "code", "layer", "geom", "changed_by", "action"),
    "demo_planted_gaps": ("kind", "layer", "object_type", "object_id", "object_code",
                          "region_code", "note"),
}
_MULTI = {"regions", "grids", "buildings", "grid_history"}
_NODED = ("regions", "grids", "grid_history")
_NODE_TOLERANCE_M = 1e-6


CITY_COPIES = 30  # `--scale city`: 30 districts side by side, about 10,000 buildings


def build_demo(*, seed: int = 1, scale: str = "district", norms: Norms | None = None,
               copies: int | None = None) -> build.DemoData:
    """Generate the demo district.

    Parameters
    ----------
    seed
        Random seed: the same seed gives the same rows.
    scale
        ``district`` (7 communities in 2 streets), ``community`` (桃源社区 alone) or ``city``
        (the district repeated ``copies`` times under new codes, for scale and benchmarks).
    norms
        Planning norms used to decide building groups and to compute the planted gaps.
    copies
        Districts in a ``city`` (default 30, about 10,000 buildings).

    Returns
    -------
    DemoData
        Rows per table with ids; geometries in EPSG:4326; ``planted`` lists every gap.
    """
    if scale not in ("community", "district", "city"):
        raise ValueError(f"unknown demo scale {scale!r}: use community, district or city")
    norms = norms or get_settings().norms
    rng = np.random.default_rng(seed)
    data = build.DemoData()
    lay = district.build_layout(rng)
    build.add_regions(data, lay)
    governance = build.add_grids(data, lay)
    build.add_buildings(data, lay, rng, governance)
    build.add_centres(data, rng)
    build.add_network(data, lay)
    organisation.add_organisation(data, rng, norms)
    for g in data.tables["grids"]:
        data.add("grid_history", {"grid_id": g["id"], "version": 1, "code": g["code"],
                                  "layer": g["layer"], "geom": g["geom"],
                                  "changed_by": "gridmap demo", "action": "import"})
    data.planted = planted.compute_planted(data, norms)
    _node_boundaries(data)
    if scale == "community":
        _keep_community(data, district.TAOYUAN)
    elif scale == "city":
        data = replicate(data, copies or CITY_COPIES)
    _to_lonlat(data)
    data.tables["demo_planted_gaps"] = data.planted
    return data


def _keep_community(data: build.DemoData, code: str) -> None:
    """Reduce the district to one community (and its parents), keeping references whole."""
    t = data.tables
    parents = {r["code"]: r["parent_code"] for r in t["regions"]}
    chain, c = {code}, code
    while parents.get(c):
        c = parents[c]
        chain.add(c)
    t["regions"] = [r for r in t["regions"] if r["code"] in chain]
    t["grids"] = [g for g in t["grids"] if g["community_code"] == code]
    grid_ids = {g["id"] for g in t["grids"]}
    t["buildings"] = [b for b in t["buildings"] if b["community_code"] == code]
    bids = {b["id"] for b in t["buildings"]}
    t["party_orgs"] = [o for o in t["party_orgs"] if o["region_code"] in chain]
    org_ids = {o["id"] for o in t["party_orgs"]}
    t["members"] = [m for m in t["members"] if m["org_id"] in org_ids]
    mids = {m["id"] for m in t["members"]}
    t["member_buildings"] = [x for x in t["member_buildings"] if x["building_id"] in bids
                             and x["member_id"] in mids]
    t["grid_staff"] = [s for s in t["grid_staff"] if s["grid_id"] in grid_ids]
    t["units"] = [u for u in t["units"] if u["building_id"] in bids]
    t["service_centers"] = [c for c in t["service_centers"] if c["region_code"] in chain]
    for c in t["service_centers"]:
        if c["building_id"] not in bids:
            c["building_id"] = None
    t["ledger_items"] = [x for x in t["ledger_items"] if x["region_code"] in chain]
    t["grid_history"] = [h for h in t["grid_history"] if h["grid_id"] in grid_ids]
    area = t["regions"][-1]["geom"].buffer(30)
    t["walk_edges"] = [e for e in t["walk_edges"] if area.contains(e["geom"])]
    used = {e["source"] for e in t["walk_edges"]} | {e["target"] for e in t["walk_edges"]}
    t["walk_nodes"] = [n for n in t["walk_nodes"] if n["id"] in used]
    for r in t["regions"]:
        if r["level"] in ("district", "street"):
            r["geom"] = t["regions"][-1]["geom"]
    data.planted = [p for p in data.planted if p["region_code"] in chain]


def _node_boundaries(data: build.DemoData) -> None:
    """Give every region and grid polygon a vertex wherever another one's corner touches it.

    Grids split a community in rows and columns, so one grid's edge can run past a corner of
    its neighbour (a T-junction). A straight metric edge is very slightly curved in degrees, so
    after conversion such edges would no longer coincide and leave slivers of a few nanometres
    between grids. With the corners noded, neighbouring polygons share every vertex and so stay
    exactly edge to edge in EPSG:4326.
    """
    rows = [r for table in _NODED for r in data.tables.get(table, [])
            if r.get("geom") is not None]
    geoms = np.array([r["geom"] for r in rows], dtype=object)
    corners = shapely.multipoints(np.unique(shapely.get_coordinates(geoms), axis=0))
    for row, geom in zip(rows, shapely.snap(geoms, corners, _NODE_TOLERANCE_M), strict=True):
        row["geom"] = geom


def _to_lonlat(data: build.DemoData) -> None:
    """Place the metric layout at ORIGIN_LONLAT and convert every geometry to EPSG:4326."""
    to_metric = Transformer.from_crs(4326, layout.METRIC_EPSG, always_xy=True)
    ox, oy = to_metric.transform(*layout.ORIGIN_LONLAT)
    to_lonlat = Transformer.from_crs(layout.METRIC_EPSG, 4326, always_xy=True)

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_lonlat.transform(coords[:, 0] + ox, coords[:, 1] + oy)
        return np.column_stack([lon, lat])

    for rows in data.tables.values():
        present = [r for r in rows if r.get("geom") is not None]
        if not present:
            continue
        geoms = np.array([r["geom"] for r in present], dtype=object)
        for row, geom in zip(present, shapely.transform(geoms, convert), strict=True):
            row["geom"] = geom


def _wkb_column(rows: list[dict], table: str) -> list[str | None]:
    """Hex EWKB of every row's geometry (vectorised), Polygons promoted where columns are Multi."""
    geoms = [r.get("geom") for r in rows]
    if table in _MULTI:
        geoms = [shapely.MultiPolygon([g]) if g is not None and g.geom_type == "Polygon" else g
                 for g in geoms]
    arr = shapely.set_srid(np.array(geoms, dtype=object), 4326)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True))


_NULL = r"\N"  # COPY's NULL marker (no demo value looks like it)


def _copy_rows(cur, table: str, rows: list[dict]) -> None:
    """Bulk-load rows with COPY (CSV, with ``_NULL`` standing for NULL)."""
    cols = _COLUMNS[table]
    wkb = _wkb_column(rows, table) if "geom" in cols else None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for i, r in enumerate(rows):
        writer.writerow([
            (wkb[i] if wkb[i] is not None else _NULL) if c == "geom"
            else _NULL if r.get(c) is None else ("t" if r[c] is True else "f" if r[c] is False
                                                else r[c])
            for c in cols])
    buf.seek(0)
    cur.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.Literal(_NULL)).as_string(cur), buf)


def load_demo(conn: psycopg2.extensions.connection, data: build.DemoData, *,
              force: bool = False) -> dict[str, int]:
    """Replace the database's contents with the demo, in the caller's transaction.

    Parameters
    ----------
    conn
        Open connection; the caller commits.
    data
        Output of :func:`build_demo`.
    force
        Replace data that was not loaded by the demo (refused otherwise, to protect real data).

    Returns
    -------
    dict
        Rows written per table.

    Raises
    ------
    RuntimeError
        If the database holds data of its own and ``force`` is false.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM regions")
        has_regions = cur.fetchone()[0] > 0
        cur.execute("SELECT count(*) FROM demo_planted_gaps")
        was_demo = cur.fetchone()[0] > 0
        if has_regions and not was_demo and not force:
            raise RuntimeError("the database holds data that the demo did not load; "
                               "use `gridmap demo --force` to replace it")
        cur.execute("TRUNCATE " + ", ".join(TABLES + ("building_access",))
                    + " RESTART IDENTITY CASCADE")
        counts = {}
        for table in TABLES:
            rows = data.tables.get(table, [])
            if rows:
                _copy_rows(cur, table, rows)
            counts[table] = len(rows)
            if "id" in _COLUMNS[table]:
                cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                            f"GREATEST((SELECT max(id) FROM {table}), 1))", (table,))
        cur.execute("ANALYZE")
    return counts


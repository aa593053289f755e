"""Build the demo rows and write them to PostGIS in one transaction."""

from __future__ import annotations

import json

import numpy as np
import psycopg2.extensions
import shapely
from psycopg2 import sql
from psycopg2.extras import execute_values
from pyproj import Transformer

from gis.config import Norms, get_settings
from gis.demo import build, district, layout, organisation, planted

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
_DENSIFY = {"regions", "grids", "grid_history"}
_DENSIFY_M = 12.5


def build_demo(*, seed: int = 1, scale: str = "district", norms: Norms | None = None
               ) -> build.DemoData:
    """Generate the demo district.

    Parameters
    ----------
    seed
        Random seed: the same seed gives the same rows.
    scale
        ``district`` (7 communities in 2 streets) or ``community`` (桃源社区 alone).
    norms
        Planning norms used to decide building groups and to compute the planted gaps.

    Returns
    -------
    DemoData
        Rows per table with ids; geometries in EPSG:4326; ``planted`` lists every gap.
    """
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
    if scale == "community":
        _keep_community(data, district.TAOYUAN)
    elif scale != "district":
        raise ValueError(f"unknown demo scale {scale!r}: use community or district")
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


def _to_lonlat(data: build.DemoData) -> None:
    """Place the metric layout at ORIGIN_LONLAT and convert every geometry to EPSG:4326."""
    to_metric = Transformer.from_crs(4326, layout.METRIC_EPSG, always_xy=True)
    ox, oy = to_metric.transform(*layout.ORIGIN_LONLAT)
    to_lonlat = Transformer.from_crs(layout.METRIC_EPSG, 4326, always_xy=True)

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_lonlat.transform(coords[:, 0] + ox, coords[:, 1] + oy)
        return np.column_stack([lon, lat])

    for table, rows in data.tables.items():
        for row in rows:
            if row.get("geom") is not None:
                geom = row["geom"]
                if table in _DENSIFY:
                    # a straight metric edge is slightly curved in degrees: vertices every few
                    # metres keep shared edges of communities and grids shared after conversion
                    geom = shapely.segmentize(geom, _DENSIFY_M)
                row["geom"] = shapely.transform(geom, convert)


def _wkb(geom, table: str) -> str | None:
    if geom is None:
        return None
    if table in _MULTI and geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True)


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
            cols = _COLUMNS[table]
            values = [tuple(_wkb(r[c], table) if c == "geom" else r.get(c) for c in cols)
                      for r in rows]
            if values:
                execute_values(cur, sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols))
                ).as_string(cur), values, page_size=2000)
            counts[table] = len(values)
            if "id" in cols:
                cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                            f"GREATEST((SELECT max(id) FROM {table}), 1))", (table,))
        cur.execute("ANALYZE")
    return counts


def planted_summary(data: build.DemoData) -> str:
    """The planted gaps counted by kind, as JSON (for the CLI)."""
    counts: dict[str, int] = {}
    for p in data.planted:
        counts[p["kind"]] = counts.get(p["kind"], 0) + 1
    return json.dumps(counts, ensure_ascii=False, sort_keys=True)

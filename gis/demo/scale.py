"""A city-sized demo: the demo district repeated side by side under new region codes.

Each copy is the full district (two streets, seven communities, every table, the planted gaps)
shifted east/north and renumbered: copy 0 keeps the real codes of 盘龙区; copy *k* ≥ 1 gets
district ``5301dd`` (dd from 10, 60 copies each) and streets ``sss`` (two per copy). Used by
``gridmap demo --scale city`` and by the benchmarks, which need 10⁴–10⁶ buildings.
"""

from __future__ import annotations

import copy as _copy

import numpy as np
import shapely

from gis.demo import district as dd
from gis.demo.build import DemoData

COPIES_PER_DISTRICT = 60
# the district is 2,400 m × 1,100 m; 1,100 m between copies so no centre serves another copy
TILE_DX, TILE_DY = 3500.0, 2200.0

# foreign keys to shift by the id offset of the referenced table
_REFS: dict[str, dict[str, str]] = {
    "grids": {"id": "grids"},
    "buildings": {"id": "buildings", "grid_id": "grids"},
    "party_orgs": {"id": "party_orgs", "parent_id": "party_orgs", "grid_id": "grids",
                   "building_id": "buildings"},
    "members": {"id": "members", "org_id": "party_orgs", "home_building_id": "buildings"},
    "member_buildings": {"member_id": "members", "building_id": "buildings"},
    "grid_staff": {"id": "grid_staff", "grid_id": "grids", "member_id": "members"},
    "units": {"id": "units", "building_id": "buildings", "party_org_id": "party_orgs",
              "joint_org_id": "party_orgs"},
    "service_centers": {"id": "service_centers", "building_id": "buildings"},
    "ledger_items": {"id": "ledger_items", "unit_id": "units", "grid_id": "grids",
                     "need_id": "ledger_items", "resource_id": "ledger_items"},
    "walk_nodes": {"id": "walk_nodes"},
    "walk_edges": {"id": "walk_edges", "source": "walk_nodes", "target": "walk_nodes"},
    "grid_history": {"grid_id": "grids"},
}
_CODES: dict[str, tuple[str, ...]] = {
    "regions": ("code", "parent_code"),
    "grids": ("code", "community_code"),
    "buildings": ("code", "community_code"),
    "party_orgs": ("region_code",),
    "service_centers": ("code", "region_code"),
    "ledger_items": ("region_code",),
    "grid_history": ("code",),
}
_PLANTED_TABLE = {"grid": "grids", "building": "buildings", "unit": "units",
                  "party_org": "party_orgs"}


def _prefixes(k: int) -> dict[str, str]:
    """Old → new code prefix for copy ``k`` (longest prefixes first)."""
    if k == 0:
        return {}
    district = f"5301{10 + (k - 1) // COPIES_PER_DISTRICT:02d}"
    first = ((k - 1) % COPIES_PER_DISTRICT) * 2 + 1
    return {"530103001": f"{district}{first:03d}", "530103002": f"{district}{first + 1:03d}",
            "530103": district}


def _recode(code: str | None, prefixes: dict[str, str]) -> str | None:
    if code is None or not prefixes:
        return code
    head = "SC" if code.startswith("SC") else ""
    body = code[len(head):]
    if body == dd.CITY:
        return code
    for old, new in prefixes.items():
        if body.startswith(old):
            return head + new + body[len(old):]
    return code


def replicate(base: DemoData, copies: int) -> DemoData:
    """Repeat a metric (not yet converted to degrees) demo ``copies`` times.

    Parameters
    ----------
    base
        Output of the district builder before conversion to EPSG:4326.
    copies
        How many districts; 1 returns an equivalent of ``base``.

    Returns
    -------
    DemoData
        Every table with ids, references, codes and geometries of each copy, and the planted
        gaps of every copy.
    """
    if copies < 1:
        raise ValueError(f"copies must be at least 1, not {copies}")
    out = DemoData()
    ncols = int(np.ceil(np.sqrt(copies * TILE_DY / TILE_DX)))
    offsets = {t: max((r.get("id") or 0 for r in rows), default=0)
               for t, rows in base.tables.items()}
    districts: dict[str, dict] = {}
    for k in range(copies):
        dx, dy = (k % ncols) * TILE_DX, -(k // ncols) * TILE_DY
        prefixes = _prefixes(k)
        for table, rows in base.tables.items():
            if table == "regions":
                _copy_regions(out, rows, k, prefixes, dx, dy, districts)
                continue
            refs = _REFS.get(table, {})
            codes = _CODES.get(table, ())
            geoms = [r.get("geom") for r in rows]
            moved = _shift(geoms, dx, dy)
            target = out.tables.setdefault(table, [])
            for row, geom in zip(rows, moved, strict=True):
                new = dict(row)
                for col, ref in refs.items():
                    if new.get(col) is not None:
                        new[col] += k * offsets[ref]
                for col in codes:
                    new[col] = _recode(new.get(col), prefixes)
                if "geom" in new:
                    new["geom"] = geom
                target.append(new)
        for gap in base.planted:
            new = dict(gap)
            table = _PLANTED_TABLE.get(gap["object_type"])
            if table and new["object_id"] is not None:
                new["object_id"] += k * offsets[table]
            if gap["object_type"] in ("community", "grid", "building"):
                new["object_code"] = _recode(new["object_code"], prefixes)
            new["region_code"] = _recode(new["region_code"], prefixes)
            out.planted.append(new)
    out.tables["regions"] = ([r for r in out.tables["regions"] if r["level"] == "city"]
                             + list(districts.values())
                             + [r for r in out.tables["regions"]
                                if r["level"] in ("street", "community")])
    for row in districts.values():
        row["geom"] = shapely.union_all(row.pop("parts"))
    return out


def _shift(geoms: list, dx: float, dy: float) -> list:
    present = [i for i, g in enumerate(geoms) if g is not None]
    if not present:
        return geoms
    arr = np.array([geoms[i] for i in present], dtype=object)
    moved = shapely.transform(arr, lambda xy: xy + np.array([dx, dy]))
    out = list(geoms)
    for i, g in zip(present, moved, strict=True):
        out[i] = g
    return out


def _copy_regions(out: DemoData, rows: list[dict], k: int, prefixes: dict[str, str],
                  dx: float, dy: float, districts: dict[str, dict]) -> None:
    moved = _shift([r["geom"] for r in rows], dx, dy)
    for row, geom in zip(rows, moved, strict=True):
        if row["level"] == "city":
            if k == 0:
                out.add("regions", dict(row))
            continue
        new = _copy.copy(row)
        new["code"] = _recode(row["code"], prefixes)
        new["parent_code"] = _recode(row["parent_code"], prefixes)
        new["geom"] = geom
        if k:
            new["name"] = f"{row['name']}（{k + 1}）"
        if row["level"] == "district":
            entry = districts.setdefault(new["code"], {**new, "parts": []})
            entry["parts"].append(geom)
        else:
            out.add("regions", new)

"""Turn the metric layout into table rows: regions, grids, buildings, centres, walking network.

Geometries stay in metres (EPSG:4543) here; :mod:`gis.demo.load` converts them to EPSG:4326.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point, box

from gis.config import PROJECT_ROOT
from gis.demo import district as dd
from gis.demo.layout import street_network

REGIONS_CSV = PROJECT_ROOT / "data" / "regions_kunming_panlong_leshan_shizhong.csv"


@dataclass
class DemoData:
    """Rows of every table the demo fills, with ids assigned; geometries in metres."""

    tables: dict[str, list[dict]] = field(default_factory=dict)
    planted: list[dict] = field(default_factory=list)

    def add(self, table: str, row: dict) -> dict:
        """Append ``row`` to ``table``, giving it the next id unless it has a key of its own."""
        rows = self.tables.setdefault(table, [])
        if "id" not in row and table not in ("regions", "member_buildings"):
            row["id"] = len(rows) + 1
        rows.append(row)
        return row


def official_names() -> dict[str, str]:
    """Official names by 12-digit code, '居委会' dropped for display (桃源社区居委会 → 桃源社区)."""
    with REGIONS_CSV.open(encoding="utf-8") as fh:
        return {r["code"]: r["name"].removesuffix("居委会") for r in csv.DictReader(fh)}


def add_regions(data: DemoData, layout: dd.DistrictLayout) -> None:
    """City, district, streets and communities, parents before children."""
    names = official_names()
    streets: dict[str, list] = {}
    for spec in dd.COMMUNITIES:
        streets.setdefault(spec.street, []).append(layout.communities[spec.code])
    all_parts = list(layout.communities.values())
    data.add("regions", {"code": dd.CITY, "level": "city", "name": names[dd.CITY],
                         "parent_code": None, "geom": None})
    data.add("regions", {"code": dd.DISTRICT, "level": "district", "name": names[dd.DISTRICT],
                         "parent_code": dd.CITY, "geom": shapely.union_all(all_parts)})
    for code, parts in streets.items():
        data.add("regions", {"code": code, "level": "street", "name": names[code],
                             "parent_code": dd.DISTRICT, "geom": shapely.union_all(parts)})
    for spec in dd.COMMUNITIES:
        data.add("regions", {"code": spec.code, "level": "community", "name": names[spec.code],
                             "parent_code": spec.street, "geom": layout.communities[spec.code]})


def add_grids(data: DemoData, layout: dd.DistrictLayout) -> dict[tuple[str, int], dict]:
    """Governance and party grids; returns the governance grid of each (community, cell)."""
    names = official_names()
    governance: dict[tuple[str, int], dict] = {}
    for layer in ("governance", "party"):
        for spec in dd.COMMUNITIES:
            cells = layout.cells[spec.code]
            for i, cell in enumerate(cells):
                geom = cell.polygon
                if (spec.code, i) == dd.OVERLAP[:2]:
                    x0, y0, x1, y1 = cell.rect
                    geom = box(x0, y0, x1 + dd.OVERLAP[3], y1)
                if layer == "party" and spec.code == dd.MERGED_PARTY[0]:
                    if i == dd.MERGED_PARTY[2]:
                        continue
                    if i == dd.MERGED_PARTY[1]:
                        geom = shapely.union_all([geom, cells[dd.MERGED_PARTY[2]].polygon])
                code = f"{spec.code}{i + 1:03d}"
                label = "党建网格" if layer == "party" else "网格"
                row = data.add("grids", {
                    "code": code, "layer": layer, "community_code": spec.code,
                    "name": f"{names[spec.code]}第{i + 1}{label}", "geom": geom, "version": 1,
                    "cell": i})
                if layer == "governance":
                    governance[(spec.code, i)] = row
    return governance


def add_buildings(data: DemoData, layout: dd.DistrictLayout, rng: np.random.Generator,
                  governance: dict[tuple[str, int], dict]) -> None:
    """Every footprint as a building row, with residents; 桃源's totals made exact."""
    for spec in dd.COMMUNITIES:
        cells = list(enumerate(layout.cells[spec.code]))
        if spec.code in layout.hole_cells:
            cells.append((None, layout.hole_cells[spec.code]))
        rows = []
        for i, cell in cells:
            grid = governance.get((spec.code, i)) if i is not None else None
            for fp in cell.footprints:
                a = fp.attrs
                h = int(a.get("households", 0))
                rows.append(data.add("buildings", {
                    "code": None, "name": a["name"], "community_code": spec.code,
                    "grid_id": grid["id"] if grid else None, "kind": a["kind"],
                    "form": a["form"], "households": h,
                    "residents": int(round(h * rng.uniform(2.3, 2.9))) if h else 0,
                    "migrant_households": 0, "migrant_residents": 0, "floors": a["floors"],
                    "is_rental": bool(a.get("is_rental", False)), "geom": fp.polygon,
                    "cell": i, "attrs": a}))
        if spec.code == dd.TAOYUAN:
            _exact_taoyuan_residents(rows, rng)
        else:
            for b in rows:  # some flats let to tenants: a tenth of ordinary residential blocks
                if b["kind"] == "residential" and rng.random() < 0.1:
                    b["is_rental"] = True
        for serial, b in enumerate(rows, start=1):
            b["code"] = f"{spec.code}{serial:04d}"


def _exact_taoyuan_residents(rows: list[dict], rng: np.random.Generator) -> None:
    fig = dd.TAOYUAN_FIGURES
    rental = [b for b in rows if b["is_rental"]]
    housing = [b for b in rows if b["kind"] == "residential"]
    rent_res = dd._allocate(fig["migrant_residents"],
                            np.array([b["households"] for b in rental], float), minimum=0)
    for b, r in zip(rental, rent_res, strict=True):
        b.update(residents=int(max(r, b["households"])))
    # keep the exact total after the max() above
    diff = fig["migrant_residents"] - sum(b["residents"] for b in rental)
    rental[int(np.argmax([b["residents"] for b in rental]))]["residents"] += diff
    for b in rental:
        b.update(migrant_households=b["households"], migrant_residents=b["residents"])
    left = fig["residents"] - fig["migrant_residents"]
    hh = np.array([b["households"] for b in housing])
    extra = dd._allocate(left - int(hh.sum()), hh * rng.uniform(1.2, 1.8, len(hh)), minimum=0)
    for b, h, e in zip(housing, hh, extra, strict=True):
        b["residents"] = int(h + e)


def _building_with(data: DemoData, community: str, **match) -> dict:
    for b in data.tables["buildings"]:
        if b["community_code"] == community and all(b["attrs"].get(k) == v
                                                    for k, v in match.items()):
            return b
    raise LookupError(f"no demo building in {community} with {match}")


def _middle_residential(data: DemoData, community: str, cell: int) -> dict:
    homes = [b for b in data.tables["buildings"] if b["community_code"] == community
             and b["cell"] == cell and b["kind"] == "residential"]
    return homes[len(homes) // 2]


def add_centres(data: DemoData, rng: np.random.Generator) -> None:
    """Existing street/community/grid/building centres, one planned, three candidate sites."""
    names = official_names()

    def centre(name, level, status, area, region, building, point=None):
        data.add("service_centers", {
            "code": f"SC{region}{len(data.tables.get('service_centers', [])) + 1:03d}",
            "name": name, "level": level, "status": status, "floor_area_m2": area,
            "region_code": region, "building_id": building["id"] if building else None,
            "radius_m": None, "geom": point or building["geom"].centroid})

    for spec in dd.COMMUNITIES:
        cname = names[spec.code]
        if spec.street_centre:
            b = _building_with(data, spec.code, street_office=True)
            centre(f"{names[spec.street]}党群服务中心", "street", "existing", 1200.0,
                   spec.street, b)
        b = _building_with(data, spec.code, office=True)
        centre(f"{cname}党群服务中心", "community", "existing",
               float(rng.integers(40, 61)) * 10, spec.code, b)
        for cell in spec.station_cells:
            b = _middle_residential(data, spec.code, cell)
            centre(f"{cname}第{cell + 1}网格党群服务站", "grid", "existing",
                   float(rng.integers(6, 13)) * 10, spec.code, b)
    tower = _building_with(data, dd.TAOYUAN, name="桃源商务楼")
    centre("桃源商务楼楼宇党群服务站", "building", "existing", 80.0, dd.TAOYUAN, tower)
    # the east of 白塔 is the new compound beyond every radius: sites the planners look at
    baita = "530103001003"
    centre("白塔社区东片党群服务站（规划）", "grid", "planned", 120.0, baita,
           _middle_residential(data, baita, 2))
    for cell in (3, 7):
        b = _middle_residential(data, baita, cell)
        centre(f"白塔社区候选点{cell + 1}", "grid", "candidate", 100.0, baita, None,
               Point(b["geom"].centroid.x + 20, b["geom"].centroid.y))
    b = _middle_residential(data, "530103001002", 4)
    centre("明通巷候选点", "community", "candidate", 300.0, "530103001002", None,
           Point(b["geom"].centroid.x, b["geom"].centroid.y - 20))


def add_network(data: DemoData, layout: dd.DistrictLayout) -> None:
    """Streets along every community and grid edge, compound paths between building rows."""
    nodes, edges, lines = street_network(dd.all_rects(layout), layout.path_lines)
    for x, y in nodes:
        data.add("walk_nodes", {"geom": Point(x, y)})
    for (s, t, kind), line in zip(edges, lines, strict=True):
        data.add("walk_edges", {"source": s + 1, "target": t + 1, "length_m": line.length,
                                "kind": kind, "geom": line})

"""Record the coverage gaps the demo holds, computed from its rows (a plain-Python oracle).

The demo plants its defects on purpose (see :mod:`gis.demo.district` and
:mod:`gis.demo.organisation`); this module derives the full list from the generated rows, so the
``demo_planted_gaps`` table says exactly what a coverage engine must find — no more, no less.
Conventions the engines must share:

- a building stands at its footprint's point on surface; "in a grid" means that point is inside;
- a grid's households are those of the buildings assigned to it (governance: ``grid_id``;
  party: standing inside);
- a grid's branch is a ``grid_branch`` or ``building_court_branch`` whose ``grid_id`` is the grid;
- ``unit_not_registered`` concerns units that have a party org (own or joint) but have not
  reported (双报到); units with no org at all are ``unit_no_party_org`` only;
- ``beyond_service_radius``: a building with residents standing farther than the radius
  of every existing centre, in metres walked on the walking network when there is one (joining
  it at the nearest point of the nearest edge), in a straight line otherwise.
"""

from __future__ import annotations

import heapq
import math

import shapely

from gis.config import Norms
from gis.demo.build import DemoData
from gis.demo.organisation import BRANCH_KINDS, JOINT_KINDS


def _gap(kind, object_type, obj, note, *, layer=None, region=None, code=None) -> dict:
    return {"kind": kind, "layer": layer, "object_type": object_type,
            "object_id": obj["id"] if obj else None,
            "object_code": code if code is not None else (obj.get("code") if obj else None),
            "region_code": region, "note": note}


def compute_planted(data: DemoData, norms: Norms) -> list[dict]:
    """Every coverage gap present in the demo rows, in the kinds of DESIGN.md."""
    t = data.tables
    gaps: list[dict] = []
    gaps += _spatial(t, norms)
    gaps += _staff_and_branches(t)
    gaps += _organisation(t, norms)
    gaps += _radius(t, norms)
    return gaps


def _spatial(t, norms: Norms) -> list[dict]:
    out = []
    communities = {r["code"]: r for r in t["regions"] if r["level"] == "community"}
    buildings = t["buildings"]
    stands = shapely.point_on_surface([b["geom"] for b in buildings])
    for layer in ("governance", "party"):
        grids = [g for g in t["grids"] if g["layer"] == layer]
        for code, region in communities.items():
            mine = [g for g in grids if g["community_code"] == code]
            union = shapely.union_all([g["geom"] for g in mine])
            hole = region["geom"].difference(union)
            if hole.area > 1.0:
                out.append(_gap("grid_hole", "community", None,
                                f"{region['name']}有 {hole.area:,.0f} m² 未划入任何{_lname(layer)}",
                                layer=layer, region=code, code=code))
            for i, a in enumerate(mine):
                outside = a["geom"].difference(region["geom"]).area
                if outside > 1.0:
                    out.append(_gap("grid_outside_community", "grid", a,
                                    f"网格 {a['code']} 有 {outside:,.0f} m² 超出社区",
                                    layer=layer, region=code))
                for b in mine[i + 1:]:
                    shared = a["geom"].intersection(b["geom"]).area
                    if shared > 1.0:
                        out.append(_gap("grid_overlap", "grid", a,
                                        f"网格 {a['code']} 与 {b['code']} 重叠 {shared:,.0f} m²",
                                        layer=layer, region=code))
        inside = {g["id"]: shapely.contains_xy(g["geom"], shapely.get_x(stands),
                                               shapely.get_y(stands)) for g in grids}
        for k, b in enumerate(buildings):
            holders = [gid for gid, mask in inside.items() if mask[k]]
            touched = [g for g in grids if g["geom"].intersects(b["geom"])
                       and g["geom"].intersection(b["geom"]).area > 0.5]
            if not holders:
                out.append(_gap("building_no_grid", "building", b,
                                f"楼栋 {b['name']} 不在任何{_lname(layer)}内", layer=layer,
                                region=b["community_code"]))
            elif len(touched) > 1 and not all(g["geom"].contains(b["geom"]) for g in touched):
                out.append(_gap("building_split", "building", b,
                                f"楼栋 {b['name']} 跨越多个网格", layer=layer,
                                region=b["community_code"]))
        by_grid = _households(t, layer, inside)
        for g in grids:
            h = by_grid.get(g["id"], 0)
            if not norms.grid_households_min <= h <= norms.grid_households_max:
                out.append(_gap("grid_households_norm", "grid", g,
                                f"网格 {g['code']} 有 {h} 户，不在 {norms.grid_households_min}"
                                f"–{norms.grid_households_max} 户之间", layer=layer,
                                region=g["community_code"]))
    out += _mismatch(t, norms)
    return out


def _lname(layer: str) -> str:
    return "党建网格" if layer == "party" else "综治网格"


def _households(t, layer: str, inside: dict) -> dict[int, int]:
    buildings = t["buildings"]
    if layer == "governance":
        totals: dict[int, int] = {}
        for b in buildings:
            if b["grid_id"]:
                totals[b["grid_id"]] = totals.get(b["grid_id"], 0) + b["households"]
        return totals
    return {gid: sum(b["households"] for b, m in zip(buildings, mask, strict=True) if m)
            for gid, mask in inside.items()}


def _mismatch(t, norms: Norms) -> list[dict]:
    out = []
    for layer, other in (("governance", "party"), ("party", "governance")):
        for g in (g for g in t["grids"] if g["layer"] == layer):
            best = 0.0
            for h in t["grids"]:
                if h["layer"] == other and h["community_code"] == g["community_code"]:
                    union = g["geom"].union(h["geom"]).area
                    best = max(best, g["geom"].intersection(h["geom"]).area / union)
            if best < norms.layer_iou_min:
                out.append(_gap("layer_mismatch", "grid", g,
                                f"{_lname(layer)} {g['code']} 与{_lname(other)}不重合"
                                f"（IoU {best:.2f}）", layer=layer, region=g["community_code"]))
    return out


def _staff_and_branches(t) -> list[dict]:
    out = []
    roles: dict[int, set] = {}
    for s in t["grid_staff"]:
        roles.setdefault(s["grid_id"], set()).add(s["role"])
    branched = {o["grid_id"] for o in t["party_orgs"]
                if o["kind"] in ("grid_branch", "building_court_branch") and o["grid_id"]}
    for g in t["grids"]:
        if g["layer"] == "governance":
            have = roles.get(g["id"], set())
            if "head" not in have:
                out.append(_gap("grid_no_head", "grid", g, f"网格 {g['code']} 无网格长",
                                layer="governance", region=g["community_code"]))
            if not have & {"full_time", "part_time"}:
                out.append(_gap("grid_no_worker", "grid", g, f"网格 {g['code']} 无网格员",
                                layer="governance", region=g["community_code"]))
        elif g["id"] not in branched:
            out.append(_gap("grid_no_branch", "grid", g, f"党建网格 {g['code']} 未建党支部",
                            layer="party", region=g["community_code"]))
    return out


def _organisation(t, norms: Norms) -> list[dict]:
    out = []
    grouped = {o["building_id"] for o in t["party_orgs"] if o["kind"] == "building_group"}
    responsible = {mb["building_id"] for mb in t["member_buildings"]}
    for b in t["buildings"]:
        if b["kind"] != "residential":
            continue
        if b["households"] >= norms.building_group_min_households and b["id"] not in grouped:
            out.append(_gap("building_no_group", "building", b,
                            f"楼栋 {b['name']}（{b['households']} 户）未建楼栋党小组",
                            region=b["community_code"]))
        if b["id"] not in responsible:
            out.append(_gap("building_no_responsible", "building", b,
                            f"楼栋 {b['name']} 无党员责任区覆盖", region=b["community_code"]))
    orgs = {o["id"]: o for o in t["party_orgs"]}
    hosts = {b["id"]: b for b in t["buildings"]}
    for u in t["units"]:
        region = hosts[u["building_id"]]["community_code"]
        if u["party_org_id"] is None and u["joint_org_id"] is None:
            out.append(_gap("unit_no_party_org", "unit", u,
                            f"{u['name']}（{hosts[u['building_id']]['name']}）既无党组织也未纳入联合党组织",
                            region=region, code=u["name"]))
        elif not u["registered"]:
            out.append(_gap("unit_not_registered", "unit", u, f"{u['name']} 未到社区双报到",
                            region=region, code=u["name"]))
    counts: dict[int, int] = {}
    for m in t["members"]:
        if not m["is_probationary"]:
            counts[m["org_id"]] = counts.get(m["org_id"], 0) + 1
    for o in orgs.values():
        if o["kind"] not in BRANCH_KINDS:
            continue
        n = counts.get(o["id"], 0)
        if n < norms.branch_min_members and o["kind"] not in JOINT_KINDS:
            out.append(_gap("branch_size_rule", "party_org", o,
                            f"{o['name']} 仅 {n} 名正式党员，应组建联合党支部",
                            region=o["region_code"], code=o["name"]))
        elif n >= norms.branch_committee_members and not o["has_committee"]:
            out.append(_gap("branch_size_rule", "party_org", o,
                            f"{o['name']} 有 {n} 名正式党员，应设支部委员会",
                            region=o["region_code"], code=o["name"]))
    return out


def _radius(t, norms: Norms) -> list[dict]:
    centres = [c for c in t["service_centers"] if c["status"] == "existing"]
    radii = [c["radius_m"] or norms.radius_for_level(c["level"]) for c in centres]
    buildings = [b for b in t["buildings"] if b["residents"] > 0]
    stands = [b["geom"].point_on_surface() for b in buildings]
    if t.get("walk_edges"):
        walks = _walks(t, [c["geom"] for c in centres], stands)
        how = "步行"
    else:
        pts = shapely.points([[c["geom"].x, c["geom"].y] for c in centres])
        walks = [list(shapely.distance(p, pts)) for p in stands]
        how = "直线"
    out = []
    for b, d in zip(buildings, walks, strict=True):
        if all(di > r for di, r in zip(d, radii, strict=True)):
            gap = min(di - r for di, r in zip(d, radii, strict=True))
            out.append(_gap("beyond_service_radius", "building", b,
                            f"楼栋 {b['name']} {b['residents']} 人{how}超出所有党群服务中心服务半径"
                            f"（最近超出 {gap:,.0f} m）", region=b["community_code"]))
    return out


def _walks(t, centres: list, stands: list) -> list[list[float]]:
    """Walking distance from every stand point to every centre (a plain Dijkstra per centre).

    Points join the network at the nearest point of the nearest edge (brute force), walk along
    the edge to one of its ends, or straight along it to a centre on the same edge.
    """
    edges = t["walk_edges"]
    lines = [e["geom"] for e in edges]
    adjacency: dict[int, list[tuple[int, float]]] = {}
    for e in edges:
        adjacency.setdefault(e["source"], []).append((e["target"], e["length_m"]))
        adjacency.setdefault(e["target"], []).append((e["source"], e["length_m"]))

    def attach(point) -> tuple[int, float, float]:
        d = shapely.distance(point, lines)
        i = min(range(len(lines)), key=lambda k: (d[k], k))
        along = lines[i].project(point) * edges[i]["length_m"] / lines[i].length
        return i, along, float(d[i])

    def dijkstra(seeds: dict[int, float]) -> dict[int, float]:
        dist = dict(seeds)
        heap = [(d, n) for n, d in seeds.items()]
        heapq.heapify(heap)
        while heap:
            d, n = heapq.heappop(heap)
            if d > dist.get(n, math.inf):
                continue
            for m, w in adjacency.get(n, []):
                if d + w < dist.get(m, math.inf):
                    dist[m] = d + w
                    heapq.heappush(heap, (d + w, m))
        return dist

    at_b = [attach(p) for p in stands]
    out = [[] for _ in stands]
    for c in centres:
        ce, c_along, c_snap = attach(c)
        e = edges[ce]
        seeds: dict[int, float] = {}
        for node, d in ((e["source"], c_snap + c_along),
                        (e["target"], c_snap + e["length_m"] - c_along)):
            seeds[node] = min(d, seeds.get(node, math.inf))
        dist = dijkstra(seeds)
        for row, (be, b_along, b_snap) in zip(out, at_b, strict=True):
            f = edges[be]
            walk = b_snap + min(b_along + dist.get(f["source"], math.inf),
                                f["length_m"] - b_along + dist.get(f["target"], math.inf))
            if be == ce:
                walk = min(walk, b_snap + c_snap + abs(b_along - c_along))
            row.append(walk)
    return out

"""Coverage engine: every gap of "全面覆盖、不留空白", and KPIs rolled up the hierarchy.

A run works on the communities under a region (or all of them). It replaces their rows in
``coverage_gaps`` (one row per gap: kind, severity, object, a geometry to draw, a one-sentence
explanation in Chinese and a remedy) and ``coverage_kpis`` (counts per community). Each gap kind
is one set-based SQL statement on GiST-indexed joins; there is no per-row Python.

Conventions (shared with the demo's planted-gap oracle, :mod:`gis.demo.planted`):

- a building stands where ``ST_PointOnSurface`` of its footprint is; it is "in" a grid when that
  point is; areas and distances are measured in the dataset's metric CRS (:mod:`gis.crs`);
- governance-grid households are those of the buildings assigned to the grid (``grid_id``),
  party-grid households those of the buildings standing in it;
- staff (网格长/网格员) belong to governance grids, branches (网格党支部/楼院党支部) to party grids;
- ``unit_not_registered`` concerns units that have a party org (own or joint);
- KPIs of a street, district or city are sums of their communities' counts, and the "with"
  counts are the totals minus the matching gaps, so KPIs and gap lists can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions

from gis.config import Norms, get_settings
from gis.crs import dataset_metric_srid
from gis.regions import SUBREGIONS_SQL, RegionNotFoundError, region_header

Connection = psycopg2.extensions.connection

GAP_KINDS = (
    "grid_hole", "grid_overlap", "grid_outside_community", "building_no_grid", "building_split",
    "layer_mismatch", "grid_households_norm", "grid_no_head", "grid_no_worker", "grid_no_branch",
    "building_no_group", "unit_no_party_org", "unit_not_registered", "branch_size_rule",
    "building_no_responsible", "beyond_service_radius",
)

# holes are looked for after overlaps and overhangs, whose presence they consult
_RUN_ORDER = ("grid_overlap", "grid_outside_community",
              *(k for k in GAP_KINDS if k not in ("grid_overlap", "grid_outside_community")))

# kind → (severity, what would fix it)
GAP_INFO: dict[str, tuple[str, str]] = {
    "grid_hole": ("high", "把空白区域划入相邻网格或新建网格，做到全面覆盖、不留空白"),
    "grid_overlap": ("high", "调整两个网格的共同边界，使每处只属于一个网格"),
    "grid_outside_community": ("medium", "把网格边界收回到本社区范围内"),
    "building_no_grid": ("high", "把楼栋所在区域划入网格"),
    "building_split": ("medium", "沿楼栋外侧调整网格边界，使整栋楼属于一个网格"),
    "layer_mismatch": ("medium", "按综治网格调整党建网格（或反之），实现两网融合、边界重合"),
    "grid_households_norm": ("medium", "拆分或合并网格，使每格 300–500 户"),
    "grid_no_head": ("high", "为网格配备网格长"),
    "grid_no_worker": ("high", "为网格配备专职或兼职网格员"),
    "grid_no_branch": ("high", "在网格建立网格党支部（或楼院党支部）"),
    "building_no_group": ("low", "在楼栋建立楼栋党小组"),
    "unit_no_party_org": ("high", "党员 3 人以上的单独建立党组织，不足 3 人的纳入联合党支部"),
    "unit_not_registered": ("low", "组织单位党组织到社区报到（双报到）"),
    "branch_size_rule": ("medium", "不足 3 名正式党员的并入联合党支部；7 人以上的设立支部委员会"),
    "building_no_responsible": ("low", "为楼栋划定党员责任区，明确责任党员"),
    "beyond_service_radius": ("medium",
                              "在服务半径外的居民集中处增设党群服务站，或调整服务中心位置"),
}

LAYER_NAMES = "(VALUES ('governance', '综治网格'), ('party', '党建网格')) AS l(layer, lname)"
BRANCH_KINDS = ("community_branch", "grid_branch", "building_court_branch", "tower_org",
                "joint_branch", "retired_branch", "floating_branch", "nonpublic_branch",
                "unit_branch")
JOINT_KINDS = ("joint_branch", "tower_org")


# the name the CLI and the web catch; one class with gis.layers' RegionNotFoundError
RegionError = RegionNotFoundError


@dataclass
class CoverageReport:
    """What a coverage run found for one region."""

    region: dict[str, Any]
    kpis: dict[str, Any]
    gaps: list[dict[str, Any]] = field(default_factory=list)
    communities: list[str] = field(default_factory=list)
    # how service-radius gaps are measured: "walk" (walking network) or "straight"
    distance_mode: str = "straight"
    # whether planned centres counted as serving ("with the plan")
    planned: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``gridmap coverage --json`` object: region, KPIs, gaps, distance mode, plan."""
        return {"region": self.region, "kpis": self.kpis, "gaps": self.gaps,
                "distance_mode": self.distance_mode, "planned": self.planned}


# --- scope --------------------------------------------------------------------------------------

_SCOPE_SQL = """
DROP TABLE IF EXISTS cov_regions, cov_communities, cov_b, cov_centres, cov_in, cov_grids;
CREATE TEMP TABLE cov_regions ON COMMIT DROP AS
""" + SUBREGIONS_SQL + """ SELECT DISTINCT code FROM sub;
-- statistics at once: with one community in scope the joins below must use the indexes
ANALYZE cov_regions;
CREATE TEMP TABLE cov_communities ON COMMIT DROP AS
SELECT r.code, r.name, r.geom FROM regions r JOIN cov_regions USING (code)
WHERE r.level = 'community';
ALTER TABLE cov_communities ADD PRIMARY KEY (code);
ANALYZE cov_communities;
CREATE TEMP TABLE cov_b ON COMMIT DROP AS
SELECT b.id, b.code, coalesce(b.name, b.code, b.id::text) AS name, b.community_code, b.kind,
       b.households, b.residents, b.grid_id, b.geom, ST_PointOnSurface(b.geom) AS pt,
       ST_Transform(ST_PointOnSurface(b.geom), %(srid)s) AS pt_m
FROM buildings b JOIN cov_communities c ON c.code = b.community_code;
CREATE INDEX ON cov_b USING gist (pt);
CREATE INDEX ON cov_b (id);
-- the grids of the communities in scope, with their area
CREATE TEMP TABLE cov_grids ON COMMIT DROP AS
SELECT g.id, g.code, g.layer, g.community_code, g.geom,
       ST_Area(ST_Transform(g.geom, %(srid)s)) AS area_m2
FROM grids g JOIN cov_communities c ON c.code = g.community_code;
CREATE INDEX ON cov_grids USING gist (geom);
CREATE INDEX ON cov_grids (layer, code);
-- building (by its point on surface) in grid, and whether the grid covers the whole footprint;
-- grid-driven so each grid polygon is prepared once for all its buildings
CREATE TEMP TABLE cov_in ON COMMIT DROP AS
SELECT x.bid, g.layer, g.id AS gid, x.covered
FROM grids g
CROSS JOIN LATERAL (
    SELECT b.id AS bid, ST_Covers(g.geom, b.geom) AS covered
    FROM cov_b b WHERE ST_Intersects(g.geom, b.pt)
) x
WHERE g.geom && (SELECT ST_Extent(geom) FROM cov_communities);
CREATE INDEX ON cov_in (bid, layer);
CREATE INDEX ON cov_in (gid);
CREATE TEMP TABLE cov_centres ON COMMIT DROP AS
SELECT id, name, level, ST_Transform(geom, %(srid)s) AS g,
       coalesce(radius_m::float8, CASE level WHEN 'street' THEN %(r_street)s
           WHEN 'community' THEN %(r_community)s WHEN 'grid' THEN %(r_grid)s
           ELSE %(r_building)s END) AS r
FROM service_centers WHERE status = ANY(%(statuses)s)
  -- only centres that can reach the scope (a degree is at least 50 km here)
  AND geom && ST_Expand((SELECT ST_Extent(geom) FROM cov_communities)::geometry,
                        %(r_max)s / 50000.0);
CREATE INDEX ON cov_centres USING gist (g);
-- statistics only where the plans need them (those of footprints cost a quarter second per 10⁵)
ANALYZE cov_b (id, community_code, kind, households, residents, pt);
ANALYZE cov_centres; ANALYZE cov_in; ANALYZE cov_grids;
"""

# --- one SELECT per gap kind: (layer, region_code, object_type, object_id, object_code,
#     explanation, details, geom) --------------------------------------------------------------

_GAP_SQL: dict[str, str] = {}

# Area bookkeeping first: when a community's grids neither overlap nor overhang, their union's
# area is the sum of their areas, so a community whose area equals that sum has no hole and the
# costly union is skipped. (Overlaps and overhangs are found before holes; see GAP_KINDS order.)
_GAP_SQL["grid_hole"] = f"""
WITH grid_area AS (
    SELECT community_code AS code, layer, sum(area_m2) AS a FROM cov_grids GROUP BY 1, 2
), flagged AS (
    SELECT DISTINCT region_code AS code, layer FROM coverage_gaps
    WHERE kind IN ('grid_overlap', 'grid_outside_community')
      AND region_code IN (SELECT code FROM cov_communities)
), suspect AS (
    SELECT c.code, l.layer, l.lname
    FROM cov_communities c CROSS JOIN {LAYER_NAMES}
    LEFT JOIN grid_area ga ON ga.code = c.code AND ga.layer = l.layer
    LEFT JOIN flagged f ON f.code = c.code AND f.layer = l.layer
    WHERE c.geom IS NOT NULL AND (f.code IS NOT NULL
        OR ST_Area(ST_Transform(c.geom, %(srid)s)) - coalesce(ga.a, 0) > %(min_area)s)
)
SELECT l.layer, c.code, 'community', NULL::int, c.code::text,
       format('%%s有 %%s m² 未划入任何%%s', c.name, round(m.a)::bigint, l.lname),
       jsonb_build_object('area_m2', round(m.a::numeric, 1)), h.geom
FROM suspect l JOIN cov_communities c USING (code)
CROSS JOIN LATERAL (
    SELECT (ST_Dump(ST_CollectionExtract(ST_Difference(c.geom, coalesce(
        (SELECT ST_Union(g.geom) FROM grids g
         WHERE g.community_code = c.code AND g.layer = l.layer),
        ST_SetSRID('POLYGON EMPTY'::geometry, 4326))), 3))).geom
) h
CROSS JOIN LATERAL (SELECT ST_Area(ST_Transform(h.geom, %(srid)s)) AS a) m
WHERE m.a > %(min_area)s
"""

_GAP_SQL["grid_overlap"] = """
SELECT a.layer, a.community_code, 'grid', a.id, a.code::text,
       format('网格 %%s 与 %%s 重叠 %%s m²', a.code, b.code, round(m.a)::bigint),
       jsonb_build_object('other_grid_id', b.id, 'other_grid_code', b.code,
                          'area_m2', round(m.a::numeric, 1)), x.geom
FROM cov_grids a
-- only the GiST index finds the neighbours ("OFFSET 0" keeps the layer and id tests out of
-- the index scan: a BitmapAnd with half the table per grid is not a plan)
CROSS JOIN LATERAL (SELECT b.id, b.code, b.layer, b.geom FROM grids b
                    WHERE b.geom && a.geom OFFSET 0) b
CROSS JOIN LATERAL (SELECT ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS geom) x
CROSS JOIN LATERAL (SELECT ST_Area(ST_Transform(x.geom, %(srid)s)) AS a) m
WHERE b.layer = a.layer AND b.id > a.id
  -- interiors can only meet where the bounding boxes overlap with an area, which grids that
  -- merely share an edge or a corner do not (cheap: the boxes are stored with the geometries)
  AND ST_XMax(b.geom) > ST_XMin(a.geom) AND ST_XMin(b.geom) < ST_XMax(a.geom)
  AND ST_YMax(b.geom) > ST_YMin(a.geom) AND ST_YMin(b.geom) < ST_YMax(a.geom)
  -- interiors meet in an area (overlap, containment or equality): their common polygonal part
  -- has one. Measured on the intersection (OverlayNG, robust) rather than by ST_Relate, which
  -- throws "side location conflict" on nearly coincident edges of hand-drawn boundaries
  AND m.a > %(min_area)s
"""

_GAP_SQL["grid_outside_community"] = """
SELECT g.layer, g.community_code, 'grid', g.id, g.code::text,
       format('网格 %%s 有 %%s m² 超出%%s范围', g.code, round(m.a)::bigint, c.name),
       jsonb_build_object('area_m2', round(m.a::numeric, 1)), x.geom
FROM cov_communities c
JOIN LATERAL (SELECT * FROM cov_grids g WHERE g.community_code = c.code
              AND NOT ST_Covers(c.geom, g.geom)) g ON true
CROSS JOIN LATERAL (SELECT ST_CollectionExtract(ST_Difference(g.geom, c.geom), 3) AS geom) x
CROSS JOIN LATERAL (SELECT ST_Area(ST_Transform(x.geom, %(srid)s)) AS a) m
WHERE c.geom IS NOT NULL AND m.a > %(min_area)s
"""

_GAP_SQL["building_no_grid"] = f"""
SELECT l.layer, b.community_code, 'building', b.id, b.code,
       format('楼栋 %%s（%%s 户 %%s 人）不在任何%%s内', b.name, b.households, b.residents, l.lname),
       jsonb_build_object('households', b.households, 'residents', b.residents), b.geom
FROM cov_b b CROSS JOIN {LAYER_NAMES}
WHERE NOT EXISTS (SELECT 1 FROM cov_in i WHERE i.bid = b.id AND i.layer = l.layer)
"""

_GAP_SQL["building_split"] = """
WITH candidates AS (  -- buildings that no grid of the layer holds whole
    SELECT b.id, b.geom, l.layer FROM cov_b b CROSS JOIN (VALUES ('governance'), ('party')) l(layer)
    WHERE NOT EXISTS (SELECT 1 FROM cov_in i WHERE i.bid = b.id AND i.layer = l.layer
                      AND i.covered)
), pairs AS (
    SELECT c.id, g.layer, g.id AS grid_id, g.code, c.geom AS bgeom, g.geom AS ggeom
    FROM candidates c JOIN grids g ON g.layer = c.layer AND ST_Intersects(g.geom, c.geom)
), multi AS (
    SELECT p.*, ST_Area(ST_Transform(ST_Intersection(p.ggeom, p.bgeom), %(srid)s)) AS a,
           ST_Covers(p.ggeom, p.bgeom) AS covered
    FROM pairs p JOIN (SELECT id, layer FROM pairs GROUP BY 1, 2 HAVING count(*) > 1) m
        USING (id, layer)
), split AS (
    SELECT id, layer, array_agg(code ORDER BY a DESC) AS codes,
           (array_agg(grid_id ORDER BY a DESC))[1] AS main_grid
    FROM multi WHERE a > %(min_piece)s GROUP BY id, layer
    HAVING count(*) > 1 AND NOT bool_and(covered)
)
SELECT s.layer, b.community_code, 'building', b.id, b.code,
       format('楼栋 %%s 跨 %%s 个网格（%%s），应归入占地最多的 %%s', b.name,
              cardinality(s.codes), array_to_string(s.codes, '、'), s.codes[1]),
       jsonb_build_object('grid_codes', to_jsonb(s.codes), 'main_grid_id', s.main_grid), b.geom
FROM split s JOIN cov_b b ON b.id = s.id
"""

_GAP_SQL["layer_mismatch"] = """
WITH todo AS MATERIALIZED (
    -- a grid whose twin (same code, other layer) has exactly the same vertices has IoU 1
    SELECT g.* FROM cov_grids g
    WHERE NOT EXISTS (SELECT 1 FROM cov_grids t WHERE t.layer <> g.layer AND t.code = g.code
                      AND ST_OrderingEquals(t.geom, g.geom))
)
SELECT g.layer, g.community_code, 'grid', g.id, g.code::text,
       format('%%s %%s 与%%s不重合（最大重合度 IoU %%s）',
              CASE g.layer WHEN 'party' THEN '党建网格' ELSE '综治网格' END, g.code,
              CASE g.layer WHEN 'party' THEN '综治网格' ELSE '党建网格' END,
              to_char(coalesce(m.iou, 0), 'FM0.00')),
       jsonb_build_object('iou', round(coalesce(m.iou, 0)::numeric, 3),
                          'best_match_code', m.code), g.geom
FROM todo g
LEFT JOIN LATERAL (
    SELECT o.code, i.a / (ST_Area(o.geom) + ST_Area(g.geom) - i.a) AS iou
    FROM grids o
    CROSS JOIN LATERAL (SELECT ST_Area(ST_Intersection(o.geom, g.geom)) AS a) i
    WHERE o.layer <> g.layer AND o.community_code = g.community_code AND o.geom && g.geom
    ORDER BY iou DESC LIMIT 1
) m ON true
WHERE coalesce(m.iou, 0) < %(iou_min)s
"""

_GAP_SQL["grid_households_norm"] = """
WITH hh AS (
    SELECT g.id, coalesce(sum(b.households), 0) AS h, count(b.id) AS n
    FROM cov_grids g LEFT JOIN buildings b ON b.grid_id = g.id
    WHERE g.layer = 'governance' GROUP BY g.id
    UNION ALL
    SELECT g.id, coalesce(sum(b.households), 0), count(b.id)
    FROM cov_grids g LEFT JOIN cov_in i ON i.gid = g.id LEFT JOIN cov_b b ON b.id = i.bid
    WHERE g.layer = 'party' GROUP BY g.id
)
SELECT g.layer, g.community_code, 'grid', g.id, g.code::text,
       format('网格 %%s 有 %%s 户，%%s %%s–%%s 户的标准', g.code, hh.h,
              CASE WHEN hh.h < %(hh_min)s THEN '少于' ELSE '多于' END, %(hh_min)s, %(hh_max)s),
       jsonb_build_object('households', hh.h, 'buildings', hh.n), g.geom
FROM hh JOIN grids g ON g.id = hh.id
WHERE hh.h NOT BETWEEN %(hh_min)s AND %(hh_max)s
"""

_GAP_SQL["grid_no_head"] = """
SELECT g.layer, g.community_code, 'grid', g.id, g.code::text,
       format('网格 %%s 无网格长', g.code), '{}'::jsonb, g.geom
FROM grids g JOIN cov_communities c ON c.code = g.community_code
WHERE g.layer = 'governance'
  AND NOT EXISTS (SELECT 1 FROM grid_staff s WHERE s.grid_id = g.id AND s.role = 'head')
"""

_GAP_SQL["grid_no_worker"] = """
SELECT g.layer, g.community_code, 'grid', g.id, g.code::text,
       format('网格 %%s 无专职或兼职网格员', g.code), '{}'::jsonb, g.geom
FROM grids g JOIN cov_communities c ON c.code = g.community_code
WHERE g.layer = 'governance' AND NOT EXISTS (
    SELECT 1 FROM grid_staff s WHERE s.grid_id = g.id AND s.role IN ('full_time', 'part_time'))
"""

_GAP_SQL["grid_no_branch"] = """
SELECT g.layer, g.community_code, 'grid', g.id, g.code::text,
       format('党建网格 %%s 未建立网格党支部', g.code), '{}'::jsonb, g.geom
FROM grids g JOIN cov_communities c ON c.code = g.community_code
WHERE g.layer = 'party' AND NOT EXISTS (
    SELECT 1 FROM party_orgs o WHERE o.grid_id = g.id
       AND o.kind IN ('grid_branch', 'building_court_branch'))
"""

_GAP_SQL["building_no_group"] = """
SELECT NULL, b.community_code, 'building', b.id, b.code,
       format('楼栋 %%s（%%s 户）未建立楼栋党小组', b.name, b.households),
       jsonb_build_object('households', b.households), b.geom
FROM cov_b b
WHERE b.kind = 'residential' AND b.households >= %(group_min)s AND NOT EXISTS (
    SELECT 1 FROM party_orgs o WHERE o.building_id = b.id AND o.kind = 'building_group')
"""

_GAP_SQL["building_no_responsible"] = """
SELECT NULL, b.community_code, 'building', b.id, b.code,
       format('楼栋 %%s 未划入任何党员责任区', b.name),
       jsonb_build_object('households', b.households, 'residents', b.residents), b.geom
FROM cov_b b
WHERE b.kind = 'residential'
  AND NOT EXISTS (SELECT 1 FROM member_buildings mb WHERE mb.building_id = b.id)
"""

_GAP_SQL["unit_no_party_org"] = """
SELECT NULL, b.community_code, 'unit', u.id, u.name,
       format('%%s（%%s）既未建立党组织，也未纳入联合党组织', u.name, b.name),
       jsonb_build_object('building_id', b.id, 'building_kind', b.kind,
                          'member_count', u.member_count), b.geom
FROM units u JOIN cov_b b ON b.id = u.building_id
WHERE u.party_org_id IS NULL AND u.joint_org_id IS NULL
"""

_GAP_SQL["unit_not_registered"] = """
SELECT NULL, b.community_code, 'unit', u.id, u.name,
       format('%%s 的党组织尚未到社区报到（双报到）', u.name),
       jsonb_build_object('building_id', b.id), b.geom
FROM units u JOIN cov_b b ON b.id = u.building_id
WHERE NOT u.registered AND (u.party_org_id IS NOT NULL OR u.joint_org_id IS NOT NULL)
"""

_GAP_SQL["branch_size_rule"] = """
WITH sized AS (
    SELECT o.id, o.kind, o.name, o.region_code, o.has_committee, o.grid_id, o.building_id,
           count(m.id) AS n
    FROM party_orgs o JOIN cov_regions r ON r.code = o.region_code
    LEFT JOIN members m ON m.org_id = o.id AND NOT m.is_probationary
    WHERE o.kind = ANY(%(branch_kinds)s)
    GROUP BY o.id
)
SELECT NULL, s.region_code, 'party_org', s.id, s.name,
       CASE WHEN s.n < %(branch_min)s
            THEN format('%%s 仅有 %%s 名正式党员，不足 %%s 人应纳入联合党支部', s.name, s.n,
                        %(branch_min)s)
            ELSE format('%%s 有 %%s 名正式党员，应设立支部委员会', s.name, s.n) END,
       jsonb_build_object('members', s.n, 'has_committee', s.has_committee),
       coalesce((SELECT geom FROM buildings WHERE id = s.building_id),
                (SELECT geom FROM grids WHERE id = s.grid_id))
FROM sized s
WHERE (s.n < %(branch_min)s AND NOT s.kind = ANY(%(joint_kinds)s))
   OR (s.n >= %(committee_min)s AND NOT s.has_committee)
"""

# the buildings beyond every radius first, then the nearest centre of those few only
_GAP_SQL["beyond_service_radius"] = """
WITH beyond AS MATERIALIZED (
    SELECT b.* FROM cov_b b
    WHERE b.residents > 0 AND NOT EXISTS (
        SELECT 1 FROM cov_centres c
        WHERE c.g && ST_Expand(b.pt_m, %(r_max)s) AND ST_DWithin(c.g, b.pt_m, c.r))
)
SELECT NULL, b.community_code, 'building', b.id, b.code,
       format('楼栋 %%s 的 %%s 名居民距最近的%%s %%s 米，超出所有党群服务中心（站）的服务半径',
              b.name, b.residents, n.name, round(n.d)::bigint),
       jsonb_build_object('residents', b.residents, 'nearest_center_id', n.id,
                          'nearest_center', n.name, 'distance_m', round(n.d::numeric, 1),
                          'radius_m', n.r, 'distance_mode', 'straight'), b.geom
FROM beyond b
LEFT JOIN LATERAL (
    SELECT c.id, c.name, c.r, ST_Distance(c.g, b.pt_m) AS d
    FROM cov_centres c ORDER BY c.g <-> b.pt_m LIMIT 1
) n ON true
"""

# the same gap by walking distance, from the stored access results (gis.access_store)
_BEYOND_WALK_SQL = """
SELECT NULL, b.community_code, 'building', b.id, b.code,
       CASE WHEN a.reachable THEN
           format('楼栋 %%s 的 %%s 名居民步行 %%s 米（直线 %%s 米）至最近的%%s，'
                  '超出所有党群服务中心（站）的服务半径', b.name, b.residents,
                  round(a.walk_m)::bigint, round(a.straight_m)::bigint, c.name)
       ELSE format('楼栋 %%s 的 %%s 名居民经步行路网无法到达任何党群服务中心（站）',
                   b.name, b.residents) END,
       jsonb_build_object('residents', b.residents, 'nearest_center_id', a.center_id,
                          'nearest_center', c.name, 'distance_m', round(a.walk_m::numeric, 1),
                          'straight_m', round(a.straight_m::numeric, 1), 'radius_m', ca.radius_m,
                          'reachable', a.reachable, 'distance_mode', 'walk'), b.geom
FROM cov_b b JOIN building_access a ON a.building_id = b.id
LEFT JOIN service_centers c ON c.id = a.center_id
LEFT JOIN center_access ca ON ca.center_id = a.center_id
WHERE b.residents > 0 AND NOT a.within_radius_walk
"""

_INSERT = """
INSERT INTO coverage_gaps (kind, severity, remedy, layer, region_code, object_type, object_id,
                           object_code, explanation, details, geom)
SELECT %(kind)s, %(severity)s, %(remedy)s, s.* FROM ({select}) AS s
"""

_KPI_SQL = """
INSERT INTO coverage_kpis (region_code, buildings, households, residents,
    residents_in_governance_grid, residents_in_party_grid, grids, grids_with_head,
    grids_with_worker, party_grids, party_grids_with_branch, two_new_buildings,
    two_new_buildings_covered, residential_buildings, residential_needing_group,
    residential_with_group, residential_with_responsible, residents_within_radius, gap_counts,
    planned)
WITH b AS (
    SELECT community_code AS code, count(*) AS n, coalesce(sum(households), 0) AS hh,
           coalesce(sum(residents), 0) AS res,
           count(*) FILTER (WHERE kind = 'residential') AS homes,
           count(*) FILTER (WHERE kind = 'residential' AND households >= %(group_min)s) AS big
    FROM cov_b GROUP BY 1
), g AS (
    SELECT community_code AS code, count(*) FILTER (WHERE layer = 'governance') AS gov,
           count(*) FILTER (WHERE layer = 'party') AS party
    FROM cov_grids GROUP BY 1
), tn AS (
    SELECT b.community_code AS code, count(DISTINCT b.id) AS n
    FROM cov_b b JOIN units u ON u.building_id = b.id
    WHERE b.kind IN ('office', 'park', 'market') GROUP BY 1
), gap AS (
    SELECT region_code AS code, kind, layer, count(*) AS n,
           count(DISTINCT object_id) AS objects,
           coalesce(sum((details ->> 'residents')::int), 0) AS res
    FROM coverage_gaps WHERE region_code IN (SELECT code FROM cov_communities)
    GROUP BY 1, 2, 3
), pivot AS (
    SELECT code,
        sum(res) FILTER (WHERE kind = 'building_no_grid' AND layer = 'governance') AS res_no_gov,
        sum(res) FILTER (WHERE kind = 'building_no_grid' AND layer = 'party') AS res_no_party,
        sum(objects) FILTER (WHERE kind = 'grid_no_head') AS no_head,
        sum(objects) FILTER (WHERE kind = 'grid_no_worker') AS no_worker,
        sum(objects) FILTER (WHERE kind = 'grid_no_branch') AS no_branch,
        sum(objects) FILTER (WHERE kind = 'building_no_group') AS no_group,
        sum(objects) FILTER (WHERE kind = 'building_no_responsible') AS no_responsible,
        sum(res) FILTER (WHERE kind = 'beyond_service_radius') AS res_beyond
    FROM gap GROUP BY code
), counts AS (
    SELECT code, jsonb_object_agg(kind, n) AS j
    FROM (SELECT code, kind, sum(n) AS n FROM gap GROUP BY 1, 2) x GROUP BY 1
), tn_gap AS (
    SELECT region_code AS code, count(DISTINCT (details ->> 'building_id')) AS n
    FROM coverage_gaps WHERE kind = 'unit_no_party_org'
      AND region_code IN (SELECT code FROM cov_communities)
      AND details ->> 'building_kind' IN ('office', 'park', 'market') GROUP BY 1
)
SELECT c.code, coalesce(b.n, 0), coalesce(b.hh, 0), coalesce(b.res, 0),
    coalesce(b.res, 0) - coalesce(p.res_no_gov, 0),
    coalesce(b.res, 0) - coalesce(p.res_no_party, 0),
    coalesce(g.gov, 0),
    coalesce(g.gov, 0) - coalesce(p.no_head, 0),
    coalesce(g.gov, 0) - coalesce(p.no_worker, 0),
    coalesce(g.party, 0),
    coalesce(g.party, 0) - coalesce(p.no_branch, 0),
    coalesce(tn.n, 0), coalesce(tn.n, 0) - coalesce(tn_gap.n, 0),
    coalesce(b.homes, 0), coalesce(b.big, 0),
    coalesce(b.big, 0) - coalesce(p.no_group, 0),
    coalesce(b.homes, 0) - coalesce(p.no_responsible, 0),
    coalesce(b.res, 0) - coalesce(p.res_beyond, 0),
    coalesce(counts.j, '{}'::jsonb), %(planned)s
FROM cov_communities c
LEFT JOIN b ON b.code = c.code LEFT JOIN g ON g.code = c.code LEFT JOIN tn ON tn.code = c.code
LEFT JOIN tn_gap ON tn_gap.code = c.code LEFT JOIN pivot p ON p.code = c.code
LEFT JOIN counts ON counts.code = c.code
"""

KPI_COUNTS = ("buildings", "households", "residents", "residents_in_governance_grid",
              "residents_in_party_grid", "grids", "grids_with_head", "grids_with_worker",
              "party_grids", "party_grids_with_branch", "two_new_buildings",
              "two_new_buildings_covered", "residential_buildings", "residential_needing_group",
              "residential_with_group", "residential_with_responsible",
              "residents_within_radius")
# share name → (numerator, denominator)
KPI_SHARES = {
    "share_residents_in_grid": ("residents_in_governance_grid", "residents"),
    "share_residents_in_party_grid": ("residents_in_party_grid", "residents"),
    "share_grids_with_head": ("grids_with_head", "grids"),
    "share_grids_with_worker": ("grids_with_worker", "grids"),
    "share_party_grids_with_branch": ("party_grids_with_branch", "party_grids"),
    "share_two_new_covered": ("two_new_buildings_covered", "two_new_buildings"),
    "share_residential_with_group": ("residential_with_group", "residential_needing_group"),
    "share_residential_with_responsible": ("residential_with_responsible",
                                           "residential_buildings"),
    "share_residents_within_radius": ("residents_within_radius", "residents"),
}


def _params(norms: Norms, srid: int, region: str | None,
            planned: bool = False) -> dict[str, Any]:
    radii = [norms.radius_street_m, norms.radius_community_m, norms.radius_grid_m,
             norms.radius_building_m]
    return {
        "region": region, "srid": srid, "min_area": norms.gap_min_area_m2,
        "min_piece": norms.building_split_min_m2, "iou_min": norms.layer_iou_min,
        "hh_min": norms.grid_households_min, "hh_max": norms.grid_households_max,
        "group_min": norms.building_group_min_households,
        "branch_min": norms.branch_min_members, "committee_min": norms.branch_committee_members,
        "branch_kinds": list(BRANCH_KINDS), "joint_kinds": list(JOINT_KINDS),
        "r_street": norms.radius_street_m, "r_community": norms.radius_community_m,
        "r_grid": norms.radius_grid_m, "r_building": norms.radius_building_m,
        "r_max": max(radii), "planned": planned,
        "statuses": ["existing", "planned"] if planned else ["existing"],
    }


def run_coverage(conn: Connection, *, region: str | None = None,
                 norms: Norms | None = None, planned: bool = False,
                 refresh_access: bool = True) -> CoverageReport:
    """Find every coverage gap under ``region`` and store gaps and KPIs.

    Parameters
    ----------
    conn
        Open connection; the run happens in the caller's transaction (commit to keep it).
    region
        12-digit code of a city, district, street or community; None for everything.
    norms
        Thresholds (radii, household norm, branch rules ...); the settings' by default.
    planned
        Count planned centres as serving ("with the plan"); the stored results say so.
    refresh_access
        Recompute stale walking results first (default). Grid edits, which cannot change
        them, pass False and save the check.

    Returns
    -------
    CoverageReport
        The region, its rolled-up KPIs and its gaps.

    Raises
    ------
    RegionError
        If ``region`` is not in the ``regions`` table.
    """
    norms = norms or get_settings().norms
    region_row = region_header(conn, region)
    mode = distance_mode(conn, norms, refresh=refresh_access, planned=planned)
    srid = dataset_metric_srid(conn, region_codes=[region] if region else None)
    params = _params(norms, srid, region, planned)
    with conn.cursor() as cur:
        cur.execute(_SCOPE_SQL, params)
        cur.execute("DELETE FROM coverage_gaps WHERE region_code IN (SELECT code FROM cov_regions)")
        cur.execute("DELETE FROM coverage_kpis WHERE region_code IN (SELECT code FROM cov_regions)")
        for kind in _RUN_ORDER:
            severity, remedy = GAP_INFO[kind]
            select = _BEYOND_WALK_SQL if kind == "beyond_service_radius" and mode == "walk" \
                else _GAP_SQL[kind]
            cur.execute(_INSERT.format(select=select),
                        {**params, "kind": kind, "severity": severity, "remedy": remedy})
        cur.execute(_KPI_SQL, params)
    return load_report(conn, region=region, region_row=region_row)


def distance_mode(conn: Connection, norms: Norms | None = None, *, refresh: bool = False,
                  planned: bool = False) -> str:
    """``walk`` when the database has a walking network, else ``straight``.

    With ``refresh``, stale or missing walking results are recomputed first (without
    isochrones), so service-radius gaps always describe the data as it is.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM walk_edges)")
        if not cur.fetchone()[0]:
            return "straight"
    if refresh:
        from gis.access_store import access_is_fresh, run_access

        norms = norms or get_settings().norms
        if not access_is_fresh(conn, norms, planned=planned):
            run_access(conn, norms=norms, with_isochrones=False, planned=planned)
    return "walk"


def load_report(conn: Connection, *, region: str | None = None,
                region_row: dict[str, Any] | None = None) -> CoverageReport:
    """Read the stored gaps and KPIs under ``region`` (no recomputation).

    KPIs of a region above community level are the sums of its communities' counts.
    """
    region_row = region_row or region_header(conn, region)
    code = region_row["code"]
    with conn.cursor() as cur:
        cur.execute("""
            {sub}
            SELECT {sums}, coalesce(bool_or(k.planned), false),
                   array_agg(k.region_code ORDER BY k.region_code)
            FROM coverage_kpis k WHERE k.region_code IN (SELECT code FROM sub)
        """.format(sub=SUBREGIONS_SQL,
                   sums=", ".join(f"coalesce(sum(k.{c}), 0)::bigint" for c in KPI_COUNTS)),
                    {"region": code})
        row = cur.fetchone()
        cur.execute(SUBREGIONS_SQL + """
            SELECT json_build_object('id', g.id, 'kind', g.kind, 'severity', g.severity,
                'layer', g.layer, 'region_code', g.region_code, 'object_type', g.object_type,
                'object_id', g.object_id, 'object_code', g.object_code,
                'explanation', g.explanation, 'remedy', g.remedy, 'details', g.details)
            FROM coverage_gaps g WHERE g.region_code IN (SELECT code FROM sub)
            ORDER BY array_position(%(kinds)s, g.kind), g.region_code, g.object_code, g.id
        """, {"region": code, "kinds": list(GAP_KINDS)})
        gaps = [r[0] for r in cur.fetchall()]
    kpis: dict[str, Any] = dict(zip(KPI_COUNTS, (int(v) for v in row[:len(KPI_COUNTS)]),
                                    strict=True))
    for name, (num, den) in KPI_SHARES.items():
        kpis[name] = round(kpis[num] / kpis[den], 4) if kpis[den] else None
    gap_counts = dict.fromkeys(GAP_KINDS, 0)
    for g in gaps:
        gap_counts[g["kind"]] += 1
    kpis["gap_counts"] = gap_counts
    communities = row[-1] or []
    return CoverageReport(region=region_row, kpis=kpis, gaps=gaps, communities=communities,
                          distance_mode=distance_mode(conn), planned=bool(row[-2]))

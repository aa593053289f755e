"""The demo district: deterministic, faithful to the seeds, and its planted gaps are exactly there.

The planted-gap table is derived in Python from the generated rows; here each kind is
recomputed independently in PostGIS SQL and the two must agree.
"""

from __future__ import annotations

import psycopg2
import pytest
import shapely

from gis.demo import build_demo, load_demo

TAOYUAN = "530103002001"


def planted(conn, kind, layer=None):
    with conn.cursor() as cur:
        cur.execute("SELECT object_id FROM demo_planted_gaps WHERE kind = %s"
                    " AND layer IS NOT DISTINCT FROM %s", (kind, layer))
        return sorted(r[0] for r in cur.fetchall())


def ids(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return sorted(r[0] for r in cur.fetchall())


def digest(conn):
    tables = ["regions", "grids", "buildings", "party_orgs", "members", "member_buildings",
              "grid_staff", "units", "service_centers", "ledger_items", "walk_edges",
              "demo_planted_gaps"]
    out = {}
    with conn.cursor() as cur:
        for t in tables:
            cur.execute("SELECT md5(string_agg(r::text, '|' ORDER BY r::text)) FROM (SELECT"
                        " to_jsonb(t) - 'updated_at' - 'created_at' AS r FROM " + t + " t) x")
            out[t] = cur.fetchone()[0]
    return out


def test_same_seed_same_rows_other_seed_other_rows(demo_conn, database_factory):
    url = database_factory("demo2")
    conn = psycopg2.connect(url)
    try:
        load_demo(conn, build_demo(seed=1))
        conn.commit()
        assert digest(conn) == digest(demo_conn)
        load_demo(conn, build_demo(seed=2))  # replaces the earlier demo
        conn.commit()
        other = digest(conn)
        assert other["buildings"] != digest(demo_conn)["buildings"]
    finally:
        conn.close()


def test_taoyuan_reproduces_the_seed(demo_conn):
    with demo_conn.cursor() as cur:
        cur.execute("""
            SELECT count(*) FILTER (WHERE kind = 'residential'), sum(households), sum(residents),
                   count(*) FILTER (WHERE is_rental), sum(migrant_households),
                   sum(migrant_residents)
            FROM buildings WHERE community_code = %s""", (TAOYUAN,))
        assert cur.fetchone() == (43, 3263, 8746, 49, 520, 2050)
        cur.execute("SELECT name, ST_Area(geom::geography) FROM regions WHERE code = %s",
                    (TAOYUAN,))
        name, area = cur.fetchone()
        assert name == "桃源社区"
        assert area == pytest.approx(250_000, rel=0.01)
        cur.execute("SELECT count(*) FROM units u JOIN buildings b ON b.id = u.building_id"
                    " WHERE b.community_code = %s", (TAOYUAN,))
        assert cur.fetchone()[0] == 30
        # the five kinds of branch under 桃源社区党总支
        cur.execute("""
            SELECT array_agg(DISTINCT c.kind ORDER BY c.kind) FROM party_orgs p
            JOIN party_orgs c ON c.parent_id = p.id
            WHERE p.region_code = %s AND p.kind = 'community_general_branch'""", (TAOYUAN,))
        assert cur.fetchone()[0] == ["building_court_branch", "community_branch",
                                     "floating_branch", "nonpublic_branch", "retired_branch"]


def test_hierarchy_uses_official_codes_and_nests(demo_conn):
    with demo_conn.cursor() as cur:
        cur.execute("SELECT level, count(*) FROM regions GROUP BY 1 ORDER BY 1")
        counts = dict(cur.fetchall())
        assert counts["street"] >= 2 and counts["community"] >= 6
        cur.execute("""
            SELECT c.code FROM regions c JOIN regions p ON p.code = c.parent_code
            WHERE c.geom IS NOT NULL AND p.geom IS NOT NULL
              AND NOT ST_CoveredBy(c.geom, ST_Buffer(p.geom, 1e-9))""")
        assert cur.fetchall() == []
        cur.execute("SELECT ST_Area(geom::geography) FROM regions WHERE level = 'district'")
        district = cur.fetchone()[0]
        cur.execute("SELECT sum(ST_Area(geom::geography)) FROM regions WHERE level='community'")
        assert cur.fetchone()[0] == pytest.approx(district, rel=1e-6)
        cur.execute("SELECT code, name FROM regions WHERE code IN ('530103002000','530103000000')")
        assert dict(cur.fetchall()) == {"530103002000": "鼓楼街道", "530103000000": "盘龙区"}


@pytest.mark.parametrize("layer", ["governance", "party"])
def test_grids_tile_communities_except_the_planted_holes_and_overlaps(demo_conn, layer):
    with demo_conn.cursor() as cur:
        cur.execute("""
            SELECT r.code, ST_Area(ST_Difference(r.geom, ST_Union(g.geom))::geography)
            FROM regions r JOIN grids g ON g.community_code = r.code AND g.layer = %s
            GROUP BY r.code, r.geom""", (layer,))
        holes = {code: area for code, area in cur.fetchall() if area > 0}
        cur.execute("SELECT region_code FROM demo_planted_gaps WHERE kind='grid_hole' AND layer=%s",
                    (layer,))
        assert sorted(holes) == sorted(r[0] for r in cur.fetchall())
        assert list(holes.values()) == [pytest.approx(21_000, rel=0.01)]
        # exact: neighbouring grids share their edges, not even a sliver between them
        overlapping = ids(demo_conn, """
            SELECT a.id FROM grids a JOIN grids b ON a.id < b.id AND a.layer = b.layer
             AND ST_Relate(a.geom, b.geom, '2********') WHERE a.layer = %s""", (layer,))
        assert overlapping == planted(demo_conn, "grid_overlap", layer)
        outside = ids(demo_conn, """
            SELECT g.id FROM grids g JOIN regions r ON r.code = g.community_code
            WHERE g.layer = %s AND NOT ST_Covers(r.geom, g.geom)""",
                      (layer,))
        assert outside == []


def test_buildings_sit_in_their_grid_and_community(demo_conn):
    with demo_conn.cursor() as cur:
        cur.execute("""
            SELECT count(*) FROM buildings b JOIN grids g ON g.id = b.grid_id
            WHERE NOT ST_Within(b.geom, g.geom) OR g.layer <> 'governance'
               OR g.community_code <> b.community_code""")
        assert cur.fetchone()[0] == 0
        cur.execute("""
            SELECT count(*) FROM buildings b JOIN regions r ON r.code = b.community_code
            WHERE NOT ST_Within(b.geom, r.geom)""")
        assert cur.fetchone()[0] == 0
    assert ids(demo_conn, "SELECT id FROM buildings WHERE grid_id IS NULL") == \
        planted(demo_conn, "building_no_grid", "governance")
    # no footprint is cut by a grid boundary of either layer
    assert ids(demo_conn, """
        SELECT DISTINCT b.id FROM buildings b JOIN grids g ON ST_Intersects(g.geom, b.geom)
        WHERE NOT ST_Within(b.geom, g.geom)""") == []


def test_households_norm_and_staff_gaps_match_the_planted_ones(demo_conn):
    over = ids(demo_conn, """
        SELECT g.id FROM grids g LEFT JOIN buildings b ON b.grid_id = g.id
        WHERE g.layer = 'governance' GROUP BY g.id
        HAVING coalesce(sum(b.households), 0) NOT BETWEEN 300 AND 500""")
    assert over == planted(demo_conn, "grid_households_norm", "governance")
    assert len(over) == 1
    no_head = ids(demo_conn, """
        SELECT id FROM grids g WHERE layer = 'governance' AND NOT EXISTS (
            SELECT 1 FROM grid_staff s WHERE s.grid_id = g.id AND s.role = 'head')""")
    assert no_head == planted(demo_conn, "grid_no_head", "governance") and len(no_head) == 1
    no_worker = ids(demo_conn, """
        SELECT id FROM grids g WHERE layer = 'governance' AND NOT EXISTS (
            SELECT 1 FROM grid_staff s WHERE s.grid_id = g.id AND s.role <> 'head')""")
    assert no_worker == planted(demo_conn, "grid_no_worker", "governance")
    assert len(no_worker) == 1
    no_branch = ids(demo_conn, """
        SELECT id FROM grids g WHERE layer = 'party' AND NOT EXISTS (
            SELECT 1 FROM party_orgs o WHERE o.grid_id = g.id
               AND o.kind IN ('grid_branch', 'building_court_branch'))""")
    assert no_branch == planted(demo_conn, "grid_no_branch", "party") and len(no_branch) == 1


def test_layer_mismatch_matches_the_planted_one(demo_conn):
    mismatched = ids(demo_conn, """
        SELECT g.id FROM grids g WHERE g.layer = 'governance' AND coalesce((
            SELECT max(ST_Area(ST_Intersection(g.geom, p.geom)) / ST_Area(ST_Union(g.geom, p.geom)))
            FROM grids p WHERE p.layer = 'party' AND p.community_code = g.community_code
              AND ST_Intersects(g.geom, p.geom)), 0) < 0.9""")
    assert mismatched == planted(demo_conn, "layer_mismatch", "governance")
    assert len(mismatched) == 2


def test_organisational_gaps_match_the_planted_ones(demo_conn):
    no_org = ids(demo_conn, "SELECT id FROM units WHERE party_org_id IS NULL"
                            " AND joint_org_id IS NULL")
    assert no_org == planted(demo_conn, "unit_no_party_org") and no_org
    # 两新组织 coverage gap is an office tower's units
    assert ids(demo_conn, "SELECT DISTINCT b.kind FROM units u JOIN buildings b"
                          " ON b.id = u.building_id WHERE u.party_org_id IS NULL"
                          " AND u.joint_org_id IS NULL") == ["office"]
    assert ids(demo_conn, """SELECT id FROM units WHERE NOT registered
        AND (party_org_id IS NOT NULL OR joint_org_id IS NOT NULL)""") == \
        planted(demo_conn, "unit_not_registered")
    # joint orgs gather at most five units
    assert ids(demo_conn, "SELECT joint_org_id FROM units WHERE joint_org_id IS NOT NULL"
                          " GROUP BY 1 HAVING count(*) > 5") == []
    no_group = ids(demo_conn, """
        SELECT b.id FROM buildings b WHERE b.kind = 'residential' AND b.households >= 60
        AND NOT EXISTS (SELECT 1 FROM party_orgs o WHERE o.building_id = b.id
                        AND o.kind = 'building_group')""")
    assert no_group == planted(demo_conn, "building_no_group") and len(no_group) == 2
    no_resp = ids(demo_conn, """
        SELECT b.id FROM buildings b WHERE b.kind = 'residential' AND NOT EXISTS (
            SELECT 1 FROM member_buildings mb WHERE mb.building_id = b.id)""")
    assert no_resp == planted(demo_conn, "building_no_responsible") and len(no_resp) == 3
    bad_size = ids(demo_conn, """
        SELECT o.id FROM party_orgs o
        LEFT JOIN members m ON m.org_id = o.id AND NOT m.is_probationary
        WHERE o.kind IN ('community_branch', 'grid_branch', 'building_court_branch', 'tower_org',
                         'joint_branch', 'retired_branch', 'floating_branch',
                         'nonpublic_branch', 'unit_branch')
        GROUP BY o.id, o.kind, o.has_committee
        HAVING (count(m.id) < 3 AND o.kind NOT IN ('joint_branch', 'tower_org'))
            OR (count(m.id) >= 7 AND NOT o.has_committee)""")
    assert bad_size == planted(demo_conn, "branch_size_rule") and len(bad_size) == 2


def test_beyond_radius_matches_walking_and_contains_the_straight_line_cases(demo_conn):
    from gis.access_store import run_access

    straight = ids(demo_conn, """
        SELECT b.id FROM buildings b WHERE b.residents > 0 AND NOT EXISTS (
            SELECT 1 FROM service_centers c WHERE c.status = 'existing'
            AND ST_DWithin(ST_Transform(ST_PointOnSurface(b.geom), 4543),
                ST_Transform(c.geom, 4543),
                coalesce(c.radius_m, CASE c.level WHEN 'street' THEN 1000
                    WHEN 'community' THEN 500 WHEN 'grid' THEN 300 ELSE 150 END)))""")
    # the oracle walks with a plain Dijkstra per centre; the engine with one scipy search
    run_access(demo_conn, with_isochrones=False)
    beyond = ids(demo_conn, """
        SELECT a.building_id FROM building_access a JOIN buildings b ON b.id = a.building_id
        WHERE b.residents > 0 AND NOT a.within_radius_walk""")
    assert beyond == planted(demo_conn, "beyond_service_radius")
    # a walk is never shorter than the straight line: beyond by air is beyond on foot
    assert set(straight) < set(beyond)
    assert 5 <= len(beyond) <= 40
    with demo_conn.cursor() as cur:
        cur.execute("SELECT level, count(*) FROM service_centers WHERE status = 'existing'"
                    " GROUP BY 1")
        levels = dict(cur.fetchall())
    assert {"street", "community", "grid", "building"} <= set(levels)


def test_walking_network_is_connected_and_measured(demo_conn):
    with demo_conn.cursor() as cur:
        cur.execute("""SELECT count(DISTINCT component) FROM pgr_connectedComponents(
            'SELECT id, source, target, length_m AS cost, length_m AS reverse_cost
             FROM walk_edges')""")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT max(abs(length_m - ST_Length(geom::geography)) / length_m)"
                    " FROM walk_edges")
        assert cur.fetchone()[0] < 0.005
        cur.execute("SELECT count(*) FROM walk_edges e JOIN buildings b"
                    " ON ST_Intersects(e.geom, b.geom)")
        assert cur.fetchone()[0] == 0  # streets and paths never run through a building
        cur.execute("""
            SELECT max(d) FROM (SELECT (SELECT ST_Distance(b.geom::geography, e.geom::geography)
                FROM walk_edges e ORDER BY e.geom <-> b.geom LIMIT 1) AS d FROM buildings b) x""")
        assert cur.fetchone()[0] < 40  # every building is a short walk from a street or path
        cur.execute("SELECT count(*) FROM walk_edges e LEFT JOIN walk_nodes s ON s.id = e.source"
                    " WHERE NOT ST_Equals(ST_StartPoint(e.geom), s.geom)")
        assert cur.fetchone()[0] == 0


def test_community_scale_is_taoyuan_alone(database_factory):
    conn = psycopg2.connect(database_factory("taoyuan"))
    try:
        load_demo(conn, build_demo(seed=1, scale="community"))
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), sum(households), sum(residents) FROM buildings")
            assert cur.fetchone() == (43 + 49 + 5, 3263, 8746)  # 5 public buildings
            cur.execute("SELECT array_agg(code ORDER BY code) FROM regions WHERE level='community'")
            assert cur.fetchone()[0] == [TAOYUAN]
    finally:
        conn.close()


def test_demo_refuses_to_replace_real_data(schema_url):
    conn = psycopg2.connect(schema_url)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO regions(code, level, name) VALUES"
                        " ('110000000000', 'city', '北京市')")
        with pytest.raises(RuntimeError, match="--force"):
            load_demo(conn, build_demo(seed=1))
        with conn.cursor() as cur:
            cur.execute("SELECT name FROM regions")
            assert cur.fetchall() == [("北京市",)]
    finally:
        conn.rollback()
        conn.close()


def test_building_footprints_are_plausible():
    data = build_demo(seed=3)
    shapes = [b["geom"] for b in data.tables["buildings"]]
    assert all(shapely.is_valid(shapes))
    areas_m2 = [b["geom"].area * (111_320 ** 2) * 0.906 for b in data.tables["buildings"]]
    assert min(areas_m2) > 80 and max(areas_m2) < 5000
    homes = [b for b in data.tables["buildings"] if b["kind"] == "residential"]
    assert all(b["residents"] >= b["households"] > 0 for b in homes)

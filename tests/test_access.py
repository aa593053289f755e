"""Walking access: hand-made graphs with known shortest paths, then the stored results.

Graph cases are built in memory (metres); database cases use the tiny world of ``world.py``.
Every expected distance below is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import shapely
from world import COMMUNITY, World

from gis.access import LEVELS, AccessModel, Centres, band_of
from gis.access_store import access_is_fresh, ensure_isochrones, run_access
from gis.config import get_settings
from gis.coverage import run_coverage
from gis.network import Network

NORMS = get_settings().norms


def block(extra_nodes=(), extra_edges=()):
    """A 100 m square block A(0,0) B(100,0) C(100,100) D(0,100), plus extra nodes and edges."""
    nodes = {1: (0, 0), 2: (100, 0), 3: (100, 100), 4: (0, 100), **dict(extra_nodes)}
    edges = [(1, 2), (2, 3), (3, 4), (4, 1), *extra_edges]
    return Network.from_edges(4543, node_ids=list(nodes), node_xy=list(nodes.values()),
                              edge_ids=range(1, len(edges) + 1),
                              source_ids=[s for s, _ in edges], target_ids=[t for _, t in edges])


def centres(*items):
    """Centres from (x, y, level[, radius])."""
    return Centres(ids=range(1, len(items) + 1), xy=[(x, y) for x, y, *_ in items],
                   level=[i[2] for i in items],
                   radius_m=[i[3] if len(i) > 3 else NORMS.radius_for_level(i[2]) for i in items])


def evaluate(net, buildings, cs):
    return AccessModel.build(net, np.array(buildings, dtype=float)).evaluate(cs)


def test_detour_around_the_block():
    # building north of CD at x=50 (5 m off), centre south of AB at x=50 (5 m off):
    # 5 + 50 (to C or D) + 100 (down a side) + 50 + 5 = 210 m on foot, 110 m by air
    r = evaluate(block(), [(50, 105)], centres((50, -5, "community")))
    assert r.walk_m[0] == pytest.approx(210)
    assert r.straight_m[0] == pytest.approx(110)
    assert r.center[0] == 0 and r.reachable[0]


def test_another_component_is_unreachable_not_zero():
    net = block(extra_nodes={5: (300, 0), 6: (400, 0)}, extra_edges=[(5, 6)])
    r = evaluate(net, [(350, 3), (50, 105)], centres((50, -5, "community")))
    assert np.isnan(r.walk_m[0]) and not r.reachable[0] and r.center[0] == -1
    assert r.nearest_straight_m[0] == pytest.approx(np.hypot(300, 8))  # still known by air
    assert not r.within_radius_walk[0] and r.within_radius_straight[0]  # 300.1 m < 500 m
    assert r.walk_m[1] == pytest.approx(210)
    assert list(net.components()) == [0, 0, 0, 0, 1, 1]


def test_centre_on_a_dead_end():
    # spur B(100,0) → G(100,-80); centre 3 m beyond G. From the building north of CD at x=50:
    # 5 + 50 (to C) + 100 (C→B) + 80 (B→G) + 3 = 238
    net = block(extra_nodes={7: (100, -80)}, extra_edges=[(2, 7)])
    r = evaluate(net, [(50, 105)], centres((103, -80, "grid")))
    assert r.walk_m[0] == pytest.approx(238)


def test_two_points_on_one_edge_walk_straight_along_it():
    # both on AB: 4 + (70 - 30) + 5 = 49, not via a node (4 + 30 + 70 + 5 = 109)
    r = evaluate(block(), [(30, -4)], centres((70, -5, "grid")))
    assert r.walk_m[0] == pytest.approx(49)


def test_snap_onto_a_polyline_edge():
    # one edge A(0,0) → (100,0) → (100,100) drawn with a bend; the point (103, 60) meets it
    # 60 m up the second leg: 160 m along the edge, 3 m away
    net = Network.from_edges(4543, node_ids=[1, 2], node_xy=[(0, 0), (100, 100)], edge_ids=[1],
                             source_ids=[1], target_ids=[2],
                             lines=np.array([shapely.LineString([(0, 0), (100, 0), (100, 100)])]))
    snap = net.snap(np.array([[103.0, 60.0], [50.0, -2.0]]))
    assert list(snap.edge) == [0, 0]
    assert snap.along_m == pytest.approx([160, 50])
    assert snap.dist_m == pytest.approx([3, 2])


def test_own_radius_and_levels():
    # a grid station at A (radius 100) and a street centre at (600, 100) on a road east from C
    # (radius 1,000). Building 1 (north of CD at x=50) walks 5 + 50 + 100 = 155 to the station,
    # beyond its 100 m, but 5 + 50 + 500 = 555 to the street centre, inside its 1,000 m.
    # Building 2 at (-50, -800) is 801.6 m from the station and 1,110 m from the street centre
    # by air: inside no radius either way.
    net = block(extra_nodes={8: (600, 100)}, extra_edges=[(3, 8)])
    cs = centres((0, 0, "grid", 100.0), (600, 100, "street", 1000.0))
    r = evaluate(net, [(50, 105), (-50, -800)], cs)
    assert r.center[0] == 0 and r.walk_m[0] == pytest.approx(155)
    assert r.within_radius_walk[0] and r.within_radius_straight[0]
    assert not r.within_radius_walk[1] and not r.within_radius_straight[1]
    assert r.walk_m[1] == pytest.approx(np.hypot(50, 800))
    street, grid = LEVELS.index("street"), LEVELS.index("grid")
    assert r.level_walk[0, grid] == 0 and r.level_walk[0, street] == 1
    assert r.level_walk_m[0, street] == pytest.approx(555)
    assert r.level_walk[0, LEVELS.index("community")] == -1
    assert r.level_straight[1, grid] == 0
    assert r.level_straight_m[1, grid] == pytest.approx(np.hypot(50, 800))


def test_bands():
    assert list(band_of(np.array([0, 300, 300.01, 500, 999.9, 1000.01, np.nan]),
                        (300.0, 500.0, 1000.0))) == pytest.approx(
        [300, 300, 500, 500, 1000, np.nan, np.nan], nan_ok=True)


def test_moving_a_centre_reassigns_exactly_the_expected_buildings():
    # a straight 1 km road with a node every 100 m; buildings 10 m off it at x = 50, 150 … 950;
    # centres at x = 100 and 900 split them at 500. Moving the second to x = 620 moves the
    # split to 360: only the building at x = 450 changes centre.
    xs = np.arange(0, 1001, 100)
    net = Network.from_edges(4543, node_ids=range(1, 12), node_xy=[(x, 0) for x in xs],
                             edge_ids=range(1, 11), source_ids=range(1, 11),
                             target_ids=range(2, 12))
    model = AccessModel.build(net, np.array([(x, 10) for x in range(50, 1000, 100)], float))
    before = model.evaluate(centres((100, 0, "grid"), (900, 0, "grid"))).center
    after = model.evaluate(centres((100, 0, "grid"), (620, 0, "grid"))).center
    assert list(before) == [0] * 5 + [1] * 5
    changed = [x for x, b, a in zip(range(50, 1000, 100), before, after, strict=True) if b != a]
    assert changed == [450]


# --- stored results --------------------------------------------------------------------------

def small_world(conn, *, walkway=True):
    """Three buildings north of a road along y=0 and a community centre 10 m south of (100, 0).

    Points on surface: b1 (40, 30), b2 (140, 30), b3 (187.5, 87.5). Walks to the centre:
    b1 30 + 60 + 10 = 100, b2 30 + 40 + 10 = 80, b3 87.5 + 87.5 + 10 = 185; by air 72.1, 56.6
    and 131.0. The centre's own radius is 150 m: b3 is beyond it on foot, not by air.
    """
    w = World(conn)
    w.community(COMMUNITY, "桃源社区", (0, 0, 200, 100))
    ids = [w.building("1栋", (20, 20, 60, 40), households=100),
           w.building("2栋", (120, 20, 160, 40), households=200),
           w.building("3栋", (180, 80, 195, 95), households=10)]
    centre = w.centre("桃源社区党群服务中心", (100, -10), level="community", radius=150)
    if walkway:
        w.walkway([(0, 0), (100, 0)], [(100, 0), (200, 0)])
    return ids, centre


def test_stored_access_and_kpis_by_hand(schema_conn):
    ids, centre = small_world(schema_conn)
    report = run_access(schema_conn, norms=replace(NORMS, snap_flag_m=50.0))
    with schema_conn.cursor() as cur:
        cur.execute("SELECT building_id, center_id, walk_m, straight_m, walk_band_m, reachable,"
                    " within_radius_walk, within_radius_straight, snap_m, long_snap"
                    " FROM building_access ORDER BY building_id")
        rows = cur.fetchall()
        cur.execute("SELECT residents, residents_within_radius, radius_m FROM center_access")
        centre_row = cur.fetchone()
        cur.execute("SELECT band_m FROM center_isochrones ORDER BY band_m")
        iso = [r[0] for r in cur.fetchall()]
    expect = [(100, np.hypot(60, 40), True, 30), (80, np.hypot(40, 40), True, 30),
              (185, np.hypot(87.5, 97.5), False, 87.5)]
    for row, (walk, straight, within, snap) in zip(rows, expect, strict=True):
        assert row[1] == centre and row[5]
        assert row[2] == pytest.approx(walk, abs=0.05)
        assert row[3] == pytest.approx(straight, abs=0.05)
        assert row[4] == 300 and row[6] is within and row[7] is True
        assert row[8] == pytest.approx(snap, abs=0.05) and row[9] is (snap > 50)
    assert centre_row == (300 + 600 + 30, 900, 150)
    assert iso == [300, 500, 1000]
    k = report.kpis
    assert (k["residents"], k["residents_within_radius_walk"],
            k["residents_within_radius_straight"], k["residents_unreachable"]) == (930, 900, 930, 0)
    assert k["walk_band_residents"] == {"300": 930, "500": 930, "1000": 930}
    assert k["walk_band_shares"]["300"] == 1.0
    assert [s["id"] for s in report.long_snaps] == [ids[2]]
    assert access_is_fresh(schema_conn, replace(NORMS, snap_flag_m=50.0))
    norms = replace(NORMS, snap_flag_m=50.0)
    with schema_conn.cursor() as cur:
        # rows rewritten to the same values (new physical order) are still the same data
        cur.execute("UPDATE buildings SET residents = residents + 7")
        cur.execute("UPDATE buildings SET residents = residents - 7")
        assert access_is_fresh(schema_conn, norms)
        cur.execute("UPDATE buildings SET geom = ST_Translate(geom, 0, 0.0001) WHERE id = %s",
                    (ids[0],))  # a building moved north
        assert not access_is_fresh(schema_conn, norms)
        run_access(schema_conn, norms=norms)
        assert access_is_fresh(schema_conn, norms)
        cur.execute("UPDATE service_centers SET geom = ST_Translate(geom, 0.0001, 0)")
        assert not access_is_fresh(schema_conn, norms)


def test_isochrones_on_demand_nest_and_hold_the_centre(schema_conn):
    _, centre = small_world(schema_conn)
    run_access(schema_conn, with_isochrones=False)
    with schema_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM center_isochrones")
        assert cur.fetchone()[0] == 0
        assert ensure_isochrones(schema_conn, region=COMMUNITY) == 3
        assert ensure_isochrones(schema_conn, region=COMMUNITY) == 0  # already there
        cur.execute("""
            SELECT i.band_m, ST_Area(ST_Transform(i.geom, 4543)), ST_Covers(i.geom, c.geom)
            FROM center_isochrones i JOIN service_centers c ON c.id = i.center_id
            ORDER BY band_m""")
        rows = cur.fetchall()
    assert [r[0] for r in rows] == [300, 500, 1000] and all(r[2] for r in rows)
    # the road is 200 m long: 300 m reaches all of it and the bands cannot grow beyond it;
    # the 40 m corridor on each side gives (200 + 2·40) × 80 m at most
    assert rows[0][1] <= rows[1][1] <= rows[2][1] <= 280 * 80 + 1


def test_coverage_measures_the_radius_on_foot_when_there_is_a_network(schema_conn):
    ids, _ = small_world(schema_conn)
    report = run_coverage(schema_conn)
    beyond = [g for g in report.gaps if g["kind"] == "beyond_service_radius"]
    assert report.distance_mode == "walk"
    assert [g["object_id"] for g in beyond] == [ids[2]]
    assert "步行 185 米" in beyond[0]["explanation"]
    assert beyond[0]["details"]["distance_mode"] == "walk"
    assert report.kpis["residents_within_radius"] == 900


def test_coverage_uses_the_straight_line_without_a_network(schema_conn):
    small_world(schema_conn, walkway=False)
    report = run_coverage(schema_conn)
    assert report.distance_mode == "straight"
    assert [g for g in report.gaps if g["kind"] == "beyond_service_radius"] == []


def test_walking_is_never_shorter_than_the_straight_line_on_the_demo(demo_conn):
    run_access(demo_conn, with_isochrones=False)
    with demo_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE reachable),"
                    " count(*) FILTER (WHERE walk_m < straight_m),"
                    " count(*) FILTER (WHERE walk_m < nearest_straight_m),"
                    " min(detour) FROM building_access")
        n, reachable, shorter, shorter_than_nearest, min_detour = cur.fetchone()
        cur.execute("SELECT count(*) FROM buildings")
        buildings = cur.fetchone()[0]
    assert n == reachable == buildings  # the demo's network is one component
    assert shorter == shorter_than_nearest == 0
    assert min_detour >= 1.0


def test_every_resident_is_assigned_exactly_once(demo_conn):
    report = run_access(demo_conn, with_isochrones=False)
    with demo_conn.cursor() as cur:
        cur.execute("SELECT sum(residents) FROM center_access")
        assigned = cur.fetchone()[0]
    assert assigned == report.kpis["residents"] - report.kpis["residents_unreachable"]


def test_cli_json_gives_band_shares_per_region(writable_demo_url):
    url = writable_demo_url("access_cli")
    gridmap = str(Path(sys.executable).with_name("gridmap"))
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([gridmap, "access", "--json", "--no-isochrones"], capture_output=True,
                         text=True, env=env, check=True).stdout
    doc = json.loads(out)
    by_code = {r["region"]["code"]: r for r in doc["regions"]}
    district = by_code["530103000000"]["kpis"]
    streets = [by_code[c]["kpis"] for c in ("530103001000", "530103002000")]
    for key in ("residents", "residents_within_radius_walk", "residents_unreachable"):
        assert district[key] == sum(s[key] for s in streets)
    for mode in ("walk", "straight"):
        for band, n in district[f"{mode}_band_residents"].items():
            assert n == sum(s[f"{mode}_band_residents"][band] for s in streets)
            assert district[f"{mode}_band_shares"][band] == round(n / district["residents"], 4)
    # on foot never more residents within a band than by air
    for band in district["walk_band_residents"]:
        assert district["walk_band_residents"][band] <= district["straight_band_residents"][band]
    text = subprocess.run([gridmap, "access", "--no-isochrones"], capture_output=True, text=True,
                          env=env, check=True).stdout
    assert "步行距离" in text and "桃源社区" in text
    bad = subprocess.run([gridmap, "access", "--region", "530103009999"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode != 0 and "530103009999" in bad.stderr

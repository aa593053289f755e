"""Coverage engine: each gap kind on a hand-built community with exact answers, and invariants.

The base world is one 200 m × 100 m community cut into two 100 m × 100 m grids (both layers),
one 400-household building in each, every grid staffed and branched, every building grouped and
looked after, one centre in the middle: nothing is missing. Each test breaks one thing.
"""

from __future__ import annotations

import json

import psycopg2
import pytest
from world import COMMUNITY, World

from gis.coverage import GAP_KINDS, KPI_COUNTS, load_report, run_coverage
from gis.demo import build_demo, load_demo


def base(conn, *, g1=(0, 0, 100, 100), g2=(100, 0, 200, 100), p1=None, p2=None, b1=(20, 20, 60, 40),
         b2=(120, 20, 160, 40), h1=400, h2=400, staff=("head", "full_time"), branches=(True, True),
         groups=(True, True), responsible=(True, True), centre=((100, 50), "community")):
    w = World(conn)
    w.community(COMMUNITY, "桃源社区", (0, 0, 200, 100))
    gids = [w.grid(1, g1), w.grid(2, g2)]
    pids = [w.grid(1, p1 or g1, layer="party"), w.grid(2, p2 or g2, layer="party")]
    bids = [w.building("1栋", b1, households=h1, grid=gids[0]),
            w.building("2栋", b2, households=h2, grid=gids[1])]
    for g in gids:
        for role in staff:
            w.staff(g, role)
    for p, has in zip(pids, branches, strict=True):
        if has:
            w.org("grid_branch", f"网格{p}党支部", grid=p, members=5)
    for b, has in zip(bids, groups, strict=True):
        if has:
            w.org("building_group", f"{b}党小组", building=b)
    for b, has in zip(bids, responsible, strict=True):
        if has:
            w.responsible(b)
    if centre:
        w.centre("党群服务中心", centre[0], level=centre[1])
    w.gids, w.pids, w.bids = gids, pids, bids
    return w


def gaps(conn, kind=None):
    report = run_coverage(conn)
    rows = [g for g in report.gaps if kind is None or g["kind"] == kind]
    return report, rows


def test_everything_covered_finds_nothing_and_full_kpis(schema_conn):
    base(schema_conn)
    report, rows = gaps(schema_conn)
    assert rows == []
    k = report.kpis
    assert (k["buildings"], k["households"], k["residents"]) == (2, 800, 2400)
    assert k["residents_in_governance_grid"] == k["residents_within_radius"] == 2400
    for share in ("share_residents_in_grid", "share_grids_with_head", "share_grids_with_worker",
                  "share_party_grids_with_branch", "share_residential_with_group",
                  "share_residential_with_responsible", "share_residents_within_radius"):
        assert k[share] == 1.0, share
    assert k["share_two_new_covered"] is None  # no towers, parks or markets: no share, not 100 %
    assert set(k["gap_counts"]) == set(GAP_KINDS) and not any(k["gap_counts"].values())


def test_hole_has_its_area_and_the_building_in_it_is_in_no_grid(schema_conn):
    w = base(schema_conn, g2=(100, 0, 180, 100), p2=(100, 0, 200, 100))
    b3 = w.building("3栋", (185, 20, 195, 40), households=10)
    w.responsible(b3)
    _, holes = gaps(schema_conn, "grid_hole")
    assert [(g["layer"], g["object_code"]) for g in holes] == [("governance", COMMUNITY)]
    assert holes[0]["details"]["area_m2"] == pytest.approx(2000, abs=1)
    report, rows = gaps(schema_conn)
    no_grid = [g for g in rows if g["kind"] == "building_no_grid"]
    assert [(g["layer"], g["object_id"]) for g in no_grid] == [("governance", b3)]
    assert report.kpis["residents_in_governance_grid"] == 2400
    assert report.kpis["residents"] == 2430
    # the party grid still covers the strip: the two layers now differ there
    mismatch = {(g["layer"], g["object_id"]): g["details"]["iou"] for g in rows
                if g["kind"] == "layer_mismatch"}
    assert mismatch == {("governance", w.gids[1]): pytest.approx(0.8, abs=0.001),
                        ("party", w.pids[1]): pytest.approx(0.8, abs=0.001)}
    assert {g["kind"] for g in rows} == {"grid_hole", "building_no_grid", "layer_mismatch"}


def test_overlap_and_overhang(schema_conn):
    base(schema_conn, g1=(0, 0, 110, 100), g2=(100, 0, 230, 100))
    report, rows = gaps(schema_conn)
    overlap = [g for g in rows if g["kind"] == "grid_overlap"]
    outside = [g for g in rows if g["kind"] == "grid_outside_community"]
    assert [(g["layer"], g["object_code"][-3:], g["details"]["other_grid_code"][-3:])
            for g in overlap] == [("governance", "001", "002"), ("party", "001", "002")]
    assert [g["details"]["area_m2"] for g in overlap] == [pytest.approx(1000, abs=1)] * 2
    assert [(g["layer"], g["object_code"][-3:]) for g in outside] == [("governance", "002"),
                                                                      ("party", "002")]
    assert [g["details"]["area_m2"] for g in outside] == [pytest.approx(3000, abs=1)] * 2
    assert {g["kind"] for g in rows} == {"grid_overlap", "grid_outside_community"}


def test_building_across_a_boundary_goes_to_the_grid_holding_most(schema_conn):
    w = base(schema_conn, b2=(90, 20, 130, 40))
    _, rows = gaps(schema_conn)
    assert {g["kind"] for g in rows} == {"building_split"}
    assert [(g["layer"], g["object_id"], g["details"]["main_grid_id"]) for g in rows] == [
        ("governance", w.bids[1], w.gids[1]), ("party", w.bids[1], w.pids[1])]


def test_party_grid_that_departs_from_the_governance_grid(schema_conn):
    w = base(schema_conn, p1=(0, 0, 60, 100), p2=(60, 0, 200, 100))
    _, rows = gaps(schema_conn)
    assert {g["kind"] for g in rows} == {"layer_mismatch"}
    found = {g["object_id"]: g["details"]["iou"] for g in rows}
    assert found == {w.gids[0]: pytest.approx(0.6, abs=1e-3),
                     w.gids[1]: pytest.approx(100 / 140, abs=1e-3),
                     w.pids[0]: pytest.approx(0.6, abs=1e-3),
                     w.pids[1]: pytest.approx(100 / 140, abs=1e-3)}


def test_household_norm_both_layers(schema_conn):
    w = base(schema_conn, h1=250, h2=520)
    _, rows = gaps(schema_conn)
    assert {g["kind"] for g in rows} == {"grid_households_norm"}
    assert sorted((g["object_id"], g["details"]["households"]) for g in rows) == sorted(
        [(w.gids[0], 250), (w.gids[1], 520), (w.pids[0], 250), (w.pids[1], 520)])
    assert "少于 300–500" in rows[0]["explanation"] or "多于" in rows[0]["explanation"]


def test_staff_and_branch_gaps(schema_conn):
    w = base(schema_conn, staff=("head",), branches=(True, False))
    _, rows = gaps(schema_conn)
    assert sorted((g["kind"], g["object_id"]) for g in rows) == sorted(
        [("grid_no_worker", w.gids[0]), ("grid_no_worker", w.gids[1]),
         ("grid_no_branch", w.pids[1])])
    schema_conn.rollback()
    w = base(schema_conn, staff=("part_time",))
    _, rows = gaps(schema_conn)
    assert sorted((g["kind"], g["object_id"]) for g in rows) == sorted(
        [("grid_no_head", w.gids[0]), ("grid_no_head", w.gids[1])])
    assert rows[0]["explanation"].endswith("无网格长")


def test_building_group_and_responsibility(schema_conn):
    w = base(schema_conn, groups=(True, False), responsible=(False, True), h2=420)
    report, rows = gaps(schema_conn)
    assert sorted((g["kind"], g["object_id"]) for g in rows) == sorted(
        [("building_no_group", w.bids[1]), ("building_no_responsible", w.bids[0])])
    assert report.kpis["residential_with_group"] == 1
    assert report.kpis["share_residential_with_responsible"] == 0.5


def test_units_and_branch_rules(schema_conn):
    w = base(schema_conn)
    tower = w.building("商务楼", (130, 60, 150, 80), kind="office")
    own = w.org("unit_branch", "甲公司党支部", building=tower, members=3)
    joint = w.org("joint_branch", "联合党支部", building=tower, members=2)
    bare = w.unit("乙公司", tower)
    late = w.unit("甲公司", tower, own=own, registered=False)
    w.unit("丙公司", tower, joint=joint)
    small = w.org("nonpublic_branch", "丁公司党支部", building=tower, members=2)
    big = w.org("retired_branch", "离退休党支部", members=8)
    w.org("retired_branch", "第二离退休党支部", members=8, committee=True)
    report, rows = gaps(schema_conn)
    assert sorted((g["kind"], g["object_id"]) for g in rows) == sorted(
        [("unit_no_party_org", bare), ("unit_not_registered", late),
         ("branch_size_rule", small), ("branch_size_rule", big)])
    assert report.kpis["two_new_buildings"] == 1
    assert report.kpis["two_new_buildings_covered"] == 0
    texts = {g["object_id"]: g["explanation"] for g in rows}
    assert "仅有 2 名正式党员" in texts[small] and "支部委员会" in texts[big]


def test_service_radius_by_straight_line(schema_conn):
    w = base(schema_conn, centre=((-250, 30), "grid"))  # grid station: 300 m
    _, rows = gaps(schema_conn)
    assert [(g["kind"], g["object_id"]) for g in rows] == [("beyond_service_radius", w.bids[1])]
    assert rows[0]["details"]["distance_m"] == pytest.approx(390, abs=0.5)
    assert rows[0]["details"]["radius_m"] == 300
    # a planned centre does not serve anyone yet; an existing one does
    w.centre("规划站", (140, 0), level="grid", status="planned")
    assert len(gaps(schema_conn, "beyond_service_radius")[1]) == 1
    w.centre("新站", (140, 0), level="grid")
    assert gaps(schema_conn, "beyond_service_radius")[1] == []


def test_unknown_region_is_an_error(schema_conn):
    from gis.coverage import RegionError

    with pytest.raises(RegionError, match="530103009999"):
        run_coverage(schema_conn, region="530103009999")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_demo_planted_gaps_are_found_and_nothing_else(database_factory, seed):
    url = database_factory(f"cov{seed}")
    conn = psycopg2.connect(url)
    try:
        load_demo(conn, build_demo(seed=seed))
        report = run_coverage(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT kind, layer, object_id FROM demo_planted_gaps")
            planted = sorted(cur.fetchall(), key=str)
        found = sorted(((g["kind"], g["layer"], g["object_id"]) for g in report.gaps), key=str)
        assert found == planted
        # every building is in exactly one governance grid or in the no-grid gap
        with conn.cursor() as cur:
            cur.execute("SELECT sum(residents) FROM buildings WHERE grid_id IS NOT NULL")
            in_grid = cur.fetchone()[0]
        no_grid = sum(g["details"]["residents"] for g in report.gaps
                      if g["kind"] == "building_no_grid" and g["layer"] == "governance")
        assert in_grid + no_grid == report.kpis["residents"]
        assert report.kpis["residents_in_governance_grid"] == in_grid
    finally:
        conn.close()


def test_region_kpis_are_the_sums_of_their_children(demo_url):
    conn = psycopg2.connect(demo_url)
    try:
        run_coverage(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT code, parent_code, level FROM regions")
            regions = cur.fetchall()
        reports = {code: load_report(conn, region=code) for code, _, _ in regions}
        for code, _, level in regions:
            if level == "community":
                continue
            children = [c for c, parent, _ in regions if parent == code]
            for name in KPI_COUNTS:
                assert reports[code].kpis[name] == sum(reports[c].kpis[name] for c in children)
            for kind in GAP_KINDS:
                assert reports[code].kpis["gap_counts"][kind] == sum(
                    reports[c].kpis["gap_counts"][kind] for c in children)
        # a community run replaces only that community's rows
        before = len(load_report(conn).gaps)
        run_coverage(conn, region="530103001003")
        assert len(load_report(conn).gaps) == before
    finally:
        conn.rollback()
        conn.close()


def test_cli_json_lists_exactly_the_planted_gaps(database_factory):
    import os
    import subprocess
    import sys
    from pathlib import Path

    url = database_factory("covcli")
    conn = psycopg2.connect(url)
    load_demo(conn, build_demo(seed=1))
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT kind, object_code FROM demo_planted_gaps")
        planted = sorted(cur.fetchall(), key=str)
    conn.close()
    env = {**os.environ, "DATABASE_URL": url}
    gridmap = str(Path(sys.executable).with_name("gridmap"))
    out = subprocess.run([gridmap, "coverage", "--json"], capture_output=True, text=True,
                         env=env, check=True).stdout
    doc = json.loads(out)
    assert set(doc) == {"region", "kpis", "gaps", "distance_mode", "planned"}
    assert doc["distance_mode"] == "walk"  # the demo has a walking network
    assert sorted(((g["kind"], g["object_code"]) for g in doc["gaps"]), key=str) == planted
    assert all(g["explanation"] and g["object_type"] for g in doc["gaps"])
    text = subprocess.run([gridmap, "coverage", "--region", "530103002004"], capture_output=True,
                          text=True, env=env, check=True).stdout
    assert "网格重叠" in text and "交三桥社区" in text


def test_city_scale_copies_are_found_like_the_district(database_factory):
    """Three copies of the district: every planted gap in each, and the same KPIs in each."""
    url = database_factory("covcity")
    conn = psycopg2.connect(url)
    try:
        data = build_demo(seed=2, scale="city", copies=3)
        codes = [r["code"] for r in data.tables["buildings"]]
        assert len(codes) == len(set(codes))
        load_demo(conn, data)
        report = run_coverage(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT kind, layer, object_id FROM demo_planted_gaps")
            planted = sorted(cur.fetchall(), key=str)
        found = sorted(((g["kind"], g["layer"], g["object_id"]) for g in report.gaps), key=str)
        assert found == planted
        # copy 0 keeps 盘龙区's streets; copies 1 and 2 are streets 001–004 of district 530110
        first = [load_report(conn, region=s).kpis for s in ("530103001000", "530103002000")]
        for street_pair in (("530110001000", "530110002000"), ("530110003000", "530110004000")):
            assert [load_report(conn, region=s).kpis for s in street_pair] == first
        counts = load_report(conn, region="530110000000").kpis
        assert counts["buildings"] * 3 == report.kpis["buildings"] * 2
    finally:
        conn.close()

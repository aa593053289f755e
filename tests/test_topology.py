"""Grid edits on a hand-made community: exact effects, refusals that change nothing, history.

The community is 200 m × 100 m with two governance grids split at x = 100 (codes 001, 002), one
building in each (1栋 at x 20–60 with 250 households, 2栋 at x 105–115 with 100, both y 20–40)
and a head and a worker in each grid. Both grids start below the 300–500 household norm.
Shapes are metres east/north of a point in Kunming (see ``world.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping
from world import COMMUNITY, World, to_lonlat

from gis.topology import (
    EditError,
    VersionConflictError,
    create_grid,
    delete_grid,
    merge_grids,
    renumber,
    reshape_grid,
    restore_grid,
    split_grid,
)


def geojson(shape):
    return mapping(to_lonlat(shape))


def setup(conn):
    w = World(conn)
    w.community(COMMUNITY, "桃源社区", (0, 0, 200, 100))
    g1, g2 = w.grid(1, (0, 0, 100, 100)), w.grid(2, (100, 0, 200, 100))
    b1 = w.building("1栋", (20, 20, 60, 40), households=250, grid=g1)
    b2 = w.building("2栋", (105, 20, 115, 40), households=100, grid=g2)
    for g in (g1, g2):
        w.staff(g, "head")
        w.staff(g, "full_time")
    with conn.cursor() as cur:  # the imported state is version 1 of each grid
        cur.execute("INSERT INTO grid_history (grid_id, version, code, layer, geom, action)"
                    " SELECT id, version, code, layer, geom, 'import' FROM grids")
    return g1, g2, b1, b2


def snapshot(conn):
    """Everything an edit may touch, as text: equal snapshots mean nothing changed."""
    with conn.cursor() as cur:
        out = []
        for q in ("SELECT id, code, version, encode(ST_AsEWKB(geom), 'hex') FROM grids ORDER BY id",
                  "SELECT id, grid_id FROM buildings ORDER BY id",
                  "SELECT grid_id, version, action FROM grid_history ORDER BY id",
                  "SELECT id, grid_id FROM grid_staff ORDER BY id",
                  "SELECT count(*) FROM coverage_gaps"):
            cur.execute(q)
            out.append(cur.fetchall())
        return out


def grid_area(conn, gid):
    with conn.cursor() as cur:
        cur.execute("SELECT ST_Area(ST_Transform(geom, 4543)), version FROM grids WHERE id = %s",
                    (gid,))
        return cur.fetchone()


def building_grid(conn, bid):
    with conn.cursor() as cur:
        cur.execute("SELECT grid_id FROM buildings WHERE id = %s", (bid,))
        return cur.fetchone()[0]


def tiled(conn):
    """(hole area, overlap area) of the community's governance grids, m²."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT ST_Area(ST_Transform(ST_Difference(r.geom, ST_Union(g.geom)), 4543)),
                   (SELECT coalesce(sum(ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom),
                                                              4543))), 0)
                    FROM grids a JOIN grids b ON a.id < b.id AND a.layer = b.layer
                    WHERE a.community_code = r.code)
            FROM regions r JOIN grids g ON g.community_code = r.code AND g.layer = 'governance'
            WHERE r.code = %s GROUP BY r.code, r.geom""", (COMMUNITY,))
        return cur.fetchone()


def test_preview_moves_the_boundary_and_changes_nothing(schema_conn):
    g1, g2, b1, b2 = setup(schema_conn)
    before = snapshot(schema_conn)
    result = reshape_grid(schema_conn, g1, geojson(box(0, 0, 120, 100)), 1)
    assert not result.committed
    assert [c["code"] for c in result.clipped] == [f"{COMMUNITY}002"]
    assert result.clipped[0]["area_m2"] == pytest.approx(2000, rel=0.01)
    assert result.moved_buildings == [{"id": b2, "name": "2栋", "from_grid": g2, "to_grid": g1}]
    after = {g["id"]: g["after"] for g in result.grids}
    assert (after[g1]["households"], after[g2]["households"]) == (350, 0)
    assert after[g1]["area_m2"] == pytest.approx(12000, rel=0.01)
    assert result.new_holes == []
    # grid 1 reaches the norm (350), grid 2 stays out of it (0): one violation fewer
    assert result.kpis_before["gap_counts"]["grid_households_norm"] == 2
    assert result.kpis_after["gap_counts"]["grid_households_norm"] == 1
    assert snapshot(schema_conn) == before


def test_commit_writes_versions_history_and_buildings(schema_conn):
    g1, g2, b1, b2 = setup(schema_conn)
    reshape_grid(schema_conn, g1, geojson(box(0, 0, 120, 100)), 1, commit=True, user="张主任")
    assert grid_area(schema_conn, g1) == (pytest.approx(12000, rel=0.01), 2)
    assert grid_area(schema_conn, g2) == (pytest.approx(8000, rel=0.01), 2)
    assert building_grid(schema_conn, b2) == g1
    with schema_conn.cursor() as cur:
        cur.execute("SELECT grid_id, version, action, changed_by FROM grid_history"
                    " WHERE version = 2 ORDER BY grid_id")
        assert cur.fetchall() == [(g1, 2, "update", "张主任"), (g2, 2, "update", "张主任")]
    assert tiled(schema_conn) == (pytest.approx(0, abs=0.01), pytest.approx(0, abs=0.01))
    # an edit made on the old version is refused and changes nothing
    before = snapshot(schema_conn)
    with pytest.raises(VersionConflictError, match="version 2, not 1"):
        reshape_grid(schema_conn, g1, geojson(box(0, 0, 110, 100)), 1, commit=True)
    assert snapshot(schema_conn) == before


@pytest.mark.parametrize("shape, message", [
    ({"type": "Polygon", "coordinates": [[[102.75, 25.05], [102.751, 25.051],
                                          [102.751, 25.05], [102.75, 25.051],
                                          [102.75, 25.05]]]}, "Self-intersection"),
    (mapping(to_lonlat(box(150, 0, 260, 100))), "outside community"),
    ({"type": "Polygon", "coordinates": []}, "empty"),
    ({"type": "Point", "coordinates": [102.75, 25.05]}, "Polygon or MultiPolygon"),
    ({**mapping(box(0, 0, 100, 100)), "crs": {"type": "name",
                                             "properties": {"name": "EPSG:4543"}}}, "EPSG:4326"),
    (mapping(box(5e5, 2.7e6, 5.001e5, 2.7001e6)), "longitude/latitude"),
    (mapping(to_lonlat(box(0, 0, 199.9, 100))), "swallow grid"),
    ("{not json", "not JSON"),
])
def test_bad_edits_are_refused_and_change_nothing(schema_conn, shape, message):
    g1, *_ = setup(schema_conn)
    before = snapshot(schema_conn)
    with pytest.raises(EditError, match=message):
        reshape_grid(schema_conn, g1, shape, 1, commit=True)
    assert snapshot(schema_conn) == before


def test_split_gives_a_new_code_and_no_staff(schema_conn):
    g1, g2, b1, b2 = setup(schema_conn)
    line = mapping(to_lonlat(shapely.LineString([(50, -10), (50, 110)])))
    result = split_grid(schema_conn, g1, line, 1, commit=True)
    new = [g for g in result.grids if g["before"] is None][0]
    assert new["code"] == f"{COMMUNITY}003"
    assert new["after"]["area_m2"] == pytest.approx(5000, rel=0.01)
    assert result.kpis_after["gap_counts"].get("grid_no_head") == 1
    assert tiled(schema_conn)[0] == pytest.approx(0, abs=0.01)
    with pytest.raises(EditError, match="exactly two parts"):
        split_grid(schema_conn, g2, mapping(to_lonlat(shapely.LineString([(150, -10),
                                                                           (150, 50)]))), 1)


def test_merge_keeps_one_grid_and_detaches_the_others_staff(schema_conn):
    g1, g2, b1, b2 = setup(schema_conn)
    result = merge_grids(schema_conn, [g1, g2], g1, [1, 1], commit=True)
    assert grid_area(schema_conn, g1)[0] == pytest.approx(20000, rel=0.01)
    assert building_grid(schema_conn, b2) == g1
    assert sorted(d["type"] for d in result.detached) == ["staff", "staff"]
    with schema_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM grids")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT action FROM grid_history WHERE grid_id = %s ORDER BY version DESC"
                    " LIMIT 1", (g2,))
        assert cur.fetchone()[0] == "delete"


def test_delete_opens_a_hole(schema_conn):
    g1, g2, *_ = setup(schema_conn)
    result = delete_grid(schema_conn, g2, 1)
    assert [round(h["area_m2"], -2) for h in result.new_holes] == [10000]
    # the party layer (none drawn here) was one hole already; the governance layer adds one
    assert result.kpis_after["gap_counts"]["grid_hole"] == \
        result.kpis_before["gap_counts"]["grid_hole"] + 1


def test_create_takes_the_next_code_and_clips(schema_conn):
    g1, g2, *_ = setup(schema_conn)
    result = create_grid(schema_conn, COMMUNITY, "governance", geojson(box(80, 0, 120, 100)),
                         commit=True)
    created = [g for g in result.grids if g["before"] is None][0]
    assert created["code"] == f"{COMMUNITY}003"
    assert sorted(c["area_m2"] for c in result.clipped) == [pytest.approx(2000, rel=0.01)] * 2
    assert tiled(schema_conn) == (pytest.approx(0, abs=0.01), pytest.approx(0, abs=0.01))


def test_restore_brings_back_the_exact_geometry_and_assignments(schema_conn):
    g1, g2, b1, b2 = setup(schema_conn)
    with schema_conn.cursor() as cur:
        cur.execute("SELECT id, geom FROM grids ORDER BY id")
        original = cur.fetchall()
    reshape_grid(schema_conn, g1, geojson(box(0, 0, 130, 100)), 1, commit=True)
    assert building_grid(schema_conn, b2) == g1
    restore_grid(schema_conn, g2, 1, commit=True)   # g2 takes its strip back (g1 clipped)
    restore_grid(schema_conn, g1, 1, commit=True)
    with schema_conn.cursor() as cur:
        cur.execute("SELECT g.id, ST_Equals(g.geom, o.geom) FROM grids g JOIN"
                    " (SELECT unnest(%s::int[]) AS id, unnest(%s::geometry[]) AS geom) o"
                    " USING (id) ORDER BY id",
                    ([i for i, _ in original], [g for _, g in original]))
        assert [eq for _, eq in cur.fetchall()] == [True, True]
        cur.execute("SELECT action FROM grid_history WHERE grid_id = %s ORDER BY version DESC"
                    " LIMIT 1", (g1,))
        assert cur.fetchone()[0] == "restore"
    assert building_grid(schema_conn, b2) == g2


def test_renumber_north_to_south_then_west_to_east(schema_conn):
    g1, g2, *_ = setup(schema_conn)
    split_grid(schema_conn, g2, mapping(to_lonlat(shapely.LineString([(90, 50), (210, 50)]))),
               1, commit=True)  # g2 keeps the south half (larger? equal: the first part)
    changes = renumber(schema_conn, COMMUNITY, "governance", commit=True)
    with schema_conn.cursor() as cur:
        cur.execute("SELECT code, ST_Y(ST_Transform(ST_PointOnSurface(geom), 4543)),"
                    " ST_X(ST_Transform(ST_PointOnSurface(geom), 4543)) FROM grids ORDER BY code")
        rows = cur.fetchall()
    # 001: the west grid (its centre row is the middle one, but it starts first going north →
    # south by 80 m rows); codes are unique and dense 001…003
    assert [r[0][12:] for r in rows] == ["001", "002", "003"]
    assert all("old" in c and "new" in c for c in changes)


def test_the_community_stays_tiled_after_100_random_edits(schema_conn):
    g1, g2, *_ = setup(schema_conn)
    rng = np.random.default_rng(5)
    with schema_conn.cursor() as cur:
        cur.execute("SELECT setseed(0.5)")  # the grids are picked with random() in SQL
    done = 0
    for _ in range(100):
        with schema_conn.cursor() as cur:
            cur.execute("SELECT id, version, ST_AsGeoJSON(geom) FROM grids ORDER BY random()"
                        " LIMIT 1")
            gid, version, shape = cur.fetchone()
        x0, x1 = np.sort(rng.uniform(0, 200, 2))
        y0, y1 = np.sort(rng.uniform(0, 100, 2))
        grown = shapely.union(shapely.from_geojson(shape), to_lonlat(box(x0, y0, x1, y1)))
        op = rng.integers(3)
        try:
            if op == 0:
                reshape_grid(schema_conn, gid, json.loads(shapely.to_geojson(grown)), version,
                             commit=True)
            elif op == 1:
                x = rng.uniform(10, 190)
                split_grid(schema_conn, gid, mapping(to_lonlat(shapely.LineString(
                    [(x, -10), (x, 110)]))), version, commit=True)
            else:
                with schema_conn.cursor() as cur:
                    cur.execute("SELECT b.id, b.version FROM grids a JOIN grids b ON a.id <> b.id"
                                " AND ST_Relate(a.geom, b.geom, 'F***1****') WHERE a.id = %s"
                                " LIMIT 1", (gid,))
                    other = cur.fetchone()
                if other:
                    merge_grids(schema_conn, [gid, other[0]], gid, [version, other[1]],
                                commit=True)
            done += 1
        except EditError:
            pass
        holes, overlaps = tiled(schema_conn)
        assert holes == pytest.approx(0, abs=0.5) and overlaps == pytest.approx(0, abs=0.5)
    assert done >= 50


def test_split_to_balance_proposes_cuts_within_the_norm(schema_conn):
    w = World(schema_conn)
    w.community(COMMUNITY, "桃源社区", (0, 0, 300, 100))
    g = w.grid(1, (0, 0, 300, 100))
    # six buildings of 150 households west to east: 900 in all, above the 500 norm
    for i in range(6):
        w.building(f"{i + 1}栋", (10 + 50 * i, 30, 40 + 50 * i, 60), households=150, grid=g)
    from gis.topology import suggest_balance_split

    plan = suggest_balance_split(schema_conn, g)
    assert plan["households"] == 900 and plan["parts"] == [450, 450]
    assert len(plan["lines"]) == 1
    result = split_grid(schema_conn, g, plan["lines"][0], 1, commit=True)
    assert sorted(p["after"]["households"] for p in result.grids) == [450, 450]
    # within the norm now: nothing to propose
    assert suggest_balance_split(schema_conn, g)["lines"] == []


def test_copy_onto_the_other_layer_makes_the_grids_coincide(schema_conn):
    from gis.topology import copy_to_other_layer

    g1, g2, *_ = setup(schema_conn)
    result = copy_to_other_layer(schema_conn, g1, commit=True)  # no party twin yet: created
    assert result.layer == "party"
    with schema_conn.cursor() as cur:
        cur.execute("SELECT p.id, ST_Equals(p.geom, g.geom) FROM grids p JOIN grids g"
                    " ON g.code = p.code AND g.layer = 'governance' WHERE p.layer = 'party'")
        party, equal = cur.fetchone()
    assert equal
    reshape_grid(schema_conn, g1, geojson(box(0, 0, 120, 100)), 1, commit=True)
    copy_to_other_layer(schema_conn, g1, commit=True)  # the twin follows the new shape
    with schema_conn.cursor() as cur:
        cur.execute("SELECT ST_Equals(p.geom, g.geom) FROM grids p, grids g"
                    " WHERE p.id = %s AND g.id = %s", (party, g1))
        assert cur.fetchone()[0]


def test_split_to_balance_still_offers_the_most_even_cut(schema_conn):
    from gis.topology import suggest_balance_split

    w = World(schema_conn)
    w.community(COMMUNITY, "桃源社区", (0, 0, 300, 100))
    g = w.grid(1, (0, 0, 300, 100))
    for i, hh in enumerate((200, 80, 280)):  # 560: every cut leaves a part under 300
        w.building(f"{i + 1}栋", (10 + 100 * i, 30, 60 + 100 * i, 60), households=hh, grid=g)
    plan = suggest_balance_split(schema_conn, g)
    assert plan["parts"] == [280, 280] and plan["outside_norm"] == [280, 280]
    assert "最均衡" in plan["note"] and len(plan["lines"]) == 1


def test_undo_of_delete_and_merge_brings_grids_back_whole(schema_conn):
    from gis.topology import undelete_grid

    g1, g2, b1, b2 = setup(schema_conn)
    with schema_conn.cursor() as cur:
        cur.execute("SELECT id, geom FROM grids ORDER BY id")
        original = cur.fetchall()

    def same_as_original():
        with schema_conn.cursor() as cur:
            cur.execute("SELECT g.id, ST_Equals(g.geom, o.geom) FROM grids g JOIN"
                        " (SELECT unnest(%s::int[]) AS id, unnest(%s::geometry[]) AS geom) o"
                        " USING (id) ORDER BY id",
                        ([i for i, _ in original], [g for _, g in original]))
            return [eq for _, eq in cur.fetchall()] == [True, True]

    def staff_of(gid):
        with schema_conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM grid_staff WHERE grid_id = %s", (gid,))
            return cur.fetchone()[0]

    delete_grid(schema_conn, g2, 1, commit=True)
    assert staff_of(g2) == 0
    back = undelete_grid(schema_conn, g2, commit=True)
    assert back.new_holes == [] and same_as_original()
    assert staff_of(g2) == 2 and building_grid(schema_conn, b2) == g2
    with schema_conn.cursor() as cur:
        cur.execute("SELECT code, name FROM grids WHERE id = %s", (g2,))
        assert cur.fetchone() == (f"{COMMUNITY}002", "第2网格")
    with pytest.raises(EditError, match="is not deleted"):
        undelete_grid(schema_conn, g2)

    merge_grids(schema_conn, [g1, g2], g1, [1, 3], commit=True)  # g2 is at version 3 now
    undelete_grid(schema_conn, g2, commit=True)                   # g2 back, g1 clipped
    restore_grid(schema_conn, g1, 1, commit=True)
    assert same_as_original() and staff_of(g2) == 2
    assert building_grid(schema_conn, b2) == g2

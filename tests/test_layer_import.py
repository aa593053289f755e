"""The layer importer on hand-made rows: mapping, checks, all-or-nothing, upsert by code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
from shapely.geometry import Point, Polygon, box
from world import COMMUNITY, OTHER, to_lonlat

from gis.io.layer_import import LayerImportError, import_table
from gis.io.table import SourceTable


def table(columns: dict, geoms=None, source="台账.xlsx", *, metres=True) -> SourceTable:
    frame = pd.DataFrame(columns)
    n = len(frame)
    convert = to_lonlat if metres else (lambda g: g)
    geometry = None if geoms is None else np.array(
        [None if g is None else convert(g) for g in geoms], dtype=object)
    return SourceTable(frame, geometry, np.arange(2, n + 2), source)


def snapshot(conn) -> tuple:
    with conn.cursor() as cur:
        out = []
        for t in ("regions", "grids", "buildings", "service_centers", "units", "members",
                  "grid_staff", "ledger_items", "grid_history"):
            cur.execute(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
                        f" FROM {t} x")
            out.append(cur.fetchone()[0])
        return tuple(out)


@pytest.fixture
def world(two_communities):
    return two_communities


def count(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def buildings_table(**extra):
    cols = {"楼栋编码": ["B1", "B2", "B3"], "名称": ["1栋", "2栋", "菜市场"],
            "户数": ["120", "80", ""], "常住人口": [300, 200, None], "层数": [6, "18", None],
            "类型": ["住宅", "住宅", "市场"], "备注": ["", "", "早市"]}
    cols.update(extra)
    return table(cols, [box(10, 10, 50, 40), box(100, 10, 140, 60), box(450, 100, 500, 150)])


def test_buildings_import_maps_chinese_headers_and_finds_communities(world):
    conn = world.conn
    report = import_table(conn, "buildings", buildings_table())
    assert (report.read, report.inserted, report.updated, report.unchanged) == (3, 3, 0, 0)
    assert report.ignored_columns == ["备注"]
    with conn.cursor() as cur:
        cur.execute("SELECT code, name, community_code, kind, households, residents, floors"
                    " FROM buildings ORDER BY code")
        assert cur.fetchall() == [
            ("B1", "1栋", COMMUNITY, "residential", 120, 300, 6),
            ("B2", "2栋", COMMUNITY, "residential", 80, 200, 18),
            ("B3", "菜市场", OTHER, "market", 0, 0, None)]
        # footprint areas survive the trip through EPSG:4326 (40 × 30 m)
        cur.execute("SELECT round(ST_Area(geom::geography)) FROM buildings WHERE code = 'B1'")
        assert abs(cur.fetchone()[0] - 1200) <= 2


def test_reimport_updates_by_code_and_counts_unchanged(world):
    conn = world.conn
    import_table(conn, "buildings", buildings_table())
    again = buildings_table(户数=["121", "80", ""], 常住人口=[301, 200, None])
    report = import_table(conn, "buildings", again)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2)
    assert count(conn, "SELECT count(*) FROM buildings") == 3
    assert count(conn, "SELECT households FROM buildings WHERE code = 'B1'") == 121


def test_a_bad_row_rejects_the_whole_file_naming_rows_and_fields(world):
    conn = world.conn
    before = snapshot(conn)
    bad = buildings_table(户数=["120", "八十", "5"], 常住人口=[300, 200, 2], 层数=[6, 300, None])
    with pytest.raises(LayerImportError) as err:
        import_table(conn, "buildings", bad)
    text = str(err.value)
    assert "nothing was imported" in text
    assert "row 3, 户数 (households)" not in text  # the label is the header, not the name
    assert "row 3, 户数: '八十' is not a whole number" in text
    assert "row 4, 常住人口: 2 residents in 5 households" in text
    # row 3's 层数 of 300 is not checked again: the row is out already
    assert [(e.row, e.field) for e in err.value.report.rejected] == [(3, "户数"), (4, "常住人口")]
    assert snapshot(conn) == before


def test_dry_run_counts_and_writes_nothing(world):
    conn = world.conn
    before = snapshot(conn)
    report = import_table(conn, "buildings", buildings_table(), dry_run=True)
    assert (report.inserted, report.updated, report.dry_run) == (3, 0, True)
    assert snapshot(conn) == before


def test_missing_required_column_names_it(world):
    with pytest.raises(LayerImportError, match="missing column 级别 .level. for layer centers"):
        import_table(world.conn, "centers", table({"名称": ["中心"]}, [Point(10, 10)]))


def test_broken_polygon_is_repaired_and_reported(world):
    x, y, d = 102.7501, 25.0501, 0.0004
    bowtie = Polygon([(x, y), (x + d, y + d), (x + d, y), (x, y + d)])
    report = import_table(world.conn, "buildings", table(
        {"楼栋编码": ["X"], "户数": [10], "常住人口": [20]}, [bowtie], metres=False))
    assert [(e.row, e.field) for e in report.repaired] == [(2, "几何")]
    assert "Self-intersection" in report.repaired[0].message
    assert count(world.conn, "SELECT ST_IsValid(geom) FROM buildings WHERE code = 'X'")


def test_unknown_community_and_far_away_rows_are_refused(world):
    far = shapely.affinity.translate(box(0, 0, 20, 20), 5000, 5000)
    with pytest.raises(LayerImportError) as err:
        import_table(world.conn, "buildings", table(
            {"楼栋编码": ["A", "B"], "社区代码": ["530103002099", COMMUNITY]},
            [box(10, 10, 20, 20), far]))
    text = str(err.value)
    assert "row 2, 社区代码: community 530103002099 not found" in text
    assert "row 3, 几何: building lies outside community 530103002001" in text


def test_duplicate_codes_in_one_file_are_rejected(world):
    with pytest.raises(LayerImportError, match="row 3, 楼栋编码: same B1 as row 2"):
        import_table(world.conn, "buildings", table(
            {"楼栋编码": ["B1", "B1"]}, [box(10, 10, 20, 20), box(30, 10, 40, 20)]))


def test_rows_without_codes_get_stable_codes_so_reimport_updates(world):
    t = table({"户数": [10, 20]}, [box(10, 10, 20, 20), box(30, 10, 40, 20)])
    import_table(world.conn, "buildings", t)
    report = import_table(world.conn, "buildings", t)
    assert (report.inserted, report.unchanged) == (0, 2)
    assert count(world.conn, "SELECT count(*) FROM buildings WHERE code LIKE 'auto:%%'") == 2


def test_grids_import_assigns_buildings_and_records_history(world):
    conn = world.conn
    import_table(conn, "buildings", buildings_table())
    codes = {"网格编码": [f"{COMMUNITY}001", f"{COMMUNITY}002"], "网格名称": ["一网格", "二网格"]}
    grids = table(codes, [box(0, 0, 80, 300), box(80, 0, 400, 300)])
    report = import_table(conn, "grids", grids, user="王芳")
    assert report.inserted == 2
    with conn.cursor() as cur:
        cur.execute("SELECT b.code, g.code FROM buildings b LEFT JOIN grids g ON g.id = b.grid_id"
                    " ORDER BY b.code")
        assert cur.fetchall() == [("B1", f"{COMMUNITY}001"), ("B2", f"{COMMUNITY}002"),
                                  ("B3", None)]
        cur.execute("SELECT action, changed_by, layer FROM grid_history ORDER BY grid_id")
        assert cur.fetchall() == [("import", "王芳", "governance")] * 2
    # a changed grid gets a new version; an unchanged one keeps its own
    moved = table(codes, [box(0, 0, 120, 300), box(80, 0, 400, 300)])
    with pytest.raises(LayerImportError):
        import_table(conn, "grids", table({"网格编码": ["5301030020010"], "网格名称": ["x"]},
                                          [box(0, 0, 10, 10)]))
    report = import_table(conn, "grids", moved)
    assert (report.updated, report.unchanged) == (1, 1)
    assert count(conn, "SELECT max(version) FROM grids") == 2


def test_members_and_staff_resolve_codes(world):
    conn = world.conn
    gid = world.grid(1, (0, 0, 400, 300))
    import_table(conn, "buildings", buildings_table())
    import_table(conn, "members", table({
        "党员编号": ["M1", "M2"], "姓名": ["李明", "赵丽"], "党员类别": ["在册党员", "流动党员"],
        "居住楼栋编码": ["B1", "B2"], "联系电话": ["13800000000", None]}))
    import_table(conn, "staff", table({
        "网格编码": [f"{COMMUNITY}001"], "职务": ["网格长"], "姓名": ["李明"], "党员编号": ["M1"]}))
    with conn.cursor() as cur:
        cur.execute("SELECT s.grid_id, s.role, m.name FROM grid_staff s JOIN members m"
                    " ON m.id = s.member_id")
        assert cur.fetchall() == [(gid, "head", "李明")]
    with pytest.raises(LayerImportError, match="row 2, 居住楼栋编码: building B9 not found"):
        import_table(conn, "members", table({"姓名": ["钱七"], "党员类别": ["退休"],
                                            "居住楼栋编码": ["B9"]}))
    with pytest.raises(LayerImportError, match="row 2, 党员类别: '群众' is not one of"):
        import_table(conn, "members", table({"姓名": ["钱七"], "党员类别": ["群众"]}))


def test_centres_from_polygons_are_placed_inside(world):
    report = import_table(world.conn, "centers", table(
        {"名称": ["桃源社区党群服务中心"], "级别": ["社区"], "面积": [650]},
        [box(100, 100, 140, 130)]))
    assert report.inserted == 1
    assert any("placed by a point" in n for n in report.notes)
    with world.conn.cursor() as cur:
        cur.execute("SELECT level, status, region_code, floor_area_m2 FROM service_centers")
        assert cur.fetchone() == ("community", "existing", COMMUNITY, 650)


def test_regions_derive_level_and_parent_from_the_code(schema_conn):
    report = import_table(schema_conn, "regions", table({
        "区划代码": ["530103002004", "530103002000", "530103000000", "530100000000"],
        "名称": ["桃源社区", "鼓楼街道", "盘龙区", "昆明市"]}))
    assert report.inserted == 4
    with schema_conn.cursor() as cur:
        cur.execute("SELECT code, level, parent_code FROM regions ORDER BY code")
        assert cur.fetchall() == [("530100000000", "city", None),
                                  ("530103000000", "district", "530100000000"),
                                  ("530103002000", "street", "530103000000"),
                                  ("530103002004", "community", "530103002000")]
    with pytest.raises(LayerImportError, match="parent region 530199000000 of 530199001000"):
        import_table(schema_conn, "regions", table({"区划代码": ["530199001000"], "名称": ["x"]}))

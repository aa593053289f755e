"""Importing real files end to end: formats, encodings, Chinese coordinates, bad files, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import psycopg2
import pyogrio
import pytest
import shapely
from openpyxl import Workbook
from pyproj import Geod
from shapely.geometry import Polygon, box
from test_layer_import import snapshot
from world import COMMUNITY, OTHER, World, to_lonlat

from gis.io.coords import from_wgs84
from gis.io.layer_import import LayerImportError, import_file

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))
GEOD = Geod(ellps="WGS84")


@pytest.fixture
def world(two_communities):
    return two_communities


def rows(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def footprints(crs=4326):
    frame = gpd.GeoDataFrame(
        {"楼栋编码": ["LD-1", "LD-2", "LD-3"],
         "楼栋名称": ["桃源小区1栋", "桃源小区2栋", "白塔商场"],
         "户数": [120, 60, 0], "常住人口": [310, 150, 0], "类型": ["住宅", "住宅", "商业"]},
        geometry=[to_lonlat(box(10, 10, 50, 40)), to_lonlat(box(100, 10, 130, 50)),
                  to_lonlat(box(450, 50, 520, 120))], crs=4326)
    return frame.to_crs(crs)


def test_gbk_shapefile_in_gauss_kruger_metres_imports_with_chinese_names(world, tmp_path):
    path = tmp_path / "楼栋.shp"
    pyogrio.write_dataframe(footprints(4543), path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    report = import_file(world.conn, "buildings", path)
    assert report.inserted == 3 and any("GB18030" in n for n in report.notes)
    got = rows(world.conn, "SELECT code, name, community_code, kind, households,"
               " round(ST_Area(geom::geography)) FROM buildings ORDER BY code")
    assert [g[:5] for g in got] == [("LD-1", "桃源小区1栋", COMMUNITY, "residential", 120),
                                    ("LD-2", "桃源小区2栋", COMMUNITY, "residential", 60),
                                    ("LD-3", "白塔商场", OTHER, "market", 0)]
    for (_, _, _, _, _, area), expected in zip(got, (1200, 1200, 4900), strict=True):
        assert abs(area - expected) <= 3


def test_community_workers_xlsx_ledger_of_members_imports(world, tmp_path):
    conn = world.conn
    import_file_table = tmp_path / "楼栋.geojson"
    footprints().to_file(import_file_table)
    import_file(conn, "buildings", import_file_table)
    wb = Workbook()
    ws = wb.active
    ws.title = "党员台账"
    ws.append(["桃源社区党员花名册"])  # a title row above the header, as ledgers have
    ws.append([])
    ws.append(["序号", "党员编号", "姓名", "联系电话", "党员类别", "居住楼栋编码", "党员示范岗"])
    ws.append([1, 530103002001001, "李明", "13800001111", "在册党员", "LD-1", "是"])
    ws.append([2, "P-0002", "赵丽", None, "离退休党员", "LD-2", "否"])
    path = tmp_path / "党员台账.xlsx"
    wb.save(path)
    mapping = {"序号": "code"}  # not used: the file's own 党员编号 is the code
    with pytest.raises(LayerImportError, match="both give"):
        import_file(conn, "members", path, mapping=mapping)
    report = import_file(conn, "members", path)
    assert report.inserted == 2
    assert rows(conn, "SELECT m.code, m.name, m.category, b.code, m.is_demonstration_post"
                " FROM members m JOIN buildings b ON b.id = m.home_building_id ORDER BY m.name") \
        == [("530103002001001", "李明", "registered", "LD-1", True),
            ("P-0002", "赵丽", "retired", "LD-2", False)]


def test_gcj02_points_from_gaode_are_stored_in_wgs84(world, tmp_path):
    lon, lat = to_lonlat(shapely.Point(200, 150)).coords[0]
    glon, glat = (float(v) for v in from_wgs84(lon, lat, "gcj02"))
    path = tmp_path / "阵地.csv"
    path.write_text("名称,级别,经度,纬度\n桃源社区党群服务中心,社区级,"
                    f"{glon:.7f},{glat:.7f}\n", encoding="utf-8-sig")
    import_file(world.conn, "centers", path, coords="gcj02")
    (x, y), = rows(world.conn, "SELECT ST_X(geom), ST_Y(geom) FROM service_centers")
    assert GEOD.inv(lon, lat, x, y)[2] < 0.05  # the 1e-7° text rounding is ≈ 0.01 m
    # the same file read as WGS84 would be hundreds of metres off
    assert 100 < GEOD.inv(lon, lat, glon, glat)[2] < 700


def _bad_files(tmp_path: Path) -> dict[str, tuple[str, Path, str]]:
    out = {}
    p = tmp_path / "missing_level.csv"
    p.write_text("名称,经度,纬度\n中心,102.75,25.05\n", encoding="utf-8")
    out["missing column"] = ("centers", p, "missing column 级别")
    p = tmp_path / "bad_code.geojson"
    gpd.GeoDataFrame({"网格编码": [f"{COMMUNITY}01"], "网格名称": ["一网格"]},
                     geometry=[to_lonlat(box(0, 0, 100, 100))], crs=4326).to_file(p)
    out["bad code"] = ("grids", p, "row 1, 网格编码: 53010300200101 is not a 15-digit grid code")
    p = tmp_path / "swapped.csv"
    p.write_text("名称,级别,经度,纬度\n中心,社区,25.05,102.75\n", encoding="utf-8")
    out["swapped"] = ("centers", p, "swapped")
    p = tmp_path / "metres.csv"
    p.write_text("名称,级别,x,y\n中心,社区,34467.2,2771234.5\n", encoding="utf-8")
    out["metres as degrees"] = ("centers", p, "projected metres")
    p = tmp_path / "truncated.geojson"
    footprints().to_file(p)
    p.write_bytes(p.read_bytes()[:300])
    out["truncated"] = ("buildings", p, "cannot be read")
    p = tmp_path / "far.geojson"
    gpd.GeoDataFrame({"楼栋编码": ["X"], "社区代码": [COMMUNITY]},
                     geometry=[to_lonlat(box(30_000, 0, 30_020, 20))], crs=4326).to_file(p)
    out["outside its community"] = ("buildings", p, "outside community 530103002001")
    p = tmp_path / "unknown_ref.csv"
    p.write_text("网格编码,职务,姓名\n530103002001009,网格长,王五\n", encoding="utf-8")
    out["unknown reference"] = ("staff", p, "row 2, 网格编码: grid 530103002001009 not found")
    return out


@pytest.mark.parametrize("case", ["missing column", "bad code", "swapped", "metres as degrees",
                                  "truncated", "outside its community", "unknown reference"])
def test_bad_files_are_refused_with_their_message_and_change_nothing(world, tmp_path, case):
    import_file(world.conn, "buildings", _write(footprints(), tmp_path / "ok.geojson"))
    before = snapshot(world.conn)
    layer, path, message = _bad_files(tmp_path)[case]
    with pytest.raises(LayerImportError) as err:
        import_file(world.conn, layer, path)
    assert message in str(err.value)
    assert snapshot(world.conn) == before


def _write(frame, path):
    frame.to_file(path)
    return path


def test_self_intersecting_footprint_is_repaired_and_reported(world, tmp_path):
    x, y, d = 102.7501, 25.0501, 0.0004
    bowtie = Polygon([(x, y), (x + d, y + d), (x + d, y), (x, y + d)])
    path = _write(gpd.GeoDataFrame({"楼栋编码": ["B"]}, geometry=[bowtie], crs=4326),
                  tmp_path / "bowtie.geojson")
    report = import_file(world.conn, "buildings", path)
    assert report.inserted == 1
    assert [e.row for e in report.repaired] == [1]


# --- the command line, on a database of its own -------------------------------------------------

@pytest.fixture(scope="module")
def cli_url(database_factory):
    url = database_factory("import_cli")
    conn = psycopg2.connect(url)
    w = World(conn)
    w.community(COMMUNITY, "桃源社区", (0, 0, 400, 300))
    w.community(OTHER, "白塔社区", (400, 0, 800, 300))
    conn.commit()
    conn.close()
    return url


def gridmap(url, *args):
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=env, timeout=300)


def count(url, table):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_cli_dry_run_then_import_then_reimport(cli_url, tmp_path):
    path = _write(footprints(), tmp_path / "楼栋.geojson")
    proc = gridmap(cli_url, "import", "buildings", str(path), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "would import buildings from 楼栋.geojson: 3 rows read, 3 new" in proc.stdout
    assert count(cli_url, "buildings") == 0
    proc = gridmap(cli_url, "import", "buildings", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["inserted"], doc["rejected_rows"], doc["mapping"]["楼栋名称"]) == (3, 0, "name")
    proc = gridmap(cli_url, "import", "buildings", str(path))
    assert "0 new, 0 updated, 3 unchanged" in proc.stdout
    assert count(cli_url, "buildings") == 3


def test_cli_refusal_exits_non_zero_and_lists_rows(cli_url, tmp_path):
    path = tmp_path / "网格员.csv"
    path.write_text("网格编码,职务,姓名\n530103002001009,网格长,王五\n530103002001001,组员,赵六\n",
                    encoding="gb18030")
    before = count(cli_url, "grid_staff")
    proc = gridmap(cli_url, "import", "staff", str(path))
    assert proc.returncode == 1
    assert "row 3, 职务: '组员' is not one of" in proc.stderr
    assert count(cli_url, "grid_staff") == before
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("职务,nonsense\n", encoding="utf-8")
    proc = gridmap(cli_url, "import", "staff", str(path), "--mapping", str(mapping))
    assert proc.returncode == 1 and "has no field 'nonsense'" in proc.stderr

"""Export of layers, results and ledgers (gis.io.layer_export, gis.io.ledgers, web.export, CLI).

Everything is read back with the tools a user would use (pyogrio, openpyxl, csv, json) and
checked against the demo database with SQL written here, independently of the exporter's.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import psycopg2
import pyogrio
import pytest
import shapely
from helpers import app_for
from pyproj import Geod

from gis.io.export import Column, add_sheet, display_width, new_workbook
from gis.io.layer_export import (
    EXPORT_LAYERS,
    FORMATS,
    ExportError,
    export_layer,
    formats_for,
)
from gis.io.ledgers import LIST_SHEETS, grid_ledger_xlsx, three_lists_xlsx
from gis.io.schema import LAYERS
from gis.layers import RegionNotFoundError

COMMUNITY = "530103002001"  # 桃源社区
STREET = "530103002000"     # 鼓楼街道
GRID = "530103002001001"    # 桃源社区第1网格
GRIDMAP = str(Path(sys.executable).with_name("gridmap"))
BOM = b"\xef\xbb\xbf"

# the region and everything under it, written here independently of gis.regions
SUB = """
WITH RECURSIVE sub(code) AS (
    SELECT code FROM regions WHERE code = %(region)s
    UNION SELECT r.code FROM regions r JOIN sub ON r.parent_code = sub.code
)"""


def fetch(conn, sql, **params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def one(conn, sql, **params):
    return fetch(conn, sql, **params)[0][0]


def read_csv(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(Path(path).read_bytes().decode("utf-8-sig"))))


def buildings_of(conn, region):
    """code → (name, kind, households, geometry) of the buildings of ``region``, from SQL."""
    rows = fetch(conn, SUB + """
        SELECT code, name, kind, households, ST_AsBinary(geom) FROM buildings
        WHERE community_code IN (SELECT code FROM sub)""", region=region)
    return {r[0]: (r[1], r[2], r[3], shapely.from_wkb(bytes(r[4]))) for r in rows}


KIND_LABELS = LAYERS["buildings"].field("kind").labels()


# --- schema-level guarantees ---------------------------------------------------------------------

def test_every_column_has_a_short_shapefile_name_within_ten_bytes():
    for spec in EXPORT_LAYERS.values():
        shorts = [c.short for c in spec.columns]
        assert all(s.isascii() and 0 < len(s.encode()) <= 10 for s in shorts), spec.name
        assert len(set(shorts)) == len(shorts), spec.name
        labels = [c.label for c in spec.columns]
        assert len(set(labels)) == len(labels), spec.name


def test_choice_labels_and_yes_no_parse_back_to_the_stored_codes():
    for spec in LAYERS.values():
        for f in spec.fields:
            col = Column.of(f)
            if f.kind == "choice":
                for code in set(f.choices.values()):
                    assert f.parse(col.cell(code)) == code, (spec.name, f.name, code)
            if f.kind == "bool":
                assert f.parse(col.cell(True)) is True and f.parse(col.cell(False)) is False


def test_the_importable_layers_are_written_with_the_schema_labels():
    for name, spec in LAYERS.items():
        labels = [c.label for c in EXPORT_LAYERS[name].columns]
        assert labels[:len(spec.fields)] == [f.label for f in spec.fields]


def test_display_width_counts_chinese_double():
    assert display_width("桃源社区") == 8
    assert display_width("A-1") == 3
    assert display_width(12.5) == 4


def test_a_cell_longer_than_excel_allows_is_refused_with_its_row():
    book = new_workbook()
    with pytest.raises(ValueError, match="row 3, column 说明"):
        add_sheet(book, "x", ["编号", "说明"], [["a", "ok"], ["b", "长" * 40_000]])


# --- buildings in every format -------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(demo_url, tmp_path_factory):
    """The buildings of 桃源社区 exported once to every format: ext → (path, result)."""
    out = tmp_path_factory.mktemp("buildings")
    conn = psycopg2.connect(demo_url)
    try:
        return {ext: (out / f"楼栋{ext}",
                      export_layer(conn, "buildings", out / f"楼栋{ext}", region=COMMUNITY))
                for ext in FORMATS}
    finally:
        conn.rollback()
        conn.close()


def test_each_format_has_the_regions_buildings(exported, demo_conn):
    n = len(buildings_of(demo_conn, COMMUNITY))
    assert n > 40
    for ext, (_, result) in exported.items():
        assert result["rows"] == n, ext
        assert result["format"] == FORMATS[ext]
        assert result["region"]["name"] == "桃源社区"


def test_geojson_is_rfc7946_and_equal_to_the_database(exported, demo_conn):
    path, _ = exported[".geojson"]
    fc = json.loads(path.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection" and "crs" not in fc
    db = buildings_of(demo_conn, COMMUNITY)
    assert len(fc["features"]) == len(db)
    for f in fc["features"]:
        p = f["properties"]
        name, kind, households, geom = db[p["楼栋编码"]]
        assert (p["楼栋名称"], p["类型"], p["户数"]) == (name, KIND_LABELS[kind], households)
        assert p["出租屋"] in ("是", "否")
        shape = shapely.geometry.shape(f["geometry"])
        assert shape.normalize().equals_exact(geom.normalize(), 1e-9)
        for polygon in shape.geoms:  # exterior rings counter-clockwise (RFC 7946, 3.1.6)
            assert polygon.exterior.is_ccw
    # and PostGIS agrees
    texts = [(f["properties"]["楼栋编码"], json.dumps(f["geometry"])) for f in fc["features"]]
    with demo_conn.cursor() as cur:
        for code, text in texts[:20]:
            cur.execute("SELECT ST_Equals(geom, ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326))"
                        " FROM buildings WHERE code = %s", (text, code))
            assert cur.fetchone()[0]


def test_shapefile_names_encoding_and_chinese_values(exported, demo_conn):
    path, result = exported[".shp"]
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        assert path.with_suffix(suffix).exists()
    assert sorted(result["files"]) == sorted(str(path.with_suffix(s))
                                             for s in (".shp", ".shx", ".dbf", ".prj", ".cpg"))
    assert path.with_suffix(".cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    info = pyogrio.read_info(path)
    assert info["crs"] == "EPSG:4326"
    assert all(len(name.encode()) <= 10 and name.isascii() for name in info["fields"])
    assert list(info["fields"]) == [f.short for f in LAYERS["buildings"].fields]
    df = pyogrio.read_dataframe(path)
    db = buildings_of(demo_conn, COMMUNITY)
    assert len(df) == len(db)
    for row in df.itertuples():
        name, kind, households, geom = db[row.code]
        assert row.name == name  # Chinese, exactly
        assert row.kind == KIND_LABELS[kind]
        assert row.households == households
        shape = row.geometry  # a Shapefile does not tell polygons from multipolygons
        if shape.geom_type == "Polygon":
            shape = shapely.MultiPolygon([shape])
        assert shape.normalize().equals_exact(geom.normalize(), 1e-9)


def test_geopackage_has_chinese_headers_and_the_geometry(exported, demo_conn):
    path, _ = exported[".gpkg"]
    info = pyogrio.read_info(path)
    assert info["layer_name"] == "buildings" and info["geometry_type"] == "MultiPolygon"
    assert list(info["fields"]) == [f.label for f in LAYERS["buildings"].fields]
    df = pyogrio.read_dataframe(path)
    db = buildings_of(demo_conn, COMMUNITY)
    for _, row in df.iterrows():
        assert row["楼栋名称"] == db[row["楼栋编码"]][0]
        assert row.geometry.equals_exact(db[row["楼栋编码"]][3], 1e-9)


def test_csv_has_a_bom_chinese_headers_and_wkt(exported, demo_conn):
    path, _ = exported[".csv"]
    assert path.read_bytes().startswith(BOM)
    table = read_csv(path)
    assert table[0] == [f.label for f in LAYERS["buildings"].fields] + ["WKT"]
    db = buildings_of(demo_conn, COMMUNITY)
    assert len(table) == 1 + len(db)
    for row in table[1:]:
        assert row[1] == db[row[0]][0]
        assert shapely.from_wkt(row[-1]).equals_exact(db[row[0]][3], 1e-9)


def test_xlsx_header_is_bold_frozen_filtered_and_widths_fit(exported, demo_conn):
    path, _ = exported[".xlsx"]
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet.title == "楼栋"
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header == [f.label for f in LAYERS["buildings"].fields] + ["WKT"]
    assert all(c.font.b for c in sheet[1])
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}" \
                                    f"{sheet.max_row}"
    widths = {c: sheet.column_dimensions[c].width for c in "ABCDEFGHIJKL"}
    assert all(w and w >= 6 for w in widths.values())
    names = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert widths["B"] >= max(display_width(n) for n in names)  # Chinese counted double
    assert widths["B"] > widths["F"]                           # names wider than 户数
    assert sheet.max_row == 1 + len(buildings_of(demo_conn, COMMUNITY))


def test_a_street_holds_the_buildings_of_its_communities(demo_conn, tmp_path):
    result = export_layer(demo_conn, "buildings", tmp_path / "b.csv", region=STREET)
    assert result["rows"] == len(buildings_of(demo_conn, STREET))
    every = export_layer(demo_conn, "buildings", tmp_path / "all.csv")
    assert every["rows"] == one(demo_conn, "SELECT count(*) FROM buildings")


def test_shapefile_texts_are_cut_to_254_bytes_on_a_character(demo_conn, tmp_path):
    code = one(demo_conn, "SELECT min(code) FROM buildings WHERE community_code = %(c)s",
               c=COMMUNITY)
    with demo_conn.cursor() as cur:
        cur.execute("UPDATE buildings SET name = %s WHERE code = %s", ("很" * 100, code))
    result = export_layer(demo_conn, "buildings", tmp_path / "long.shp", region=COMMUNITY)
    assert result["truncated"] == 1
    df = pyogrio.read_dataframe(tmp_path / "long.shp")
    assert df.set_index("code").loc[code, "name"] == "很" * 84  # 252 bytes, whole characters


# --- layers without geometry, errors -------------------------------------------------------------

@pytest.mark.parametrize("ext", [".csv", ".xlsx"])
def test_members_and_staff_as_tables(demo_conn, tmp_path, ext):
    for layer, table, labels in (("members", "members", LAYERS["members"].fields),
                                 ("staff", "grid_staff", LAYERS["staff"].fields)):
        result = export_layer(demo_conn, layer, tmp_path / f"{layer}{ext}")
        assert result["rows"] == one(demo_conn, f"SELECT count(*) FROM {table}")
        if ext == ".csv":
            assert (tmp_path / f"{layer}{ext}").read_bytes().startswith(BOM)
            rows = read_csv(tmp_path / f"{layer}{ext}")
        else:
            sheet = openpyxl.load_workbook(tmp_path / f"{layer}{ext}").active
            assert sheet.freeze_panes == "A2"
            rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert rows[0][:len(labels)] == [f.label for f in labels]
        assert len(rows) == 1 + result["rows"]
        if layer == "members":
            categories = {r[3] for r in rows[1:]}
            assert categories <= set(LAYERS["members"].field("category").labels().values())
            assert {r[6] for r in rows[1:]} <= {"是", "否"}
            # names exactly as stored
            assert sorted(r[1] for r in rows[1:]) == sorted(
                r[0] for r in fetch(demo_conn, "SELECT name FROM members"))
        else:
            heads = sum(1 for r in rows[1:] if r[2] == "网格长")
            assert heads == one(demo_conn, "SELECT count(*) FROM grid_staff WHERE role = 'head'")


def test_members_of_a_community_live_or_are_organised_there(demo_conn, tmp_path):
    result = export_layer(demo_conn, "members", tmp_path / "m.csv", region=COMMUNITY)
    expected = one(demo_conn, SUB + """
        SELECT count(*) FROM members m
        LEFT JOIN buildings b ON b.id = m.home_building_id
        LEFT JOIN party_orgs o ON o.id = m.org_id
        WHERE b.community_code IN (SELECT code FROM sub)
           OR o.region_code IN (SELECT code FROM sub)""", region=COMMUNITY)
    assert 0 < result["rows"] == expected


@pytest.mark.parametrize("layer", ["members", "staff", "ledger"])
@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".shp"])
def test_a_layer_without_geometry_refuses_gis_formats(demo_conn, tmp_path, layer, ext):
    with pytest.raises(ExportError, match="no geometry.*csv or .xlsx"):
        export_layer(demo_conn, layer, tmp_path / f"x{ext}")
    assert not (tmp_path / f"x{ext}").exists()


def test_clear_errors(demo_conn, tmp_path):
    with pytest.raises(ExportError, match="unknown layer 'roads'.*buildings"):
        export_layer(demo_conn, "roads", tmp_path / "x.csv")
    with pytest.raises(ExportError, match=r"unknown format '\.kml'.*\.geojson"):
        export_layer(demo_conn, "buildings", tmp_path / "x.kml")
    with pytest.raises(ExportError, match="coordinate system 'utm'"):
        export_layer(demo_conn, "buildings", tmp_path / "x.csv", coords="utm")
    with pytest.raises(ExportError, match="does not exist"):
        export_layer(demo_conn, "buildings", tmp_path / "nowhere" / "x.csv")
    with pytest.raises(ValueError, match="12-digit"):
        export_layer(demo_conn, "buildings", tmp_path / "x.csv", region="5301")
    with pytest.raises(RegionNotFoundError):
        export_layer(demo_conn, "buildings", tmp_path / "x.csv", region="999999999999")


def test_every_layer_goes_to_every_format_it_can(demo_conn, tmp_path):
    for layer in EXPORT_LAYERS:
        exts = formats_for(layer)
        assert ".csv" in exts and ".xlsx" in exts
        assert (".geojson" in exts) == (EXPORT_LAYERS[layer].geometry is not None)
        for ext in exts:
            result = export_layer(demo_conn, layer, tmp_path / f"{layer}{ext}", region=STREET)
            assert (tmp_path / f"{layer}{ext}").stat().st_size > 0
            assert result["rows"] >= (0 if layer == "siting" else 1), (layer, ext)


# --- coordinates ---------------------------------------------------------------------------------

def test_gcj02_and_bd09_exports_are_shifted(demo_conn, tmp_path):
    from gis.io.coords import from_wgs84

    geod = Geod(ellps="WGS84")
    table = {}
    for coords in ("wgs84", "gcj02", "bd09"):
        export_layer(demo_conn, "centers", tmp_path / f"c-{coords}.csv", coords=coords)
        rows = read_csv(tmp_path / f"c-{coords}.csv")
        assert rows[0][-2:] == ["经度", "纬度"]
        table[coords] = [(float(r[-2]), float(r[-1])) for r in rows[1:]]
    assert len(table["wgs84"]) == one(demo_conn, "SELECT count(*) FROM service_centers")
    for (lon, lat), (glon, glat), (blon, blat) in zip(*table.values(), strict=True):
        shift = geod.inv(lon, lat, glon, glat)[2]
        assert 100 < shift < 700
        assert geod.inv(lon, lat, blon, blat)[2] > shift
        expected = from_wgs84(lon, lat, "gcj02")
        assert (glon, glat) == pytest.approx((float(expected[0]), float(expected[1])), abs=1e-12)
    # polygons too
    export_layer(demo_conn, "buildings", tmp_path / "b.geojson", region=COMMUNITY)
    export_layer(demo_conn, "buildings", tmp_path / "g.geojson", region=COMMUNITY,
                 coords="gcj02")
    plain = json.loads((tmp_path / "b.geojson").read_text(encoding="utf-8"))["features"]
    shifted = json.loads((tmp_path / "g.geojson").read_text(encoding="utf-8"))["features"]
    for a, b in zip(plain, shifted, strict=True):
        pa = shapely.geometry.shape(a["geometry"]).centroid
        pb = shapely.geometry.shape(b["geometry"]).centroid
        assert 100 < geod.inv(pa.x, pa.y, pb.x, pb.y)[2] < 700


# --- ledgers -------------------------------------------------------------------------------------

def test_grid_ledger_figures_of_one_grid_by_hand(demo_conn, tmp_path):
    export_layer(demo_conn, "grid-ledger", tmp_path / "gl.xlsx", region=COMMUNITY)
    sheet = openpyxl.load_workbook(tmp_path / "gl.xlsx")["网格台账"]
    assert sheet.freeze_panes == "A2"
    rows = [dict(zip([c.value for c in sheet[1]], r, strict=True))
            for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(rows) == one(demo_conn, "SELECT count(*) FROM grids WHERE community_code = %(c)s",
                            c=COMMUNITY)
    gov = next(r for r in rows if r["网格编码"] == GRID and r["网格类型"] == "综治网格")
    grid_id = one(demo_conn, "SELECT id FROM grids WHERE code = %(g)s AND layer = 'governance'",
                  g=GRID)
    n, households, residents = fetch(demo_conn, """
        SELECT count(*), sum(households), sum(residents) FROM buildings WHERE grid_id = %(g)s""",
                                     g=grid_id)[0]
    members = one(demo_conn, """
        SELECT count(*) FROM members WHERE home_building_id IN
            (SELECT id FROM buildings WHERE grid_id = %(g)s)""", g=grid_id)
    assert (gov["楼栋数"], gov["户数"], gov["常住人口"], gov["党员数"]) == \
        (n, households, residents, members)
    assert households > 0 and members > 0
    staff = fetch(demo_conn, """
        SELECT s.role, s.name, s.phone FROM grid_staff s JOIN grids g ON g.id = s.grid_id
        WHERE g.code = %(g)s ORDER BY s.id""", g=GRID)
    assert gov["网格长"] == "、".join(n for r, n, _ in staff if r == "head")
    assert gov["网格长电话"] == "、".join(p for r, _, p in staff if r == "head")
    assert gov["专职网格员"] == ("、".join(n for r, n, _ in staff if r == "full_time") or None)
    branches = [r[0] for r in fetch(demo_conn, """
        SELECT o.name FROM party_orgs o JOIN grids g ON g.id = o.grid_id
        WHERE g.code = %(g)s AND o.kind <> 'building_group' ORDER BY o.id""", g=GRID)]
    assert gov["党支部"] == ("、".join(branches) or None)
    # the party grid counts the buildings standing in it
    party = next(r for r in rows if r["网格编码"] == GRID and r["网格类型"] == "党建网格")
    assert party["户数"] == one(demo_conn, """
        SELECT coalesce(sum(b.households), 0) FROM buildings b, grids g
        WHERE g.code = %(g)s AND g.layer = 'party'
          AND ST_Within(ST_PointOnSurface(b.geom), g.geom)""", g=GRID)


def test_grid_ledger_with_a_title_row(demo_conn):
    sheet = openpyxl.load_workbook(io.BytesIO(grid_ledger_xlsx(demo_conn, COMMUNITY,
                                                               title=True))).active
    assert sheet["A1"].value == "桃源社区网格台账" and sheet["A1"].font.b
    assert sheet.freeze_panes == "A3" and sheet["A2"].value == "网格编码"


def test_three_lists_workbook_has_the_lists_of_the_region(demo_conn, tmp_path):
    result = export_layer(demo_conn, "ledger", tmp_path / "lists.xlsx", region=STREET)
    book = openpyxl.load_workbook(tmp_path / "lists.xlsx")
    assert book.sheetnames == ["需求清单", "资源清单", "项目清单"]
    counts = dict(fetch(demo_conn, SUB + """
        SELECT list, count(*) FROM ledger_items WHERE region_code IN (SELECT code FROM sub)
        GROUP BY list""", region=STREET))
    assert all(counts.get(k) for k in LIST_SHEETS)
    assert result["sheets"] == {LIST_SHEETS[k]: counts[k] for k in LIST_SHEETS}
    labels = [f.label for f in LAYERS["ledger"].fields]
    for code, name in LIST_SHEETS.items():
        sheet = book[name]
        assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0][:len(labels)]) == labels
        assert len(rows) == 1 + counts[code]
        assert {r[1] for r in rows[1:]} == {LAYERS["ledger"].field("list").labels()[code]}
    projects = book["项目清单"]
    header = [c.value for c in projects[1]]
    assert header[-2:] == ["对应需求", "对应资源"]
    linked = dict(fetch(demo_conn, SUB + """
        SELECT p.title, n.title FROM ledger_items p JOIN ledger_items n ON n.id = p.need_id
        WHERE p.list = 'project' AND p.region_code IN (SELECT code FROM sub)""", region=STREET))
    got = {r[header.index("事项")]: r[header.index("对应需求")]
           for r in projects.iter_rows(min_row=2, values_only=True)}
    assert got == linked
    units = {r[header.index("单位名称")] for r in projects.iter_rows(min_row=2, values_only=True)}
    assert units and None not in units  # every demo project has its unit


def test_three_lists_with_titles(demo_conn):
    book = openpyxl.load_workbook(io.BytesIO(three_lists_xlsx(demo_conn, COMMUNITY, title=True)))
    assert book["需求清单"]["A1"].value == "桃源社区需求清单"
    assert book["需求清单"].freeze_panes == "A3"


# --- results -------------------------------------------------------------------------------------

def test_coverage_gaps_with_their_places(demo_conn, tmp_path):
    from gis.coverage_layers import ensure_report
    from gis.coverage_text import GAP_LABELS

    export_layer(demo_conn, "coverage", tmp_path / "gaps.geojson")
    export_layer(demo_conn, "coverage", tmp_path / "gaps.csv")
    report = ensure_report(demo_conn)
    features = json.loads((tmp_path / "gaps.geojson").read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["说明"] for f in features] == [g["explanation"] for g in report.gaps]
    holes = [f for f in features if f["properties"]["类型"] == GAP_LABELS["grid_hole"]]
    assert holes and all(f["geometry"]["type"] == "MultiPolygon" for f in holes)
    table = read_csv(tmp_path / "gaps.csv")
    assert table[0][-1] == "WKT" and len(table) == 1 + len(report.gaps)


def test_access_per_building(demo_conn, tmp_path):
    result = export_layer(demo_conn, "access", tmp_path / "access.csv", region=COMMUNITY)
    rows = read_csv(tmp_path / "access.csv")
    header = rows[0]
    assert header[-2:] == ["经度", "纬度"]
    assert result["rows"] == len(rows) - 1 == len(buildings_of(demo_conn, COMMUNITY))
    stored = {r[0]: r[1:] for r in fetch(demo_conn, """
        SELECT b.code, c.code, a.walk_m, a.straight_m, a.reachable FROM building_access a
        JOIN buildings b ON b.id = a.building_id
        LEFT JOIN service_centers c ON c.id = a.center_id""")}
    for r in rows[1:]:
        row = dict(zip(header, r, strict=True))
        center, walk, straight, reachable = stored[row["楼栋编码"]]
        assert row["最近服务中心编码"] == (center or "")
        assert row["步行可达"] == ("是" if reachable else "否")
        if walk is not None:
            assert float(row["步行距离（米）"]) == pytest.approx(walk, abs=0.05)
            assert float(row["步行距离（米）"]) >= float(row["直线距离（米）"])
        assert float(row["直线距离（米）"]) == pytest.approx(straight, abs=0.05)


def test_siting_exports_the_adopted_centres(demo_conn, tmp_path):
    from gis.access_store import run_access
    from gis.siting_data import adopt_sites

    (lon, lat) = fetch(demo_conn, """
        SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM regions
        WHERE code = %(c)s""", c=COMMUNITY)[0]
    (site,) = adopt_sites(demo_conn, [{"lon": lon, "lat": lat}], level="grid")
    export_layer(demo_conn, "siting", tmp_path / "plan.csv")
    rows = read_csv(tmp_path / "plan.csv")
    planned = one(demo_conn, "SELECT count(*) FROM service_centers WHERE status = 'planned'")
    assert len(rows) == 1 + planned
    mine = next(r for r in rows[1:] if r[1] == site["name"])
    assert mine[2] == "网格" and mine[3] == "规划"
    assert (float(mine[-2]), float(mine[-1])) == pytest.approx((lon, lat), abs=1e-9)
    assert mine[rows[0].index("服务居民")] == ""  # not known before access runs with the plan
    run_access(demo_conn, with_isochrones=False, planned=True)
    export_layer(demo_conn, "siting", tmp_path / "plan2.csv")
    rows = read_csv(tmp_path / "plan2.csv")
    mine = next(r for r in rows[1:] if r[1] == site["name"])
    served = one(demo_conn, "SELECT residents FROM center_access WHERE center_id = %(i)s",
                 i=site["id"])
    assert int(mine[rows[0].index("服务居民")]) == served


# --- round trip through the importer -------------------------------------------------------------

SAME_SQL = {
    "regions": "SELECT code, name, level, parent_code, ST_AsText(ST_Normalize(geom), 17)"
               " FROM regions ORDER BY code",
    "grids": "SELECT code, name, layer, community_code, ST_AsText(ST_Normalize(geom), 17)"
             " FROM grids ORDER BY layer, code",
    "buildings": "SELECT b.code, b.name, b.community_code, b.kind, b.form, b.households,"
                 " b.residents, b.migrant_households, b.migrant_residents, b.floors, b.is_rental,"
                 " ST_AsText(ST_Normalize(b.geom), 17), g.code, g.layer"
                 " FROM buildings b LEFT JOIN grids g ON g.id = b.grid_id ORDER BY b.code",
    "members": "SELECT m.name, m.phone, m.category, b.code, m.is_demonstration_post,"
               " m.is_probationary FROM members m"
               " LEFT JOIN buildings b ON b.id = m.home_building_id ORDER BY 1, 2, 3, 4",
    "staff": "SELECT s.role, s.name, s.phone, g.code, g.layer FROM grid_staff s"
             " LEFT JOIN grids g ON g.id = s.grid_id ORDER BY 1, 2, 3, 4, 5",
}


@pytest.fixture(scope="module")
def round_trip_url(database_factory, demo_url, tmp_path_factory):
    """An empty database into which the demo's regions, grids and buildings were imported
    from exported GeoPackages."""
    from gis.io.layer_import import import_file

    url = database_factory("export_rt")
    out = tmp_path_factory.mktemp("rt")
    src, dst = psycopg2.connect(demo_url), psycopg2.connect(url)
    try:
        for layer in ("regions", "grids", "buildings"):
            export_layer(src, layer, out / f"{layer}.gpkg")
            import_file(dst, layer, out / f"{layer}.gpkg")
        dst.commit()
    finally:
        src.rollback()
        src.close()
        dst.close()
    return url


def same(demo_conn, url, layer):
    conn = psycopg2.connect(url)
    try:
        return fetch(conn, SAME_SQL[layer]) == fetch(demo_conn, SAME_SQL[layer])
    finally:
        conn.close()


def test_round_trip_gives_the_same_places(demo_conn, round_trip_url):
    for layer in ("regions", "grids", "buildings"):
        assert same(demo_conn, round_trip_url, layer), layer


@pytest.mark.parametrize("ext", [".geojson", ".shp", ".csv", ".xlsx"])
def test_reimporting_any_format_gives_the_same_data(demo_conn, round_trip_url, tmp_path, ext):
    from gis.io.layer_import import import_file

    conn = psycopg2.connect(round_trip_url)
    try:
        for layer in ("regions", "grids", "buildings"):
            result = export_layer(demo_conn, layer, tmp_path / f"{layer}{ext}")
            report = import_file(conn, layer, tmp_path / f"{layer}{ext}")
            assert report.read == result["rows"] == report.unchanged, report.summary()
            sql = SAME_SQL[layer]
            assert fetch(conn, sql) == fetch(demo_conn, sql), layer
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize("ext", [".csv", ".xlsx"])
def test_round_trip_of_members_and_staff(demo_conn, round_trip_url, tmp_path, ext):
    from gis.io.layer_import import import_file

    conn = psycopg2.connect(round_trip_url)
    try:
        for layer in ("members", "staff"):
            export_layer(demo_conn, layer, tmp_path / f"{layer}{ext}")
            import_file(conn, layer, tmp_path / f"{layer}{ext}")
            sql = SAME_SQL[layer]
            assert fetch(conn, sql) == fetch(demo_conn, sql), layer
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize("layer", ["centers", "units", "ledger"])
def test_round_trip_of_the_other_layers(demo_conn, round_trip_url, tmp_path, layer):
    from gis.io.layer_import import import_file

    conn = psycopg2.connect(round_trip_url)
    try:
        result = export_layer(demo_conn, layer, tmp_path / f"{layer}.csv")
        report = import_file(conn, layer, tmp_path / f"{layer}.csv")
        assert report.inserted + report.updated + report.unchanged == result["rows"]
    finally:
        conn.rollback()
        conn.close()


# --- web and CLI ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(demo_url):
    return app_for(demo_url).test_client()


@pytest.mark.parametrize(("url", "media_type"), [
    (f"/export/buildings.geojson?region={COMMUNITY}", "application/geo+json"),
    (f"/export/buildings.gpkg?region={COMMUNITY}", "application/geopackage+sqlite3"),
    (f"/export/buildings.csv?region={COMMUNITY}", "text/csv; charset=utf-8"),
    (f"/export/members.xlsx?region={COMMUNITY}",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (f"/export/grid-ledger.xlsx?region={COMMUNITY}",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (f"/export/buildings.shp?region={COMMUNITY}", "application/zip"),
])
def test_download_route(client, demo_conn, url, media_type):
    response = client.get(url)
    assert response.status_code == 200
    assert response.content_type == media_type
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"")
    assert f"-{COMMUNITY}." in disposition
    assert "filename*=UTF-8''" in disposition  # 楼栋-桃源社区.…, percent-encoded
    if url.startswith("/export/buildings.csv"):
        assert response.data.startswith(BOM)
        assert len(read_csv_bytes(response.data)) == 1 + len(buildings_of(demo_conn, COMMUNITY))
        assert "%E6%A5%BC%E6%A0%8B-%E6%A1%83%E6%BA%90%E7%A4%BE%E5%8C%BA.csv" in disposition
    if url.startswith("/export/buildings.shp"):
        names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
        assert sorted(names) == sorted(f"buildings{s}"
                                       for s in (".shp", ".shx", ".dbf", ".prj", ".cpg"))


def read_csv_bytes(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize(("url", "status", "text"), [
    ("/export/roads.csv", 404, "unknown layer"),
    ("/export/buildings.kml", 400, "unknown format"),
    ("/export/members.geojson", 400, "no geometry"),
    ("/export/buildings.csv?region=5301", 400, "12-digit"),
    ("/export/buildings.csv?region=999999999999", 404, "999999999999"),
    ("/export/buildings.csv?coords=utm", 400, "coords"),
])
def test_download_errors(client, url, status, text):
    response = client.get(url)
    assert response.status_code == status
    assert text in response.get_data(as_text=True)


def test_gcj02_download_is_named_so(client):
    response = client.get(f"/export/centers.csv?region={COMMUNITY}&coords=gcj02")
    assert response.status_code == 200
    assert f'filename="centers-{COMMUNITY}-gcj02.csv"' in response.headers["Content-Disposition"]


def test_pages_have_a_download_menu(client):
    for url, word in ((f"/?region={COMMUNITY}", "下载"), (f"/?region={COMMUNITY}&lang=en",
                                                          "Download")):
        page = client.get(url).get_data(as_text=True)
        assert 'id="gm-export"' in page and word in page
        assert f'href="/export/buildings.shp?region={COMMUNITY}"' in page
        assert f'href="/export/grid-ledger.xlsx?region={COMMUNITY}"' in page
        assert "/export/members.geojson" not in page  # no geometry, no GIS formats


def run_cli(*args, url):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = url
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_export(demo_url, demo_conn, tmp_path):
    target = tmp_path / "楼栋.gpkg"
    proc = run_cli("export", "buildings", str(target), "--region", COMMUNITY, url=demo_url)
    assert proc.returncode == 0, proc.stderr
    n = len(buildings_of(demo_conn, COMMUNITY))
    assert f"{n} rows" in proc.stdout and str(target) in proc.stdout
    assert pyogrio.read_info(target)["features"] == n
    proc = run_cli("export", "ledger", str(tmp_path / "清单.xlsx"), url=demo_url)
    assert proc.returncode == 0, proc.stderr
    assert "需求清单" in proc.stdout
    assert openpyxl.load_workbook(tmp_path / "清单.xlsx").sheetnames == list(LIST_SHEETS.values())


def test_cli_export_errors(demo_url, tmp_path):
    proc = run_cli("export", "members", str(tmp_path / "m.shp"), url=demo_url)
    assert proc.returncode != 0 and "no geometry" in proc.stderr
    proc = run_cli("export", "roads", str(tmp_path / "r.csv"), url=demo_url)
    assert proc.returncode != 0 and "unknown layer 'roads'" in proc.stderr
    proc = run_cli("export", "buildings", str(tmp_path / "b.csv"), "--region", "999999999999",
                   url=demo_url)
    assert proc.returncode != 0 and "--region" in proc.stderr


def test_three_lists_workbook_imports_back_sheet_by_sheet(demo_conn, round_trip_url, tmp_path):
    from gis.io.layer_import import LayerImportError, import_file

    path = tmp_path / "三张清单.xlsx"
    export_layer(demo_conn, "ledger", path, region=COMMUNITY)
    per_list = ("SELECT list, count(*) FROM ledger_items WHERE region_code = %(c)s"
                " GROUP BY list ORDER BY list")
    conn = psycopg2.connect(round_trip_url)
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM ledger_items")
        report = import_file(conn, "ledger", path)
        assert report.inserted == report.read > 0
        assert fetch(conn, per_list, c=COMMUNITY) == fetch(demo_conn, per_list, c=COMMUNITY)
        # a bad cell is named by its sheet and row
        book = openpyxl.load_workbook(path)
        header = [c.value for c in book["资源清单"][1]]
        book["资源清单"].cell(2, header.index("区划代码") + 1).value = "530103002999"
        book.save(path)
        with pytest.raises(LayerImportError, match="sheet 资源清单 row 2, 区划代码: region"):
            import_file(conn, "ledger", path)
    finally:
        conn.rollback()
        conn.close()

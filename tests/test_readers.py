"""gis.io.readers: every format into a SourceTable, with encodings, CRSs and row-naming errors.

No database: each test writes its own fixture files in ``tmp_path``.
"""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from gis.io.coords import from_wgs84, to_wgs84
from gis.io.readers import ReadError, iter_tables, read_table

# 桃源社区, 盘龙区, 昆明 — and the CGCS2000 3° GK zone with central meridian 114°E (EPSG:4547),
# for a projected file; the points of that file lie around Wuhan, inside the zone.
KUNMING = (102.7183, 25.0612)
WUHAN = (114.3055, 30.5928)
NAMES = ["桃源社区", "鼓楼街道", "网格一"]
KINDS = ["住宅", "办公", "住宅"]


def frame(points, crs=4326, **extra):
    data = {"名称": NAMES[:len(points)], "类型": KINDS[:len(points)],
            "households": [120, 80, 45][:len(points)], **extra}
    return gpd.GeoDataFrame(data, geometry=[shapely.Point(p) for p in points], crs=crs)


def squares(n, x0=102.70, y0=25.03, step=0.001):
    i = np.arange(n)
    x = x0 + (i % 100) * step
    y = y0 + (i // 100) * step
    return shapely.box(x, y, x + step / 2, y + step / 2)


POINTS = [KUNMING, (102.7201, 25.0630), (102.7166, 25.0590)]


# --- GIS formats ----------------------------------------------------------------------------

def test_geojson(tmp_path):
    path = tmp_path / "centers.geojson"
    pyogrio.write_dataframe(frame(POINTS), path)
    t = read_table(path)
    assert list(t.frame.columns) == ["名称", "类型", "households"]
    assert t.frame["名称"].tolist() == NAMES
    assert t.frame["households"].tolist() == [120, 80, 45]
    assert t.rows.tolist() == [1, 2, 3]
    assert t.crs == "EPSG:4326" and t.source == str(path)
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), POINTS)


def test_json_extension_and_nulls_become_none(tmp_path):
    path = tmp_path / "a.json"
    gdf = frame(POINTS)
    gdf["note"] = ["x", None, None]
    gdf["floors"] = [6, None, 3]
    pyogrio.write_dataframe(gdf, path, driver="GeoJSON")
    t = read_table(path)
    assert t.frame["note"].tolist() == ["x", None, None]
    assert t.frame["floors"].tolist() == [6, None, 3]  # not 6.0 / nan


def test_gpkg_first_layer_and_named_layer(tmp_path):
    path = tmp_path / "data.gpkg"
    pyogrio.write_dataframe(frame(POINTS), path, layer="centers")
    grids = gpd.GeoDataFrame({"code": ["530103002001001"]}, geometry=[squares(1)[0]], crs=4326)
    pyogrio.write_dataframe(grids, path, layer="grids", append=True)
    t = read_table(path)
    assert t.frame["名称"].tolist() == NAMES
    assert any("centers" in n and "grids" in n for n in t.notes)
    g = read_table(path, sheet="grids")
    assert g.frame["code"].tolist() == ["530103002001001"]
    assert g.geometry[0].geom_type == "Polygon"
    with pytest.raises(ReadError, match=r"no layer 'roads'.*centers, grids"):
        read_table(path, sheet="roads")


def test_shapefile_utf8(tmp_path):
    path = tmp_path / "b.shp"
    pyogrio.write_dataframe(frame(POINTS), path, encoding="UTF-8")
    t = read_table(path)
    assert t.frame["名称"].tolist() == NAMES and t.encoding == "UTF-8"
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), POINTS)


@pytest.mark.parametrize("keep_cpg", [False, True])
def test_gbk_shapefile(tmp_path, keep_cpg):
    path = tmp_path / "楼栋.shp"
    pyogrio.write_dataframe(frame(POINTS), path, encoding="GBK")
    assert "桃源社区".encode("gbk") in (tmp_path / "楼栋.dbf").read_bytes()
    if not keep_cpg:
        (tmp_path / "楼栋.cpg").unlink()
    t = read_table(path)
    assert list(t.frame.columns) == ["名称", "类型", "households"]
    assert t.frame["名称"].tolist() == NAMES
    assert t.frame["类型"].tolist() == KINDS
    if keep_cpg:
        assert t.encoding == "GBK" and not t.notes
    else:
        assert t.encoding == "GB18030"
        assert "no .cpg: attributes read as GB18030 (detected)" in t.notes


def test_utf8_shapefile_without_cpg_detected(tmp_path):
    path = tmp_path / "u.shp"
    pyogrio.write_dataframe(frame(POINTS), path, encoding="UTF-8")
    (tmp_path / "u.cpg").unlink()
    t = read_table(path)
    assert t.frame["名称"].tolist() == NAMES and t.encoding == "UTF-8"
    assert "no .cpg: attributes read as UTF-8 (detected)" in t.notes


def test_wrong_cpg_says_to_give_the_encoding(tmp_path):
    path = tmp_path / "w.shp"
    pyogrio.write_dataframe(frame(POINTS), path, encoding="GBK")
    (tmp_path / "w.cpg").write_text("UTF-8")
    with pytest.raises(ReadError, match=r"w\.shp: cannot be read \(.*give it \(e\.g\. GBK\)"):
        read_table(path)
    assert read_table(path, encoding="GBK").frame["名称"].tolist() == NAMES


def test_shapefile_encoding_argument_wins(tmp_path):
    path = tmp_path / "b.shp"
    pyogrio.write_dataframe(frame(POINTS), path, encoding="GBK")
    (tmp_path / "b.cpg").unlink()
    t = read_table(path, encoding="GBK")
    assert t.frame["名称"].tolist() == NAMES and t.encoding == "GBK"
    assert not any("detected" in n for n in t.notes)


def test_zipped_shapefile(tmp_path):
    pyogrio.write_dataframe(frame(POINTS), tmp_path / "楼栋.shp", encoding="GBK")
    (tmp_path / "楼栋.cpg").unlink()
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(tmp_path / f"楼栋.{ext}", f"data/楼栋.{ext}")
    t = read_table(archive)
    assert t.frame["名称"].tolist() == NAMES and t.encoding == "GB18030"
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), POINTS)


def test_zip_without_one_shapefile(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(ReadError, match=r"x\.zip: a \.zip must hold exactly one shapefile"):
        read_table(archive)


# --- CRS, coordinate systems and coordinate checks -------------------------------------------

def test_projected_file_is_reprojected(tmp_path):
    to_gk = Transformer.from_crs(4326, 4547, always_xy=True)
    lonlat = np.array([WUHAN, (114.3100, 30.6000)])
    x, y = to_gk.transform(lonlat[:, 0], lonlat[:, 1])
    assert 300_000 < x[0] < 700_000  # metres in the zone, no zone prefix
    path = tmp_path / "gk.gpkg"
    pyogrio.write_dataframe(frame(list(zip(x, y, strict=True)), crs=4547), path)
    t = read_table(path)
    assert t.crs == "EPSG:4547"
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), lonlat, atol=1e-6, rtol=0)


def test_no_crs_needs_crs_argument(tmp_path):
    to_gk = Transformer.from_crs(4326, 4547, always_xy=True)
    x, y = to_gk.transform(*WUHAN)
    path = tmp_path / "noprj.shp"
    pyogrio.write_dataframe(frame([(x, y)]), path, encoding="UTF-8")
    (tmp_path / "noprj.prj").unlink()
    with pytest.raises(ReadError, match=r"noprj\.shp: has no coordinate system; give --crs EPSG"):
        read_table(path)
    t = read_table(path, crs=4547)
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), [WUHAN], atol=1e-6, rtol=0)


def test_crs_argument_overrides_a_wrong_file_crs(tmp_path):
    to_gk = Transformer.from_crs(4326, 4547, always_xy=True)
    x, y = to_gk.transform(*WUHAN)
    path = tmp_path / "wrong.gpkg"
    pyogrio.write_dataframe(frame([(x, y)], crs=4326), path)  # says degrees, holds metres
    with pytest.raises(ReadError, match=r"wrong\.gpkg: row 1: .*projected metres"):
        read_table(path)
    t = read_table(path, crs=4547)
    assert t.crs == "EPSG:4547"
    assert any("--crs" in n and "EPSG:4326" in n for n in t.notes)
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), [WUHAN], atol=1e-6, rtol=0)


def test_degrees_in_a_projected_file_refused(tmp_path):
    path = tmp_path / "deg.gpkg"
    pyogrio.write_dataframe(frame(POINTS, crs=4547), path)
    with pytest.raises(ReadError, match=r"deg\.gpkg: .*look like degrees.*--crs 4326"):
        read_table(path)


def test_gcj02_gpkg_converted(tmp_path):
    gcj = np.column_stack(from_wgs84(np.array(POINTS)[:, 0], np.array(POINTS)[:, 1], "gcj02"))
    path = tmp_path / "gaode.gpkg"
    pyogrio.write_dataframe(frame([tuple(p) for p in gcj]), path)
    t = read_table(path, coords="gcj02")
    assert t.crs == "GCJ-02"
    assert "coordinates converted from GCJ-02 to WGS84" in t.notes
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), POINTS, atol=1e-8, rtol=0)


def test_gcj02_refused_for_projected_data(tmp_path):
    to_gk = Transformer.from_crs(4326, 4547, always_xy=True)
    path = tmp_path / "gk.gpkg"
    pyogrio.write_dataframe(frame([to_gk.transform(*WUHAN)], crs=4547), path)
    with pytest.raises(ReadError, match=r"gk\.gpkg: --coords gcj02 .*EPSG:4547"):
        read_table(path, coords="gcj02")


def test_swapped_gis_file_refused(tmp_path):
    path = tmp_path / "swapped.geojson"
    pyogrio.write_dataframe(frame([(lat, lon) for lon, lat in POINTS]), path)
    with pytest.raises(ReadError, match=r"swapped\.geojson: rows 1, 2, 3: .*swapped"):
        read_table(path)


# --- CSV ------------------------------------------------------------------------------------

def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_lon_lat(tmp_path):
    path = write(tmp_path / "centers.csv",
                 "名称,经度,纬度,编码,面积\n"
                 "桃源社区党群服务中心, 102.7183 ,25.0612,530103002001,120.5\n"
                 "\n"  # a blank line keeps its row number
                 "网格站,102.7201,25.0630,0530,\n")
    t = read_table(path)
    assert t.rows.tolist() == [2, 4]
    assert list(t.frame.columns) == ["名称", "编码", "面积"]
    assert t.frame["编码"].tolist() == ["530103002001", "0530"]  # text, leading zero kept
    assert t.frame["面积"].tolist() == ["120.5", None]
    assert t.crs == "EPSG:4326" and t.encoding == "UTF-8"
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), POINTS[:2])


def test_csv_utf8_bom_tab_and_english_headers(tmp_path):
    path = write(tmp_path / "a.csv", "\ufeffname\tLongitude\tLatitude\nA\t102.7183\t25.0612\n")
    t = read_table(path)
    assert list(t.frame.columns) == ["name"]
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), [KUNMING])


def test_csv_gb18030(tmp_path):
    path = write(tmp_path / "gbk.csv", "名称,类型,经度,纬度\n桃源社区,住宅,102.7183,25.0612\n",
                 "gb18030")
    t = read_table(path)
    assert t.frame.to_dict("records") == [{"名称": "桃源社区", "类型": "住宅"}]
    assert t.encoding == "GB18030" and any("GB18030 (detected)" in n for n in t.notes)


def test_csv_gb18030_only_characters(tmp_path):
    # 䶮 (U+4DAE) is in GB18030 but not in GBK
    path = write(tmp_path / "g.csv", "姓名,党员类别\n刘䶮,在册\n", "gb18030")
    assert read_table(path).frame["姓名"].tolist() == ["刘䶮"]


def test_csv_neither_utf8_nor_gb18030(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"name,lng,lat\n\xff\xfe\xff,1,2\n")
    with pytest.raises(ReadError, match=r"bin\.csv: cannot be read: .*neither UTF-8 nor GB18030 "
                                        r"\(line 2\)"):
        read_table(path)
    assert read_table(path, encoding="latin-1").frame["name"].tolist() == ["ÿþÿ"]


def test_csv_long_wkt_cell(tmp_path):
    ring = shapely.Point(102.7, 25.0).buffer(0.01, quad_segs=4000)
    assert len(ring.wkt) > 200_000
    path = write(tmp_path / "big.csv", f'code,wkt\nA,"{ring.wkt}"\n')
    assert read_table(path).geometry[0].equals(ring)


def test_csv_wkt(tmp_path):
    poly = squares(1)[0]
    path = write(tmp_path / "grids.csv",
                 f'code,wkt\n530103002001001,"{poly.wkt}"\n530103002001002,'
                 f'"SRID=4326;POINT (102.72 25.06)"\n')
    t = read_table(path)
    assert list(t.frame.columns) == ["code"]
    assert t.geometry[0].equals(poly)
    assert t.geometry[1].equals(shapely.Point(102.72, 25.06))


def test_csv_bad_wkt_row_named(tmp_path):
    path = write(tmp_path / "grids.csv",
                 'code,geometry\n1,"POINT (102.7 25.0)"\n2,"POLYGON ((102.7 25.0, 102.8"\n')
    with pytest.raises(ReadError, match=r"grids\.csv: row 3: column 'geometry' is not valid WKT") \
            as err:
        read_table(path)
    assert err.value.rows == [3] and err.value.column == "geometry"


def test_csv_bad_number_rows_named_first_ten(tmp_path):
    lines = ["name,lng,lat"] + [f"p{i},abc,25.0" for i in range(12)]
    path = write(tmp_path / "bad.csv", "\n".join(lines) + "\n")
    with pytest.raises(ReadError) as err:
        read_table(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 … (12 in all): ")
    assert "column 'lng' is not a number (e.g. 'abc')" in msg


def test_csv_half_missing_coordinate_refused_both_missing_is_no_geometry(tmp_path):
    path = write(tmp_path / "units.csv", "单位名称,经度,纬度\nA,102.7183,25.0612\nB,,\nC,102.72,\n")
    with pytest.raises(ReadError, match=r"units\.csv: row 4: a coordinate is missing in "
                                        r"column '纬度'"):
        read_table(path)
    write(path, "单位名称,经度,纬度\nA,102.7183,25.0612\nB,,\n")
    t = read_table(path)
    assert t.geometry[1] is None and t.rows.tolist() == [2, 3]


def test_csv_without_coordinates_has_no_geometry(tmp_path):
    path = write(tmp_path / "members.csv", "姓名,党员类别,联系电话\n张三,在册,13800000000\n")
    t = read_table(path)
    assert t.geometry is None and t.crs is None
    assert t.frame.to_dict("records") == [
        {"姓名": "张三", "党员类别": "在册", "联系电话": "13800000000"}]


def test_csv_gcj02_converted(tmp_path):
    lon, lat = from_wgs84(np.array([KUNMING[0]]), np.array([KUNMING[1]]), "gcj02")
    path = write(tmp_path / "gaode.csv",
                 f"名称,经度,纬度\nA,{float(lon[0])!r},{float(lat[0])!r}\n")
    t = read_table(path, coords="gcj02")
    want = np.column_stack(to_wgs84(lon, lat, "gcj02"))
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), want, atol=1e-12, rtol=0)
    np.testing.assert_allclose(want, [KUNMING], atol=1e-8)
    assert t.crs == "GCJ-02"


def test_csv_bd09_converted(tmp_path):
    path = write(tmp_path / "baidu.csv", "名称,lng,lat\nA,102.7251,25.0670\n")
    t = read_table(path, coords="BD-09")
    want = np.column_stack(to_wgs84(102.7251, 25.0670, "bd09"))
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), want.reshape(1, 2))


def test_csv_with_crs_argument(tmp_path):
    to_gk = Transformer.from_crs(4326, 4547, always_xy=True)
    x, y = to_gk.transform(*WUHAN)
    path = write(tmp_path / "gk.csv", f"name,x,y\nA,{x!r},{y!r}\n")
    with pytest.raises(ReadError, match=r"gk\.csv: row 2: .*projected metres"):
        read_table(path)
    t = read_table(path, crs=4547)
    assert t.crs == "EPSG:4547"
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), [WUHAN], atol=1e-6, rtol=0)


def test_csv_swapped_refused(tmp_path):
    path = write(tmp_path / "swap.csv", "名称,经度,纬度\nA,25.0612,102.7183\nB,25.0630,102.7201\n")
    with pytest.raises(ReadError, match=r"swap\.csv: rows 2, 3: latitude and longitude look "
                                        r"swapped") as err:
        read_table(path)
    assert err.value.rows == [2, 3]


def test_csv_metres_as_degrees_refused(tmp_path):
    path = write(tmp_path / "m.csv", "名称,x坐标,y坐标\nA,34512345.6,2772345.1\n")
    with pytest.raises(ReadError, match=r"m\.csv: row 2: .*projected metres.*--crs 4522"):
        read_table(path)


# --- XLSX -----------------------------------------------------------------------------------

def workbook(path, rows, *, title="楼栋", start=1, extra_sheet=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for i, row in enumerate(rows):
        for j, v in enumerate(row, 1):
            ws.cell(row=start + i, column=j, value=v)
    ws.cell(row=start + len(rows) + 5, column=1, value="   ")  # a trailing "empty" row
    if extra_sheet:
        other = wb.create_sheet(extra_sheet)
        other.append(["名称", "经度", "纬度"])
        other.append(["其他", 102.70, 25.05])
    wb.save(path)
    return path


def test_xlsx_chinese_headers_and_codes_stay_text(tmp_path):
    path = workbook(tmp_path / "楼栋.xlsx", [
        ("楼栋编码", "名称", "经度", "纬度", "户数", "面积"),
        (530103002001, "1栋", 102.7183, 25.0612, 120, 80.5),
        (None, None, None, None, None, None),
        (530103002002.0, "2栋", "102.7201", "25.0630", 36, 1e-3),
    ], start=3, extra_sheet="其他")
    t = read_table(path)
    assert t.rows.tolist() == [4, 6]  # header on sheet row 3, empty row 5 skipped
    assert list(t.frame.columns) == ["楼栋编码", "名称", "户数", "面积"]
    assert t.frame["楼栋编码"].tolist() == ["530103002001", "530103002002"]
    assert t.frame["户数"].tolist() == ["120", "36"]
    assert t.frame["面积"].tolist() == ["80.5", "0.001"]
    assert t.encoding is None and t.crs == "EPSG:4326"
    np.testing.assert_allclose(shapely.get_coordinates(t.geometry), POINTS[:2])
    other = read_table(path, sheet="其他")
    assert other.frame["名称"].tolist() == ["其他"] and other.rows.tolist() == [2]
    with pytest.raises(ReadError, match=r"no sheet 'x'; sheets: 楼栋, 其他"):
        read_table(path, sheet="x")


def test_xlsx_bad_coordinate_names_sheet_row(tmp_path):
    path = workbook(tmp_path / "c.xlsx", [("名称", "经度", "纬度"), ("A", 102.7, 25.0),
                                          ("B", "东经102度", 25.0)], start=2)
    with pytest.raises(ReadError, match=r"c\.xlsx: row 4: column '经度' is not a number"):
        read_table(path)


def test_xlsx_without_coordinates(tmp_path):
    path = workbook(tmp_path / "staff.xlsx", [("网格编码", "职务", "姓名"),
                                              (530103002001001, "网格长", "李四")])
    t = read_table(path)
    assert t.geometry is None
    assert t.frame.to_dict("records") == [
        {"网格编码": "530103002001001", "职务": "网格长", "姓名": "李四"}]


# --- files that cannot be read --------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(ReadError, match=r"nope\.gpkg: no such file"):
        read_table(tmp_path / "nope.gpkg")


def test_osm_is_not_a_layer_file(tmp_path):
    with pytest.raises(ReadError, match=r"gridmap import osm"):
        read_table(tmp_path / "kunming.osm.pbf")


def test_unsupported_extension(tmp_path):
    path = write(tmp_path / "a.txt", "x")
    with pytest.raises(ReadError, match=r"a\.txt: unsupported file type '\.txt'"):
        read_table(path)


def test_truncated_geojson(tmp_path):
    path = tmp_path / "t.geojson"
    pyogrio.write_dataframe(frame(POINTS), path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ReadError, match=r"t\.geojson: cannot be read \("):
        read_table(path)


def test_truncated_gpkg(tmp_path):
    path = tmp_path / "t.gpkg"
    gdf = gpd.GeoDataFrame({"code": [str(i) for i in range(5000)]}, geometry=squares(5000),
                           crs=4326)
    pyogrio.write_dataframe(gdf, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ReadError, match=r"t\.gpkg: cannot be read \("):
        read_table(path)


@pytest.mark.parametrize("part", ["shp", "dbf"])
def test_truncated_shapefile(tmp_path, part):
    path = tmp_path / "t.shp"
    gdf = gpd.GeoDataFrame({"code": [str(i) for i in range(500)]}, geometry=squares(500),
                           crs=4326)
    pyogrio.write_dataframe(gdf, path)
    cut = tmp_path / f"t.{part}"
    data = cut.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ReadError, match=rf"t\.shp: cannot be read \(its \.{part} is truncated"):
        read_table(path)
    archive = tmp_path / "t.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(tmp_path / f"t.{ext}", f"t.{ext}")
    with pytest.raises(ReadError, match=rf"t\.zip: cannot be read \(its \.{part} is truncated"):
        read_table(archive)


def test_not_really_an_xlsx(tmp_path):
    path = write(tmp_path / "x.xlsx", "名称,经度\n")
    with pytest.raises(ReadError, match=r"x\.xlsx: cannot be read as XLSX"):
        read_table(path)


def test_bad_crs_and_coords_arguments(tmp_path):
    path = write(tmp_path / "a.csv", "lng,lat\n102.7,25.0\n")
    with pytest.raises(ReadError, match=r"a\.csv: --crs 999999 is not an EPSG code"):
        read_table(path, crs=999999)
    with pytest.raises(ReadError, match=r"a\.csv: unknown coordinate system --coords 'mars'"):
        read_table(path, coords="mars")


# --- batches --------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["gpkg", "shp"])
def test_iter_tables_batches_cover_every_row_once(tmp_path, ext):
    n = 2503
    path = tmp_path / f"many.{ext}"
    gdf = gpd.GeoDataFrame({"code": [f"b{i + 1}" for i in range(n)]}, geometry=squares(n),
                           crs=4326)
    pyogrio.write_dataframe(gdf, path)
    batches = list(iter_tables(path, batch_size=1000))
    assert [len(b) for b in batches] == [1000, 1000, 503]
    rows = np.concatenate([b.rows for b in batches])
    assert rows.tolist() == list(range(1, n + 1))
    codes = np.concatenate([b.frame["code"].to_numpy() for b in batches])
    assert codes.tolist() == [f"b{r}" for r in rows]
    for b in batches:
        firsts = shapely.bounds(b.geometry)[:, :2]
        np.testing.assert_allclose(firsts, shapely.bounds(squares(n)[b.rows - 1])[:, :2])
    assert len(read_table(path)) == n


def test_iter_tables_exact_multiple_and_empty(tmp_path):
    path = tmp_path / "four.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"code": list("abcd")}, geometry=squares(4),
                                             crs=4326), path)
    assert [b.rows.tolist() for b in iter_tables(path, batch_size=2)] == [[1, 2], [3, 4]]
    empty = tmp_path / "empty.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"code": []}, geometry=[], crs=4326), empty,
                            geometry_type="Polygon")
    (only,) = list(iter_tables(empty))
    assert len(only) == 0


def test_iter_tables_checks_before_the_first_batch(tmp_path):
    with pytest.raises(ReadError, match="no such file"):
        iter_tables(tmp_path / "x.shp")


def test_iter_tables_csv_is_one_batch(tmp_path):
    path = write(tmp_path / "a.csv", "lng,lat\n" + "102.7,25.0\n" * 5)
    (only,) = list(iter_tables(path, batch_size=2))
    assert only.rows.tolist() == [2, 3, 4, 5, 6]

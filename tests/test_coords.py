"""GCJ-02 / BD-09 conversions and the lon/lat sanity checks of gis.io.coords (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod
from shapely.geometry import LineString, Point, Polygon

from gis.io.coords import (
    SYSTEMS,
    CoordinateError,
    check_lonlat,
    from_wgs84,
    to_wgs84,
    transform_geometries,
)

GEOD = Geod(ellps="WGS84")

CITIES = {  # WGS84 lon, lat
    "kunming": (102.7, 25.04),
    "beijing": (116.397, 39.909),
    "shanghai": (121.4737, 31.2304),
    "urumqi": (87.6168, 43.8256),
    "harbin": (126.535, 45.802),
    "sanya": (109.512, 18.252),
    "lhasa": (91.1409, 29.6456),
    "guangzhou": (113.2644, 23.1291),
}

# googollee/eviltransform, python/test.py (TESTS): WGS84 and GCJ-02, in (lat, lng) order there.
EVIL_PAIRS = [  # wgs_lat, wgs_lng, gcj_lat, gcj_lng
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]
# The same file's TESTS_bd: BD-09 and WGS84 (lat, lng). They are not reproduced by the public
# BD-09 formula with any GCJ-02 inverse (off 10-40 m: they look like Baidu's own converter's
# output), so they serve only as a check on direction and size.
EVIL_BD_PAIRS = [  # bd_lat, bd_lng, wgs_lat, wgs_lng
    (29.199786, 120.019809, 29.196131605295484, 120.00877901149691),
    (29.210504, 120.036455, 29.206795749156136, 120.0253853970846),
]


# --- an independent scalar reference: the classic formulas, one point at a time ---------------

def _ref_transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _ref_transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def ref_wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    a = 6378245.0
    ee = 0.00669342162296594323
    if not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lng, lat
    dlat = _ref_transform_lat(lng - 105.0, lat - 35.0)
    dlng = _ref_transform_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - ee * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (a / sqrtmagic * math.cos(radlat) * math.pi)
    return lng + dlng, lat + dlat


def ref_gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    x_pi = 3.14159265358979324 * 3000.0 / 180.0
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def ref_bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    x_pi = 3.14159265358979324 * 3000.0 / 180.0
    x = lng - 0.0065
    y = lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * x_pi)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * x_pi)
    return z * math.cos(theta), z * math.sin(theta)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def china_points() -> tuple[np.ndarray, np.ndarray]:
    """The cities plus a 0.5° grid and random points over China's extent."""
    gx, gy = np.meshgrid(np.arange(73.5, 135.01, 0.5), np.arange(18.0, 53.51, 0.5))
    rng = np.random.default_rng(20240601)
    rx, ry = rng.uniform(73.5, 135.0, 2000), rng.uniform(18.0, 53.5, 2000)
    cx, cy = np.array(list(CITIES.values())).T
    return np.concatenate([cx, gx.ravel(), rx]), np.concatenate([cy, gy.ravel(), ry])


# --- conversions ------------------------------------------------------------------------------

def test_systems():
    assert SYSTEMS == ("wgs84", "gcj02", "bd09")


def test_forward_gcj02_equals_scalar_reference(china_points):
    lon, lat = china_points
    got_lon, got_lat = from_wgs84(lon, lat, "gcj02")
    ref = np.array([ref_wgs84_to_gcj02(x, y) for x, y in zip(lon, lat, strict=True)])
    np.testing.assert_allclose(got_lon, ref[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_lat, ref[:, 1], rtol=0, atol=1e-9)


def test_forward_bd09_equals_scalar_reference(china_points):
    lon, lat = china_points
    got_lon, got_lat = from_wgs84(lon, lat, "bd09")
    ref = np.array([ref_gcj02_to_bd09(*ref_wgs84_to_gcj02(x, y))
                    for x, y in zip(lon, lat, strict=True)])
    np.testing.assert_allclose(got_lon, ref[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_lat, ref[:, 1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_round_trip_within_a_centimetre(china_points, system):
    lon, lat = china_points
    there = from_wgs84(lon, lat, system)
    back_lon, back_lat = to_wgs84(*there, system)
    assert metres(lon, lat, back_lon, back_lat).max() < 0.01
    # and the other way round: a GCJ-02/BD-09 point goes to WGS84 and back to itself
    again = from_wgs84(*to_wgs84(*there, system), system)
    assert metres(*there, *again).max() < 0.01


def test_inverse_beats_the_one_step_approximation(china_points):
    lon, lat = china_points
    glon, glat = from_wgs84(lon, lat, "gcj02")
    # the one-step inverse: subtract the shift computed at the GCJ-02 point itself
    one_step = np.array([(2 * x - ref_wgs84_to_gcj02(x, y)[0], 2 * y - ref_wgs84_to_gcj02(x, y)[1])
                         for x, y in zip(glon, glat, strict=True)])
    assert metres(lon, lat, one_step[:, 0], one_step[:, 1]).max() > 1.0  # metres off somewhere
    assert metres(lon, lat, *to_wgs84(glon, glat, "gcj02")).max() < 0.01


@pytest.mark.parametrize(("wgs_lat", "wgs_lng", "gcj_lat", "gcj_lng"), EVIL_PAIRS)
def test_published_eviltransform_pairs(wgs_lat, wgs_lng, gcj_lat, gcj_lng):
    lng, lat = from_wgs84(wgs_lng, wgs_lat, "gcj02")
    assert metres(lng, lat, gcj_lng, gcj_lat) < 1.0
    assert abs(lng - gcj_lng) < 1e-6 and abs(lat - gcj_lat) < 1e-6
    lng, lat = to_wgs84(gcj_lng, gcj_lat, "gcj02")
    assert metres(lng, lat, wgs_lng, wgs_lat) < 1.0


@pytest.mark.parametrize(("bd_lat", "bd_lng", "wgs_lat", "wgs_lng"), EVIL_BD_PAIRS)
def test_published_bd09_pairs_roughly(bd_lat, bd_lng, wgs_lat, wgs_lng):
    # the BD-09 shift is ~1 km here; a wrong sign or order would be off by kilometres
    assert metres(bd_lng, bd_lat, wgs_lng, wgs_lat) > 700
    lng, lat = to_wgs84(bd_lng, bd_lat, "bd09")
    assert metres(lng, lat, wgs_lng, wgs_lat) < 50


# Published WGS84 / GCJ-02 / BD-09 triples (lng, lat) of city centres, from the test fixtures of
# the gcoord project (test/fixtures/china-cities.json): 驻马店, 邵阳, 那曲, 楚雄, 沈阳, 酒泉
GCOORD_CITIES = [
    ((114.0164322, 33.0133556), (114.022306, 33.0115324), (114.0287781, 33.0176697)),
    ((111.4622119, 27.242124), (111.4677938, 27.2388981), (111.4742271, 27.2451662)),
    ((92.0499619, 31.4784436), (92.0512438, 31.4762063), (92.0576832, 31.4824421)),
    ((101.5265949, 25.048566), (101.5280737, 25.0455363), (101.5344863, 25.0518094)),
    ((123.4253306, 41.8032629), (123.4314787, 41.8057023), (123.438095, 41.8114013)),
    ((98.4937175, 39.7319946), (98.4943595, 39.7328234), (98.5008441, 39.7388949)),
]


@pytest.mark.parametrize(("wgs", "gcj", "bd"), GCOORD_CITIES)
def test_published_city_triples_to_wgs84_within_a_metre(wgs, gcj, bd):
    for system, point in (("gcj02", gcj), ("bd09", bd)):
        lng, lat = to_wgs84(*point, system)
        assert metres(lng, lat, *wgs) < 1.0, system
        lng, lat = from_wgs84(*wgs, system)
        assert metres(lng, lat, *point) < 1.0, system


def test_bd09_inverse_close_to_the_published_closed_form(china_points):
    lon, lat = china_points
    blon, blat = from_wgs84(lon, lat, "bd09")
    ref = np.array([ref_bd09_to_gcj02(x, y) for x, y in zip(blon, blat, strict=True)])
    # to_wgs84 refines the closed form (itself ~0.2 m off); compare on the GCJ-02 step
    gcj = np.array([ref_wgs84_to_gcj02(x, y) for x, y in zip(lon, lat, strict=True)])
    assert metres(gcj[:, 0], gcj[:, 1], ref[:, 0], ref[:, 1]).max() < 0.5


def test_shift_size_in_china(china_points):
    for name, (lon, lat) in CITIES.items():
        glon, glat = from_wgs84(lon, lat, "gcj02")
        assert 100 < metres(lon, lat, glon, glat) < 700, name
    lon, lat = china_points
    shift = metres(lon, lat, *from_wgs84(lon, lat, "gcj02"))
    assert shift.min() > 20 and shift.max() < 720
    bd = metres(lon, lat, *from_wgs84(lon, lat, "bd09"))
    assert bd.min() > 500 and bd.max() < 1600


def test_no_shift_outside_china():
    lon = np.array([2.35, -74.006, 151.21, 139.69, 37.62, 100.5, 72.0])
    lat = np.array([48.85, 40.71, -33.87, 35.69, 55.75, 0.5, 40.0])  # Tokyo: east of the box
    for convert in (to_wgs84, from_wgs84):
        out_lon, out_lat = convert(lon, lat, "gcj02")
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_wgs84_is_identity_and_copies():
    lon = np.array([102.7, 2.35])
    lat = np.array([25.04, 48.85])
    for convert in (to_wgs84, from_wgs84):
        out_lon, out_lat = convert(lon, lat, "wgs84")
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
        out_lon[0] = 0
        assert lon[0] == 102.7


def test_shapes_scalars_nan_and_names():
    lon, lat = to_wgs84(102.7, 25.04, "GCJ-02")
    assert lon.shape == () and lat.shape == ()
    grid_lon = np.full((3, 4), 102.7)
    grid_lat = np.full((3, 1), 25.04)
    lon, lat = from_wgs84(grid_lon, grid_lat, "bd09")
    assert lon.shape == lat.shape == (3, 4)
    lon, lat = to_wgs84([np.nan, 102.7], [25.04, np.nan], "bd09")
    assert np.isnan(lon[0]) and np.isnan(lat[1])
    with pytest.raises(ValueError, match="unknown coordinate system"):
        to_wgs84(1, 2, "utm")


def test_input_not_modified():
    lon = np.array([102.7, 116.4])
    lat = np.array([25.04, 39.9])
    to_wgs84(lon, lat, "bd09")
    from_wgs84(lon, lat, "gcj02")
    np.testing.assert_array_equal(lon, [102.7, 116.4])
    np.testing.assert_array_equal(lat, [25.04, 39.9])


# --- geometries -------------------------------------------------------------------------------

def test_transform_geometries():
    square = Polygon([(102.70, 25.04), (102.71, 25.04), (102.71, 25.05), (102.70, 25.05)])
    geoms = np.array([Point(102.7, 25.04), None, LineString([(116.4, 39.9), (116.41, 39.91)]),
                      square, Point(102.7, 25.04, 1890.0)], dtype=object)
    out = transform_geometries(geoms, "gcj02")
    assert out[1] is None
    assert shapely.has_z(out[4]) and shapely.get_z(out[4]) == 1890.0
    assert not shapely.has_z(out[0])
    for before, after in zip(geoms[[0, 2, 3, 4]], out[[0, 2, 3, 4]], strict=True):
        xy = shapely.get_coordinates(before)
        want = np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], "gcj02"))
        np.testing.assert_allclose(shapely.get_coordinates(after), want, rtol=0, atol=1e-12)
    assert out[3].is_valid
    back = transform_geometries(out, "gcj02", to_wgs84=False)
    for before, after in zip(geoms[[0, 2, 3]], back[[0, 2, 3]], strict=True):
        assert shapely.hausdorff_distance(before, after) < 1e-7
    assert geoms[0].equals(Point(102.7, 25.04))  # the input is untouched


def test_transform_geometries_wgs84_and_lists():
    pts = [Point(102.7, 25.04), None]
    out = transform_geometries(pts, "wgs84")
    assert isinstance(out, np.ndarray) and out[0].equals(pts[0]) and out[1] is None
    out = transform_geometries([None, None], "bd09")
    assert list(out) == [None, None]


# --- check_lonlat -----------------------------------------------------------------------------

def test_good_points_pass():
    lon = np.array([102.70, 102.71, np.nan, 102.72])
    lat = np.array([25.04, 25.05, 25.06, np.nan])
    check_lonlat(lon, lat, source="buildings.csv")
    check_lonlat(lon, lat, source="buildings.csv", region_bbox=(102.69, 25.03, 102.73, 25.06))
    check_lonlat([], [], source="empty.csv")
    check_lonlat([2.35, -74.0], [48.85, 40.7], source="abroad.csv")  # not China, not wrong


def test_projected_metres_refused():
    x = np.array([102.7, 380000.0, 381000.0])
    y = np.array([25.04, 2770000.0, 2771000.0])
    with pytest.raises(CoordinateError) as err:
        check_lonlat(x, y, source="楼栋.xlsx", rows=[2, 3, 4])
    msg = str(err.value)
    assert msg.startswith("楼栋.xlsx: rows 3, 4:")
    assert "projected metres, not degrees" in msg and "--crs" in msg and "4547" in msg
    assert err.value.kind == "projected" and err.value.rows == [3, 4]


def test_projected_with_gauss_kruger_zone_number():
    x = np.array([34_380_000.0, 34_381_000.0])  # zone 34: 3°, CM 102°E (Kunming)
    y = np.array([2_770_000.0, 2_771_000.0])
    with pytest.raises(CoordinateError, match=r"--crs 4522") as err:
        check_lonlat(x, y, source="a.shp")
    assert CRS.from_epsg(4522).name == "CGCS2000 / 3-degree Gauss-Kruger zone 34"
    assert "rows 1, 2" in str(err.value)


def test_swapped_refused_when_latitude_beyond_90():
    lon = np.array([25.04, 25.05])
    lat = np.array([102.70, 102.71])
    with pytest.raises(CoordinateError, match="swapped") as err:
        check_lonlat(lon, lat, source="centers.csv", rows=[5, 6])
    assert "rows 5, 6" in str(err.value) and "纬度/经度对调" in str(err.value)
    assert err.value.kind == "swapped"


def test_swapped_refused_in_range_when_most_points_fit():
    # Xinjiang swapped: latitudes 80-87 are valid numbers, but nobody's grid is at the pole
    lon = np.array([43.82, 43.83, 44.0])
    lat = np.array([87.61, 87.62, 80.0])
    with pytest.raises(CoordinateError, match="swapped") as err:
        check_lonlat(lon, lat, source="urumqi.csv")
    assert "rows 1, 2, 3" in str(err.value)


def test_one_swapped_row_among_good_ones():
    lon = np.array([87.61, 87.62, 43.83, 87.63])
    lat = np.array([43.82, 43.83, 87.62, 43.84])
    with pytest.raises(CoordinateError, match="swapped") as err:
        check_lonlat(lon, lat, source="urumqi.csv")
    assert err.value.rows == [3]
    assert "row 3:" in str(err.value)


def test_points_outside_region_refused():
    bbox = (102.70, 25.03, 102.72, 25.05)
    lon = np.array([102.71, 102.71, 102.80, 102.71])
    lat = np.array([25.04, 25.056, 25.04, 25.20])  # row 2 is 0.7 km out: within the margin
    with pytest.raises(CoordinateError) as err:
        check_lonlat(lon, lat, source="grids.geojson", region_bbox=bbox)
    msg = str(err.value)
    assert msg.startswith("grids.geojson: 2 points lie more than 2000 m outside the region")
    assert "rows 3, 4" in msg and "wrong coordinate system?" in msg and "GCJ-02" in msg
    assert err.value.kind == "outside" and err.value.rows == [3, 4]
    # a tighter margin catches the GCJ-02-sized offset too
    with pytest.raises(CoordinateError, match="rows 2, 3, 4"):
        check_lonlat(lon, lat, source="grids.geojson", region_bbox=bbox, margin_m=300)


def test_many_rows_are_abbreviated():
    lon = np.full(12, 500000.0)
    lat = np.full(12, 2770000.0)
    with pytest.raises(CoordinateError, match=r"rows 1, 2, 3, 4, 5 … \(12 in all\)") as err:
        check_lonlat(lon, lat, source="x.csv")
    assert len(err.value.rows) == 12


def test_rows_must_match_points():
    with pytest.raises(ValueError, match="rows has 1 numbers for 2 points"):
        check_lonlat([1, 2], [3, 4], source="x.csv", rows=[1])

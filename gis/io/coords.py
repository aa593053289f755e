"""Chinese web-map coordinates (GCJ-02, BD-09) to and from WGS84, and checks on lon/lat input.

Points copied from Gaode (高德) or Tencent (腾讯) maps are in GCJ-02 (国测局坐标, "Mars
coordinates"), from Baidu (百度) in BD-09: WGS84 shifted by an amount that varies from place to
place, for GCJ-02 up to ~700 m (a few hundred metres in most cities, ~40 m at the least, in
Qinghai), for BD-09 some 0.7–1.5 km. gridmap stores WGS84 (EPSG:4326), so an importer converts with
:func:`to_wgs84` before anything is stored, and an exporter for a Chinese basemap converts back
with :func:`from_wgs84`.

The forward WGS84 → GCJ-02 transform is the published one (Krasovsky ellipsoid,
``a = 6378245.0``, ``ee = 0.00669342162296594323``). It has no closed-form inverse; the usual
one-step approximation (subtract the shift computed at the GCJ-02 point) is off by up to a few
metres, so :func:`to_wgs84` solves ``forward(wgs) = gcj`` by fixed-point iteration until the
residual is below 1e-9° (0.1 mm). GCJ-02 ↔ BD-09 is the published closed form
(``x_pi = π·3000/180``); its inverse is refined the same way, since the closed-form inverse is
itself off by up to ~0.2 m.

Outside China — the customary ``out_of_china`` box, longitude 72.004°–137.8347°E, latitude
0.8293°–55.8271°N, tested on the input point — GCJ-02 is WGS84 itself, unshifted. The box is a
rectangle, so points in neighbouring countries inside it (Korea, Mongolia, much of South-East Asia)
are shifted too, as by every published implementation. The BD-09 offset from GCJ-02 is applied
everywhere (Baidu's formula has no box).

Examples
--------
>>> from gis.io.coords import from_wgs84, to_wgs84
>>> lon, lat = from_wgs84(121.5272106, 31.1774276, "gcj02")  # Shanghai
>>> round(float(lon), 6), round(float(lat), 6)
(121.531542, 31.175304)
>>> lon, lat = to_wgs84(lon, lat, "gcj02")
>>> round(float(lon), 7), round(float(lat), 7)
(121.5272106, 31.1774276)
>>> to_wgs84(2.35, 48.85, "gcj02")  # Paris: no shift outside China
(array(2.35), array(48.85))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from gis.io.table import rows_text

__all__ = [
    "SYSTEMS",
    "CoordinateError",
    "check_lonlat",
    "from_wgs84",
    "to_wgs84",
    "transform_geometries",
]

SYSTEMS = ("wgs84", "gcj02", "bd09")

# GCJ-02 constants: the Krasovsky 1940 ellipsoid, as published with the transform.
_A = 6378245.0
_EE = 0.00669342162296594323
# BD-09
_X_PI = np.pi * 3000.0 / 180.0

# The customary "out of China" box: GCJ-02 is WGS84 outside it.
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)

_TOL_DEG = 1e-9  # iteration stops when the residual is below this (≈ 0.1 mm)
_MAX_ITER = 30

_M_PER_DEG = 111_320.0  # metres per degree of latitude, near enough for margins


class CoordinateError(ValueError):
    """Coordinates that are plainly not WGS84 longitude/latitude in degrees.

    The message names the file, the first offending rows and what to do about it.

    Attributes
    ----------
    kind : {'projected', 'swapped', 'outside'}
        What is wrong.
    rows : list of int
        The user-visible numbers of every offending row.
    """

    def __init__(self, message: str, *, kind: str, rows: Sequence[int]) -> None:
        super().__init__(message)
        self.kind = kind
        self.rows = list(rows)


def _system(system: str) -> str:
    name = str(system).lower().replace("-", "").replace("_", "")
    if name not in SYSTEMS:
        raise ValueError(f"unknown coordinate system {system!r}; expected one of {SYSTEMS}")
    return name


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon.copy(), lat.copy()


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = CHINA_BOX
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _gcj_shift(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84, in degrees, at WGS84 points (no out-of-China test)."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
            + 0.2 * np.sqrt(np.abs(x)) + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y
            + 0.1 * np.sqrt(np.abs(x)) + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = _in_china(lon, lat)
    dlon, dlat = _gcj_shift(lon[inside], lat[inside])
    lon[inside] += dlon
    lat[inside] += dlat
    return lon, lat


def _solve(lon: np.ndarray, lat: np.ndarray, forward, start) -> tuple[np.ndarray, np.ndarray]:
    """Invert ``forward`` at (lon, lat) by fixed-point iteration from ``start``.

    ``forward`` is the identity plus a shift whose derivative is ~1e-3, so ``x ← x - (f(x) - y)``
    contracts by about that factor per step: three or four steps reach 1e-12°. ``forward``
    must not modify its arguments.
    """
    x, y = start
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        rx = fx - lon
        ry = fy - lat
        x -= rx
        y -= ry
        resid = np.maximum(np.abs(rx), np.abs(ry))
        if not np.any(resid[np.isfinite(resid)] >= _TOL_DEG):
            break
    return x, y


def _gcj_to_wgs(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = _in_china(lon, lat)
    glon, glat = lon[inside], lat[inside]

    def forward(x, y):
        dx, dy = _gcj_shift(x, y)
        return x + dx, y + dy

    dlon, dlat = _gcj_shift(glon, glat)
    wlon, wlat = _solve(glon, glat, forward, (glon - dlon, glat - dlat))
    lon[inside] = wlon
    lat[inside] = wlat
    return lon, lat


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    # The published closed form is the start; refine it to the exact inverse of _gcj_to_bd.
    return _solve(lon, lat, _gcj_to_bd, (z * np.cos(theta), z * np.sin(theta)))


def _convert(lon, lat, system: str, *, inverse: bool) -> tuple[np.ndarray, np.ndarray]:
    system = _system(system)
    lon, lat = _arrays(lon, lat)
    shape = lon.shape
    lon, lat = lon.ravel(), lat.ravel()  # 1-d inside, so masks and in-place updates work on 0-d
    if system != "wgs84":
        if inverse:
            if system == "bd09":
                lon, lat = _bd_to_gcj(lon, lat)
            lon, lat = _gcj_to_wgs(lon, lat)
        else:
            lon, lat = _wgs_to_gcj(lon, lat)
            if system == "bd09":
                lon, lat = _gcj_to_bd(lon, lat)
    return lon.reshape(shape), lat.reshape(shape)


def to_wgs84(lon, lat, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert longitude/latitude from ``system`` to WGS84.

    Parameters
    ----------
    lon, lat : array_like
        Degrees in ``system``; broadcast against each other. NaN stays NaN.
    system : {'wgs84', 'gcj02', 'bd09'}
        The input's system (case and hyphens ignored: ``'GCJ-02'`` is accepted).
        ``'wgs84'`` returns copies of the input.

    Returns
    -------
    lon, lat : ndarray
        WGS84 degrees, of the broadcast shape. GCJ-02 is inverted by iteration to 1e-9°
        (0.1 mm), not by the one-step approximation; outside China GCJ-02 is WGS84 unchanged.

    Raises
    ------
    ValueError
        For an unknown ``system``.
    """
    return _convert(lon, lat, system, inverse=True)


def from_wgs84(lon, lat, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 longitude/latitude to ``system``.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees; broadcast against each other.
    system : {'wgs84', 'gcj02', 'bd09'}
        The system wanted.

    Returns
    -------
    lon, lat : ndarray
        Degrees in ``system``. Outside China (see the module notes) GCJ-02 is WGS84 unchanged.

    Raises
    ------
    ValueError
        For an unknown ``system``.
    """
    return _convert(lon, lat, system, inverse=False)


def transform_geometries(geoms, system: str, *, to_wgs84: bool = True) -> np.ndarray:
    """Convert every vertex of shapely geometries between WGS84 and ``system``.

    Parameters
    ----------
    geoms : array_like of shapely.Geometry or None
        The geometries; None entries stay None. Z values, where present, are kept.
    system : {'wgs84', 'gcj02', 'bd09'}
        The system of the input (``to_wgs84=True``) or of the output (``to_wgs84=False``).
    to_wgs84 : bool, default True
        The direction: from ``system`` to WGS84, or from WGS84 to ``system``.

    Returns
    -------
    ndarray of object
        New geometries, in the same order and shape.
    """
    inverse = to_wgs84
    system = _system(system)
    geoms = np.array(geoms, dtype=object)
    if system == "wgs84":
        return geoms

    def func(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = _convert(coords[:, 0], coords[:, 1], system, inverse=inverse)
        return out

    # Two calls, so 2D geometries stay 2D and 3D ones keep Z, with shapely 2.0 as with 2.1+.
    has_z = shapely.has_z(geoms)
    flat = ~has_z
    if flat.any():
        geoms[flat] = shapely.transform(geoms[flat], func, include_z=False)
    if has_z.any():
        geoms[has_z] = shapely.transform(geoms[has_z], func, include_z=True)
    return geoms


# --- checks on input coordinates -----------------------------------------------------------

# China's extent, longitude × latitude, loosely: what a swapped pair would land outside of.
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)
_ROWS_SHOWN = 5


def _gk_hint(x: np.ndarray) -> str:
    """The --crs advice for eastings in metres, reading a Gauss-Krüger zone prefix if any."""
    east = float(np.median(np.abs(x)))
    zone = int(east // 1_000_000)
    if 10_000_000 <= east < 100_000_000:
        if 25 <= zone <= 45:
            cm = zone * 3
            return (f"the X values start with Gauss-Krüger zone number {zone} (3°, central "
                    f"meridian {cm}°E): give --crs {4513 + zone - 25} (CGCS2000 3° GK zone {zone})")
        if 13 <= zone <= 23:
            cm = zone * 6 - 3
            return (f"the X values start with Gauss-Krüger zone number {zone} (6°, central "
                    f"meridian {cm}°E): give --crs {4491 + zone - 13} (CGCS2000 GK zone {zone})")
    return "give --crs EPSG (e.g. 4547 for CGCS2000 GK zone 114°E)"


def check_lonlat(lon, lat, *, source: str, rows=None, region_bbox=None,
                 margin_m: float = 2000.0) -> None:
    """Refuse coordinates that are plainly not WGS84 (or GCJ-02/BD-09) longitude/latitude.

    Three mistakes are caught, in this order:

    1. values beyond ±180 / ±90 that swapping cannot explain: projected metres, not degrees
       (a Gauss-Krüger zone number in front of the easting is read and the EPSG code named);
    2. latitude and longitude swapped (纬度/经度对调): latitudes beyond ±90 whose swap fits, or
       points whose longitude fits China's latitudes (3–54) and latitude China's longitudes
       (73–136) when they are most of the points or sit beside correctly ordered Chinese points;
    3. with ``region_bbox``, points more than ``margin_m`` outside it: a wrong coordinate system
       or the wrong place.

    Non-finite values (empty cells) are skipped: missing coordinates are the importer's concern.

    Parameters
    ----------
    lon, lat : array_like
        The file's X and Y columns, as read.
    source : str
        The file name, for the message.
    rows : array_like of int, optional
        The user-visible row number of each point (default 1..n).
    region_bbox : (x0, y0, x1, y1), optional
        The extent the data should fall in, in WGS84 degrees.
    margin_m : float, default 2000
        How far outside ``region_bbox`` a point may lie.

    Raises
    ------
    CoordinateError
        Naming ``source``, the first offending rows and what to do.

    Examples
    --------
    >>> check_lonlat([102.70, 102.71], [25.04, 25.05], source="a.csv")
    >>> check_lonlat([25.04, 25.05], [102.70, 102.71], source="a.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gis.io.coords.CoordinateError: a.csv: rows 1, 2: latitude and longitude look swapped ...
    """
    lon, lat = _arrays(lon, lat)
    lon, lat = lon.ravel(), lat.ravel()
    rows = (np.arange(1, lon.size + 1) if rows is None
            else np.asarray(rows).ravel())
    if rows.size != lon.size:
        raise ValueError(f"rows has {rows.size} numbers for {lon.size} points")
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat, rows = lon[ok], lat[ok], rows[ok]
    if lon.size == 0:
        return

    out_of_range = (np.abs(lon) > 180) | (np.abs(lat) > 90)
    swappable = (np.abs(lat) <= 180) & (np.abs(lon) <= 90)
    projected = out_of_range & ~swappable
    if projected.any():
        i = np.flatnonzero(projected)
        raise CoordinateError(
            f"{source}: {rows_text(rows[i], shown=_ROWS_SHOWN)}: coordinates such as "
            f"({lon[i[0]]:g}, {lat[i[0]]:g}) "
            f"look like projected metres, not degrees (经纬度); {_gk_hint(lon[i])}",
            kind="projected", rows=rows[i].tolist())

    looks_swapped = ((lon >= _CHINA_LAT[0]) & (lon <= _CHINA_LAT[1])
                     & (lat >= _CHINA_LON[0]) & (lat <= _CHINA_LON[1]))
    in_china = ((lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1])
                & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1]))
    swapped = out_of_range.copy()
    if looks_swapped.sum() * 2 >= lon.size or in_china.any():
        swapped |= looks_swapped
    if swapped.any():
        i = np.flatnonzero(swapped)
        raise CoordinateError(
            f"{source}: {rows_text(rows[i], shown=_ROWS_SHOWN)}: latitude and longitude look "
            "swapped "
            f"(纬度/经度对调), e.g. longitude {lon[i[0]]:g}, latitude {lat[i[0]]:g}; "
            "put longitude (经度, X) in the longitude column and latitude (纬度, Y) in the "
            "latitude column",
            kind="swapped", rows=rows[i].tolist())

    if region_bbox is not None:
        x0, y0, x1, y1 = (float(v) for v in region_bbox)
        dy = margin_m / _M_PER_DEG
        dx = dy / max(np.cos(np.radians(max(abs(y0), abs(y1)))), 0.01)
        outside = (lon < x0 - dx) | (lon > x1 + dx) | (lat < y0 - dy) | (lat > y1 + dy)
        if outside.any():
            i = np.flatnonzero(outside)
            n = i.size
            raise CoordinateError(
                f"{source}: {n} point{'s lie' if n != 1 else ' lies'} more than {margin_m:g} m "
                f"outside the region ({x0:.5f}, {y0:.5f}, {x1:.5f}, {y1:.5f}), "
                f"{rows_text(rows[i], shown=_ROWS_SHOWN)}: "
                "wrong coordinate system? e.g. GCJ-02 given as WGS84 (give --coords gcj02 or "
                "bd09), metres in another CRS (--crs), or data for another place",
                kind="outside", rows=rows[i].tolist())

"""Export a layer or a result to a file: GeoJSON, GeoPackage, Shapefile, CSV or XLSX.

:func:`export_layer` writes every layer of :data:`gis.io.schema.LAYERS` (regions, grids,
buildings, centers, units, members, staff, ledger) with the schema's Chinese ``label`` as the
header (the ``short`` ASCII name in a Shapefile), so an exported file imports again unchanged;
and the results: ``grid-ledger`` (网格台账), ``coverage`` (the gaps of the coverage report),
``access`` (each building's nearest service centre) and ``siting`` (the planned centres that
siting adopted). Choice fields are written as their Chinese label (住宅, 综治网格 …), yes/no as
是/否, references as the code of the row they point at (楼栋编码, 网格编码, 党组织编码 …);
members and units also get the organisation's name (党组织名称, which an import ignores).

The format follows the file's extension:

============  ===============================================================================
``.geojson``  RFC 7946: WGS84 longitude/latitude, polygons counter-clockwise, full precision
``.gpkg``     GeoPackage, one layer named after the exported layer
``.shp``      Shapefile with ``.cpg`` (UTF-8) and ``.prj``; field names ≤ 10 bytes; texts cut
              to the 254 bytes a DBF field holds (counted in the result)
``.csv``      UTF-8 with a byte-order mark; points as 经度/纬度 columns, polygons as a WKT
              column
``.xlsx``     a formatted sheet (bold frozen header, fitted widths, filter), geometry as in
              CSV; ``ledger`` gives the three lists workbook, ``grid-ledger`` the grid ledger
              (a ledger has no geometry columns in CSV and XLSX)
============  ===============================================================================

Layers without a geometry (members, staff, ledger) go to CSV and XLSX only. ``coords``
converts the geometries to GCJ-02 (Gaode, Tencent) or BD-09 (Baidu) for those maps; such files
still say EPSG:4326 (as such data usually does), so import them back with ``--coords``.

Examples
--------
>>> from gis.db import connection
>>> from gis.io.layer_export import export_layer
>>> with connection() as conn:                                    # doctest: +SKIP
...     result = export_layer(conn, "buildings", "楼栋.shp", region="530103002001")
>>> result["rows"], result["files"][-1]                              # doctest: +SKIP
(97, '楼栋.cpg')
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
import shapely

from gis.io.export import (
    GAP_HEADERS,
    Column,
    add_sheet,
    gap_rows,
    new_workbook,
    workbook_bytes,
    write_csv,
)
from gis.io.ledgers import (
    GRID_LEDGER_COLUMNS,
    LIST_SHEETS,
    PROJECT_COLUMNS,
    grid_ledger_table,
    grid_ledger_workbook,
    lists_workbook,
    three_lists_tables,
)
from gis.io.schema import LAYERS
from gis.layers import check_region_code
from gis.regions import SUBREGIONS_SQL, region_header

__all__ = ["EXPORT_LAYERS", "FORMATS", "MEDIA_TYPES", "ExportError", "export_bytes",
           "export_layer", "formats_for"]

Connection = psycopg2.extensions.connection

# extension → OGR driver / format name
FORMATS = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".csv": "CSV",
           ".xlsx": "XLSX"}
GEO_FORMATS = frozenset({".geojson", ".gpkg", ".shp"})
# what a download of each format is served as (a Shapefile comes zipped)
MEDIA_TYPES = {
    ".geojson": "application/geo+json",
    ".gpkg": "application/geopackage+sqlite3",
    ".shp": "application/zip",
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
COORDS = ("wgs84", "gcj02", "bd09")
LON, LAT, WKT = "经度", "纬度", "WKT"
_DBF_TEXT_BYTES = 254
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


class ExportError(ValueError):
    """An export that cannot be made (the message says why and what to do instead).

    Unknown layer or extension, a format the layer cannot go to, or a file that cannot be
    written.
    """


# --- layers --------------------------------------------------------------------------------------

Fetch = Callable[[Connection, str | None], tuple[list[tuple], list[bytes | None] | None]]


@dataclass(frozen=True)
class ExportLayer:
    """What an exported layer holds and how its rows are fetched.

    Attributes
    ----------
    name : str
        Name on the command line (``gridmap export NAME FILE``) and in the download URL.
    title : str
        Chinese name (sheet name, download file name).
    columns : tuple of Column
    geometry : {'point', 'polygon', None}
    fetch : callable
        ``fetch(conn, region) -> (rows, wkb)``: stored values in column order, and one WKB
        geometry per row (None for a layer without geometry).
    sheet_geometry : bool
        Whether CSV and XLSX carry the geometry (经度/纬度 or WKT); a ledger does not.
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    geometry: str | None
    fetch: Fetch = field(repr=False)
    sheet_geometry: bool = True


def _in_scope(column: str) -> str:
    return f"(%(region)s::text IS NULL OR {column} IN (SELECT code FROM sub))"


_AREA = ",\narea AS (SELECT geom FROM regions WHERE code = %(region)s)"
_SCOPE = SUBREGIONS_SQL + _AREA


def _building_in_scope(b: str) -> str:
    """A building belongs to a region by its community, or without one by where it stands."""
    return (f"({_in_scope(f'{b}.community_code')} OR ({b}.community_code IS NULL"
            f" AND ST_Intersects({b}.geom, (SELECT geom FROM area))))")


def _sql_fetch(sql: str, *, geometry: bool) -> Fetch:
    def fetch(conn: Connection, region: str | None) -> tuple[list[tuple], list | None]:
        with conn.cursor() as cur:
            cur.execute(sql, {"region": region})
            fetched = cur.fetchall()
        if not geometry:
            return fetched, None
        return ([r[:-1] for r in fetched],
                [None if r[-1] is None else bytes(r[-1]) for r in fetched])
    return fetch


def _columns(layer: str) -> tuple[Column, ...]:
    return tuple(Column.of(f) for f in LAYERS[layer].fields)


_REGIONS_SQL = SUBREGIONS_SQL + """
SELECT r.code, r.name, r.level, r.parent_code, ST_AsBinary(r.geom)
FROM regions r WHERE r.code IN (SELECT code FROM sub)
ORDER BY r.code
"""

_GRIDS_SQL = SUBREGIONS_SQL + """
SELECT g.code, g.name, g.layer, g.community_code, ST_AsBinary(g.geom)
FROM grids g WHERE g.community_code IN (SELECT code FROM sub)
ORDER BY g.community_code, g.code, g.layer
"""

_BUILDINGS_SQL = _SCOPE + """
SELECT b.code, b.name, b.community_code, b.kind, b.form, b.households, b.residents,
       b.migrant_households, b.migrant_residents, b.floors, b.is_rental, ST_AsBinary(b.geom)
FROM buildings b WHERE """ + _building_in_scope("b") + """
ORDER BY b.community_code, b.code, b.id
"""

_CENTER_COLUMNS = """c.code, c.name, c.level, c.status, c.floor_area_m2::float8, c.region_code,
       b.code, c.radius_m::float8"""
_CENTER_IN_SCOPE = (f"({_in_scope('c.region_code')}"
                    " OR ST_Intersects(c.geom, (SELECT geom FROM area)))")

_CENTERS_SQL = _SCOPE + f"""
SELECT {_CENTER_COLUMNS}, ST_AsBinary(c.geom)
FROM service_centers c LEFT JOIN buildings b ON b.id = c.building_id
WHERE {_CENTER_IN_SCOPE}
ORDER BY c.code, c.id
"""

# siting adopts its sites as planned centres; the residents each serves are known once access
# has been computed with the plan (the centre's row in center_access)
_SITING_SQL = _SCOPE + f"""
SELECT {_CENTER_COLUMNS}, ca.residents, ST_AsBinary(c.geom)
FROM service_centers c
LEFT JOIN buildings b ON b.id = c.building_id
LEFT JOIN center_access ca ON ca.center_id = c.id
WHERE c.status = 'planned' AND {_CENTER_IN_SCOPE}
ORDER BY c.code, c.id
"""

# a unit stands at its building (a point inside the footprint places it again on import); one
# without a building belongs to the region of its party organisation
_UNITS_SQL = _SCOPE + """
SELECT u.code, u.name, u.kind, b.code, coalesce(po.code, jo.code), u.registered,
       u.member_count, u.employees, u.resources, u.offers_space, coalesce(po.name, jo.name),
       ST_AsBinary(ST_PointOnSurface(b.geom))
FROM units u
LEFT JOIN buildings b ON b.id = u.building_id
LEFT JOIN party_orgs po ON po.id = u.party_org_id
LEFT JOIN party_orgs jo ON jo.id = u.joint_org_id
WHERE """ + _building_in_scope("b") + """
   OR (b.id IS NULL AND coalesce(po.region_code, jo.region_code) IN (SELECT code FROM sub))
ORDER BY u.code, u.id
"""

# a member is in a region by home or by party organisation
_MEMBERS_SQL = _SCOPE + """
SELECT m.code, m.name, m.phone, m.category, o.code, hb.code, m.is_demonstration_post,
       m.is_probationary, o.name
FROM members m
LEFT JOIN party_orgs o ON o.id = m.org_id
LEFT JOIN grids og ON og.id = o.grid_id
LEFT JOIN buildings ob ON ob.id = o.building_id
LEFT JOIN buildings hb ON hb.id = m.home_building_id
WHERE """ + _in_scope("hb.community_code") + """
   OR coalesce(o.region_code, og.community_code, ob.community_code) IN (SELECT code FROM sub)
ORDER BY m.code, m.id
"""

_STAFF_SQL = SUBREGIONS_SQL + """
SELECT s.code, g.code, s.role, s.name, s.phone, m.code
FROM grid_staff s
LEFT JOIN grids g ON g.id = s.grid_id
LEFT JOIN members m ON m.id = s.member_id
WHERE """ + _in_scope("g.community_code") + """
ORDER BY g.code, g.layer, array_position(ARRAY['head', 'full_time', 'part_time'], s.role), s.id
"""

_ACCESS_COLUMNS = (
    Column("楼栋编码", "code"), Column("楼栋名称", "name"), Column("社区代码", "community"),
    Column("常住人口", "residents", "int"),
    Column("最近服务中心编码", "center"), Column("最近服务中心", "ctr_name"),
    Column("直线距离（米）", "straight_m", "float"), Column("步行距离（米）", "walk_m", "float"),
    Column("步行可达", "reachable", "bool"), Column("服务半径内（步行）", "in_r_walk", "bool"),
    Column("服务半径内（直线）", "in_r_line", "bool"),
    Column("直线最近中心编码", "near_code"), Column("直线最近中心", "near_name"),
    Column("直线最近距离（米）", "near_m", "float"),
)

# each building's nearest existing centre by walking (straight: the distance to that centre),
# and its nearest by straight line; at its interior point, where distances are measured from
_ACCESS_SQL = _SCOPE + """
SELECT b.code, b.name, b.community_code, b.residents, c.code, c.name,
       round(a.straight_m::numeric, 1)::float8, round(a.walk_m::numeric, 1)::float8,
       a.reachable, a.within_radius_walk, a.within_radius_straight, sc.code, sc.name,
       round(a.nearest_straight_m::numeric, 1)::float8, ST_AsBinary(ST_PointOnSurface(b.geom))
FROM buildings b
JOIN building_access a ON a.building_id = b.id
LEFT JOIN service_centers c ON c.id = a.center_id
LEFT JOIN service_centers sc ON sc.id = a.nearest_straight_center_id
WHERE """ + _building_in_scope("b") + """
ORDER BY b.community_code, b.code, b.id
"""

_GAPS_GEOMETRY_SQL = """
SELECT id, CASE WHEN ST_Dimension(geom) = 2
                THEN ST_AsBinary(ST_Multi(ST_CollectionExtract(geom, 3))) END
FROM coverage_gaps WHERE id = ANY(%(ids)s::bigint[])
"""


def _fetch_coverage(conn: Connection, region: str | None) -> tuple[list[tuple], list]:
    from gis.coverage_layers import ensure_report, region_names

    report = ensure_report(conn, region=region)
    rows = gap_rows(report, region_names=region_names(conn, region=region))
    ids = [int(g["id"]) for g in report.gaps]
    with conn.cursor() as cur:
        cur.execute(_GAPS_GEOMETRY_SQL, {"ids": ids})
        wkb = {i: None if g is None else bytes(g) for i, g in cur.fetchall()}
    return rows, [wkb.get(i) for i in ids]


def _fetch_access(conn: Connection, region: str | None) -> tuple[list[tuple], list]:
    from gis.access_store import ensure_access

    ensure_access(conn, region=region, isochrones=False)
    return _sql_fetch(_ACCESS_SQL, geometry=True)(conn, region)


def _fetch_grid_ledger(conn: Connection, region: str | None) -> tuple[list[tuple], list]:
    table = grid_ledger_table(conn, region, geometry=True)
    return table.rows, table.wkb


def _fetch_ledger(conn: Connection, region: str | None) -> tuple[list[tuple], None]:
    width = len(PROJECT_COLUMNS)
    rows = [tuple(r) + (None,) * (width - len(r))
            for t in three_lists_tables(conn, region).values() for r in t.rows]
    return rows, None


_SITING_COLUMNS = (*_columns("centers"), Column("服务居民", "served", "int"))
# the organisation's name beside its code, for readers (an import ignores the column)
_ORG_NAME = Column("党组织名称", "org_name")

EXPORT_LAYERS: dict[str, ExportLayer] = {x.name: x for x in (
    ExportLayer("regions", "行政区划", _columns("regions"), "polygon",
                _sql_fetch(_REGIONS_SQL, geometry=True)),
    ExportLayer("grids", "网格", _columns("grids"), "polygon",
                _sql_fetch(_GRIDS_SQL, geometry=True)),
    ExportLayer("buildings", "楼栋", _columns("buildings"), "polygon",
                _sql_fetch(_BUILDINGS_SQL, geometry=True)),
    ExportLayer("centers", "党群服务中心", _columns("centers"), "point",
                _sql_fetch(_CENTERS_SQL, geometry=True)),
    ExportLayer("units", "驻区单位", (*_columns("units"), _ORG_NAME), "point",
                _sql_fetch(_UNITS_SQL, geometry=True)),
    ExportLayer("members", "党员", (*_columns("members"), _ORG_NAME), None,
                _sql_fetch(_MEMBERS_SQL, geometry=False)),
    ExportLayer("staff", "网格员", _columns("staff"), None,
                _sql_fetch(_STAFF_SQL, geometry=False)),
    ExportLayer("ledger", "三张清单", PROJECT_COLUMNS, None, _fetch_ledger),
    ExportLayer("grid-ledger", "网格台账", GRID_LEDGER_COLUMNS, "polygon", _fetch_grid_ledger,
                sheet_geometry=False),
    ExportLayer("coverage", "覆盖缺口",
                tuple(Column(h, s) for h, s in zip(GAP_HEADERS, (
                    "kind", "severity", "layer", "region", "reg_name", "obj_type", "obj_code",
                    "explain", "remedy"), strict=True)),
                "polygon", _fetch_coverage),
    ExportLayer("access", "步行可达", _ACCESS_COLUMNS, "point", _fetch_access),
    ExportLayer("siting", "规划服务中心", _SITING_COLUMNS, "point",
                _sql_fetch(_SITING_SQL, geometry=True)),
)}
"""Layer name → what :func:`export_layer` writes for it."""


def formats_for(layer: str) -> tuple[str, ...]:
    """The extensions ``layer`` can be exported to (without geometry: .csv and .xlsx)."""
    spec = _layer(layer)
    return tuple(e for e in FORMATS if spec.geometry or e not in GEO_FORMATS)


def _layer(name: str) -> ExportLayer:
    try:
        return EXPORT_LAYERS[name]
    except KeyError:
        raise ExportError(f"unknown layer {name!r}; one of {', '.join(EXPORT_LAYERS)}") from None


def _extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise ExportError(f"{path.name}: unknown format {ext or '(no extension)'!r}; the "
                          f"extension must be one of {' '.join(FORMATS)}")
    return ext


# --- geometry ------------------------------------------------------------------------------------

def _geometries(wkb: Sequence[bytes | None], coords: str) -> np.ndarray:
    geoms = shapely.from_wkb(np.array(wkb, dtype=object))
    if coords != "wgs84" and len(geoms):
        from gis.io.coords import transform_geometries

        geoms = transform_geometries(geoms, coords, to_wgs84=False)
    return np.asarray(geoms, dtype=object)


def _rfc7946(geoms: np.ndarray) -> np.ndarray:
    """Polygons with counter-clockwise exteriors and clockwise holes (RFC 7946, 3.1.6)."""
    orient = getattr(shapely, "orient_polygons", None)
    if orient is not None:
        return orient(geoms, exterior_cw=False)
    from shapely.ops import orient as orient_one

    return np.array([g if g is None or g.geom_type not in ("Polygon", "MultiPolygon")
                     else _orient_multi(g, orient_one) for g in geoms], dtype=object)


def _orient_multi(g, orient_one):
    if g.geom_type == "Polygon":
        return orient_one(g, 1.0)
    return shapely.MultiPolygon([orient_one(p, 1.0) for p in g.geoms])


def _sheet_geometry(spec: ExportLayer, geoms: np.ndarray | None) -> tuple[list[str], list[list]]:
    """Headers and per-row cells of the geometry columns of CSV / XLSX."""
    if geoms is None or not spec.sheet_geometry:
        return [], [[] for _ in range(0 if geoms is None else len(geoms))]
    if spec.geometry == "point":
        return [LON, LAT], [[None, None] if g is None else [g.x, g.y] for g in geoms]
    wkt = shapely.to_wkt(geoms, rounding_precision=-1)
    return [WKT], [[w] for w in wkt]


# --- writers -------------------------------------------------------------------------------------

@dataclass
class _Table:
    spec: ExportLayer
    rows: list[tuple]
    geoms: np.ndarray | None

    @property
    def headers(self) -> list[str]:
        return [c.label for c in self.spec.columns]

    def cells(self) -> list[list[Any]]:
        cols = self.spec.columns
        return [[c.cell(v) for c, v in zip(cols, r, strict=True)] for r in self.rows]


def _write_geojson(table: _Table, path: Path) -> dict[str, Any]:
    geoms = _rfc7946(table.geoms)
    texts = shapely.to_geojson(geoms)
    headers = table.headers
    with path.open("w", encoding="utf-8") as out:
        out.write('{"type":"FeatureCollection","features":[')
        for i, (cells, geometry) in enumerate(zip(table.cells(), texts, strict=True)):
            props = json.dumps(dict(zip(headers, cells, strict=True)), ensure_ascii=False,
                               separators=(",", ":"))
            out.write(("," if i else "") + '\n{"type":"Feature","properties":' + props
                      + ',"geometry":' + (geometry or "null") + "}")
        out.write("\n]}\n")
    return {}


def _frame(table: _Table, names: Sequence[str], *, text_bytes: int | None = None
           ) -> tuple[pd.DataFrame, int]:
    """Attribute columns typed for OGR (nullable integers and reals); texts cut to bytes."""
    data: dict[str, Any] = {}
    cut = 0
    columns = list(zip(*table.cells(), strict=True)) if table.rows else [()] * len(names)
    for col, name, values in zip(table.spec.columns, names, columns, strict=True):
        if col.kind == "int":
            data[name] = pd.array(values, dtype="Int64")
        elif col.kind == "float":
            data[name] = pd.array(values, dtype="Float64")
        else:
            texts = list(values)
            if text_bytes is not None:
                for i, v in enumerate(texts):
                    if v is not None and len(v.encode("utf-8")) > text_bytes:
                        texts[i] = v.encode("utf-8")[:text_bytes].decode("utf-8", "ignore")
                        cut += 1
            data[name] = pd.Series(texts, dtype=object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(table.rows))), cut


def _write_ogr(table: _Table, path: Path, ext: str) -> dict[str, Any]:
    import geopandas as gpd
    import pyogrio

    shp = ext == ".shp"
    names = [c.short for c in table.spec.columns] if shp else table.headers
    frame, cut = _frame(table, names, text_bytes=_DBF_TEXT_BYTES if shp else None)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(table.geoms, index=frame.index),
                           crs="EPSG:4326")
    kind = "Point" if table.spec.geometry == "point" else "MultiPolygon"
    # a Shapefile's text fields shrink to their longest value (GDAL makes them 80 wide)
    options: dict[str, Any] = {"encoding": "UTF-8", "layer_options": {"RESIZE": "YES"}} \
        if shp else {"layer": table.spec.name.replace("-", "_")}
    pyogrio.write_dataframe(gdf, path, driver=FORMATS[ext], geometry_type=kind,
                            promote_to_multi=kind == "MultiPolygon", **options)
    if not shp:
        return {}
    files = [str(path.with_suffix(s)) for s in _SHAPEFILE_PARTS if path.with_suffix(s).exists()]
    return {"files": files, "truncated": cut}


def _sheet_rows(table: _Table) -> tuple[list[str], list[list[Any]]]:
    geo_headers, geo_cells = _sheet_geometry(table.spec, table.geoms)
    cells = table.cells()
    if geo_headers:
        cells = [c + g for c, g in zip(cells, geo_cells, strict=True)]
    return table.headers + geo_headers, cells


def _write_csv(table: _Table, path: Path) -> dict[str, Any]:
    headers, cells = _sheet_rows(table)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        write_csv(out, headers, cells)
    return {}


def _write_xlsx(table: _Table, path: Path) -> dict[str, Any]:
    headers, cells = _sheet_rows(table)
    book = new_workbook()
    try:
        add_sheet(book, table.spec.title, headers, cells)
    except ValueError as exc:
        raise ExportError(f"{path.name}: {exc}") from None
    path.write_bytes(workbook_bytes(book))
    return {}


def _remove_old(path: Path, ext: str) -> None:
    parts = [path.with_suffix(s) for s in _SHAPEFILE_PARTS] if ext == ".shp" else [path]
    for p in parts:
        if p.is_file():
            p.unlink()


# --- the entry points ----------------------------------------------------------------------------

def export_layer(conn: Connection, layer: str, path: str | Path, *, region: str | None = None,
                 coords: str = "wgs84") -> dict[str, Any]:
    """Write ``layer`` (of ``region``) to ``path``, in the format of its extension.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection. ``coverage`` and ``access`` compute their results first when none
        are stored or they are stale (in this transaction: commit to keep them).
    layer : str
        A key of :data:`EXPORT_LAYERS`: ``regions``, ``grids``, ``buildings``, ``centers``,
        ``units``, ``members``, ``staff``, ``ledger``, ``grid-ledger``, ``coverage``,
        ``access`` or ``siting``.
    path : str or Path
        The file to write (replaced if it exists; a Shapefile's sidecar files too). Its
        extension chooses the format: ``.geojson``, ``.gpkg``, ``.shp``, ``.csv``, ``.xlsx``.
    region : str, optional
        12-digit region code: the region and everything under it. Default: everything.
    coords : {'wgs84', 'gcj02', 'bd09'}, default 'wgs84'
        Coordinates written: WGS84, or converted for Gaode/Tencent (GCJ-02) or Baidu (BD-09)
        maps.

    Returns
    -------
    dict
        ``layer``, ``title`` (Chinese), ``file``, ``format``, ``rows`` (features or lines
        written), ``coords``, ``region`` (``{"code", "name", "level"}``); for a Shapefile also
        ``files`` (every file written) and ``truncated`` (texts cut to 254 bytes); for the
        three lists workbook ``sheets`` (rows per list).

    Raises
    ------
    ExportError
        Unknown layer, extension or coordinate system; a geometry format for a layer without
        geometry; a missing directory; a table too large for an Excel sheet.
    ValueError
        If ``region`` is not a 12-digit code.
    RegionNotFoundError
        If ``region`` is not in the database.
    """
    spec = _layer(layer)
    path = Path(path)
    ext = _extension(path)
    if coords not in COORDS:
        raise ExportError(f"unknown coordinate system {coords!r}; one of {', '.join(COORDS)}")
    if ext in GEO_FORMATS and spec.geometry is None:
        raise ExportError(f"{path.name}: layer {layer} ({spec.title}) has no geometry; export "
                          f"it to .csv or .xlsx")
    if not path.parent.is_dir():
        raise ExportError(f"{path}: directory {path.parent} does not exist")
    region = check_region_code(region)
    place = region_header(conn, region)
    result: dict[str, Any] = {"layer": layer, "title": spec.title, "file": str(path),
                              "format": FORMATS[ext], "coords": coords, "region": place}

    if ext == ".xlsx" and layer in ("ledger", "grid-ledger"):
        if layer == "ledger":
            tables = three_lists_tables(conn, region)
            data = lists_workbook(tables)
            result["sheets"] = {LIST_SHEETS[k]: len(t.rows) for k, t in tables.items()}
            result["rows"] = sum(result["sheets"].values())
        else:
            table = grid_ledger_table(conn, region)
            data = grid_ledger_workbook(table)
            result["rows"] = len(table.rows)
        _remove_old(path, ext)
        path.write_bytes(data)
        return result

    rows, wkb = spec.fetch(conn, region)
    geoms = _geometries(wkb, coords) if wkb is not None else None
    table = _Table(spec, rows, geoms)
    _remove_old(path, ext)
    try:
        if ext == ".geojson":
            result.update(_write_geojson(table, path))
        elif ext in (".gpkg", ".shp"):
            result.update(_write_ogr(table, path, ext))
        elif ext == ".csv":
            result.update(_write_csv(table, path))
        else:
            result.update(_write_xlsx(table, path))
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from None
    result["rows"] = len(rows)
    return result


def export_bytes(conn: Connection, layer: str, ext: str, *, region: str | None = None,
                 coords: str = "wgs84") -> tuple[bytes, dict[str, Any]]:
    """Export ``layer`` to a file in a temporary directory and return its bytes.

    Parameters
    ----------
    ext : str
        ``geojson``, ``gpkg``, ``shp``, ``csv`` or ``xlsx`` (with or without the dot). A
        Shapefile comes as a ZIP archive of its files (``.shp.zip``, which GIS programs open).

    Other parameters are those of :func:`export_layer`.

    Returns
    -------
    bytes, dict
        The file and :func:`export_layer`'s result, plus ``media_type`` and ``filename`` (ASCII,
        e.g. ``buildings-530103002001.shp.zip``) and ``filename_zh`` (e.g. ``楼栋-桃源社区.xlsx``).

    Raises
    ------
    ExportError, ValueError, RegionNotFoundError
        As :func:`export_layer`.
    """
    ext = "." + ext.lstrip(".").lower()
    spec = _layer(layer)
    if ext not in FORMATS:
        raise ExportError(f"unknown format {ext!r}; one of {' '.join(FORMATS)}")
    with tempfile.TemporaryDirectory(prefix="gridmap-export-") as tmp:
        path = Path(tmp) / f"{layer}{ext}"
        result = export_layer(conn, layer, path, region=region, coords=coords)
        if ext == ".shp":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for f in result["files"]:
                    archive.write(f, Path(f).name)
            data = buffer.getvalue()
        else:
            data = path.read_bytes()
    place = result["region"]
    suffix = "".join(f"-{x}" for x in (place["code"], None if coords == "wgs84" else coords) if x)
    ext_out = ".shp.zip" if ext == ".shp" else ext
    result.update(media_type=MEDIA_TYPES[ext], filename=f"{layer}{suffix}{ext_out}",
                  filename_zh=f"{spec.title}-{place['name']}"
                              f"{'-' + coords if coords != 'wgs84' else ''}{ext_out}")
    result.pop("file", None)
    result.pop("files", None)
    return data, result

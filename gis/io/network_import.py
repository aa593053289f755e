"""Import a walking network from any line layer (GeoJSON, GeoPackage, Shapefile …).

The lines are read with pyogrio (geometry only, so attribute encodings such as GBK cannot get in
the way), checked, reprojected to the dataset's metric CRS, noded at every crossing
(:func:`gis.network.node_lines`), measured in metres and stored in ``walk_nodes`` /
``walk_edges`` with their connected components, replacing the previous network in the caller's
transaction. Nothing is written when a check fails or on ``dry_run``.

:func:`import_lines` does the same for lines already in EPSG:4326 (the OSM importer's walkways).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extensions
import pyogrio
import shapely
from pyproj import CRS, Transformer

from gis.crs import metric_srid_for
from gis.io.table import rows_text
from gis.network import Network, node_lines

__all__ = ["NetworkImportError", "import_lines", "import_network", "read_lines"]

Connection = psycopg2.extensions.connection
_LINE_TYPES = ("LineString", "MultiLineString")


class NetworkImportError(ValueError):
    """The file cannot become a walking network; the message names the file and rows at fault."""


def read_lines(path: Path, *, crs: int | None = None) -> tuple[np.ndarray, CRS]:
    """Read the line geometries of ``path`` and check them.

    Returns
    -------
    lines : ndarray of (Multi)LineString
    crs : pyproj.CRS
        The file's CRS, or ``crs`` when given.

    Raises
    ------
    NetworkImportError
        Missing or unreadable file, no CRS, or rows that are empty or not lines (row numbers
        count features from 1).
    """
    path = Path(path)
    if not path.exists():
        raise NetworkImportError(f"{path}: no such file")
    try:
        df = pyogrio.read_dataframe(path, columns=[])
    except Exception as exc:  # pyogrio raises several DataSource errors
        raise NetworkImportError(f"{path}: cannot be read as a GIS file ({exc})") from None
    if crs is not None:
        file_crs = CRS.from_epsg(crs)
    elif df.crs is None:
        raise NetworkImportError(f"{path}: the file has no coordinate system; give --crs EPSG")
    else:
        file_crs = CRS.from_user_input(df.crs)
    geoms = df.geometry.to_numpy()
    _check_lines(geoms, path)
    return geoms, file_crs


def _check_lines(lines: np.ndarray, source: object) -> None:
    """Refuse rows (numbered from 1) that are empty or not (Multi)LineStrings."""
    empty = np.flatnonzero(shapely.is_missing(lines) | shapely.is_empty(lines))
    if len(empty):
        raise NetworkImportError(f"{source}: rows {rows_text(empty + 1, word=False)} have no "
                                 "geometry")
    wrong = np.flatnonzero(~np.isin(shapely.get_type_id(lines), [1, 5]))
    if len(wrong):
        kinds = sorted({g.geom_type for g in lines[wrong]})
        raise NetworkImportError(f"{source}: rows {rows_text(wrong + 1, word=False)} are "
                                 f"{', '.join(kinds)}, not {' or '.join(_LINE_TYPES)}")


def import_network(conn: Connection, path: Path, *, crs: int | None = None,
                   dry_run: bool = False) -> dict[str, Any]:
    """Replace the walking network with the lines of ``path``.

    Parameters
    ----------
    conn : psycopg2 connection
        Open connection; the caller commits (nothing is written on error or ``dry_run``).
    path : Path
        Any line layer pyogrio reads.
    crs : int, optional
        EPSG code of the file's coordinates when the file does not say (or says wrong).
    dry_run : bool, default False
        Check and node the lines, report the counts, write nothing.

    Returns
    -------
    dict
        As :func:`import_lines`.
    """
    lines, file_crs = read_lines(path, crs=crs)
    to_ll = Transformer.from_crs(file_crs, 4326, always_xy=True)
    lonlat = shapely.transform(lines, lambda xy: np.column_stack(to_ll.transform(xy[:, 0],
                                                                                 xy[:, 1])))
    if not np.isfinite(shapely.get_coordinates(lonlat)).all():
        raise NetworkImportError(f"{path}: coordinates do not fit EPSG:{file_crs.to_epsg()}; "
                                 "give the right --crs")
    if not _in_degrees(lonlat):
        raise NetworkImportError(f"{path}: coordinates are not in EPSG:{file_crs.to_epsg()}; "
                                 "give the right --crs")
    return import_lines(conn, lonlat, source=str(path), dry_run=dry_run)


def _in_degrees(lonlat: np.ndarray) -> bool:
    x0, y0, x1, y1 = shapely.total_bounds(lonlat)
    return bool(-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90)


def import_lines(conn: Connection, lines: np.ndarray, *, source: str = "lines",
                 dry_run: bool = False) -> dict[str, Any]:
    """Replace the walking network with ``lines`` (EPSG:4326), noded at every crossing.

    The network is measured in the metric CRS of its centre (:func:`gis.crs.metric_srid_for`);
    the previous network and the access results computed on it are dropped in the caller's
    transaction.

    Parameters
    ----------
    conn : psycopg2 connection
        Open connection; the caller commits (nothing is written on error or ``dry_run``).
    lines : ndarray of (Multi)LineString
        Longitude / latitude geometries (e.g. OSM ways, or a file's lines already reprojected).
    source : str, default "lines"
        What the lines come from, for messages.
    dry_run : bool, default False
        Node the lines and report the counts, write nothing.

    Returns
    -------
    dict
        ``lines`` given, ``nodes``, ``edges``, ``components``, ``largest_component_share`` (of
        the edges), ``length_km``, ``metric_srid``, ``dry_run``.

    Raises
    ------
    NetworkImportError
        No lines, empty or non-line geometries, or coordinates that are not degrees.
    """
    lines = np.asarray(lines, dtype=object)
    if len(lines) == 0:
        raise NetworkImportError(f"{source}: no lines to make a walking network of")
    _check_lines(lines, source)
    if not (np.isfinite(shapely.get_coordinates(lines)).all() and _in_degrees(lines)):
        raise NetworkImportError(f"{source}: coordinates are not longitude / latitude degrees")
    x0, y0, x1, y1 = shapely.total_bounds(lines)
    srid = metric_srid_for((x0 + x1) / 2, (y0 + y1) / 2)
    to_m = Transformer.from_crs(4326, srid, always_xy=True)
    metric = shapely.transform(lines, lambda xy: np.column_stack(to_m.transform(xy[:, 0],
                                                                               xy[:, 1])))
    node_xy, source_node, target_node, edges = node_lines(metric)
    net = Network.from_edges(srid, node_ids=np.arange(1, len(node_xy) + 1), node_xy=node_xy,
                             edge_ids=np.arange(1, len(edges) + 1),
                             source_ids=source_node + 1, target_ids=target_node + 1, lines=edges)
    components = net.components()
    edge_component = components[net.source] if len(edges) else np.zeros(0, int)
    summary = {
        "lines": len(lines), "nodes": len(node_xy), "edges": len(edges),
        "components": int(components.max()) + 1 if len(components) else 0,
        "largest_component_share": round(float(np.mean(edge_component == 0)), 4)
        if len(edges) else None,
        "length_km": round(float(net.length_m.sum()) / 1000, 3),
        "metric_srid": srid, "dry_run": dry_run,
    }
    if not dry_run:
        _store(conn, net, edges, components, to_m_inverse=Transformer.from_crs(
            srid, 4326, always_xy=True))
    return summary


def _store(conn: Connection, net: Network, edges: np.ndarray, components: np.ndarray, *,
           to_m_inverse: Transformer) -> None:
    def to_ll(g):
        return shapely.transform(g, lambda xy: np.column_stack(to_m_inverse.transform(
            xy[:, 0], xy[:, 1])))

    nodes = pd.DataFrame({
        "id": net.node_ids, "component": components,
        "geom": shapely.to_wkb(shapely.set_srid(to_ll(shapely.points(net.xy)), 4326), hex=True,
                               include_srid=True)})
    lines = pd.DataFrame({
        "id": net.edge_ids, "source": net.node_ids[net.source],
        "target": net.node_ids[net.target], "length_m": net.length_m, "kind": "street",
        "geom": shapely.to_wkb(shapely.set_srid(to_ll(edges), 4326), hex=True,
                               include_srid=True)})
    with conn.cursor() as cur:
        # access results refer to the old edges and are stale anyway
        cur.execute("TRUNCATE walk_nodes, walk_edges, building_access, center_access,"
                    " center_isochrones RESTART IDENTITY CASCADE")
        for table, df in (("walk_nodes", nodes), ("walk_edges", lines)):
            buf = io.StringIO()
            df.to_csv(buf, header=False, index=False)
            buf.seek(0)
            cur.copy_expert(f"COPY {table} ({', '.join(df.columns)}) FROM STDIN"
                            " WITH (FORMAT csv)", buf)
        for table in ("walk_nodes", "walk_edges"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" GREATEST((SELECT max(id) FROM {table}), 1))")

"""What an uploaded file holds, cheaply: its row count and its first features for a map preview.

The import page (:mod:`web.imports`) shows a progress bar against :func:`count_rows` and draws
:func:`preview_features` (or :func:`osm_preview`) on its map before anything is imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely

__all__ = ["count_rows", "osm_preview", "preview_features", "table_preview"]

# attribute columns shown in a preview feature's popup
PREVIEW_COLUMNS = 8
# above this many vertices the preview is simplified (to about a metre)
PREVIEW_MAX_VERTICES = 200_000


def count_rows(path: Path, *, sheet: str | None = None) -> int | None:
    """The rows a file holds, cheaply: features of a GIS file, lines of a CSV, a sheet's extent.

    CSV lines with quoted line breaks and XLSX extents that the writer got wrong make the count
    an estimate; None when it cannot be had without reading the file.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open("rb") as f:
                lines = sum(1 for line in f if line.strip())
            return max(lines - 1, 0)
        if suffix == ".xlsx":
            import openpyxl

            wb = openpyxl.load_workbook(path, read_only=True)
            try:
                ws = wb[sheet] if sheet else wb.worksheets[0]
                return max(ws.max_row - 1, 0) if ws.max_row else None
            finally:
                wb.close()
        import pyogrio

        layer = sheet if suffix == ".gpkg" else None
        features = int(pyogrio.read_info(path, layer=layer)["features"])
        return features if features >= 0 else None
    except Exception:  # a count is a nicety: the import itself says what is wrong
        return None


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def preview_features(path: Path, *, crs: int | None, coords: str, sheet: str | None,
                     limit: int, encoding: str | None = None) -> dict[str, Any]:
    """The file's first ``limit`` features as GeoJSON (EPSG:4326), for the page's map.

    Each feature's properties are its row number (``row``, as the report counts rows) and its
    first attribute values (``attrs``: ``[[header, text], …]``).

    Raises
    ------
    gis.io.readers.ReadError, gis.io.coords.CoordinateError
        When the file cannot be read (the import reports the same).
    """
    from gis.io.readers import iter_tables

    # one row more than shown tells whether the file has more
    table = next(iter(iter_tables(path, batch_size=limit + 1, crs=crs, coords=coords,
                                  sheet=sheet, encoding=encoding)))
    return table_preview(table, limit=limit)


def osm_preview(path: Path, *, limit: int) -> dict[str, Any]:
    """The first ``limit`` buildings of an OpenStreetMap extract, as :func:`table_preview`.

    Raises
    ------
    gis.io.osm.OsmImportError
        When the extract cannot be read (the import reports the same).
    """
    from gis.io.osm import read_osm

    return table_preview(read_osm(path).buildings, limit=limit)


def table_preview(table, *, limit: int) -> dict[str, Any]:
    """The first ``limit`` rows of a :class:`~gis.io.table.SourceTable` as GeoJSON features.

    See :func:`preview_features`; ``truncated`` says the table has more rows than are shown.
    """
    n = min(len(table), limit)
    out: dict[str, Any] = {"type": "FeatureCollection", "features": [], "rows": len(table),
                           "limit": limit, "truncated": len(table) > limit,
                           "geometry": table.geometry is not None, "crs": table.crs}
    if table.geometry is None or n == 0:
        return out
    geoms = np.asarray(table.geometry[:n], dtype=object)
    present = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    shown = geoms[present]
    if shapely.get_num_coordinates(shown).sum() > PREVIEW_MAX_VERTICES:
        shown = shapely.simplify(shown, 1e-5, preserve_topology=True)
    texts = shapely.to_geojson(shown)
    columns = list(table.frame.columns)[:PREVIEW_COLUMNS]
    frame = table.frame[columns].iloc[:n]
    values = frame.astype(object).where(frame.notna(), None).to_numpy() if columns else None
    for k, i in enumerate(present):
        attrs = [[str(c), _cell(values[i, j])] for j, c in enumerate(columns)
                 if values is not None and values[i, j] is not None]
        out["features"].append({"type": "Feature", "geometry": json.loads(texts[k]),
                                "properties": {"row": int(table.rows[i]), "attrs": attrs}})
    return out

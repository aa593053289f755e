"""Downloads of every layer and result: ``GET /export/<layer>.<ext>?region=CODE&coords=…``.

The file is made by :func:`gis.io.layer_export.export_bytes` (a Shapefile comes zipped); the
pages show a 下载 / Download menu of them (``_downloads.html``, fed by :func:`export_menu`).
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, request

from gis.io.layer_export import (
    COORDS,
    EXPORT_LAYERS,
    FORMATS,
    ExportError,
    export_bytes,
    formats_for,
)
from gis.layers import RegionNotFoundError, check_region_code
from web.db import db

bp = Blueprint("export", __name__)

# the layers of the download menu, in its order (every export layer)
MENU = ("buildings", "grids", "regions", "centers", "units", "members", "staff", "ledger",
        "grid-ledger", "coverage", "access", "siting")


@bp.app_context_processor
def export_menu() -> dict:
    """``export_menu``: (layer, extensions without the dot) for the download menu of pages."""
    return {"export_menu": [(name, [e.lstrip(".") for e in formats_for(name)])
                            for name in MENU]}


def _disposition(ascii_name: str, name: str) -> str:
    """``attachment`` with an ASCII file name and the UTF-8 one (RFC 6266 / 5987)."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@bp.get("/export/<layer>.<ext>")
def download(layer: str, ext: str):
    """The file of ``layer`` as ``ext`` (geojson, gpkg, shp → zip, csv, xlsx).

    Query parameters: ``region`` (12-digit code; default everything) and ``coords`` (wgs84,
    gcj02 or bd09). An unknown layer or region is 404; an unknown extension, coordinate
    system or malformed region, or a geometry format for a layer without geometry, is 400.
    """
    if layer not in EXPORT_LAYERS:
        abort(404, description=f"unknown layer {layer!r}; one of {', '.join(EXPORT_LAYERS)}")
    if f".{ext}" not in FORMATS:
        abort(400, description=f"unknown format {ext!r}; one of "
                               f"{', '.join(e.lstrip('.') for e in FORMATS)}")
    coords = request.args.get("coords") or "wgs84"
    if coords not in COORDS:
        abort(400, description=f"coords must be one of {', '.join(COORDS)}, not {coords!r}")
    try:
        region = check_region_code(request.args.get("region") or None)
    except ValueError as err:
        abort(400, description=str(err))
    try:
        with db() as conn:
            data, result = export_bytes(conn, layer, ext, region=region, coords=coords)
    except RegionNotFoundError as err:
        abort(404, description=str(err))
    except ExportError as err:
        abort(400, description=str(err))
    return Response(data, content_type=result["media_type"], headers={
        "Content-Disposition": _disposition(result["filename"], result["filename_zh"])})

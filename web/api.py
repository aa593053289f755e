"""JSON API: ``/api/layers/<layer>`` (GeoJSON), ``/api/summary`` and ``/api/coverage``."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from gis import coverage_layers, layers
from gis.coverage import RegionError, run_coverage
from web.db import db
from web.views import planned_arg

bp = Blueprint("api", __name__, url_prefix="/api")


def _filters() -> dict:
    """The ``region`` and ``bbox`` query parameters, validated (400 when malformed)."""
    try:
        return {"region": layers.check_region_code(request.args.get("region") or None),
                "bbox": layers.check_bbox(request.args.get("bbox") or None)}
    except ValueError as err:
        abort(400, description=str(err))


@bp.get("/layers")
def layer_index():
    """List the layer names."""
    return jsonify(layers=list(layers.LAYERS))


@bp.get("/layers/<layer>")
def layer(layer: str):
    """Return one layer as a GeoJSON FeatureCollection.

    Query parameters: ``region`` (12-digit code) and ``bbox`` (``minx,miny,maxx,maxy``,
    EPSG:4326). 404 for an unknown layer or region, 400 for a malformed region or bbox.
    """
    if layer not in layers.LAYERS:
        abort(404, description=f"unknown layer {layer!r}: choose one of "
                               f"{', '.join(layers.LAYERS)}")
    filters = _filters()
    try:
        with db() as conn:
            fc = layers.get_layer(conn, layer, **filters)
    except layers.RegionNotFoundError as err:
        abort(404, description=str(err))
    response = jsonify(fc)
    response.mimetype = "application/geo+json"
    return response


@bp.get("/summary")
def summary():
    """Counts and extent of a region (``?region=CODE``) or of the whole database."""
    region = _filters()["region"]
    try:
        with db() as conn:
            return jsonify(layers.region_summary(conn, region=region))
    except layers.RegionNotFoundError as err:
        abort(404, description=str(err))


@bp.get("/coverage")
def coverage():
    """The coverage report of ``?region=CODE``: ``{"region", "kpis", "gaps"}``.

    The stored results are returned; where coverage was never computed under the region, it is
    computed (and stored) first. ``&planned=1`` counts the planned centres as serving ("with
    the plan"; recomputed when the stored results are of the other view). 400 for a malformed
    code, 404 for an unknown region.
    """
    region = _filters()["region"]
    planned = planned_arg()
    try:
        with db() as conn:
            report = coverage_layers.ensure_report(conn, region=region, planned=planned)
    except (layers.RegionNotFoundError, RegionError) as err:
        abort(404, description=str(err))
    return jsonify(report.to_json())


@bp.post("/coverage/run")
def coverage_run():
    """Recompute coverage under ``?region=CODE`` (``&planned=1``: with the plan), store it."""
    region = _filters()["region"]
    planned = planned_arg()
    try:
        with db() as conn:
            report = run_coverage(conn, region=region, planned=planned)
    except (layers.RegionNotFoundError, RegionError) as err:
        abort(404, description=str(err))
    return jsonify(report.to_json())

"""The access page (``/access``) and its API: stored KPIs, live what-if, new planned centres.

- ``GET /access?region=CODE`` — buildings coloured by walking band, centres with radius and
  isochrones, building→centre lines and the KPI panel; the planner adds, drags and removes
  centres and the page re-evaluates them through the what-if API without saving anything.
- ``GET /api/access?region=CODE`` — the stored access report (computed first when stale).
- ``POST /api/access/whatif`` ``{"region", "centers": [...]}`` — every building's nearest centre
  and the KPIs for the given centres (:meth:`gis.access_whatif.WhatIf.evaluate`).
- ``POST /api/centers`` ``{"name", "level", "lon", "lat", "radius_m"?, "status"?}`` — store a
  planned (or candidate) centre.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for

from gis import coverage_layers, layers
from gis.access_store import ensure_access, load_access_report
from gis.access_whatif import WhatIfError
from gis.centers import CenterError, insert_center
from gis.coverage import RegionError
from web.access_map import build_access_map, fetch_access_data, page_state
from web.db import db
from web.i18n import Labels, pick_lang
from web.maps import render_parts
from web.views import PLAN_ENDPOINTS, planned_arg
from web.whatif import whatif_session

bp = Blueprint("access", __name__)

NOT_FOUND = (layers.RegionNotFoundError, RegionError)
# a what-if is one multi-source search whatever the number of centres; this only stops
# requests that are not a planner's map
MAX_CENTERS = 20_000


def _asset_url(path: str) -> str:
    return url_for("static", filename=f"vendor/{path}")


def _region(value: Any) -> str | None:
    """A region code from the query or the body, validated (400 when malformed)."""
    if value is not None and not isinstance(value, str):
        abort(400, description=f"region must be a 12-digit code, not {value!r}")
    try:
        return layers.check_region_code(value or None)
    except ValueError as err:
        abort(400, description=str(err))


@bp.get("/access")
def page():
    """The access page of ``?region=CODE`` (everything when absent), ``&lang=zh|en``.

    ``&planned=1`` counts the planned centres as serving ("with the plan"): access is
    recomputed when the stored results are of the other view, and the what-if starts from the
    existing and planned centres.
    """
    lang = pick_lang(request.args.get("lang"), current_app.config["LANG"])
    region = _region(request.args.get("region"))
    planned = planned_arg()
    try:
        with db() as conn:  # commits a computation made for this page
            data = fetch_access_data(conn, region=region, planned=planned)
    except NOT_FOUND as err:
        abort(404, description=str(err))
    labels = Labels(lang)
    m, layer_vars = build_access_map(
        data, lang=lang, basemap=current_app.config["BASEMAP"],
        tianditu_key=current_app.config["TIANDITU_KEY"], asset_url=_asset_url)
    keep_lang = lang if lang != current_app.config["LANG"] else None

    def link(endpoint: str = "access.page", **args) -> str:
        if endpoint in PLAN_ENDPOINTS:  # the view with the plan stays on
            args.setdefault("planned", 1 if planned else None)
        return url_for(endpoint, **args, lang=keep_lang)

    state = page_state(data, labels=labels, layer_vars=layer_vars, urls={
        "whatif": url_for("access.whatif"), "centers": url_for("access.create_center")})
    run = data["report"].run
    computed_at = datetime.fromisoformat(run["computed_at"]).astimezone() \
        .strftime("%Y-%m-%d %H:%M") if run else None
    return render_template(
        "access.html", map=render_parts(m), L=labels, lang=lang, link=link, data=data,
        region=region, report=data["report"], kpis=data["report"].kpis, state=state,
        bands=state["bands"], run=run, computed_at=computed_at,
        band_labels={b: labels["access.kpi_band"].format(band=f"{float(b):,g}")
                     for b in state["bands"]},
        switch_url=url_for("access.page", region=region, planned=1 if planned else None,
                           lang="en" if lang == "zh" else "zh"),
        planned=planned, plan_toggle_url=link(region=region, planned=None if planned else 1),
    )


@bp.get("/api/access")
def report():
    """The stored access report of ``?region=CODE``: ``{"region", "run", "kpis", "long_snaps"}``.

    Access is computed (and stored) first when it is missing or no longer matches the data.
    ``&planned=1`` counts the planned centres as serving ("with the plan"; ``run.planned``
    says which view the results are of). 400 for a malformed code, 404 for an unknown region.
    """
    region = _region(request.args.get("region"))
    planned = planned_arg()
    try:
        with db() as conn:
            if region is not None:  # 404 before any computation
                coverage_layers.region_trail(conn, region)
            ensure_access(conn, isochrones=False, planned=planned)
            out = load_access_report(conn, region=region)
    except NOT_FOUND as err:
        abort(404, description=str(err))
    return jsonify(out.to_json())


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="the request body must be a JSON object")
    return body


@bp.post("/api/access/whatif")
def whatif():
    """Evaluate a set of centres without saving: ``{"region": CODE, "centers": [...]}``.

    Each centre: ``lon``, ``lat``, ``level``, optional ``id`` (a stored centre), ``radius_m``
    and ``name``; the list is every centre of the scenario (an existing centre left out is
    removed). The answer is :meth:`gis.access_whatif.WhatIf.evaluate`'s (new centres get ids
    -1, -2 … by list position) plus ``seconds``. 400 names the malformed centre; 404 for an
    unknown region.
    """
    start = time.perf_counter()
    body = _json_body()
    unknown = sorted(set(body) - {"region", "centers"})
    if unknown:
        abort(400, description=f"unknown field {unknown[0]!r}: send region and centers")
    region = _region(body.get("region"))
    centers = body.get("centers")
    if not isinstance(centers, list):
        abort(400, description="centers must be a list of centres")
    if len(centers) > MAX_CENTERS:
        abort(400, description=f"centers: more than {MAX_CENTERS:,} centres")
    for n, item in enumerate(centers):
        if not isinstance(item, dict):
            abort(400, description=f"centre {n + 1}: must be an object with lon, lat, level")
    with db() as conn:
        session = whatif_session(conn)
    if region is not None and region not in session.regions:
        abort(404, description=f"region {region} is not in the regions table")
    try:
        out = session.evaluate(centers, region=region)
    except WhatIfError as err:
        abort(400, description=str(err))
    out["seconds"] = round(time.perf_counter() - start, 4)
    return jsonify(out)


@bp.post("/api/centers")
def create_center():
    """Store a new service centre: ``{"name", "level", "lon", "lat", "radius_m"?, "status"?}``.

    ``status`` is ``planned`` (the default) or ``candidate``. 201 with the stored centre;
    400 naming the field at fault, and nothing stored.
    """
    body = _json_body()
    try:
        with db() as conn:  # one transaction: stored only if everything passed
            center = insert_center(conn, body)
    except CenterError as err:
        return jsonify(error=str(err), field=err.field, status=400), 400
    return jsonify(center), 201

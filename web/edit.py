"""The grid editing page (``/edit``): redraw, split, merge, delete and copy grids on the map.

- ``GET /edit?region=<community>&layer=governance|party`` — the community's grids of one layer,
  editable (Leaflet-Geoman, vendored), the other layer faint, the buildings with their household
  counts, and a panel where every edit is previewed (households, residents and buildings per
  grid before and after, buildings changing grid, clipped neighbours, new holes, coverage KPIs)
  before it is saved; undo, redo and the history of a grid. ``&grid=<id>`` selects a grid.
- ``GET /edit`` with no region, or a region above a community — the communities to choose from.

The page only calls the grid editing API (:mod:`web.grids_api`); ``static/js/edit.js`` wires the
editing plugin to it.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for

from gis import coverage_layers, layers
from web.assets import PAGE_ASSETS
from web.db import db
from web.edit_map import GRID_LAYERS, build_edit_map, fetch_edit_data, page_state
from web.i18n import Labels, pick_lang
from web.maps import render_parts

bp = Blueprint("edit", __name__)

def _asset_url(path: str) -> str:
    return url_for("static", filename=f"vendor/{path}")


def _args() -> tuple[str | None, str, int | None]:
    """``region``, ``layer`` and ``grid`` from the query, validated (400 when malformed)."""
    try:
        region = layers.check_region_code(request.args.get("region") or None)
    except ValueError as err:
        abort(400, description=str(err))
    layer = request.args.get("layer") or "governance"
    if layer not in GRID_LAYERS:
        abort(400, description=f"layer must be one of {', '.join(GRID_LAYERS)}, not {layer!r}")
    grid = request.args.get("grid") or None
    if grid is not None and not grid.isdigit():
        abort(400, description=f"grid must be a grid id, not {grid!r}")
    return region, layer, int(grid) if grid else None


@bp.get("/edit")
def page():
    """The editing page of a community, or the list of communities to choose from."""
    lang = pick_lang(request.args.get("lang"), current_app.config["LANG"])
    labels = Labels(lang)
    region, layer, grid = _args()
    keep_lang = lang if lang != current_app.config["LANG"] else None

    def link(endpoint: str = "edit.page", **args) -> str:
        return url_for(endpoint, **args, lang=keep_lang)

    switch_url = url_for("edit.page", region=region, layer=layer, grid=grid,
                         lang="en" if lang == "zh" else "zh")
    try:
        with db() as conn:
            level = layers.region_summary(conn, region=region)["region"] if region else None
            if level is None or level["level"] != "community":
                return render_template(
                    "edit_choose.html", L=labels, lang=lang, link=link, region=region,
                    trail=coverage_layers.region_trail(conn, region) if region else [],
                    communities=layers.communities(conn, region=region)["features"],
                    switch_url=switch_url, layers=GRID_LAYERS)
            data = fetch_edit_data(conn, community=region)
    except layers.RegionNotFoundError as err:
        abort(404, description=str(err))
    m, layer_vars = build_edit_map(
        data, layer=layer, lang=lang, basemap=current_app.config["BASEMAP"],
        tianditu_key=current_app.config["TIANDITU_KEY"], asset_url=_asset_url)
    state = page_state(data, layer=layer, labels=labels, layer_vars=layer_vars, select=grid,
                       urls={"grids": url_for("grids_api.create"),
                             "merge": url_for("grids_api.merge"),
                             "layer": url_for("api.layer", layer="grids", region=region),
                             "page": link(region=region, layer=layer)})
    return render_template(
        "edit.html", map=render_parts(m), L=labels, lang=lang, link=link, data=data,
        region=region, layer=layer, other=state["other"], state=state,
        geoman_js=_asset_url(PAGE_ASSETS["geoman.js"]),
        geoman_css=_asset_url(PAGE_ASSETS["geoman.css"]),
        switch_url=switch_url)

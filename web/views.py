"""HTML pages: the map of the district (``/``) and the coverage page of a region (``/coverage``).

The coverage page also serves its gap list as files (``/coverage/download.csv|xlsx|geojson``).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from gis import coverage_layers, layers
from gis.coverage import KPI_SHARES, RegionError
from gis.io import export
from web.coverage_map import build_coverage_map, fetch_coverage_data, fetch_gaps
from web.db import db
from web.i18n import Labels, pick_lang
from web.maps import build_map, fetch_map_data, render_parts

bp = Blueprint("views", __name__)

# what a region or grid that is not there raises, in gis.layers, gis.coverage and the page data
NOT_FOUND = (layers.RegionNotFoundError, RegionError, coverage_layers.GridNotFoundError)

# pages whose links keep the view "with the plan" (``planned=1``)
PLAN_ENDPOINTS = frozenset({"views.coverage", "views.coverage_download", "access.page"})

DOWNLOADS = {
    "csv": ("text/csv; charset=utf-8", lambda d: export.gaps_to_csv(
        d["shown"], region_names=d["names"])),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             lambda d: export.gaps_to_xlsx(d["shown"], region_names=d["names"])),
    "geojson": ("application/geo+json", lambda d: export.gaps_to_geojson(d["features"])),
}


def _asset_url(path: str) -> str:
    return url_for("static", filename=f"vendor/{path}")


def edit_url(lang: str):
    """Grid properties → the URL of the grid's editing page (for the grid popups)."""
    keep_lang = lang if lang != current_app.config["LANG"] else None
    return lambda p: url_for("edit.page", region=p["community_code"], layer=p["layer"],
                             grid=p["id"], lang=keep_lang)


@bp.get("/")
def index():
    """The map page: boundaries, grids, buildings and service centres with a legend."""
    lang = pick_lang(request.args.get("lang"), current_app.config["LANG"])
    try:
        region = layers.check_region_code(request.args.get("region") or None)
    except ValueError as err:
        abort(400, description=str(err))
    try:
        with db() as conn:
            data = fetch_map_data(conn, region=region)
    except layers.RegionNotFoundError as err:
        abort(404, description=str(err))
    m = build_map(data, lang=lang, basemap=current_app.config["BASEMAP"],
                  tianditu_key=current_app.config["TIANDITU_KEY"], asset_url=_asset_url,
                  edit_url=edit_url(lang))
    other_lang = "en" if lang == "zh" else "zh"
    switch_args = {"lang": other_lang, **({"region": region} if region else {})}
    keep_lang = lang if lang != current_app.config["LANG"] else None

    def link(endpoint: str = "views.index", **args) -> str:
        return url_for(endpoint, **args, lang=keep_lang)

    return render_template(
        "index.html", map=render_parts(m), summary=data["summary"], L=Labels(lang), lang=lang,
        link=link, region=region, switch_url=url_for("views.index", **switch_args),
    )


def planned_arg() -> bool:
    """The ``planned`` query parameter ("with the plan": ``1``; absent or ``0``: without).

    A value that is neither gets 400.
    """
    value = request.args.get("planned")
    if value in (None, "", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    abort(400, description=f"planned must be 1 or 0, not {value!r}")


def _coverage_args() -> tuple[str | None, str | None]:
    """The ``region`` and ``grid`` query parameters, validated (400 when malformed).

    A grid without a region is looked for in the community its code starts with.
    """
    try:
        grid = coverage_layers.check_grid_code(request.args.get("grid") or None)
        region = layers.check_region_code(request.args.get("region")
                                          or (grid[:12] if grid else None))
    except ValueError as err:
        abort(400, description=str(err))
    return region, grid


@bp.get("/coverage")
def coverage():
    """The coverage page of ``?region=CODE`` (one grid of a community with ``&grid=CODE``).

    The map colours grids and buildings by status and has a layer per gap kind; beside it, the
    KPIs, the drill-down links, the downloads and the table of gaps. Coverage that was never
    computed for the region is computed (and stored) first. With ``&planned=1`` the planned
    centres count as serving ("with the plan"); stored results of the other view are
    recomputed.
    """
    lang = pick_lang(request.args.get("lang"), current_app.config["LANG"])
    region, grid = _coverage_args()
    planned = planned_arg()
    try:
        with db() as conn:
            data = fetch_coverage_data(conn, region=region, grid=grid, planned=planned)
    except NOT_FOUND as err:
        abort(404, description=str(err))
    m, layer_vars = build_coverage_map(
        data, lang=lang, basemap=current_app.config["BASEMAP"],
        tianditu_key=current_app.config["TIANDITU_KEY"], asset_url=_asset_url,
        edit_url=edit_url(lang))
    keep_lang = lang if lang != current_app.config["LANG"] else None

    def link(endpoint: str = "views.coverage", **args) -> str:
        if endpoint in PLAN_ENDPOINTS:  # the view with the plan stays on
            args.setdefault("planned", 1 if planned else None)
        return url_for(endpoint, **args, lang=keep_lang)

    placed = {f["id"] for f in data["features"]["features"] if f["geometry"]}
    return render_template(
        "coverage.html", map=render_parts(m), map_name=m.get_name(), layer_vars=layer_vars,
        L=Labels(lang), lang=lang, link=link, data=data, region=region, grid=grid,
        report=data["shown"], kpis=data["report"].kpis, shares=KPI_SHARES, placed=placed,
        computed_at=data["computed_at"].astimezone().strftime("%Y-%m-%d %H:%M")
        if data["computed_at"] else None,
        switch_url=url_for("views.coverage", region=region, grid=grid,
                           planned=1 if planned else None,
                           lang="en" if lang == "zh" else "zh"),
        planned=planned, plan_toggle_url=link(region=region, grid=grid,
                                              planned=None if planned else 1),
        run_url=url_for("api.coverage_run", region=region, planned=1 if planned else None),
    )


@bp.get("/coverage/download.<any(csv, xlsx, geojson):fmt>")
def coverage_download(fmt: str):
    """The gaps of ``?region=CODE`` (``&grid=CODE``, ``&planned=1``) as CSV, XLSX or GeoJSON."""
    region, grid = _coverage_args()
    planned = planned_arg()
    try:
        with db() as conn:
            data = fetch_gaps(conn, region=region, grid=grid, planned=planned)
            data["names"] = coverage_layers.region_names(conn, region=region)
    except NOT_FOUND as err:
        abort(404, description=str(err))
    mimetype, render = DOWNLOADS[fmt]
    filename = f"coverage-{grid or region or 'all'}{'-planned' if planned else ''}.{fmt}"
    return Response(render(data), content_type=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

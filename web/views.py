"""HTML pages: the home page is the Folium map of the district (or of ``?region=CODE``)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for

from gis import layers
from web.db import db
from web.i18n import Labels, pick_lang
from web.maps import build_map, fetch_map_data, render_parts

bp = Blueprint("views", __name__)


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
                  tianditu_key=current_app.config["TIANDITU_KEY"],
                  asset_url=lambda path: url_for("static", filename=f"vendor/{path}"))
    other_lang = "en" if lang == "zh" else "zh"
    switch_args = {"lang": other_lang, **({"region": region} if region else {})}
    return render_template(
        "index.html", map=render_parts(m), summary=data["summary"], L=Labels(lang), lang=lang,
        switch_url=url_for("views.index", **switch_args),
    )

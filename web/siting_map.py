"""The siting page's map: boundaries, buildings, existing centres, and layers for the answer.

The folium map draws what does not depend on a run — boundaries, buildings (neutral until a run
colours them by the site serving them), existing centres with their radius. The page script
(``static/js/siting.js``) adds the proposed sites (numbered markers, radius circles) and the
building → site lines to the empty layer groups, and recolours the buildings, from the answer of
``POST /api/siting/run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import folium

from gis import coverage_layers, layers
from gis.access import LEVELS
from gis.config import Norms, get_settings
from gis.siting_data import MODELS, SOURCES
from web.i18n import Labels
from web.maps import (
    COMMUNITY_COLOR,
    LEVEL_COLORS,
    STREET_COLOR,
    add_centers,
    add_geojson,
    esc,
    expand_bbox,
    finish_map,
    new_map,
    num,
    region_rows,
    swatch_box,
    swatch_line,
)

__all__ = ["NEW_LEVELS", "SITE_PALETTE", "build_siting_map", "fetch_siting_data", "page_state"]

# the order a planner picks the level of new sites in (the most common first)
NEW_LEVELS = ("grid", "community", "street", "building")
SOURCE_ORDER = ("network", "candidates", "units", "public")
# one colour per new site (no red or orange: red marks the uncovered)
SITE_PALETTE = ("#1f6fd1", "#8e44ad", "#00897b", "#2e7d32", "#6d4c41", "#c2185b", "#3949ab",
                "#7cb342", "#0097a7", "#5e35b1", "#827717", "#ad1457")
COLORS = {"existing": "#9db89a", "beyond": "#d7191c", "none": "#d8d3ca", "covered": "#3a9a5b"}
BUILDING_STYLE = {"color": "#4a4036", "weight": 0.6, "fillOpacity": 0.88}
# pane → z-index (Leaflet's overlayPane, where the buildings go, is 400; markers are 600)
PANES = {"gm-radius": 360, "gm-bounds": 390, "gm-lines": 450}
# existing centres further than this outside the region are not drawn (they still count)
SHOW_MARGIN_M = 1000.0

SITING_CSS = """
<style>
.leaflet-control-layers-expanded { font-size: 12.5px; line-height: 1.35;
    padding: 6px 10px 6px 6px; max-height: calc(100% - 30px); overflow-y: auto; }
.leaflet-control-layers label { margin: 0; }
.leaflet-control-layers input { margin-top: 0; vertical-align: -1px; }
.gm-site-icon { display: flex; align-items: center; justify-content: center; width: 26px;
    height: 26px; border-radius: 50%; color: #fff; font: 700 13px/1 sans-serif;
    border: 2px solid #fff; box-shadow: 0 1px 4px rgba(0,0,0,.55); box-sizing: border-box; }
.gm-legend .gm-site-dot { display: inline-flex; align-items: center; justify-content: center;
    width: 16px; height: 16px; border-radius: 50%; color: #fff; font-size: 10px; flex: none;
    margin: 0 5px; background: #1f6fd1; border: 1.5px solid #fff;
    box-shadow: 0 0 2px rgba(0,0,0,.6); }
.gm-legend .gm-split { display: inline-flex; flex: none; margin: 0 6px; }
.gm-legend .gm-split i { display: inline-block; width: 5px; height: 10px; }
</style>
"""


def fetch_siting_data(conn, *, region: str | None,
                      norms: Norms | None = None) -> dict[str, Any]:
    """What the siting page draws before any run: the region, its buildings and centres.

    Returns
    -------
    dict
        ``summary``, ``focus`` (bbox), ``trail``, ``children``, ``streets``,
        ``communities``, ``buildings`` (the region's) and ``centers`` (the existing centres
        near the region).

    Raises
    ------
    LookupError
        If ``region`` is not in the database.
    """
    norms = norms or get_settings().norms
    summary = layers.region_summary(conn, region=region)  # checks the region first
    data: dict[str, Any] = {
        "summary": summary, "focus": summary.get("bbox"),
        "trail": coverage_layers.region_trail(conn, region) if region else [],
        "children": coverage_layers.child_regions(conn, region),
        "streets": layers.streets(conn, region=region),
        "communities": layers.communities(conn, region=region),
        "buildings": layers.buildings(conn, region=region),
    }
    centers = layers.service_centers(conn, norms=norms)
    box = expand_bbox(data["focus"], SHOW_MARGIN_M) if data["focus"] and region else None
    data["centers"] = {"type": "FeatureCollection", "features": [
        f for f in centers["features"] if f["properties"]["status"] == "existing"
        and (box is None or (box[0] <= f["geometry"]["coordinates"][0] <= box[2]
                             and box[1] <= f["geometry"]["coordinates"][1] <= box[3]))]}
    return data


def siting_rows(labels: Labels) -> list[tuple[str, str, Callable[[dict], str]]]:
    """Popup rows of a building (the page script fills the siting ones after a run)."""
    return [
        ("name", labels["field.name"], lambda p: esc(p["name"] or p["code"] or p["id"])),
        ("residents", labels["field.residents"], lambda p: num(p["residents"], labels)),
        ("site", labels["siting.popup_site"], lambda p: esc(labels["siting.not_run"])),
        ("walk", labels["siting.popup_walk"], lambda p: "—"),
        ("covered", labels["siting.popup_covered"], lambda p: "—"),
    ]


def siting_legend(labels: Labels) -> str:
    """The legend: building colours, new sites, existing centre levels, radius, boundaries."""
    def row(swatch: str, text: str) -> str:
        return f'<div class="gm-row">{swatch}<span>{esc(text)}</span></div>'

    split = ('<span class="gm-split">' + "".join(
        f'<i style="background:{c}"></i>' for c in SITE_PALETTE[:3]) + "</span>")
    rows = [f'<div class="gm-legend-sub">{esc(labels["siting.legend_buildings"])}</div>',
            row(split, labels["siting.legend_new"]),
            row(swatch_box(COLORS["existing"]), labels["siting.legend_existing"]),
            row(swatch_box(COLORS["beyond"]), labels["siting.legend_beyond"]),
            row(swatch_box(COLORS["none"]), labels["siting.legend_none"]),
            row('<span class="gm-site-dot">1</span>', labels["siting.legend_site"]),
            f'<div class="gm-legend-sub">{esc(labels["legend.center_levels"])}</div>']
    rows += [f'<div class="gm-row"><span class="gm-dot" style="background:{hex_}"></span>'
             f'<span>{esc(labels.value("level", lv))}</span></div>'
             for lv, (_, hex_) in LEVEL_COLORS.items()]
    rows += [row('<span class="gm-ring"></span>', labels["layer.radius"]),
             row(swatch_line(COMMUNITY_COLOR, None, 2), labels["layer.communities"])]
    return ('<div class="gm-legend" id="gm-legend">'
            f'<div class="gm-legend-title">{esc(labels["legend.title"])}</div>'
            + "".join(rows) + "</div>")


def build_siting_map(data: Mapping[str, Any], *, lang: str = "zh", basemap: str = "none",
                     tianditu_key: str = "", asset_url: Callable[[str], str] | None = None
                     ) -> tuple[folium.Map, dict[str, Any]]:
    """Build the siting map of ``data`` (see :func:`fetch_siting_data`).

    Returns
    -------
    folium.Map
        The map, its assets localized.
    dict
        The JavaScript variables the page script works on: ``map``, ``buildings`` and the
        layer groups ``sites``, ``radius``, ``lines``.
    """
    labels = Labels(lang)
    m = new_map(data["focus"], basemap=basemap, tianditu_key=tianditu_key)
    m.options["zoomSnap"] = 0.25
    for pane, z_index in PANES.items():
        folium.map.CustomPane(pane, z_index=z_index,
                              pointer_events=pane == "gm-bounds").add_to(m)
    add_geojson(m, data["communities"], name=labels["layer.communities"],
                rows=region_rows(labels, street=False), pane="gm-bounds",
                style=lambda f: {"color": COMMUNITY_COLOR, "weight": 2.2, "fill": False})
    add_geojson(m, data["streets"], name=labels["layer.streets"],
                rows=region_rows(labels, street=True), pane="gm-bounds",
                style=lambda f: {"color": STREET_COLOR, "weight": 3.5, "dashArray": "10 4",
                                 "fill": False})
    buildings = add_geojson(
        m, data["buildings"], name=labels["siting.layer_buildings"], rows=siting_rows(labels),
        tooltip_field="name", style=lambda f: {**BUILDING_STYLE, "fillColor": COLORS["none"]},
        highlight=lambda f: {"weight": 2, "color": "#000000"})
    # their radius circles would hide the colours that matter here: on demand only
    add_centers(m, data["centers"], labels, show_radius=False)
    groups = {}
    for key, name in (("radius", labels["siting.layer_radius"]),
                      ("lines", labels["siting.layer_lines"]),
                      ("sites", labels["siting.layer_sites"])):
        group = folium.FeatureGroup(name=name, show=True)
        group.add_to(m)
        groups[key] = group.get_name()
    finish_map(m, data["focus"], legend=siting_legend(labels), extra_css=SITING_CSS,
               asset_url=asset_url)
    return m, {"map": m.get_name(), "buildings": buildings.get_name(), **groups}


def page_state(data: Mapping[str, Any], *, labels: Labels, region: str | None,
               urls: Mapping[str, str], layer_vars: Mapping[str, Any],
               norms: Norms | None = None) -> dict[str, Any]:
    """The JSON the page script starts from: region, norms, labels, colours, API URLs, layers."""
    norms = norms or get_settings().norms
    keys = [k for k in labels if k.startswith("siting.")] + [
        "value.yes", "value.no", "unit.m", "field.level", "field.radius", "punct.colon",
        "field.residents", "status.existing"]
    return {
        "region": region,
        "norm_radius": {lv: norms.radius_for_level(lv) for lv in LEVELS},
        "models": list(MODELS), "sources": [s for s in SOURCE_ORDER if s in SOURCES],
        "levels": {lv: labels.value("level", lv) for lv in LEVELS},
        "palette": list(SITE_PALETTE), "colors": COLORS, "building_style": BUILDING_STYLE,
        "residents": {str(f["id"]): f["properties"]["residents"] or 0
                      for f in data["buildings"]["features"]},
        "lang": labels.lang, "labels": {k: labels[k] for k in keys}, "urls": dict(urls),
        "layers": dict(layer_vars),
    }

"""The grid editing page's map and the state its script starts from.

The folium map draws only what an edit does not change — the community outline and the
basemap — and holds empty layer groups (the grids being edited, the other layer as a faint
reference, the buildings with their household counts, the preview overlays) that
``static/js/edit.js`` fills from :func:`page_state` and redraws after every saved edit. The
script makes the grids editable with the vendored Leaflet-Geoman and talks to the grid editing
API (:mod:`web.grids_api`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import folium

from gis import coverage_layers, layers
from gis.config import Norms, get_settings
from web.i18n import Labels
from web.maps import (
    COMMUNITY_COLOR,
    GOVERNANCE_COLOR,
    KIND_COLORS,
    PARTY_COLOR,
    PARTY_DASH,
    esc,
    finish_map,
    new_map,
    swatch_box,
    swatch_line,
)

__all__ = ["GRID_LAYERS", "LAYER_COLORS", "PREVIEW_COLORS", "build_edit_map", "fetch_edit_data",
           "page_state"]

GRID_LAYERS = ("governance", "party")
LAYER_COLORS = {"governance": GOVERNANCE_COLOR, "party": PARTY_COLOR}
# what a preview marks on the map: buildings changing grid, area lost or left uncovered, lines
PREVIEW_COLORS = {"moved": "#ffd21f", "lost": "#d7191c", "line": "#6a1b9a", "new": "#2e7d32"}
# pane → z-index (Leaflet's overlayPane, where the editable grids go, is 400; markers 600)
PANES = {"gm-buildings": 380, "gm-other": 390, "gm-bounds": 395, "gm-preview": 450,
         "gm-labels": 460}

# the grid properties the script needs (the rest of gis.layers.grids' stays on the server)
GRID_KEYS = ("id", "code", "name", "layer", "version", "households", "residents", "buildings",
             "heads", "branches")
BUILDING_KEYS = ("id", "name", "code", "kind", "households", "residents")

EDIT_CSS = """
<style>
.leaflet-control-layers-expanded { font-size: 12.5px; line-height: 1.35;
    padding: 6px 10px 6px 6px; }
.leaflet-control-layers label { margin: 0; }
.leaflet-control-layers input { margin-top: 0; vertical-align: -1px; }
.gm-legend .gm-hatch { display: inline-block; width: 14px; height: 10px; flex: none;
    margin: 0 6px; border: 1.5px solid #d7191c;
    background: repeating-linear-gradient(45deg, #d7191c 0 2px, transparent 2px 5px); }
.gm-legend .gm-moved { display: inline-block; width: 14px; height: 10px; flex: none;
    margin: 0 6px; border: 2.5px solid #ffd21f; background: #f0b43c; }
</style>
"""


def fetch_edit_data(conn, *, community: str) -> dict[str, Any]:
    """What the editing page shows of ``community``: its outline, grids and buildings.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection.
    community : str
        12-digit code of a community.

    Returns
    -------
    dict
        ``summary`` (:func:`gis.layers.region_summary`), ``trail``, ``community`` (the outline
        FeatureCollection), ``grids`` (both layers) and ``buildings``.

    Raises
    ------
    ValueError
        If the code is malformed or is not a community's.
    gis.layers.RegionNotFoundError
        If the region is not in the database.
    """
    summary = layers.region_summary(conn, region=community)  # checks the region first
    if (summary.get("region") or {}).get("level") != "community":
        raise ValueError(f"region {community} is not a community: grids are edited within one "
                         "community")
    return {
        "summary": summary,
        "trail": coverage_layers.region_trail(conn, community),
        "community": layers.communities(conn, region=community),
        "grids": layers.grids(conn, region=community),
        "buildings": layers.buildings(conn, region=community),
    }


def edit_legend(labels: Labels, layer: str) -> str:
    """The legend: the edited layer, the other one, buildings and what a preview marks."""
    other = "party" if layer == "governance" else "governance"

    def row(swatch: str, text: str) -> str:
        return f'<div class="gm-row">{swatch}<span>{esc(text)}</span></div>'

    dash = PARTY_DASH if layer == "party" else None
    rows = [
        row(swatch_line(LAYER_COLORS[layer], dash, 2.5), labels[f"layer.grids_{layer}"]),
        row(swatch_line(LAYER_COLORS[other], PARTY_DASH if other == "party" else "3 3", 1.5),
            labels["edit.layer_other"].format(layer=labels[f"layer.grids_{other}"])),
        row(swatch_line("#111111", "6 4", 3), labels["edit.legend_selected"]),
        row(swatch_line(COMMUNITY_COLOR, None, 2), labels["layer.communities"]),
        row(swatch_box(KIND_COLORS["residential"]), labels["edit.legend_buildings"]),
        f'<div class="gm-legend-sub">{esc(labels["edit.legend_preview"])}</div>',
        row('<span class="gm-moved"></span>', labels["edit.legend_moved"]),
        row('<span class="gm-hatch"></span>', labels["edit.legend_lost"]),
        row(swatch_line(PREVIEW_COLORS["line"], "6 4", 2.5), labels["edit.legend_line"]),
    ]
    return ('<div class="gm-legend" id="gm-legend">'
            f'<div class="gm-legend-title">{esc(labels["legend.title"])}</div>'
            + "".join(rows) + "</div>")


def build_edit_map(data: Mapping[str, Any], *, layer: str, lang: str = "zh",
                   basemap: str = "none", tianditu_key: str = "",
                   asset_url: Callable[[str], str] | None = None
                   ) -> tuple[folium.Map, dict[str, str]]:
    """Build the editing map of ``data`` (see :func:`fetch_edit_data`) for one grid layer.

    Returns
    -------
    folium.Map
        The map, its assets localized.
    dict
        The JavaScript variables the page script works on: ``map`` and the layer groups
        ``grids``, ``other``, ``buildings`` and ``preview``.
    """
    labels = Labels(lang)
    other = "party" if layer == "governance" else "governance"
    bbox = data["summary"].get("bbox")
    m = new_map(bbox, basemap=basemap, tianditu_key=tianditu_key)
    m.options["zoomSnap"] = 0.25
    for pane, z_index in PANES.items():
        folium.map.CustomPane(pane, z_index=z_index, pointer_events=False).add_to(m)
    # the outline is for looking at and snapping to: clicks go through to the map (drawing)
    folium.GeoJson(data["community"], name=labels["layer.communities"], pane="gm-bounds",
                   interactive=False, smooth_factor=0.5,
                   style_function=lambda f: {"color": COMMUNITY_COLOR, "weight": 2.5,
                                             "fill": False}).add_to(m)
    groups: dict[str, str] = {}
    for key, name in (("buildings", labels["edit.layer_buildings"]),
                      ("other", labels["edit.layer_other"].format(
                          layer=labels[f"layer.grids_{other}"])),
                      ("grids", labels[f"layer.grids_{layer}"]),
                      ("preview", labels["edit.layer_preview"])):
        group = folium.FeatureGroup(name=name, show=True)
        group.add_to(m)
        groups[key] = group.get_name()
    finish_map(m, bbox, legend=edit_legend(labels, layer), extra_css=EDIT_CSS,
               asset_url=asset_url)
    return m, {"map": m.get_name(), **groups}


def _trim(fc: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f["properties"]["id"], "geometry": f["geometry"],
         "properties": {k: f["properties"].get(k) for k in keys}}
        for f in fc["features"]]}


def page_state(data: Mapping[str, Any], *, layer: str, labels: Labels, urls: Mapping[str, str],
               layer_vars: Mapping[str, str], select: int | None = None,
               norms: Norms | None = None) -> dict[str, Any]:
    """The JSON the page script starts from.

    Parameters
    ----------
    data : mapping
        :func:`fetch_edit_data`'s answer.
    layer : str
        The layer being edited, ``governance`` or ``party``.
    labels : Labels
    urls : mapping
        ``grids`` (the API's ``/api/grids``), ``merge``, ``layer`` (GeoJSON of the
        community's grids, to reload after an edit), ``communities`` (renumber) and ``page``.
    layer_vars : mapping
        :func:`build_edit_map`'s JavaScript variables.
    select : int, optional
        A grid to select when the page opens.
    norms : Norms, optional
        The settings' by default (the household norm is shown beside each grid).
    """
    norms = norms or get_settings().norms
    region = data["summary"]["region"]
    keys = [k for k in labels if k.startswith(("edit.", "share.", "gap.", "grid_layer."))]
    keys += ["field.households", "field.residents", "field.buildings", "punct.colon"]
    return {
        "community": {"code": region["code"], "name": region["name"]},
        "layer": layer, "other": "party" if layer == "governance" else "governance",
        "grids": _trim(data["grids"], GRID_KEYS),
        "buildings": _trim(data["buildings"], BUILDING_KEYS),
        "norms": {"households_min": norms.grid_households_min,
                  "households_max": norms.grid_households_max},
        "colors": {"layers": LAYER_COLORS, "party_dash": PARTY_DASH, "kinds": KIND_COLORS,
                   "preview": PREVIEW_COLORS},
        "select": select, "lang": labels.lang, "labels": {k: labels[k] for k in keys},
        "urls": dict(urls), "layers": dict(layer_vars),
    }

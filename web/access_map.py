"""The access page's map: buildings coloured by walking band, isochrones, and the page state.

Stored results come from :mod:`gis.access_store` (KPIs, per building, isochrones); the
base layers from :mod:`gis.layers`. The folium map draws what does
not change in a what-if — boundaries, isochrones, the buildings with their first colours and
popups — and holds empty layer groups (centres, radius circles, building→centre lines) that
``static/js/access.js`` fills and redraws from :func:`page_state` as the planner moves centres.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import folium
import shapely
from shapely.geometry import shape

from gis import coverage_layers, layers
from gis.access import LEVELS
from gis.access_store import (
    building_access,
    ensure_access,
    isochrone_features,
    load_access_report,
    serving_statuses,
)
from gis.config import Norms, get_settings
from web.i18n import Labels
from web.maps import (
    COMMUNITY_COLOR,
    LEVEL_COLORS,
    STATUS_ICONS,
    STREET_COLOR,
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

__all__ = ["BAND_PALETTE", "NEW_LEVELS", "access_text", "band_colors", "band_key", "band_text",
           "build_access_map", "fetch_access_data", "page_state"]

# the order a planner picks the level of a new centre in (the most common first)
NEW_LEVELS = ("grid", "community", "street", "building")
# the bands in ascending order (green, yellow-green, orange, …), then beyond and unreachable
BAND_PALETTE = ("#1a9850", "#b5cf32", "#f39c34", "#e8684a", "#c0392b")
BEYOND_COLOR = "#d7191c"
UNREACHABLE_COLOR = "#a3a3a3"
LINE_OPACITY = 0.75
# pane → z-index (Leaflet's overlayPane, where the buildings go, is 400; markers are 600)
PANES = {"gm-iso": 350, "gm-radius": 360, "gm-bounds": 390, "gm-lines": 450}
# centres further than this outside the region (beyond its bounding box) are not drawn, unless
# they serve one of its buildings; they still take part in every what-if
SHOW_MARGIN_M = 1000.0

BUILDING_STYLE = {"color": "#4a4036", "weight": 0.6, "fillOpacity": 0.88}

ACCESS_CSS = """
<style>
.leaflet-control-layers-expanded { font-size: 12.5px; line-height: 1.35;
    padding: 6px 10px 6px 6px; max-height: calc(100% - 30px); overflow-y: auto; }
.leaflet-control-layers label { margin: 0; }
.leaflet-control-layers input { margin-top: 0; vertical-align: -1px; }
.gm-popup .gm-access { font-weight: 600; }
.gm-legend .gm-iso { display: inline-block; width: 14px; height: 10px; flex: none;
    margin: 0 6px; border: 1px solid; }
</style>
"""


# bands ------------------------------------------------------------------------------------------

def band_colors(bands_m: Sequence[float]) -> dict[str, str]:
    """Colour of each band key (``"300"`` …), of ``beyond`` and of ``unreachable``."""
    keys = [f"{b:g}" for b in sorted(bands_m)]
    colors = {k: BAND_PALETTE[min(i, len(BAND_PALETTE) - 1)] for i, k in enumerate(keys)}
    colors.update(beyond=BEYOND_COLOR, unreachable=UNREACHABLE_COLOR)
    return colors


def band_key(row: Mapping[str, Any] | None) -> str:
    """The band of a building's access row: ``"300"`` …, ``beyond`` or ``unreachable``."""
    if row is None or not row.get("reachable", row.get("walk_m") is not None) \
            or row.get("walk_m") is None:
        return "unreachable"
    band = row.get("walk_band_m")
    return "beyond" if band is None else f"{float(band):g}"


def band_text(key: str, labels: Labels, bands_m: Sequence[float]) -> str:
    """The label of a band key (``300 m 以内``, ``超过 1,000 m``, ``不可达``)."""
    if key == "unreachable":
        return labels["access.band_unreachable"]
    if key == "beyond":
        return labels["access.band_beyond"].format(band=f"{max(bands_m):,g}")
    return labels["access.band_within"].format(band=f"{float(key):,g}")


def _metres(value: float | None) -> str:
    return "—" if value is None else f"{round(float(value)):,}"


def access_text(row: Mapping[str, Any] | None, names: Mapping[int, str],
                labels: Labels) -> str:
    """The popup line of a building's access, e.g. ``步行 640 m（直线 410 m）至 XX 党群服务站``.

    Parameters
    ----------
    row : mapping or None
        ``center_id``, ``walk_m``, ``straight_m`` (and ``reachable``) of the building.
    names : mapping
        Centre id → name.
    labels : Labels

    Returns
    -------
    str
        Escaped HTML text.
    """
    if row is None or row.get("walk_m") is None or row.get("center_id") is None:
        return esc(labels["access.unreachable"])
    return esc(labels["access.popup"].format(
        walk=_metres(row["walk_m"]), straight=_metres(row["straight_m"]),
        center=names.get(row["center_id"], f"#{row['center_id']}")))


# data --------------------------------------------------------------------------------------------

def fetch_access_data(conn, *, region: str | None, norms: Norms | None = None,
                      planned: bool = False) -> dict[str, Any]:
    """Everything the access page shows for ``region``, computing access first if stale.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection; commit it to keep a computation made here.
    region : str or None
        12-digit region code; None for everything.
    norms : Norms, optional
        The settings' norms by default.
    planned : bool, default False
        Count the planned centres as serving ("with the plan"): access is recomputed when the
        stored results are of the other view.

    Returns
    -------
    dict
        ``report`` (:class:`gis.access_store.AccessReport` of the region), ``planned``,
        ``computed``
        (whether access was computed for this request), ``summary``, ``trail``, ``children``,
        ``streets``, ``communities``, ``buildings`` (the region's, each with its ``access``
        row), ``centers`` (every stored centre, with ``shown``: whether the page draws it),
        ``isochrones`` (of the drawn existing centres) and ``focus`` (the bbox to fit).

    Raises
    ------
    ValueError
        If ``region`` is malformed.
    LookupError
        If ``region`` is not in the database.
    """
    norms = norms or get_settings().norms
    summary = layers.region_summary(conn, region=region)  # checks the region first
    computed = ensure_access(conn, region=region, norms=norms, planned=planned)
    data: dict[str, Any] = {
        "report": load_access_report(conn, region=region, norms=norms),
        "planned": planned, "computed": computed, "summary": summary, "focus": summary.get("bbox"),
        "trail": coverage_layers.region_trail(conn, region) if region else [],
        "children": coverage_layers.child_regions(conn, region),
        "streets": layers.streets(conn, region=region),
        "communities": layers.communities(conn, region=region),
    }
    buildings = layers.buildings(conn, region=region)
    rows = building_access(conn, building_ids=[f["id"] for f in buildings["features"]])
    serving = set()
    for f in buildings["features"]:
        row = rows.get(f["id"])
        f["properties"]["access"] = row
        if row and row["center_id"] is not None:
            serving.add(row["center_id"])
    data["buildings"] = buildings
    centers = layers.service_centers(conn, norms=norms)
    box = expand_bbox(data["focus"], SHOW_MARGIN_M) if data["focus"] and region else None
    for f in centers["features"]:
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"][:2]
        p["shown"] = (box is None or p["id"] in serving
                      or (box[0] <= lon <= box[2] and box[1] <= lat <= box[3]))
    data["centers"] = centers
    drawn = [f["properties"]["id"] for f in centers["features"]
             if f["properties"]["shown"] and f["properties"]["status"] in serving_statuses(planned)]
    data["isochrones"] = isochrone_features(conn, center_ids=drawn)
    return data


def _point(geometry: Mapping[str, Any] | None) -> list[float] | None:
    """``[lat, lon]`` of a building's point on surface (where the engine measures from)."""
    if not geometry:
        return None
    p = shapely.point_on_surface(shape(geometry))
    return [round(p.y, 7), round(p.x, 7)]


def page_state(data: Mapping[str, Any], *, labels: Labels, norms: Norms | None = None,
               urls: Mapping[str, str], layer_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON the page script starts from: centres, buildings, KPIs, labels, layer names.

    Parameters
    ----------
    data : mapping
        As returned by :func:`fetch_access_data`.
    labels : Labels
    norms : Norms, optional
    urls : mapping
        ``whatif`` and ``centers``: the API endpoints the script posts to.
    layer_vars : mapping
        As returned by :func:`build_access_map`.

    Returns
    -------
    dict
        ``region``, ``bands``, ``colors``, ``norm_radius`` (level → m), ``levels``
        (level → ``{"label", "icon_color", "color"}``), ``centers`` (every existing centre:
        the scenario the page starts from), ``others`` (the planned and candidate centres
        drawn), ``buildings`` (id → ``{"point", "name", "residents", "center_id", "walk_m",
        "straight_m", "band", "within"}``), ``kpis`` (the stored ones), ``labels``, ``urls``,
        ``layers``. In the view with the plan (``data["planned"]``), the planned centres are
        in ``centers`` (they serve), not in ``others``.
    """
    norms = norms or get_settings().norms
    bands = [f"{b:g}" for b in sorted(norms.walk_bands_m)]
    serving = serving_statuses(data.get("planned", False))
    centers, others = [], []
    for f in data["centers"]["features"]:
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"][:2]
        item = {"id": p["id"], "name": p["name"], "level": p["level"], "status": p["status"],
                "lon": lon, "lat": lat,
                "radius_m": None if p["radius_is_norm"] else float(p["radius_m"]),
                "shown": p["shown"]}
        if p["status"] in serving:
            centers.append(item)  # all of them: each takes part in the what-if
        elif p["shown"]:
            others.append(item)
    buildings = {}
    for f in data["buildings"]["features"]:
        p, row = f["properties"], f["properties"]["access"]
        buildings[str(f["id"])] = {
            "point": _point(f["geometry"]), "name": p["name"] or p["code"] or str(p["id"]),
            "residents": p["residents"] or 0,
            "center_id": row["center_id"] if row else None,
            "walk_m": row["walk_m"] if row else None,
            "straight_m": row["straight_m"] if row else None,
            "band": band_key(row), "within": bool(row and row["within_radius_walk"]),
        }
    keys = ["access.popup", "access.unreachable", "access.band_within", "access.band_beyond",
            "access.band_unreachable", "access.new_name", "access.moved_name", "value.yes",
            "value.no", "unit.m", "field.level", "field.status", "field.radius",
            "access.served", "access.served_within", "access.remove", "access.restore",
            "access.reset_position", "access.save_planned", "access.saved", "access.save_failed",
            "access.kind_existing", "access.kind_new", "access.kind_moved", "access.kind_saved",
            "access.add_to_scenario", "access.status_stored", "access.status_scenario",
            "access.changes", "access.evaluating", "access.failed", "access.placing",
            "access.name", "access.removed_list", "access.no_changes", "access.in_ms",
            "access.norm", "access.zoom_to", "status.planned", "status.candidate",
            "status.existing", "access.iso_stale", "punct.colon"]
    levels = {lv: {"label": labels.value("level", lv), "icon_color": LEVEL_COLORS[lv][0],
                   "color": LEVEL_COLORS[lv][1]} for lv in LEVELS}
    return {
        "region": data["report"].region.get("code"),
        "bands": bands, "max_band": f"{max(norms.walk_bands_m):,g}",
        "colors": band_colors(norms.walk_bands_m),
        "building_style": BUILDING_STYLE, "line_opacity": LINE_OPACITY,
        "norm_radius": {lv: norms.radius_for_level(lv) for lv in LEVELS},
        "levels": levels, "new_levels": list(NEW_LEVELS), "status_icons": STATUS_ICONS,
        "centers": centers, "others": others, "buildings": buildings,
        "kpis": data["report"].kpis, "lang": labels.lang,
        "labels": {**{k: labels[k] for k in keys},
                   **({"access.status_stored": labels["plan.status_stored"]}
                      if data.get("planned") else {})},
        "urls": dict(urls), "layers": dict(layer_vars),
    }


# the map -----------------------------------------------------------------------------------------

def access_rows(labels: Labels, names: Mapping[int, str],
                bands_m: Sequence[float]) -> list[tuple[str, str, Callable[[dict], str]]]:
    """Popup rows of a building on the access map (the page script rewrites the access ones)."""
    def snap(p: dict) -> str:
        row = p["access"]
        if row is None or row["snap_m"] is None:
            return labels["value.none"]
        text = num(round(row["snap_m"]), labels, labels["unit.m"])
        return text + (esc(labels["access.long_snap"]) if row["long_snap"] else "")

    return [
        ("name", labels["field.name"], lambda p: esc(p["name"] or p["code"] or p["id"])),
        ("residents", labels["field.residents"], lambda p: num(p["residents"], labels)),
        ("access", labels["access.walk_access"],
         lambda p: f'<span class="gm-access">{access_text(p["access"], names, labels)}</span>'),
        ("band", labels["access.band"],
         lambda p: esc(band_text(band_key(p["access"]), labels, bands_m))),
        ("within", labels["access.within_radius"],
         lambda p: labels["value.yes"] if p["access"] and p["access"]["within_radius_walk"]
         else labels["value.no"]),
        ("snap", labels["access.snap"], snap),
    ]


def access_legend(labels: Labels, colors: Mapping[str, str], bands_m: Sequence[float]) -> str:
    """The legend: building bands, isochrones, centre levels, radius, lines."""
    def row(swatch: str, text: str) -> str:
        return f'<div class="gm-row">{swatch}<span>{esc(text)}</span></div>'

    rows = [f'<div class="gm-legend-sub">{esc(labels["access.legend_bands"])}</div>']
    rows += [row(swatch_box(color), band_text(key, labels, bands_m))
             for key, color in colors.items()]
    rows.append(f'<div class="gm-legend-sub">{esc(labels["legend.center_levels"])}</div>')
    rows += [f'<div class="gm-row"><span class="gm-dot" style="background:{hex_}"></span>'
             f'<span>{esc(labels.value("level", lv))}</span></div>'
             for lv, (_, hex_) in LEVEL_COLORS.items()]
    rows += [
        row('<span class="gm-ring"></span>', labels["layer.radius"]),
        row('<span class="gm-ring" style="border-style:dashed"></span>',
            labels["access.legend_changed"]),
        row(f'<span class="gm-iso" style="background:{colors[f"{min(bands_m):g}"]}33;'
            f'border-color:{colors[f"{min(bands_m):g}"]}"></span>', labels["access.isochrones"]),
        row(swatch_line(colors[f"{min(bands_m):g}"], None, 1), labels["access.lines"]),
        row(swatch_line(COMMUNITY_COLOR, None, 2), labels["layer.communities"]),
    ]
    return ('<div class="gm-legend" id="gm-legend">'
            f'<div class="gm-legend-title">{esc(labels["legend.title"])}</div>'
            + "".join(rows) + "</div>")


def build_access_map(data: Mapping[str, Any], *, lang: str = "zh", basemap: str = "none",
                     tianditu_key: str = "", asset_url: Callable[[str], str] | None = None,
                     norms: Norms | None = None) -> tuple[folium.Map, dict[str, Any]]:
    """Build the access map of ``data`` (see :func:`fetch_access_data`).

    Parameters
    ----------
    data : mapping
        As returned by :func:`fetch_access_data`.
    lang : str, default "zh"
        Label language, ``zh`` or ``en``.
    basemap, tianditu_key, asset_url
        As for :func:`web.maps.build_map`.
    norms : Norms, optional
        The settings' norms by default.

    Returns
    -------
    folium.Map
        The map, its assets localized.
    dict
        The JavaScript variables the page script works on: ``map``, ``buildings``,
        ``isochrones`` (band key → layer), ``centers``, ``radius``, ``lines``, ``others``
        (layer groups the script fills).
    """
    norms = norms or get_settings().norms
    labels = Labels(lang)
    bands = sorted(norms.walk_bands_m)
    colors = band_colors(bands)
    m = new_map(data["focus"], basemap=basemap, tianditu_key=tianditu_key)
    m.options["zoomSnap"] = 0.25
    for pane, z_index in PANES.items():
        folium.map.CustomPane(pane, z_index=z_index,
                              pointer_events=pane == "gm-bounds").add_to(m)
    names = {f["properties"]["id"]: f["properties"]["name"]
             for f in data["centers"]["features"]}

    add_geojson(m, data["communities"], name=labels["layer.communities"],
                rows=region_rows(labels, street=False), pane="gm-bounds",
                style=lambda f: {"color": COMMUNITY_COLOR, "weight": 2.2, "fill": False})
    add_geojson(m, data["streets"], name=labels["layer.streets"],
                rows=region_rows(labels, street=True), pane="gm-bounds",
                style=lambda f: {"color": STREET_COLOR, "weight": 3.5, "dashArray": "10 4",
                                 "fill": False})
    iso_vars = {}
    by_band: dict[str, list] = {}
    for f in data["isochrones"]["features"]:
        by_band.setdefault(f"{f['properties']['band_m']:g}", []).append(f)
    for i, band in enumerate(bands):
        key = f"{band:g}"
        color = colors[key]
        layer = add_geojson(
            m, {"type": "FeatureCollection", "features": by_band.get(key, [])},
            name=labels["access.isochrone_layer"].format(band=f"{band:,g}"),
            rows=[("name", labels["field.name"], lambda p: esc(p["name"]))],
            style=lambda f, c=color: {"color": c, "weight": 1, "opacity": 0.5,
                                      "fillColor": c, "fillOpacity": 0.07},
            show=i == 0, pane="gm-iso", interactive=False)
        iso_vars[key] = layer.get_name()

    buildings = add_geojson(
        m, data["buildings"], name=labels["access.layer_buildings"],
        rows=access_rows(labels, names, bands), tooltip_field="name",
        style_key=lambda p: band_key(p["access"]),
        style=lambda f: {**BUILDING_STYLE,
                         "fillColor": colors.get(f["properties"]["style_key"],
                                                 UNREACHABLE_COLOR)},
        highlight=lambda f: {"weight": 2, "color": "#000000"})

    groups = {}
    # filled by the page script (radius circles and lines go to the gm-radius / gm-lines panes)
    for key, name, show in (("radius", labels["layer.radius"], True),
                            ("lines", labels["access.lines"], True),
                            ("centers", labels["access.layer_centers"], True),
                            ("others", labels["access.layer_others"], False)):
        group = folium.FeatureGroup(name=name, show=show)
        group.add_to(m)
        groups[key] = group.get_name()

    finish_map(m, data["focus"], legend=access_legend(labels, colors, bands),
               extra_css=ACCESS_CSS, asset_url=asset_url)
    return m, {"map": m.get_name(), "buildings": buildings.get_name(), "isochrones": iso_vars,
               **groups}

"""The Folium map of a region: boundaries, grids, buildings, service centres, legend.

The layers come from :mod:`gis.layers` as GeoJSON; this module only styles them, turns their
properties into popup text in the chosen language, and makes every asset local
(:func:`web.assets.localize`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import folium
from branca.element import Element

from gis import layers
from web.assets import localize
from web.i18n import Labels

__all__ = ["BASEMAPS", "add_basemap", "add_centers", "add_geojson", "build_map", "building_rows",
           "esc", "expand_bbox", "fetch_map_data", "finish_map", "grid_rows", "legend_html",
           "new_map", "num", "region_rows", "render_parts", "swatch_box", "swatch_line"]

BASEMAPS = ("none", "osm", "tianditu", "gaode")

# styles ------------------------------------------------------------------------------------------
STREET_COLOR = "#5b2a86"
COMMUNITY_COLOR = "#333333"
GOVERNANCE_COLOR = "#1f6fd1"
PARTY_COLOR = "#d7261e"
PARTY_DASH = "8 5"
BACKGROUND = "#f3f1ec"

KIND_COLORS = {
    "residential": "#f0b43c",
    "office": "#4f7fe0",
    "market": "#e8684a",
    "park": "#4cb782",
    "public": "#9270ca",
    "school": "#37b3c9",
    "other": "#9a9a9a",
}

# Leaflet.awesome-markers colour name, and the same colour in hex for circles and the legend
LEVEL_COLORS = {
    "street": ("darkred", "#a23336"),
    "community": ("red", "#d63e2a"),
    "grid": ("orange", "#f69730"),
    "building": ("purple", "#d252b9"),
}
STATUS_ICONS = {"existing": "flag", "planned": "hourglass-half", "candidate": "circle-question"}

TILES = {
    "osm": [("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap contributors",
             "abc", 19)],
    # 天地图 (needs a key): vector map + its annotation layer
    "tianditu": [
        ("https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
         "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
         "&TILECOL={x}&tk={key}", "© 天地图", "01234567", 18),
        ("https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
         "&LAYER=cva&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
         "&TILECOL={x}&tk={key}", "© 天地图", "01234567", 18),
    ],
    # 高德: GCJ-02 tiles. Data are stored in WGS84, so they appear shifted by 100–700 m on it.
    "gaode": [("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
               "&x={x}&y={y}&z={z}", "© 高德地图", "1234", 18)],
}


# text helpers ------------------------------------------------------------------------------------

def esc(value: Any) -> str:
    """Escape for HTML, and for the JS template literals folium wraps popup HTML in."""
    return html.escape(str(value)).replace("`", "&#96;").replace("$", "&#36;")


def _names(names: Sequence[str] | None, labels: Labels, suffix: str = "") -> str:
    if not names:
        return labels["value.none"]
    sep = "、" if labels.lang == "zh" else ", "
    return sep.join(esc(n) + suffix for n in names)


def num(value: Any, labels: Labels, unit: str = "") -> str:
    """Format a number with thousands separators (one decimal unless whole), or "none"."""
    if value is None:
        return labels["value.none"]
    number = float(value)
    text = f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"
    return f"{text} {unit}".rstrip()


def _popup_fc(fc: Mapping[str, Any], rows: Sequence[tuple[str, Callable[[dict], str]]],
              style_key: Callable[[dict], str] | None = None) -> dict[str, Any]:
    """Replace each feature's properties by the popup texts (already escaped) of ``rows``.

    Only what the page needs is embedded: the id, the popup texts and, when styles differ
    between features, the ``style_key`` the style function looks at.
    """
    def props(p: dict) -> dict:
        out = {"id": p.get("id", p.get("code"))}
        if style_key is not None:
            out["style_key"] = style_key(p)
        out.update((key, fmt(p)) for key, fmt in rows)
        return out

    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "id": f.get("id"), "geometry": f["geometry"],
                          "properties": props(f["properties"])} for f in fc["features"]]}


def add_geojson(parent: folium.map.Layer | folium.Map, fc: Mapping[str, Any], *, name: str,
                rows: Sequence[tuple[str, str, Callable[[dict], str]]],
                style: Callable[[dict], dict], highlight: Callable[[dict], dict] | None = None,
                style_key: Callable[[dict], str] | None = None,
                tooltip_field: str | None = None, show: bool = True,
                **options: Any) -> folium.GeoJson:
    """Add one styled GeoJSON layer with a popup table (field label → text).

    Parameters
    ----------
    parent : folium.Map or layer
        Where the layer goes.
    fc : mapping
        A GeoJSON FeatureCollection; only the popup texts of ``rows`` (and the ids) are kept.
    name : str
        The layer's name in the layer control.
    rows : sequence of (key, label, format)
        Popup rows: ``format(properties)`` returns the (escaped) HTML of the cell.
    style, highlight : callable
        Leaflet path style of a feature, normally and under the mouse.
    style_key : callable, optional
        Computes the ``style_key`` property the style functions may look at.
    tooltip_field : str, optional
        Key of ``rows`` shown as a hover tooltip.
    show : bool, default True
        Whether the layer is on when the page opens.
    **options
        Further Leaflet GeoJSON options, e.g. ``pane``.

    Returns
    -------
    folium.GeoJson
        The layer (its ``get_name()`` is the JavaScript variable holding it).
    """
    data = _popup_fc(fc, [(key, fmt) for key, _, fmt in rows], style_key)
    layer = folium.GeoJson(data, name=name, style_function=style, highlight_function=highlight,
                           show=show, smooth_factor=0.5, **options)
    if data["features"]:  # folium's popup checks its fields against the first feature
        layer.add_child(folium.GeoJsonPopup(fields=[k for k, _, _ in rows],
                                            aliases=[label for _, label, _ in rows],
                                            class_name="gm-popup", max_width=360))
        if tooltip_field:
            layer.add_child(folium.GeoJsonTooltip(fields=[tooltip_field], labels=False))
    layer.add_to(parent)
    return layer


# data --------------------------------------------------------------------------------------------

def fetch_map_data(conn, *, region: str | None = None) -> dict[str, Any]:
    """Read every map layer and the summary of ``region`` (see :mod:`gis.layers`).

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection to a gridmap database.
    region : str, optional
        12-digit region code; default: the whole database.

    Returns
    -------
    dict
        ``summary`` (:func:`gis.layers.region_summary`) and one FeatureCollection per key of
        :data:`gis.layers.LAYERS`.
    """
    data: dict[str, Any] = {"summary": layers.region_summary(conn, region=region)}
    for name in layers.LAYERS:
        data[name] = layers.get_layer(conn, name, region=region)
    return data


# the map -----------------------------------------------------------------------------------------

def region_rows(labels: Labels, *, street: bool) -> list[tuple[str, str, Callable]]:
    """Popup rows of a street (``street=True``) or community outline."""
    rows: list[tuple[str, str, Callable]] = [
        ("name", labels["field.name"], lambda p: esc(p["name"])),
        ("code", labels["field.code"], lambda p: esc(p["code"])),
    ]
    if street:
        rows.append(("communities", labels["field.communities"],
                     lambda p: num(p["communities"], labels)))
    else:
        rows.append(("street", labels["field.street"],
                     lambda p: esc(p["parent_name"] or labels["value.none"])))
    rows += [
        ("area", labels["field.area_km2"], lambda p: num(p["area_km2"], labels)),
        ("grids_governance", labels["field.grids_governance"],
         lambda p: num(p["grids_governance"], labels)),
        ("grids_party", labels["field.grids_party"], lambda p: num(p["grids_party"], labels)),
        ("buildings", labels["field.buildings"], lambda p: num(p["buildings"], labels)),
        ("households", labels["field.households"], lambda p: num(p["households"], labels)),
        ("residents", labels["field.residents"], lambda p: num(p["residents"], labels)),
    ]
    return rows


def grid_rows(labels: Labels, *, edit_url: Callable[[dict], str] | None = None
              ) -> list[tuple[str, str, Callable]]:
    """Popup rows of a grid: code, layer, community, counts, staff and branches.

    With ``edit_url`` (grid properties → URL of the grid editing page), a last row links there.
    """
    part = f"（{labels['value.part_time']}）" if labels.lang == "zh" else \
        f" ({labels['value.part_time']})"

    def workers(p: dict) -> str:
        full = [esc(n) for n in p["full_time_workers"]]
        half = [esc(n) + part for n in p["part_time_workers"]]
        return _names(full + half, labels) if full or half else labels["value.none"]

    rows: list[tuple[str, str, Callable]] = [
        ("name", labels["field.name"], lambda p: esc(p["name"])),
        ("code", labels["field.code"], lambda p: esc(p["code"])),
        ("layer", labels["field.grid_layer"], lambda p: labels.value("grid_layer", p["layer"])),
        ("community", labels["field.community"],
         lambda p: esc(p["community_name"] or p["community_code"])),
        ("buildings", labels["field.buildings"], lambda p: num(p["buildings"], labels)),
        ("households", labels["field.households"], lambda p: num(p["households"], labels)),
        ("residents", labels["field.residents"], lambda p: num(p["residents"], labels)),
        ("heads", labels["field.heads"], lambda p: _names(p["heads"], labels)),
        ("workers", labels["field.workers"], workers),
        ("branches", labels["field.branches"], lambda p: _names(p["branches"], labels)),
    ]
    if edit_url is not None:
        rows.append(("edit", labels["edit.popup_row"],
                     lambda p: f'<a class="gm-edit-link" href="{esc(edit_url(p))}">'
                               f'{esc(labels["edit.popup_link"])}</a>'))
    return rows


def building_rows(labels: Labels) -> list[tuple[str, str, Callable]]:
    """Popup rows of a building: kind, size, grid, party groups and responsible members."""
    def kind(p: dict) -> str:
        text = labels.value("kind", p["kind"])
        return f"{text}（{labels.value('form', p['form'])}）" if p.get("form") else text

    return [
        ("name", labels["field.name"], lambda p: esc(p["name"] or p["code"] or p["id"])),
        ("kind", labels["field.kind"], kind),
        ("floors", labels["field.floors"], lambda p: num(p["floors"], labels)),
        ("households", labels["field.households"], lambda p: num(p["households"], labels)),
        ("residents", labels["field.residents"], lambda p: num(p["residents"], labels)),
        ("rental", labels["field.rental"],
         lambda p: labels["value.yes"] if p["is_rental"] else labels["value.no"]),
        ("grid", labels["field.grid"], lambda p: esc(p["grid_code"] or labels["value.none"])),
        ("party_groups", labels["field.party_groups"],
         lambda p: _names(p["party_groups"], labels)),
        ("other_orgs", labels["field.other_orgs"],
         lambda p: _names([o["name"] for o in p["other_orgs"]], labels)),
        ("responsible", labels["field.responsible"],
         lambda p: _names(p["responsible_members"], labels)),
    ]


def _center_popup(p: Mapping[str, Any], labels: Labels) -> str:
    radius = num(p["radius_m"], labels, labels["unit.m"])
    if p["radius_is_norm"]:
        radius += f"（{labels['value.norm']}）" if labels.lang == "zh" else \
            f" ({labels['value.norm']})"
    rows = [
        (labels["field.level"], labels.value("level", p["level"])),
        (labels["field.status"], labels.value("status", p["status"])),
        (labels["field.floor_area"], num(p["floor_area_m2"], labels, labels["unit.m2"])),
        (labels["field.radius"], radius),
        (labels["field.community"], esc(p["region_name"] or p["region_code"]
                                         or labels["value.none"])),
    ]
    cells = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (f'<div class="gm-popup"><div class="gm-popup-title">{esc(p["name"])}</div>'
            f"<table>{cells}</table></div>")


def add_centers(m: folium.Map, fc: Mapping[str, Any], labels: Labels, *,
                show_radius: bool = True) -> None:
    """Add the service centres (markers with popups) and their radius circles (a toggle)."""
    # the radius circles are a separate toggle and must not swallow clicks meant for the
    # grids and buildings beneath them
    radius_group = folium.FeatureGroup(name=labels["layer.radius"], show=show_radius)
    marker_group = folium.FeatureGroup(name=labels["layer.centers"], show=True)
    for f in fc["features"]:
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"][:2]
        icon_color, hex_color = LEVEL_COLORS.get(p["level"], ("gray", "#888888"))
        circle = folium.Circle(
            location=(lat, lon), radius=float(p["radius_m"]), color=hex_color, weight=1,
            opacity=0.6, fill=True, fill_color=hex_color, fill_opacity=0.03,
            dash_array=None if p["status"] == "existing" else "4 4",
        )
        circle.options["interactive"] = False  # folium's path options drop this one
        circle.add_to(radius_group)
        folium.Marker(
            location=(lat, lon),
            icon=folium.Icon(color=icon_color, icon=STATUS_ICONS.get(p["status"], "flag"),
                             prefix="fa"),
            tooltip=folium.Tooltip(esc(p["name"])),
            popup=folium.Popup(_center_popup(p, labels), max_width=320),
        ).add_to(marker_group)
    radius_group.add_to(m)
    marker_group.add_to(m)


def add_basemap(m: folium.Map, basemap: str, *, tianditu_key: str = "") -> None:
    """Add the basemap tiles (nothing for ``none``); raise ValueError when it cannot be used."""
    if basemap == "none":
        return
    if basemap not in TILES:
        raise ValueError(f"unknown basemap {basemap!r}: choose one of {', '.join(BASEMAPS)}")
    if basemap == "tianditu" and not tianditu_key:
        raise ValueError("the tianditu basemap needs a key (TIANDITU_KEY or tianditu_key)")
    for i, (url, attr, subdomains, max_zoom) in enumerate(TILES[basemap]):
        folium.TileLayer(
            tiles=url.replace("{key}", tianditu_key), attr=attr, subdomains=subdomains,
            max_zoom=max_zoom, max_native_zoom=max_zoom, name=f"{basemap}{i}", overlay=i > 0,
            control=False,
        ).add_to(m)


def expand_bbox(bbox: Sequence[float], margin_m: float) -> tuple[float, float, float, float]:
    """``bbox`` (lon/lat: west, south, east, north) grown by ``margin_m`` metres on every side."""
    lat = (bbox[1] + bbox[3]) / 2
    dlat = margin_m / 111_320.0
    dlon = margin_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    return bbox[0] - dlon, bbox[1] - dlat, bbox[2] + dlon, bbox[3] + dlat


def swatch_line(color: str, dash: str | None = None, width: int = 2) -> str:
    """A legend swatch: a (dashed) line as inline SVG."""
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<svg width="26" height="10"><line x1="1" y1="5" x2="25" y2="5" stroke="{color}"'
            f' stroke-width="{width}"{dash_attr}/></svg>')


def swatch_box(color: str, border: str = "#555555") -> str:
    """A legend swatch: a filled box."""
    return (f'<span class="gm-box" style="background:{color};border-color:{border}"></span>')


def legend_html(labels: Labels, *, kinds: Sequence[str] | None = None,
                levels: Sequence[str] | None = None) -> str:
    """Return the HTML of the map legend in the language of ``labels``.

    Parameters
    ----------
    labels : Labels
        Interface labels (:class:`web.i18n.Labels`).
    kinds : sequence of str, optional
        Building kinds to list; default all.
    levels : sequence of str, optional
        Centre levels to list; default all.

    Returns
    -------
    str
        A ``<div class="gm-legend">`` block.
    """
    kinds = kinds or list(KIND_COLORS)
    levels = levels or list(LEVEL_COLORS)
    items = [
        (swatch_line(STREET_COLOR, "10 4", 3), labels["layer.streets"]),
        (swatch_line(COMMUNITY_COLOR, None, 2), labels["layer.communities"]),
        (swatch_line(GOVERNANCE_COLOR, None, 2), labels["layer.grids_governance"]),
        (swatch_line(PARTY_COLOR, PARTY_DASH, 2), labels["layer.grids_party"]),
    ]
    rows = "".join(f'<div class="gm-row">{sw}<span>{text}</span></div>' for sw, text in items)
    kind_rows = "".join(
        f'<div class="gm-row">{swatch_box(KIND_COLORS[k])}<span>{labels.value("kind", k)}'
        f"</span></div>" for k in kinds if k in KIND_COLORS)
    level_rows = "".join(
        f'<div class="gm-row"><span class="gm-dot" style="background:{LEVEL_COLORS[lv][1]}">'
        f'</span><span>{labels.value("level", lv)}</span></div>'
        for lv in levels if lv in LEVEL_COLORS)
    radius_row = (f'<div class="gm-row"><span class="gm-ring"></span>'
                  f'<span>{labels["layer.radius"]}</span></div>')
    return (
        '<div class="gm-legend" id="gm-legend">'
        f'<div class="gm-legend-title">{labels["legend.title"]}</div>{rows}'
        f'<div class="gm-legend-sub">{labels["legend.building_kinds"]}</div>{kind_rows}'
        f'<div class="gm-legend-sub">{labels["legend.center_levels"]}</div>{level_rows}'
        f"{radius_row}</div>"
    )


MAP_CSS = f"""
<style>
.leaflet-container {{ background: {BACKGROUND}; font-family: "Noto Sans CJK SC",
    "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; }}
.gm-popup table {{ border-collapse: collapse; font-size: 13px; }}
.gm-popup th {{ text-align: left; padding: 2px 10px 2px 0; color: #555; white-space: nowrap;
    vertical-align: top; font-weight: 600; }}
.gm-popup td {{ padding: 2px 0; }}
.gm-popup-title {{ font-weight: 700; margin-bottom: 4px; }}
.gm-legend {{ position: absolute; left: 10px; bottom: 52px; z-index: 1000; background: #fff;
    border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,.35); padding: 8px 10px;
    font-size: 12px; line-height: 1.35; max-height: calc(100% - 60px); overflow-y: auto;
    font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
    sans-serif; }}
.gm-legend-title {{ font-weight: 700; font-size: 13px; margin-bottom: 3px; }}
.gm-legend-sub {{ font-weight: 600; margin-top: 5px; color: #444; }}
.gm-legend .gm-row {{ display: flex; align-items: center; gap: 6px; }}
.gm-legend svg {{ flex: none; }}
.gm-box {{ display: inline-block; width: 14px; height: 10px; border: 1px solid; flex: none;
    margin: 0 6px 0 6px; }}
.gm-dot {{ display: inline-block; width: 12px; height: 12px; border-radius: 50%; flex: none;
    margin: 0 7px 0 7px; }}
.gm-ring {{ display: inline-block; width: 18px; height: 18px; border-radius: 50%; flex: none;
    border: 1.5px solid #d63e2a; background: rgba(214,62,42,.08); margin: 0 4px 0 4px; }}
</style>
"""


def build_map(data: Mapping[str, Any], *, lang: str = "zh", basemap: str = "none",
              tianditu_key: str = "", asset_url: Callable[[str], str] | None = None,
              edit_url: Callable[[dict], str] | None = None) -> folium.Map:
    """Build the Folium map of the layers in ``data``.

    Parameters
    ----------
    data : mapping
        As returned by :func:`fetch_map_data`: ``summary`` and the FeatureCollections
        ``streets``, ``communities``, ``grids``, ``buildings``, ``centers``.
    lang : str, default "zh"
        Label language, ``zh`` or ``en``.
    basemap : str, default "none"
        ``none`` (a plain background: nothing is loaded from the internet), ``osm``,
        ``tianditu`` (needs ``tianditu_key``) or ``gaode`` (GCJ-02 tiles: WGS84 data appear
        shifted on it).
    tianditu_key : str, optional
        天地图 key for ``basemap="tianditu"``.
    asset_url : callable, optional
        Maps a path under ``web/static/vendor`` to its URL (see :func:`web.assets.localize`).
    edit_url : callable, optional
        Grid properties → URL of its editing page; grid popups link there when given.

    Returns
    -------
    folium.Map
        The map, fitted to the data, with every JS/CSS asset pointing at the vendored copies.

    Raises
    ------
    ValueError
        If the basemap is unknown or tianditu has no key.
    """
    labels = Labels(lang)
    m = new_map(data["summary"].get("bbox"), basemap=basemap, tianditu_key=tianditu_key)

    grids_by_layer = {
        layer: {"type": "FeatureCollection",
                "features": [f for f in data["grids"]["features"]
                             if f["properties"]["layer"] == layer]}
        for layer in ("governance", "party")
    }
    add_geojson(m, grids_by_layer["governance"], name=labels["layer.grids_governance"],
                 rows=grid_rows(labels, edit_url=edit_url), tooltip_field="name",
                 style=lambda f: {"color": GOVERNANCE_COLOR, "weight": 1.5,
                                  "fillColor": GOVERNANCE_COLOR, "fillOpacity": 0.10},
                 highlight=lambda f: {"weight": 3, "fillOpacity": 0.25})
    # party grids: dashed outlines only, so clicks inside reach the governance grid beneath
    add_geojson(m, grids_by_layer["party"], name=labels["layer.grids_party"],
                 rows=grid_rows(labels, edit_url=edit_url), tooltip_field="name",
                 style=lambda f: {"color": PARTY_COLOR, "weight": 2.5, "dashArray": PARTY_DASH,
                                  "fill": False},
                 highlight=lambda f: {"weight": 4})
    # boundaries above the grids, as outlines only: clicks inside go to the grids
    add_geojson(m, data["communities"], name=labels["layer.communities"],
                 rows=region_rows(labels, street=False),
                 style=lambda f: {"color": COMMUNITY_COLOR, "weight": 2.5, "fill": False})
    add_geojson(m, data["streets"], name=labels["layer.streets"],
                 rows=region_rows(labels, street=True),
                 style=lambda f: {"color": STREET_COLOR, "weight": 4, "dashArray": "10 4",
                                  "fill": False})
    add_centers(m, data["centers"], labels)
    add_geojson(m, data["buildings"], name=labels["layer.buildings"],
                 rows=building_rows(labels), style_key=lambda p: p["kind"], tooltip_field="name",
                 style=lambda f: {"color": "#5a4a3a", "weight": 0.6,
                                  "fillColor": KIND_COLORS.get(f["properties"]["style_key"],
                                                               KIND_COLORS["other"]),
                                  "fillOpacity": 0.85},
                 highlight=lambda f: {"weight": 2, "color": "#000000"})
    finish_map(m, data["summary"].get("bbox"), legend=legend_html(labels), asset_url=asset_url)
    return m


def new_map(bbox: Sequence[float] | None, *, basemap: str = "none",
            tianditu_key: str = "") -> folium.Map:
    """Start a map centred on ``bbox`` (China when None), with the basemap and no data.

    Parameters
    ----------
    bbox : sequence of 4 floats or None
        ``[minx, miny, maxx, maxy]`` in EPSG:4326.
    basemap : str, default "none"
        One of :data:`BASEMAPS`.
    tianditu_key : str, optional
        天地图 key for ``basemap="tianditu"``.

    Returns
    -------
    folium.Map
        The empty map.
    """
    if bbox is None:  # an empty database: show China
        center, zoom = (35.0, 105.0), 4
    else:
        center, zoom = ((bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2), 15
    m = folium.Map(location=center, zoom_start=zoom, tiles=None, control_scale=True, maxZoom=20)
    add_basemap(m, basemap, tianditu_key=tianditu_key)
    return m


def finish_map(m: folium.Map, bbox: Sequence[float] | None, *, legend: str,
               extra_css: str = "", asset_url: Callable[[str], str] | None = None) -> None:
    """Add the layer control, styles and legend, fit to ``bbox`` and localize the assets.

    Parameters
    ----------
    m : folium.Map
        The map with all its layers.
    bbox : sequence of 4 floats or None
        Extent to fit the view to.
    legend : str
        HTML of the legend block.
    extra_css : str, optional
        A further ``<style>`` block (after :data:`MAP_CSS`).
    asset_url : callable, optional
        See :func:`web.assets.localize`.
    """
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    # in the body, so that it comes after (and wins over) the library CSS linked in the head
    m.get_root().html.add_child(Element(MAP_CSS + extra_css), name="gridmap_css")
    m.get_root().html.add_child(Element(legend), name="gridmap_legend")
    if bbox is not None:
        m.fit_bounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], padding=(12, 12))
    localize(m, asset_url=asset_url)


def render_parts(m: folium.Map) -> dict[str, str]:
    """Render the map's figure into the three parts a page template embeds.

    Returns
    -------
    dict
        ``header`` (links, styles: goes in ``<head>``), ``html`` (the map div and legend) and
        ``script`` (goes in a ``<script>`` at the end of ``<body>``).
    """
    figure = m.get_root()
    figure.render()  # lets every element register its header links first
    return {"header": figure.header.render(), "html": figure.html.render(),
            "script": figure.script.render()}

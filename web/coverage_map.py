"""The coverage page's map: grids and buildings coloured by status, one layer per gap kind.

The gaps come from :mod:`gis.coverage_layers` (stored gaps as GeoJSON, which grids and
buildings each concerns, the gaps of each grid), the base layers from :mod:`gis.layers`; this
module only styles them and writes their popups: every gap feature says why it is a gap and what
would fix it (整改建议). Holes, overlaps and overhangs are hatched in red (SVG patterns defined
once on the page); the other gaps are coloured by severity. Stacking is fixed by panes, so that
switching layers on and off in the layer control never buries a small building under a grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import folium
import shapely
from shapely.geometry import shape

from gis import coverage_layers
from gis.coverage import GAP_KINDS, CoverageReport
from web.i18n import Labels
from web.maps import (
    COMMUNITY_COLOR,
    PARTY_DASH,
    STREET_COLOR,
    add_centers,
    add_geojson,
    building_rows,
    esc,
    fetch_map_data,
    finish_map,
    grid_rows,
    new_map,
    region_rows,
    swatch_box,
    swatch_line,
)

__all__ = ["build_coverage_map", "fetch_coverage_data", "fetch_gaps"]

STATUS_COLORS = {"ok": "#2e9d4f", "gap": "#e4572e"}
SEVERITY_COLORS = {"high": "#c62828", "medium": "#ef6c00", "low": "#c9a100"}
# kinds drawn as hatched areas: SVG pattern id and outline colour
HATCHES = {
    "grid_hole": ("gm-hatch-hole", "#d7261e"),
    "grid_overlap": ("gm-hatch-overlap", "#a50f15"),
    "grid_outside_community": ("gm-hatch-outside", "#e65100"),
}
# kinds whose feature is a whole grid: drawn as outlines under the buildings
GRID_KINDS = frozenset({"layer_mismatch", "grid_households_norm", "grid_no_head",
                        "grid_no_worker", "grid_no_branch"})
# pane → z-index (Leaflet's overlayPane, where the status grids go, is 400; markers are 600)
PANES = {"gm-grid-gaps": 410, "gm-hatch": 420, "gm-bounds": 425, "gm-buildings": 430,
         "gm-building-gaps": 440}

# a compact layer control: with a layer per gap kind it is long
COVERAGE_CSS = """
<style>
.leaflet-control-layers-expanded { font-size: 12.5px; line-height: 1.35; padding: 6px 10px 6px 6px;
    max-height: calc(100% - 30px); overflow-y: auto; }
.leaflet-control-layers label { margin: 0; }
.leaflet-control-layers input { margin-top: 0; vertical-align: -1px; }
.gm-popup .gm-gaplist { font-size: 12.5px; }
.gm-popup .gm-remedy { color: #2e6b3a; font-size: 12px; }
.gm-popup .gm-sev { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; }
.gm-popup .gm-sev-high { background: #c62828; } .gm-popup .gm-sev-medium { background: #ef6c00; }
.gm-popup .gm-sev-low { background: #c9a100; }
</style>
"""

_PATTERN = ('<pattern id="{id}" patternUnits="userSpaceOnUse" width="9" height="9"'
            ' patternTransform="rotate({angle})"><rect width="9" height="9" fill="{color}"'
            ' fill-opacity="0.16"/>{bars}</pattern>')
_BAR = '<rect width="{w}" height="{h}" fill="{color}" fill-opacity="0.9"/>'


def _hatch_defs() -> str:
    """The SVG patterns the hatched layers fill with (overlaps are cross-hatched)."""
    patterns = []
    for kind, (pattern_id, color) in HATCHES.items():
        bars = _BAR.format(w=3, h=9, color=color)
        if kind == "grid_overlap":
            bars += _BAR.format(w=9, h=3, color=color)
        angle = -45 if kind == "grid_outside_community" else 45
        patterns.append(_PATTERN.format(id=pattern_id, angle=angle, color=color, bars=bars))
    # not display:none — Chrome and Firefox do not paint patterns defined in hidden SVGs
    return ('<svg class="gm-defs" width="0" height="0" aria-hidden="true"'
            ' style="position:absolute;width:0;height:0"><defs>'
            + "".join(patterns) + "</defs></svg>")


# data --------------------------------------------------------------------------------------------

def _limit(report: CoverageReport, ids: set[int]) -> CoverageReport:
    """The report with only the gaps in ``ids`` (and their counts); the KPIs stay as they are."""
    gaps = [g for g in report.gaps if g["id"] in ids]
    counts = dict.fromkeys(GAP_KINDS, 0)
    for g in gaps:
        counts[g["kind"]] += 1
    return dataclasses.replace(report, gaps=gaps, kpis={**report.kpis, "gap_counts": counts})


def fetch_gaps(conn, *, region: str | None, grid: str | None = None,
               planned: bool = False) -> dict[str, Any]:
    """The coverage report of ``region`` (computed if missing) and its gaps as GeoJSON.

    Parameters
    ----------
    conn : psycopg2 connection
        An open connection; commit it to keep a first computation.
    region : str or None
        12-digit region code; None for everything.
    grid : str, optional
        15-digit code of a grid of ``region`` (a community): only that grid's gaps.
    planned : bool, default False
        Count planned centres as serving ("with the plan"); the stored results are recomputed
        when they were computed for the other view (:func:`gis.coverage_layers.ensure_report`).

    Returns
    -------
    dict
        ``report`` (the whole region's), ``shown`` (the report limited to the grid, or the same
        report) and ``features`` (the shown gaps as a FeatureCollection, same order).

    Raises
    ------
    ValueError
        If a code is malformed.
    LookupError
        :class:`gis.layers.RegionNotFoundError` or :class:`gis.coverage_layers.GridNotFoundError`
        when the region or grid does not exist.
    """
    report = coverage_layers.ensure_report(conn, region=region, planned=planned)
    if grid is None:
        return {"report": report, "shown": report,
                "features": coverage_layers.gap_features(conn, region=region)}
    (cell,) = coverage_layers.grid_gaps(conn, region=region, grid=grid)
    ids = set(cell["gaps"])
    return {"report": report, "shown": _limit(report, ids),
            "features": coverage_layers.gap_features(conn, region=region, ids=sorted(ids))}


def fetch_coverage_data(conn, *, region: str | None, grid: str | None = None,
                        planned: bool = False) -> dict[str, Any]:
    """Everything the coverage page shows, for ``region`` (and optionally one grid of it).

    ``planned`` shows the view with the planned centres counted as serving (see
    :func:`fetch_gaps`).

    Returns
    -------
    dict
        The base layers of :func:`web.maps.fetch_map_data` (``summary``, ``streets``,
        ``communities``, ``grids``, ``buildings``, ``centers``), the keys of :func:`fetch_gaps`,
        ``targets`` (:func:`gis.coverage_layers.gap_targets`), ``trail``, ``children``,
        ``grid_list`` (a community's grids with their gap ids; empty above community level),
        ``grid`` (the entry of the grid shown alone, or None), ``computed_at`` (when coverage
        was last computed) and ``focus`` (the bbox to zoom to).
    """
    data = fetch_gaps(conn, region=region, grid=grid, planned=planned)
    data.update(fetch_map_data(conn, region=region))
    data["targets"] = coverage_layers.gap_targets(conn, region=region)
    data["trail"] = coverage_layers.region_trail(conn, region) if region else []
    data["children"] = coverage_layers.child_regions(conn, region)
    data["computed_at"] = coverage_layers.computed_at(conn, region=region)
    is_community = data["report"].region.get("level") == "community"
    data["grid_list"] = coverage_layers.grid_gaps(conn, region=region) if is_community else []
    data["grid"] = next((g for g in data["grid_list"] if g["code"] == grid), None)
    data["focus"] = data["summary"].get("bbox")
    shapes = [shape(f["geometry"]) for f in data["grids"]["features"]
              if grid is not None and f["properties"]["code"] == grid and f["geometry"]]
    if shapes:
        data["focus"] = list(shapely.union_all(shapes).bounds)
    return data


# popups ------------------------------------------------------------------------------------------

def _gap_list(ids: Sequence[int], gaps: Mapping[int, Mapping[str, Any]], labels: Labels) -> str:
    """HTML list of the gaps ``ids``: kind, explanation and remedy of each."""
    items = []
    for gap_id in ids:
        g = gaps.get(gap_id)
        if g is None:
            continue
        colon = labels["punct.colon"]
        items.append(f'<li><b>{esc(labels["gap." + g["kind"]])}</b>{colon}'
                     f'{esc(g["explanation"])}<div class="gm-remedy">'
                     f'{esc(labels["field.remedy"])}{colon}{esc(g["remedy"])}</div></li>')
    if not items:
        return esc(labels["coverage.status_ok"])
    return '<ul class="gm-gaplist">' + "".join(items) + "</ul>"


def gap_rows(labels: Labels) -> list[tuple[str, str, Callable[[dict], str]]]:
    """Popup rows of a gap feature: kind, severity, object, explanation, remedy."""
    def obj(p: dict) -> str:
        text = labels.value("object_type", p["object_type"])
        return f"{text} {esc(p['object_code'])}" if p.get("object_code") else text

    return [
        ("kind", labels["field.gap_kind"], lambda p: esc(labels["gap." + p["kind"]])),
        ("severity", labels["field.severity"],
         lambda p: f'<span class="gm-sev gm-sev-{esc(p["severity"])}">'
                   f'{esc(labels.value("severity", p["severity"]))}</span>'),
        ("object", labels["field.object"], obj),
        ("explanation", labels["field.explanation"], lambda p: esc(p["explanation"])),
        ("remedy", labels["field.remedy"], lambda p: esc(p["remedy"])),
    ]


def _status_rows(base: list, targets: Mapping[int, Sequence[int]],
                 gaps: Mapping[int, Mapping[str, Any]], labels: Labels) -> list:
    """Popup rows of a grid or building, followed by the gaps that concern it."""
    return [*base, ("gaps", labels["coverage.gaps_here"],
                    lambda p: _gap_list(targets.get(p["id"], ()), gaps, labels))]


# styles ------------------------------------------------------------------------------------------

def _gap_style(kind: str) -> Callable[[dict], dict]:
    """Leaflet path style of the features of one gap kind."""
    if kind in HATCHES:
        pattern, color = HATCHES[kind]
        return lambda f: {"color": color, "weight": 2.5, "dashArray": "6 4", "opacity": 1,
                          "fillColor": f"url(#{pattern})", "fillOpacity": 1}
    if kind in GRID_KINDS:
        return lambda f: {"color": SEVERITY_COLORS.get(f["properties"]["style_key"], "#c62828"),
                          "weight": 3.5, "opacity": 0.95, "dashArray": "2 5",
                          "fillColor": SEVERITY_COLORS.get(f["properties"]["style_key"]),
                          "fillOpacity": 0.08}
    return lambda f: {"color": "#3b0a0a", "weight": 1.5,
                      "fillColor": SEVERITY_COLORS.get(f["properties"]["style_key"], "#c62828"),
                      "fillOpacity": 0.85}


def _gap_pane(kind: str) -> str:
    if kind in HATCHES:
        return "gm-hatch"
    return "gm-grid-gaps" if kind in GRID_KINDS else "gm-building-gaps"


def _status_style(*, fill: float, dash: str | None = None,
                  outline: bool = False) -> Callable[[dict], dict]:
    def style(f: dict) -> dict:
        color = STATUS_COLORS[f["properties"]["style_key"]]
        out = {"color": "#3a3a3a" if outline else color, "weight": 0.8 if outline else 1.8,
               "fillColor": color, "fillOpacity": fill}
        if dash:
            out.update(dashArray=dash, fill=False, weight=2.2)
        return out
    return style


def _by_layer(fc: Mapping[str, Any], layer: str) -> dict[str, Any]:
    return {"type": "FeatureCollection",
            "features": [f for f in fc["features"] if f["properties"]["layer"] == layer]}


# legend ------------------------------------------------------------------------------------------

def coverage_legend(labels: Labels) -> str:
    """The legend of the coverage map (status colours, hatches, severities, outlines)."""
    def row(swatch: str, text: str) -> str:
        return f'<div class="gm-row">{swatch}<span>{esc(text)}</span></div>'

    def hatch(kind: str) -> str:
        pattern, color = HATCHES[kind]
        return (f'<svg width="26" height="14"><rect x="1" y="1" width="24" height="12"'
                f' fill="url(#{pattern})" stroke="{color}" stroke-width="1.5"'
                f' stroke-dasharray="4 2"/></svg>')

    rows = [f'<div class="gm-legend-sub">{esc(labels["coverage.status"])}</div>',
            row(swatch_box(STATUS_COLORS["ok"]), labels["coverage.status_ok"]),
            row(swatch_box(STATUS_COLORS["gap"]), labels["coverage.status_gap"]),
            row(swatch_line(STATUS_COLORS["ok"], PARTY_DASH, 2), labels["layer.grids_party"]),
            f'<div class="gm-legend-sub">{esc(labels["coverage.gap_layers"])}</div>']
    rows += [row(hatch(kind), labels["gap." + kind]) for kind in HATCHES]
    colon = labels["punct.colon"]
    rows += [row(swatch_line(SEVERITY_COLORS["high"], "2 5", 3), labels["coverage.grid_gaps"])]
    rows.append('<div class="gm-row"><span>' + esc(labels["field.severity"] + colon) + "</span>"
                + "".join(f'{swatch_box(color)}<span>{esc(labels.value("severity", s))}</span>'
                          for s, color in SEVERITY_COLORS.items()) + "</div>")
    rows += [row(swatch_line(COMMUNITY_COLOR, None, 2), labels["layer.communities"])]
    return (_hatch_defs() + '<div class="gm-legend" id="gm-legend">'
            f'<div class="gm-legend-title">{esc(labels["legend.title"])}</div>'
            + "".join(rows) + "</div>")


# the map -----------------------------------------------------------------------------------------

def build_coverage_map(data: Mapping[str, Any], *, lang: str = "zh", basemap: str = "none",
                       tianditu_key: str = "", asset_url: Callable[[str], str] | None = None,
                       edit_url: Callable[[dict], str] | None = None
                       ) -> tuple[folium.Map, dict[str, str]]:
    """Build the coverage map of ``data`` (see :func:`fetch_coverage_data`).

    Parameters
    ----------
    data : mapping
        As returned by :func:`fetch_coverage_data`.
    lang : str, default "zh"
        Label language, ``zh`` or ``en``.
    basemap, tianditu_key, asset_url, edit_url
        As for :func:`web.maps.build_map`.

    Returns
    -------
    folium.Map
        The map, zoomed to ``data["focus"]``, its assets localized.
    dict
        Gap kind → JavaScript variable of its layer, for the page script that zooms to a gap
        when its table row is clicked.
    """
    labels = Labels(lang)
    m = new_map(data["focus"], basemap=basemap, tianditu_key=tianditu_key)
    m.options["zoomSnap"] = 0.25  # fit the region snugly: the panel leaves the map narrower
    for pane, z_index in PANES.items():
        folium.map.CustomPane(pane, z_index=z_index, pointer_events=True).add_to(m)
    gaps = {g["id"]: g for g in data["report"].gaps}
    targets = data["targets"]

    def status(ids: Mapping[int, Any]) -> Callable[[dict], str]:
        return lambda p: "gap" if p["id"] in ids else "ok"

    grid_popup = _status_rows(grid_rows(labels, edit_url=edit_url), targets["grid"], gaps,
                              labels)
    add_geojson(m, _by_layer(data["grids"], "governance"),
                name=labels["layer.grids_governance"], rows=grid_popup, tooltip_field="name",
                style_key=status(targets["grid"]), style=_status_style(fill=0.22),
                highlight=lambda f: {"weight": 3, "fillOpacity": 0.4})
    add_geojson(m, _by_layer(data["grids"], "party"), name=labels["layer.grids_party"],
                rows=grid_popup, tooltip_field="name", style_key=status(targets["grid"]),
                style=_status_style(fill=0, dash=PARTY_DASH), highlight=lambda f: {"weight": 4})

    add_geojson(m, data["communities"], name=labels["layer.communities"],
                rows=region_rows(labels, street=False), pane="gm-bounds",
                style=lambda f: {"color": COMMUNITY_COLOR, "weight": 2.5, "fill": False})
    add_geojson(m, data["streets"], name=labels["layer.streets"],
                rows=region_rows(labels, street=True), pane="gm-bounds",
                style=lambda f: {"color": STREET_COLOR, "weight": 4, "dashArray": "10 4",
                                 "fill": False})
    add_geojson(m, data["buildings"], name=labels["layer.buildings"],
                rows=_status_rows(building_rows(labels), targets["building"], gaps, labels),
                tooltip_field="name", style_key=status(targets["building"]), pane="gm-buildings",
                style=_status_style(fill=0.8, outline=True),
                highlight=lambda f: {"weight": 2, "color": "#000000"})
    add_centers(m, data["centers"], labels, show_radius=False)
    # the gap layers last, so that they close the list in the layer control
    shown = data["shown"].kpis["gap_counts"]
    by_kind: dict[str, list] = {}
    for f in data["features"]["features"]:
        if f["geometry"]:  # a gap without a place stays in the table only
            by_kind.setdefault(f["properties"]["kind"], []).append(f)
    layer_vars: dict[str, str] = {}
    for kind in GAP_KINDS:
        if not shown.get(kind):
            continue
        layer = add_geojson(
            m, {"type": "FeatureCollection", "features": by_kind.get(kind, [])},
            name=f'{labels["gap." + kind]} ({shown[kind]})', rows=gap_rows(labels),
            tooltip_field="kind", style_key=lambda p: p["severity"], style=_gap_style(kind),
            highlight=lambda f: {"weight": 4.5}, pane=_gap_pane(kind))
        layer_vars[kind] = layer.get_name()

    finish_map(m, data["focus"], legend=coverage_legend(labels), extra_css=COVERAGE_CSS,
               asset_url=asset_url)
    return m, layer_vars

"""The siting page (``/siting``) and its API: run a model, the coverage curve, adopt the sites.

- ``GET /siting?region=CODE`` — the form (model, k, radius, level, candidate source,
  capacitated, with the plan), the map and the panels the page script fills.
- ``POST /api/siting/run`` ``{"region", "model", "k", "radius_m", "level", "source",
  "capacitated", "planned"}`` — the proposal (:func:`gis.siting_data.proposal`): sites, the
  building each serves, residents within a radius before and after; with ``planned`` the
  adopted planned centres count as already there.
- ``POST /api/siting/curve`` (same fields, ``k_max`` instead of ``k``) — residents covered
  by the best k new sites for k = 0 … K (MCLP).
- ``POST /api/siting/adopt`` ``{"region", "level", "radius_m", "sites": [{"lon", "lat",
  "ref"?, "name"?}]}`` — store the sites as planned centres, in one transaction.

Malformed requests get 400 with ``field`` naming what is wrong; questions the data cannot
answer (k more than the candidates, no walking network …) get 422 with the reason.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for

from gis import layers
from gis.access import LEVELS
from gis.centers import CenterError
from gis.config import get_settings
from gis.coverage import RegionError
from gis.regions import RegionNotFoundError, region_header
from gis.siting import SitingError
from gis.siting_data import (
    MODELS,
    SOURCES,
    adopt_sites,
    build_problem,
    coverage_curve,
    for_region,
    proposal,
    solve,
)
from web.db import db
from web.i18n import Labels, pick_lang
from web.maps import render_parts
from web.siting_map import NEW_LEVELS, build_siting_map, fetch_siting_data, page_state

bp = Blueprint("siting", __name__)

NOT_FOUND = (layers.RegionNotFoundError, RegionError)
RUN_FIELDS = ("region", "model", "k", "radius_m", "level", "source", "capacitated", "planned")
CURVE_FIELDS = ("region", "k_max", "radius_m", "level", "source", "capacitated", "planned")
ADOPT_FIELDS = ("region", "level", "radius_m", "sites")
# a walking radius beyond this is no service radius (and makes every pair a pair)
MAX_RADIUS_M = 5000.0
# the curve solves one MCLP per k
MAX_CURVE_K = 30
DEFAULT_CURVE_K = 10
TIME_LIMIT_S = 60.0
CURVE_TIME_LIMIT_S = 20.0


class FieldError(ValueError):
    """A request field is missing or wrong; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _asset_url(path: str) -> str:
    return url_for("static", filename=f"vendor/{path}")


def _bad(field: str, message: str):
    return jsonify(error=f"{field}: {message}", field=field, status=400), 400


def _body(fields: tuple[str, ...]) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise FieldError("body", "must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise FieldError(unknown[0], f"is not a field (send {', '.join(fields)})")
    return body


def _region(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise FieldError("region", f"must be a 12-digit code, not {value!r}")
    try:
        return layers.check_region_code(value or None)
    except ValueError as err:
        raise FieldError("region", str(err)) from None


def _integer(body: dict, key: str, *, low: int, high: int | None = None,
             required: bool = False) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise FieldError(key, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError(key, f"must be a whole number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise FieldError(key, f"must be a whole number, not {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise FieldError(key, f"must be a whole number, not {value!r}")
    if number < low:
        raise FieldError(key, f"must be at least {low}, not {int(number)}")
    if high is not None and number > high:
        raise FieldError(key, f"must be at most {high}, not {int(number)}")
    return int(number)


def _radius(body: dict) -> float | None:
    value = body.get("radius_m")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError("radius_m", f"must be a number of metres, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise FieldError("radius_m", f"must be a number of metres, not {value!r}") from None
    if not math.isfinite(number) or not 0 < number <= MAX_RADIUS_M:
        raise FieldError("radius_m", f"must be more than 0 and at most {MAX_RADIUS_M:,.0f} m, "
                                   f"not {value!r}")
    return number


def _choice(body: dict, key: str, choices, default: str) -> str:
    value = body.get(key)
    if value is None or value == "":
        return default
    if value not in choices:
        raise FieldError(key, f"must be one of {', '.join(choices)}, not {value!r}")
    return value


def _flag(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise FieldError(key, f"must be true or false, not {value!r}")
    return value


def _problem_args(body: dict) -> dict[str, Any]:
    """The common fields of run and curve, validated."""
    return {"region": _region(body.get("region")),
            "radius_m": _radius(body),
            "level": _choice(body, "level", LEVELS, "grid"),
            "source": _choice(body, "source", SOURCES, "network"),
            "capacitated": _flag(body, "capacitated"),
            "planned": _flag(body, "planned")}


def _build(conn, args: dict[str, Any], *, model: str):
    """The siting problem of the region (404 for an unknown region)."""
    radius = args["radius_m"] or get_settings().norms.radius_for_level(args["level"])
    try:
        region_header(conn, args["region"])
    except RegionNotFoundError as err:
        abort(404, description=str(err))
    data = build_problem(conn, source=args["source"], level=args["level"], radius_m=radius,
                         capacitated=args["capacitated"], planned=args["planned"],
                         # p-median may walk people further than the radius
                         cutoff_m=2 * radius if model == "pmedian" else None)
    data = for_region(conn, data, args["region"])
    if not len(data.demand):
        raise SitingError("no residents live in this region")
    return data


@bp.get("/siting")
def page():
    """The siting page of ``?region=CODE`` (everything when absent), ``&lang=zh|en``."""
    lang = pick_lang(request.args.get("lang"), current_app.config["LANG"])
    try:
        region = _region(request.args.get("region"))
    except FieldError as err:
        abort(400, description=str(err))
    try:
        with db() as conn:
            data = fetch_siting_data(conn, region=region)
    except NOT_FOUND as err:
        abort(404, description=str(err))
    labels = Labels(lang)
    m, layer_vars = build_siting_map(
        data, lang=lang, basemap=current_app.config["BASEMAP"],
        tianditu_key=current_app.config["TIANDITU_KEY"], asset_url=_asset_url)
    keep_lang = lang if lang != current_app.config["LANG"] else None

    def link(endpoint: str = "siting.page", **args) -> str:
        return url_for(endpoint, **args, lang=keep_lang)

    state = page_state(data, labels=labels, region=region, layer_vars=layer_vars, urls={
        "run": url_for("siting.run"), "curve": url_for("siting.curve"),
        "adopt": url_for("siting.adopt"),
        "coverage": link("views.coverage", region=region, planned=1),
        "access": link("access.page", region=region, planned=1)})
    norms = get_settings().norms
    return render_template(
        "siting.html", map=render_parts(m), L=labels, lang=lang, link=link, data=data,
        region=region, state=state, levels=NEW_LEVELS, models=MODELS,
        sources=state["sources"], norm_radius=state["norm_radius"],
        default_radius=norms.radius_for_level(NEW_LEVELS[0]),
        place=data["summary"]["region"]["name"] if data["summary"].get("region")
        else labels["app.all_regions"],
        switch_url=url_for("siting.page", region=region, lang="en" if lang == "zh" else "zh"),
    )


@bp.post("/api/siting/run")
def run():
    """Run a model for a region and return the proposal (see the module docstring)."""
    start = time.perf_counter()
    try:
        body = _body(RUN_FIELDS)
        args = _problem_args(body)
        model = _choice(body, "model", MODELS, "")
        if not model:
            raise FieldError("model", f"is required (one of {', '.join(MODELS)})")
        k = None if model == "lscp" else _integer(body, "k", low=1, required=True)
    except FieldError as err:
        return _bad(err.field, str(err).split(": ", 1)[-1])
    try:
        with db() as conn:
            data = _build(conn, args, model=model)
        built = time.perf_counter()
        solution = solve(data, model=model, k=k, time_limit=TIME_LIMIT_S)
    except SitingError as err:
        return jsonify(error=str(err), status=422), 422
    out = proposal(data, solution)
    out.update(region=args["region"], level=args["level"], source=args["source"],
               capacitated=args["capacitated"], planned=args["planned"], k=k,
               radius_is_norm=args["radius_m"] is None,
               build_seconds=round(built - start, 3),
               total_seconds=round(time.perf_counter() - start, 3))
    return jsonify(out)


@bp.post("/api/siting/curve")
def curve():
    """Residents covered by the best k new sites, k = 0 … ``k_max`` (MCLP)."""
    start = time.perf_counter()
    try:
        body = _body(CURVE_FIELDS)
        args = _problem_args(body)
        k_max = _integer(body, "k_max", low=1, high=MAX_CURVE_K)
    except FieldError as err:
        return _bad(err.field, str(err).split(": ", 1)[-1])
    try:
        with db() as conn:
            data = _build(conn, args, model="mclp")
        top = min(k_max or DEFAULT_CURVE_K, data.problem.n_candidates)
        points = coverage_curve(data, range(top + 1), time_limit=CURVE_TIME_LIMIT_S)
    except SitingError as err:
        return jsonify(error=str(err), status=422), 422
    return jsonify({"region": args["region"], "radius_m": data.radius_m,
                    "demand_weight": float(data.problem.weights.sum()),
                    "candidates": data.problem.n_candidates, "points": points,
                    "seconds": round(time.perf_counter() - start, 3)})


@bp.post("/api/siting/adopt")
def adopt():
    """Store proposed sites as planned centres; 201 with them and the pages that count them."""
    try:
        body = _body(ADOPT_FIELDS)
        region = _region(body.get("region"))
        level = _choice(body, "level", LEVELS, "")
        if not level:
            raise FieldError("level", f"is required (one of {', '.join(LEVELS)})")
        radius = _radius(body)
    except FieldError as err:
        return _bad(err.field, str(err).split(": ", 1)[-1])
    try:
        with db() as conn:  # one transaction: all the sites or none
            centers = adopt_sites(conn, body.get("sites"), level=level, radius_m=radius)
    except CenterError as err:
        return _bad(err.field, str(err).split(": ", 1)[-1])
    keep_lang = request.args.get("lang") or None
    return jsonify({
        "centers": centers,
        "links": {"coverage": url_for("views.coverage", region=region, planned=1,
                                      lang=keep_lang),
                  "access": url_for("access.page", region=region, planned=1,
                                    lang=keep_lang)},
    }), 201

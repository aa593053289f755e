"""Grid editing API (the DESIGN.md contract): preview and commit of every boundary edit.

``POST /api/grids/<id>/preview`` and ``PUT /api/grids/<id>`` with ``{"geometry", "version"}``;
``POST /api/grids`` (create), ``POST /api/grids/<id>/split`` (``{"line", "version"}``),
``POST /api/grids/merge`` (``{"ids", "keep", "versions"}``), ``DELETE /api/grids/<id>?version=N``,
``GET /api/grids/<id>/history``, ``POST /api/grids/<id>/restore`` (``{"version"}``), and
``POST /api/communities/<code>/renumber?layer=…``, ``POST /api/grids/<id>/undelete`` (undo of a
delete or merge), ``POST /api/grids/<id>/copy`` (the other
layer's grid of the same code takes this shape) and ``GET /api/grids/<id>/balance`` (cuts
that bring a grid within the household norm). Add ``?preview=1`` to create, split, merge,
delete, restore and renumber to see the effect without saving. A stale version gets 409, a bad
edit 400 (404 for a grid that does not exist), each with ``{"error", "field"}``; nothing changes.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gis import topology
from web.db import db
from web.user import current_user

bp = Blueprint("grids_api", __name__, url_prefix="/api")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise topology.EditError("body", "must be a JSON object")
    return body


def _preview() -> bool:
    return request.args.get("preview", "").lower() in ("1", "true", "yes")


def _user() -> str:
    return current_user("web")


def _answer(run):
    """Run ``run(conn)`` in one transaction and answer with its result or the error."""
    try:
        with db() as conn:
            result = run(conn)
    except topology.VersionConflictError as err:
        return jsonify(error=str(err), field=err.field), 409
    except topology.EditError as err:
        status = 404 if err.field == "id" and "does not exist" in err.message else 400
        return jsonify(error=str(err), field=err.field), status
    payload = result.to_json() if hasattr(result, "to_json") else result
    return jsonify(payload)


@bp.post("/grids/<int:grid_id>/preview")
def preview(grid_id: int):
    """What a new boundary would do, saved nowhere."""
    body = _safe_body()
    if not isinstance(body, dict):
        return body
    return _answer(lambda conn: topology.reshape_grid(
        conn, grid_id, body.get("geometry"), body.get("version"), commit=False, user=_user()))


@bp.put("/grids/<int:grid_id>")
def update(grid_id: int):
    """Save a new boundary."""
    body = _safe_body()
    if not isinstance(body, dict):
        return body
    return _answer(lambda conn: topology.reshape_grid(
        conn, grid_id, body.get("geometry"), body.get("version"), commit=True, user=_user()))


@bp.post("/grids")
def create():
    """Draw a new grid: ``{"community_code", "layer", "geometry", "name"?}``."""
    body = _safe_body()
    if not isinstance(body, dict):
        return body
    return _answer(lambda conn: topology.create_grid(
        conn, str(body.get("community_code") or ""), str(body.get("layer") or ""),
        body.get("geometry"), name=body.get("name"), commit=not _preview(), user=_user()))


@bp.post("/grids/<int:grid_id>/split")
def split(grid_id: int):
    """Cut a grid with ``{"line", "version"}``."""
    body = _safe_body()
    if not isinstance(body, dict):
        return body
    return _answer(lambda conn: topology.split_grid(
        conn, grid_id, body.get("line"), body.get("version"), commit=not _preview(),
        user=_user()))


@bp.post("/grids/merge")
def merge():
    """Merge ``{"ids", "keep", "versions"}``."""
    body = _safe_body()
    if not isinstance(body, dict):
        return body
    return _answer(lambda conn: topology.merge_grids(
        conn, body.get("ids") or [], body.get("keep"), body.get("versions") or [],
        commit=not _preview(), user=_user()))


@bp.delete("/grids/<int:grid_id>")
def delete(grid_id: int):
    """Remove a grid: ``?version=N``."""
    return _answer(lambda conn: topology.delete_grid(
        conn, grid_id, request.args.get("version"), commit=not _preview(), user=_user()))


@bp.get("/grids/<int:grid_id>/history")
def history(grid_id: int):
    """Every stored version of the grid, newest first."""
    return _answer(lambda conn: {"id": grid_id,
                                 "versions": topology.grid_history(conn, grid_id)})


@bp.post("/grids/<int:grid_id>/restore")
def restore(grid_id: int):
    """Bring back ``{"version"}`` (optionally checked against ``{"current_version"}``)."""
    body = _safe_body()
    if not isinstance(body, dict):
        return body
    return _answer(lambda conn: topology.restore_grid(
        conn, grid_id, body.get("version"), current_version=body.get("current_version"),
        commit=not _preview(), user=_user()))


@bp.post("/grids/<int:grid_id>/undelete")
def undelete(grid_id: int):
    """Bring back a deleted or merged-away grid under its id, code and name (undo)."""
    return _answer(lambda conn: topology.undelete_grid(
        conn, grid_id, commit=not _preview(), user=_user()))


@bp.post("/grids/<int:grid_id>/copy")
def copy(grid_id: int):
    """Make the other layer's grid of the same code coincide with this one."""
    return _answer(lambda conn: topology.copy_to_other_layer(
        conn, grid_id, commit=not _preview(), user=_user()))


@bp.get("/grids/<int:grid_id>/balance")
def balance(grid_id: int):
    """Cuts between buildings that bring the grid within the household norm (to preview)."""
    return _answer(lambda conn: topology.suggest_balance_split(conn, grid_id))


@bp.post("/communities/<code>/renumber")
def renumber(code: str):
    """Renumber the grids of a community (``?layer=governance|party``)."""
    layer = request.args.get("layer", "governance")
    return _answer(lambda conn: {"community_code": code, "layer": layer,
                                 "changes": topology.renumber(conn, code, layer,
                                                              commit=not _preview(),
                                                              user=_user())})


def _safe_body():
    try:
        return _body()
    except topology.EditError as err:
        return jsonify(error=str(err), field=err.field), 400

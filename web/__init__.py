"""The gridmap web app: an application factory and its blueprints.

``create_app()`` builds the Flask app; ``gridmap serve`` runs it. Pages live in
:mod:`web.views`, the JSON API in :mod:`web.api`, the Folium maps in :mod:`web.maps` (home) and
:mod:`web.coverage_map` (coverage); the access page and its what-if API in
:mod:`web.access`, its map in :mod:`web.access_map`; the siting page and its API in
:mod:`web.siting`, its map in :mod:`web.siting_map`; the grid editing page in :mod:`web.edit`
(its map in :mod:`web.edit_map`) over the grid editing API of :mod:`web.grids_api`; file
downloads of every layer in :mod:`web.export`; uploads, checked and imported in the background,
in :mod:`web.imports`. The app
reads and writes the database only through :mod:`gis` functions.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from gis.config import get_settings
from web.i18n import LABELS
from web.maps import BASEMAPS


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask application.

    Parameters
    ----------
    config : dict, optional
        Overrides of the app config. Keys used by gridmap: ``DATABASE_URL`` (libpq URL; default
        the configured database, see :func:`gis.db.connection.database_url`), ``LANG`` (``zh``
        by default, or ``en``), ``BASEMAP`` (``none``, ``osm``, ``tianditu``, ``gaode``; default
        from the settings) and ``TIANDITU_KEY``.

    Returns
    -------
    Flask
        The application.

    Raises
    ------
    ValueError
        If ``LANG`` or ``BASEMAP`` is not supported, or the tianditu basemap has no key.
    """
    settings = get_settings()
    app = Flask(__name__)
    app.config.from_mapping(
        DATABASE_URL=None,
        LANG="zh",
        BASEMAP=settings.basemap,
        TIANDITU_KEY=settings.tianditu_key,
    )
    if config:
        app.config.update(config)
    if app.config["LANG"] not in LABELS:
        raise ValueError(f"LANG {app.config['LANG']!r} is not one of {', '.join(LABELS)}")
    if app.config["BASEMAP"] not in BASEMAPS:
        raise ValueError(f"BASEMAP {app.config['BASEMAP']!r} is not one of {', '.join(BASEMAPS)}")
    if app.config["BASEMAP"] == "tianditu" and not app.config["TIANDITU_KEY"]:
        raise ValueError("BASEMAP 'tianditu' needs TIANDITU_KEY")
    # Chinese stays readable in the JSON, and GeoJSON keeps its member order
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from web import access, api, edit, export, grids_api, imports, siting, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(access.bp)
    app.register_blueprint(grids_api.bp)
    app.register_blueprint(siting.bp)
    app.register_blueprint(edit.bp)
    app.register_blueprint(export.bp)
    app.register_blueprint(imports.bp)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        # the API answers in JSON, whichever error it is (unknown routes included)
        if request.path.startswith("/api/"):
            return jsonify(error=err.description, status=err.code), err.code
        return err

    return app

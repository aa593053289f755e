"""The import page (``/import``) and its API: check a file against a layer, then import it.

- ``GET /import`` — the form (layer, file, coordinate system, sheet), the map the file's features
  are previewed on and the panels the page script (``static/js/import.js``) fills.
- ``POST /api/import`` — multipart: ``layer``, ``files`` (one GeoJSON, GeoPackage, zipped
  Shapefile, CSV or XLSX file, or a ``.shp`` with its ``.dbf``/``.shx``/``.prj``/``.cpg``;
  for ``osm`` one ``.osm`` or ``.osm.pbf`` extract), ``crs`` (EPSG code, optional), ``coords``
  (``wgs84``, ``gcj02``, ``bd09``), ``sheet`` (optional), ``mapping`` (optional: a ``.json``
  or ``.csv`` column mapping file, :func:`gis.io.schema.load_mapping_file`), ``encoding``
  (optional: ``UTF-8``, ``GBK`` or ``GB18030``, instead of the one detected), ``district``
  (``osm`` only, required: the 12-digit district code) and ``dry_run`` (``1``: check only,
  the default; ``0``: import). Answers 202 ``{"job", "url"}``: the work runs in a background
  thread. Instead of ``files`` an import (``dry_run=0``) may give ``from_job``: the id of a
  check that passed (no rejected rows), whose upload is then imported without sending it again.
  Its layer and options (the mapping file compared by content) must be those of the check
  (else 409 ``options_changed``); a check that is unknown (404 ``check_unknown``), running,
  failed or with rejected rows (409 ``check_running``, ``check_failed``, ``check_rejected``),
  already imported or whose upload has expired (410 ``check_used``, ``check_expired``) starts
  nothing.
- ``GET /api/import/jobs/<id>`` — ``{"job", "state": running|done|failed, "phase", "read",
  "total", "report", "error", "error_kind", "reusable", "preview"}``; ``?preview=0`` leaves
  the preview (GeoJSON of the file's first features) out. ``reusable``: the check's upload is
  kept for a ``from_job`` import.

The layers are those of :data:`gis.io.schema.LAYERS`, imported by
:func:`gis.io.layer_import.import_file`, ``network`` (the walking network,
:func:`gis.io.network_import.import_network`, which replaces the stored one) and ``osm`` (an
OpenStreetMap extract, :func:`gis.io.osm.import_osm`: regions, buildings, centres and the walking
network of one district; its preview is the extract's buildings).

An import is all or nothing: a file with a rejected row, or one that cannot be read, writes
nothing. Uploaded files go to a folder of their own under ``IMPORT_DIR`` (default
``var/imports``) and are deleted when the job ends, except a passed check's: that folder is
kept for ``IMPORT_KEEP_CHECK_SECONDS`` (default 30 minutes; 0: never kept) and deleted when it
expires, when the registry forgets the check, or by the import that uses it, once that ends
(and, like any folder left behind, when an app starts a day later). A malformed request gets
400 with ``code`` (what the page translates), ``field`` and an English ``error``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import folium
import numpy as np
from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from gis import layers
from gis.config import get_settings
from gis.db.connection import connection
from gis.io.preview import count_rows, osm_preview, preview_features
from gis.io.schema import LAYERS
from gis.regions import single_district
from web.db import db
from web.i18n import Labels, pick_lang
from web.import_jobs import ImportJob, JobRegistry, Options, RequestError, remove_stale_uploads
from web.maps import (
    COMMUNITY_COLOR,
    add_geojson,
    esc,
    finish_map,
    new_map,
    region_rows,
    render_parts,
    swatch_box,
    swatch_line,
)
from web.user import current_user

__all__ = ["COORDS", "IMPORT_LAYERS", "ImportJob", "bp", "count_rows", "preview_features"]

bp = Blueprint("imports", __name__)

# what the page offers, in the order a district loads its data
IMPORT_LAYERS = (*LAYERS, "network", "osm")
COORDS = ("wgs84", "gcj02", "bd09")
# attribute encodings the form offers instead of the one detected ("" = automatic)
ENCODINGS = ("UTF-8", "GBK", "GB18030")
MAPPING_SUFFIXES = (".json", ".csv")
# a district: 6 digits (its last two not 00) then 000000, as gis.io.osm checks again
DISTRICT_CODE = re.compile(r"^[0-9]{4}(?!00)[0-9]{2}0{6}$")
GIS_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip")
SHEET_SUFFIXES = (".csv", ".xlsx")
# files that travel with a .shp (the .shp, .dbf and .shx are needed)
SHAPEFILE_PARTS = (".dbf", ".shx", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qpj", ".xml")
OSM_SUFFIXES = (".pbf", ".osm")
DEFAULTS = {
    "IMPORT_MAX_BYTES": 512 * 1024 * 1024,
    "IMPORT_PREVIEW_FEATURES": 2000,
    # None: <var_dir>/imports
    "IMPORT_DIR": None,
    # a passed check keeps its upload this long for the import (from_job); 0: not kept
    "IMPORT_KEEP_CHECK_SECONDS": 1800.0,
}
MAX_RUNNING = 2
# rows of the rejected and repaired lists sent to the page (the counts are always whole)
SHOWN_ROWS = 500
# a GIS file is read in batches (CSV and XLSX in one): the progress bar moves after each
PROGRESS_STEPS = 20
BATCH_MIN, BATCH_MAX = 5_000, 100_000
COLORS = {"feature": "#1f6fd1", "rejected": "#d7191c"}
EXTENSIONS = "registry"


@bp.record_once
def _setup(state) -> None:
    for key, value in DEFAULTS.items():
        state.app.config.setdefault(key, value)
    state.app.extensions.setdefault("gridmap.imports", JobRegistry())
    remove_stale_uploads(_import_dir(state.app.config))


def _registry() -> JobRegistry:
    return current_app.extensions["gridmap.imports"]


def _import_dir(config: Mapping[str, Any] | None = None) -> Path:
    configured = (current_app.config if config is None else config).get("IMPORT_DIR")
    return Path(configured) if configured else get_settings().var_dir / "imports"


# --- the page --------------------------------------------------------------------------------

def _asset_url(path: str) -> str:
    return url_for("static", filename=f"vendor/{path}")


def layer_label(labels: Labels, layer: str) -> str:
    """The layer's name in the page's language (Chinese: the schema's label)."""
    return labels[f"import.layer_{layer}"]


def layer_help() -> dict[str, dict[str, Any]]:
    """Per layer: the required columns, the geometry it takes and its field labels."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in LAYERS.items():
        geometry = spec.geometry or "none"
        out[name] = {
            "required": [f.label for f in spec.required],
            "geometry": geometry, "geometry_required": spec.geometry_required,
            "fields": {f.name: f.label for f in spec.fields},
        }
    out["network"] = {"required": [], "geometry": "line", "geometry_required": True,
                      "fields": {}}
    out["osm"] = {"required": [], "geometry": "osm", "geometry_required": True, "fields": {}}
    return out


def import_legend(labels: Labels) -> str:
    """The map legend: the file's features, rejected rows, community outlines."""
    rows = [(swatch_box("rgba(31,111,209,0.35)", COLORS["feature"]),
             labels["import.legend_feature"]),
            (swatch_box("rgba(215,25,28,0.45)", COLORS["rejected"]),
             labels["import.legend_rejected"]),
            (swatch_line(COMMUNITY_COLOR, None, 2), labels["layer.communities"])]
    body = "".join(f'<div class="gm-row">{sw}<span>{esc(text)}</span></div>'
                   for sw, text in rows)
    return (f'<div class="gm-legend" id="gm-legend"><div class="gm-legend-title">'
            f'{esc(labels["legend.title"])}</div>{body}</div>')


def build_import_map(communities: Mapping[str, Any], bbox, *, labels: Labels,
                     basemap: str = "none", tianditu_key: str = "",
                     asset_url: Callable[[str], str] | None = None
                     ) -> tuple[folium.Map, dict[str, str]]:
    """The page's map: community outlines for orientation and an empty preview layer.

    Returns
    -------
    folium.Map
        The map, its assets localized.
    dict
        JavaScript variable names: ``map`` and ``preview`` (the layer group the page script
        draws the file's features in).
    """
    m = new_map(bbox, basemap=basemap, tianditu_key=tianditu_key)
    add_geojson(m, communities, name=labels["layer.communities"],
                rows=region_rows(labels, street=False),
                style=lambda f: {"color": COMMUNITY_COLOR, "weight": 2, "fill": False})
    preview = folium.FeatureGroup(name=labels["import.layer_preview"], show=True)
    preview.add_to(m)
    finish_map(m, bbox, legend=import_legend(labels), asset_url=asset_url)
    return m, {"map": m.get_name(), "preview": preview.get_name()}


@bp.get("/import")
def page():
    """The import page, ``?lang=zh|en``."""
    lang = pick_lang(request.args.get("lang"), current_app.config["LANG"])
    labels = Labels(lang)
    with db() as conn:
        summary = layers.region_summary(conn, region=None)
        communities = layers.communities(conn, region=None)
        district = single_district(conn)
    m, layer_vars = build_import_map(
        communities, summary.get("bbox"), labels=labels, basemap=current_app.config["BASEMAP"],
        tianditu_key=current_app.config["TIANDITU_KEY"], asset_url=_asset_url)
    keep_lang = lang if lang != current_app.config["LANG"] else None

    def link(endpoint: str = "imports.page", **args) -> str:
        return url_for(endpoint, **args, lang=keep_lang)

    keys = [k for k in labels if k.startswith("import.")] + [
        "punct.colon", "value.none", "nav.map", "nav.coverage"]
    state = {
        "lang": labels.lang, "labels": {k: labels[k] for k in keys}, "layers": layer_vars,
        "colors": COLORS, "help": layer_help(),
        "layer_names": {name: layer_label(labels, name) for name in IMPORT_LAYERS},
        "preview_limit": current_app.config["IMPORT_PREVIEW_FEATURES"],
        "max_bytes": current_app.config["IMPORT_MAX_BYTES"],
        "accept": {"files": ",".join(GIS_SUFFIXES + SHEET_SUFFIXES + (".shp",)
                                     + SHAPEFILE_PARTS[:4]),
                   "osm": ",".join(OSM_SUFFIXES)},
        "urls": {"start": url_for("imports.start"),
                 "job": url_for("imports.job", job_id="JOB"),
                 "map": link("views.index"), "coverage": link("views.coverage")},
    }
    return render_template(
        "import.html", map=render_parts(m), L=labels, lang=lang, link=link, region=None,
        trail=[], state=state, import_layers=IMPORT_LAYERS, coords=COORDS, encodings=ENCODINGS,
        layer_names=state["layer_names"], district=district,
        max_mb=current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024),
        accept=state["accept"]["files"], mapping_accept=",".join(MAPPING_SUFFIXES),
        switch_url=url_for("imports.page", lang="en" if lang == "zh" else "zh"))


# --- the API ---------------------------------------------------------------------------------

def _bad(err: RequestError):
    return jsonify(error=str(err), code=err.code, field=err.field, status=err.status), err.status


def _options() -> Options:
    form = request.form
    layer = (form.get("layer") or "").strip()
    if not layer:
        raise RequestError("layer_missing", "layer",
                           f"layer is required (one of {', '.join(IMPORT_LAYERS)})")
    if layer not in IMPORT_LAYERS:
        raise RequestError("layer_unknown", "layer",
                           f"layer must be one of {', '.join(IMPORT_LAYERS)}, not {layer!r}")
    crs_text = (form.get("crs") or "").strip()
    if crs_text.upper().startswith("EPSG:"):
        crs_text = crs_text[5:].strip()
    crs = None
    if crs_text:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = int(crs_text)
            CRS.from_epsg(crs)
        except (ValueError, CRSError):
            raise RequestError("crs", "crs", f"crs must be an EPSG code such as 4326 or 4547, "
                                             f"not {crs_text!r}") from None
    coords = (form.get("coords") or "wgs84").strip().lower()
    if coords not in COORDS:
        raise RequestError("coords", "coords",
                           f"coords must be one of {', '.join(COORDS)}, not {coords!r}")
    sheet = (form.get("sheet") or "").strip() or None
    if sheet is not None and len(sheet) > 200:
        raise RequestError("sheet", "sheet", "sheet must be at most 200 characters")
    dry = (form.get("dry_run") or "1").strip().lower()
    if dry not in ("1", "0", "true", "false"):
        raise RequestError("dry_run", "dry_run", f"dry_run must be 1 or 0, not {dry!r}")
    encoding_text = (form.get("encoding") or "").strip()
    encoding = None
    if encoding_text and encoding_text.lower() != "auto":
        encoding = next((e for e in ENCODINGS if e.lower() == encoding_text.lower()), None)
        if encoding is None:
            raise RequestError("encoding", "encoding", f"encoding must be one of "
                                                       f"{', '.join(ENCODINGS)}, not "
                                                       f"{encoding_text[:40]!r}")
    mapping = _has_mapping()
    given = [name for name, value in (("coords", coords != "wgs84"), ("sheet", sheet),
                                      ("encoding", encoding), ("mapping", mapping)) if value]
    if layer == "network" and given:
        raise RequestError("network_options", given[0],
                           "the walking network takes a line file with its CRS: coords, sheet, "
                           "encoding and mapping do not apply")
    district = None
    if layer == "osm":
        if crs is not None or given:
            raise RequestError("osm_options", "crs" if crs is not None else given[0],
                               "an OpenStreetMap extract takes the file and the district code "
                               "only: crs, coords, sheet, encoding and mapping do not apply")
        district = (form.get("district") or "").strip()
        if not district:
            raise RequestError("district_missing", "district",
                               "district is required for osm: the 12-digit code of the "
                               "district the extract fills (e.g. 530103000000)")
        if not DISTRICT_CODE.match(district):
            raise RequestError("district", "district",
                               f"district must be the 12-digit code of a district (6 digits "
                               f"then 000000, e.g. 530103000000), not {district[:40]!r}")
    return Options(layer, crs, coords, sheet, dry in ("1", "true"), encoding, district,
                   user=current_user("web import"))


def _has_mapping() -> bool:
    upload = request.files.get("mapping")
    return bool(upload and upload.filename)


def _check_mapping() -> tuple[str, Any] | None:
    """The column mapping upload as ``(name to save, file)``, None without one."""
    if not _has_mapping():
        return None
    upload = request.files["mapping"]
    name = _safe_name(upload.filename)
    if name is None or Path(name).suffix.lower() not in MAPPING_SUFFIXES:
        raise RequestError("mapping_type", "mapping",
                           "the column mapping must be a .json file ({\"header\": \"field\"}) "
                           "or a .csv file of lines 'header,field'")
    return name, upload


def _safe_name(name: str | None) -> str | None:
    """The file name without any folder, control characters or leading dot."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    if not base or base.startswith("."):
        return None
    return base[-200:]


def _check_files(uploads, layer: str) -> list[tuple[str, Any]]:
    """The uploads as ``(name to save, file)``, the main file first; RequestError if unfit."""
    files = [(_safe_name(f.filename), f) for f in uploads if f and f.filename]
    if not files:
        raise RequestError("file_missing", "files", "choose a file to import (files)")
    if any(name is None for name, _ in files):
        raise RequestError("file_name", "files", "a file name is empty or hidden")
    suffixes = [Path(name).suffix.lower() for name, _ in files]
    if layer == "osm":
        if len(files) != 1 or suffixes[0] not in OSM_SUFFIXES:
            raise RequestError("osm_file", "files", "the osm layer takes one OpenStreetMap "
                                                    "extract: a .osm or .osm.pbf file")
        return files
    if any(s in OSM_SUFFIXES for s in suffixes):
        raise RequestError("osm", "files", "OpenStreetMap extracts are imported with the layer "
                                           "osm (OpenStreetMap), which takes the district code")
    if len({name.lower() for name, _ in files}) < len(files):
        raise RequestError("file_set", "files", "the same file name is given twice")
    shp = [i for i, s in enumerate(suffixes) if s == ".shp"]
    if len(files) == 1 and not shp:
        if suffixes[0] not in GIS_SUFFIXES + SHEET_SUFFIXES:
            raise RequestError("file_type", "files",
                               f"unsupported file type {suffixes[0] or '(none)'!r}; use one of "
                               f"{', '.join(GIS_SUFFIXES + SHEET_SUFFIXES)} or a .shp with its "
                               ".dbf, .shx, .prj and .cpg")
        return files
    if len(shp) != 1:
        raise RequestError("file_set", "files",
                           "several files make one shapefile: one .shp with its .dbf, .shx, "
                           ".prj and .cpg (or upload one file, or a .zip)")
    main_name, main_file = files[shp[0]]
    stem = Path(main_name).stem
    out = [(main_name, main_file)]
    for i, (name, f) in enumerate(files):
        if i == shp[0]:
            continue
        if suffixes[i] not in SHAPEFILE_PARTS or Path(name).stem.lower() != stem.lower():
            raise RequestError("file_set", "files",
                               f"{name} is not part of the shapefile {main_name} (its parts "
                               f"are {stem}.dbf, {stem}.shx, {stem}.prj, {stem}.cpg)")
        # GDAL finds the parts by the .shp's own stem, case included
        out.append((stem + suffixes[i], f))
    missing = [s for s in (".dbf", ".shx") if s not in suffixes]
    if missing:
        raise RequestError("shp_parts", "files",
                           f"{main_name} needs its {' and '.join(missing)} too (choose all the "
                           "shapefile's files, or upload it zipped)")
    return out


def _option_key(options: Options, mapping_digest: str | None) -> tuple:
    """What an import from a check must share with the check (the mapping file by content)."""
    return (options.layer, options.crs, options.coords, options.sheet, options.encoding,
            options.district, mapping_digest)


def _digest(upload) -> str:
    """The SHA-256 of an uploaded file (read, then rewound for saving)."""
    stream = upload.stream
    stream.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


@bp.post("/api/import")
def start():
    """Start a check (``dry_run=1``) or an import (``dry_run=0``) of an upload or of a check's.

    ``from_job`` names the passed check whose kept upload is imported (nothing is uploaded).
    """
    request.max_content_length = current_app.config["IMPORT_MAX_BYTES"]
    files: list[tuple[str, Any]] = []
    checked: ImportJob | None = None
    try:
        try:
            uploads = request.files.getlist("files") + request.files.getlist("file")
            options = _options()
            from_job = (request.form.get("from_job") or "").strip()
        except RequestEntityTooLarge:
            limit = current_app.config["IMPORT_MAX_BYTES"]
            raise RequestError("too_large", "files",
                               f"the upload is larger than {limit / 1024 / 1024:,.0f} MB",
                               413) from None
        if from_job:
            if any(f and f.filename for f in uploads):
                raise RequestError("from_job_files", "files", "give either files or from_job "
                                                              "(a checked upload), not both")
            if options.dry_run:
                raise RequestError("from_job_dry_run", "dry_run", "from_job imports a checked "
                                                                  "upload: send dry_run=0")
        else:
            files = _check_files(uploads, options.layer)
        mapping_upload = _check_mapping()
        mapping_digest = None if mapping_upload is None else _digest(mapping_upload[1])
        if _registry().running() >= MAX_RUNNING:
            raise RequestError("busy", "files", "other imports are running; try again when "
                                                "they are done", 429)
        if from_job:
            checked = _registry().claim(from_job, _option_key(options, mapping_digest))
    except RequestError as err:
        return _bad(err)
    if checked is not None:
        # the check's upload, and its mapping (the same file, compared above)
        assert checked.options is not None
        options.mapping = checked.options.mapping
        return _launch(options, checked.folder, checked.files)
    job_id = uuid.uuid4().hex
    folder = _import_dir() / job_id
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name, f in files:
            f.save(folder / name)
        if mapping_upload is not None:
            (folder / "mapping").mkdir()
            mapping_upload[1].save(folder / "mapping" / mapping_upload[0])
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        current_app.logger.exception("saving an upload to %s failed", folder)
        return _bad(RequestError("save", "files", "the upload could not be stored on the "
                                                  "server", 500))
    if mapping_upload is not None:
        from gis.io.schema import SchemaError, load_mapping_file

        try:
            options.mapping = load_mapping_file(folder / "mapping" / mapping_upload[0])
        except SchemaError as exc:
            message = _scrub(str(exc), _folder_prefixes(folder))
            shutil.rmtree(folder, ignore_errors=True)
            return _bad(RequestError("mapping", "mapping", message))
    return _launch(options, folder, [name for name, _ in files], job_id=job_id,
                   key=_option_key(options, mapping_digest))


def _launch(options: Options, folder: Path, files: list[str], *, job_id: str | None = None,
            key: tuple | None = None):
    """Start the job of ``files`` (saved in ``folder``, the main one first); the 202 answer."""
    job_id = job_id or uuid.uuid4().hex
    job = ImportJob(job_id, options.layer, options.dry_run, files[0], folder)
    if options.dry_run:
        job.options, job.key, job.files = options, key, list(files)
    _registry().add(job)
    app = current_app._get_current_object()
    thread = threading.Thread(
        target=run_job, name=f"import-{job_id[:8]}", daemon=True,
        args=(job, options, folder / files[0]),
        kwargs={"url": app.config.get("DATABASE_URL") or None, "logger": app.logger,
                "preview_limit": app.config["IMPORT_PREVIEW_FEATURES"],
                "registry": _registry(),
                "keep_s": float(app.config["IMPORT_KEEP_CHECK_SECONDS"] or 0)})
    thread.start()
    return jsonify(job=job_id, url=url_for("imports.job", job_id=job_id)), 202


@bp.get("/api/import/jobs/<job_id>")
def job(job_id: str):
    """The state of a job; ``?preview=0`` leaves the preview out."""
    found = _registry().get(job_id)
    if found is None:
        return jsonify(error=f"no import job {job_id!r} (finished jobs are kept for an hour)",
                       code="job_unknown", status=404), 404
    return jsonify(found.as_json(with_preview=request.args.get("preview") != "0"))


# --- the job ---------------------------------------------------------------------------------

def batch_size(total: int | None) -> int:
    """Rows per batch: about twenty steps of the progress bar, 5,000 to 100,000 rows each."""
    if not total:
        return BATCH_MAX
    return min(BATCH_MAX, max(BATCH_MIN, -(-total // PROGRESS_STEPS)))


def _folder_prefixes(folder: Path) -> tuple[str, ...]:
    """How a job's upload folder appears in messages, longest first (taken out of them)."""
    out: list[str] = []
    for base in dict.fromkeys((str(folder.resolve()), str(folder))):
        out += [f"{base}/mapping/", f"/vsizip/{base}/", f"{base}/"]
    return tuple(out)


def _scrub(value: Any, prefixes: tuple[str, ...]) -> Any:
    """``value`` with the server's upload folder taken out of every string."""
    if isinstance(value, str):
        for p in prefixes:
            value = value.replace(p, "")
        return value
    if isinstance(value, list):
        return [_scrub(v, prefixes) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, prefixes) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars made Python ones (for JSON)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(
        v, np.generic) else str(v)))


def layer_report(report, *, shown: int = SHOWN_ROWS) -> dict[str, Any]:
    """An :class:`~gis.io.layer_import.ImportReport` for the page: the lists cut at ``shown``."""
    out = report.to_dict()
    spec = LAYERS[report.layer]
    out["fields"] = {h: {"name": n, "label": spec.field(n).label}
                     for h, n in report.mapping.items()}
    for key in ("rejected", "repaired"):
        out[f"{key}_total"] = len(out[key])
        out[key] = out[key][:shown]
    return out


def run_job(job: ImportJob, options: Options, path: Path, *, url: str | None, logger,
            preview_limit: int, registry: JobRegistry | None = None,
            keep_s: float = 0.0) -> None:
    """Check or import ``path`` for ``job`` (in its thread), then delete the upload.

    A check that passes (no rejected rows) instead keeps the upload for ``keep_s`` seconds
    (with a ``registry`` to expire it), for an import to take over (``from_job``). The job's
    ``state`` changes last, once its report, preview and counts are final and the upload is
    gone or kept, so a poller that sees ``done`` or ``failed`` sees everything.
    """
    from gis.io.coords import CoordinateError
    from gis.io.layer_import import LayerImportError, import_file
    from gis.io.network_import import NetworkImportError, import_network
    from gis.io.osm import OsmImportError
    from gis.io.readers import ReadError

    prefixes = _folder_prefixes(job.folder)
    rejected_rows: set[int] = set()
    state = "failed"
    try:
        if options.layer == "osm":
            job.report = _scrub(run_osm(job, options, path, url=url,
                                        preview_limit=preview_limit), prefixes)
            state = "done"
            return  # the ``finally`` below removes the upload and publishes the state
        job.phase = "counting"
        job.total = count_rows(path, sheet=options.sheet)
        if job.dry_run:
            job.phase = "preview"
            try:
                job.preview = preview_features(path, crs=options.crs, coords=options.coords,
                                               sheet=options.sheet, limit=preview_limit,
                                               encoding=options.encoding)
            except (ReadError, CoordinateError, StopIteration, ValueError):
                job.preview = None  # the import says what is wrong with the file

        def progress(read: int) -> None:
            job.read = read
            if job.total is not None and read >= job.total:
                job.phase = "checking"

        job.phase = "reading"
        with connection(url) as conn:
            if options.layer == "network":
                result = import_network(conn, path, crs=options.crs, dry_run=job.dry_run)
                job.read = int(result.get("lines", 0))
                job.report = {"layer": "network", "source": job.source, "dry_run": job.dry_run,
                              "read": job.read, "network": result}
            else:
                report = import_file(conn, options.layer, path, crs=options.crs,
                                     coords=options.coords, sheet=options.sheet,
                                     mapping=options.mapping, encoding=options.encoding,
                                     dry_run=job.dry_run, user=options.user, progress=progress,
                                     batch_size=batch_size(job.total))
                job.read = report.read
                rejected_rows = {e.row for e in report.rejected if e.row is not None}
                job.report = _scrub(layer_report(report), prefixes)
            job.phase = "committing"
        state = "done"
        job.total = job.read
    except LayerImportError as exc:
        report = exc.report
        if report is not None:
            rejected_rows = {e.row for e in report.rejected if e.row is not None}
            job.read = max(job.read, report.read)
            job.report = _scrub(layer_report(report), prefixes)
        job.error = _scrub(str(exc), prefixes)
        job.error_kind = "rejected" if report is not None and report.rejected else "unreadable"
    except (NetworkImportError, OsmImportError, ReadError, CoordinateError) as exc:
        job.error, job.error_kind = _scrub(str(exc), prefixes), "unreadable"
    except Exception:
        logger.exception("import job %s (%s, %s) failed", job.id, job.layer, job.source)
        job.error = ("internal error: the import stopped and nothing was written (see the "
                     "server log)")
        job.error_kind = "internal"
    finally:
        keep = False
        if job.dry_run:
            if state != "done":
                job.upload = "failed"
            elif (job.report or {}).get("rejected_rows"):
                job.upload = "rejected"
            elif registry is None or keep_s <= 0:
                job.upload = "off"
            else:
                keep = True
        if keep and registry is not None:
            registry.keep(job, keep_s)  # for the import (from_job); a timer deletes it
        else:
            shutil.rmtree(job.folder, ignore_errors=True)
        if job.preview is not None:
            rows = {f["properties"]["row"] for f in job.preview["features"]}
            job.preview["rejected_rows"] = sorted(rows & rejected_rows)
        job.finished = time.time()
        job.phase = state
        job.state = state


def run_osm(job: ImportJob, options: Options, path: Path, *, url: str | None,
            preview_limit: int) -> dict[str, Any]:
    """Check or import an OpenStreetMap extract for ``job``; the job's report.

    A check first reads the extract's buildings for the preview. The report is
    ``{"layer": "osm", "source", "dry_run", "read"}`` (the buildings) and ``osm``: the counts
    of :func:`gis.io.osm.import_osm`.

    Raises
    ------
    gis.io.osm.OsmImportError
        Unreadable extract, or rows the database refuses (nothing is written).
    """
    from gis.io.osm import OsmImportError, import_osm

    if job.dry_run:
        job.phase = "preview"
        try:
            job.preview = osm_preview(path, limit=preview_limit)
        except OsmImportError:
            job.preview = None  # the import says what is wrong with the file
    job.phase = "osm"
    with connection(url) as conn:
        result = import_osm(conn, path, district=options.district, dry_run=job.dry_run,
                            user=options.user)
        job.phase = "committing"
    job.read = job.total = int(result["buildings"])
    return {"layer": "osm", "source": job.source, "dry_run": job.dry_run, "read": job.read,
            "osm": _plain(result)}

"""Read GeoJSON, GeoPackage, Shapefile, CSV and XLSX files into :class:`SourceTable` batches.

Every reader ends the same way: attributes as the file holds them, one geometry per row in
EPSG:4326 (reprojected from the file's CRS or ``crs``, then converted from GCJ-02 / BD-09 when
``coords`` says so), and the row numbers the user sees. Mistakes a user can make with a file —
no coordinate system, metres given as degrees, latitude and longitude swapped, an unparseable
cell, a truncated file — come back as :class:`ReadError` naming the file, the rows and the
column, never as a GDAL traceback.

Shapefiles without a ``.cpg`` have their ``.dbf`` bytes looked at to tell UTF-8 from GB18030
(which covers GBK and GB2312); CSV is read as UTF-8 (BOM or not) or else GB18030. Spreadsheet
cells are kept as text, so codes such as ``530103002001`` never become ``5.30103e+11``.

Examples
--------
>>> from gis.io.readers import iter_tables, read_table
>>> table = read_table("楼栋.xlsx", coords="gcj02")  # doctest: +SKIP
>>> for batch in iter_tables("buildings.gpkg", batch_size=50_000):  # doctest: +SKIP
...     print(batch.rows[0], len(batch))
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import io
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gis.io.coords import CoordinateError, check_lonlat, transform_geometries
from gis.io.schema import COORDINATE_ALIASES, normalize_header
from gis.io.table import SourceTable, rows_text

__all__ = ["ReadError", "iter_tables", "read_table", "rows_text"]

GIS_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip")
SHEET_SUFFIXES = (".csv", ".xlsx")
_SYSTEMS = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}
_WGS84 = CRS.from_epsg(4326)


class ReadError(ValueError):
    """A file that cannot be read as asked; the message names the file, rows and column.

    Attributes
    ----------
    rows : list of int
        The user-visible numbers of the offending rows (empty when the whole file is at fault).
    column : str or None
        The column at fault, if one is.
    """

    def __init__(self, message: str, *, rows: Sequence[int] = (), column: str | None = None):
        super().__init__(message)
        self.rows = [int(r) for r in rows]
        self.column = column


def read_table(path: str | Path, *, crs: int | None = None, coords: str = "wgs84",
               sheet: str | None = None, encoding: str | None = None) -> SourceTable:
    """Read a whole file.

    Parameters
    ----------
    path : str or Path
        ``.geojson``/``.json``, ``.gpkg``, ``.shp`` (or a ``.zip`` holding one), ``.csv`` or
        ``.xlsx``.
    crs : int, optional
        EPSG code of the coordinates. Overrides a GIS file's own CRS; for CSV/XLSX the lon/lat
        or WKT columns are in this CRS (default EPSG:4326).
    coords : {'wgs84', 'gcj02', 'bd09'}, default 'wgs84'
        Chinese web-map coordinates to convert to WGS84; only for data in degrees.
    sheet : str, optional
        The XLSX sheet or GeoPackage layer (default the first); for a ``.zip`` the shapefile.
    encoding : str, optional
        Attribute encoding, instead of the ``.cpg`` or the one detected.

    Returns
    -------
    SourceTable

    Raises
    ------
    ReadError
        Missing, unreadable or truncated file; no coordinate system; coordinates that are not
        longitude/latitude (projected metres, swapped); a bad coordinate or WKT cell.
    """
    return next(iter_tables(path, batch_size=None, crs=crs, coords=coords, sheet=sheet,
                            encoding=encoding))


def iter_tables(path: str | Path, *, batch_size: int | None = 100_000, crs: int | None = None,
                coords: str = "wgs84", sheet: str | None = None,
                encoding: str | None = None) -> Iterator[SourceTable]:
    """Read a file in batches of at most ``batch_size`` rows, with absolute row numbers.

    GIS files are read ``batch_size`` features at a time, so memory stays bounded for large
    GeoPackages and Shapefiles; CSV and XLSX come as one batch. The file is opened and checked
    (existence, format, layer, CRS, encoding) when this is called, before the first batch.
    Notes about the whole file (detected encoding, conversions) are on the first batch.

    Parameters
    ----------
    path : str or Path
        As for :func:`read_table`.
    batch_size : int or None, default 100_000
        Features per batch; ``None`` reads the file in one batch.
    crs, coords, sheet, encoding
        As for :func:`read_table`.

    Returns
    -------
    iterator of SourceTable
        At least one table (empty for an empty file).

    Raises
    ------
    ReadError
        As for :func:`read_table`; problems within rows are raised by the batch that holds them.
    """
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix in (".osm", ".pbf") or name.lower().endswith(".osm.pbf"):
        raise ReadError(f"{name}: OpenStreetMap files are imported with `gridmap import osm "
                        f"{name}`, not as a layer")
    if suffix not in GIS_SUFFIXES + SHEET_SUFFIXES:
        raise ReadError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; use one of "
                        f"{', '.join(GIS_SUFFIXES + SHEET_SUFFIXES)}")
    if not path.is_file():
        raise ReadError(f"{name}: no such file")
    if batch_size is not None and batch_size < 1:
        raise ValueError("batch_size must be a positive number of rows")
    system = _system(coords, name)
    src_crs = _epsg(crs, name) if crs is not None else None
    if suffix in SHEET_SUFFIXES:
        return iter([_read_sheet(path, src_crs, system, sheet, encoding)])
    source = _open_gis(path, src_crs, system, sheet, encoding)
    return _gis_batches(source, batch_size)


# --- GIS files ------------------------------------------------------------------------------

@dataclass
class _GisSource:
    """A GIS layer, opened and checked, ready to be read in batches."""

    name: str
    gdal_path: str
    layer: str | None
    crs: CRS | None
    system: str
    encoding: str | None  # passed to pyogrio; None lets GDAL decide (.cpg, UTF-8 formats)
    encoding_label: str | None
    count: int  # -1 when the driver cannot count without reading
    int_fields: list[str]
    notes: list[str] = field(default_factory=list)


def _open_gis(path: Path, crs: CRS | None, system: str, sheet: str | None,
              encoding: str | None) -> _GisSource:
    name = str(path)
    gdal_path, shapefile = str(path), None
    if path.suffix.lower() == ".zip":
        gdal_path, shapefile = _zipped_shapefile(path, sheet)
        sheet = None
    elif path.suffix.lower() == ".shp":
        shapefile = (path, None)
    try:
        layers = pyogrio.list_layers(gdal_path)
    except Exception as exc:  # pyogrio raises DataSourceError and GDAL's CPLE_* errors
        raise _unreadable(name, exc) from None
    names = [str(n) for n in layers[:, 0]]
    if not names:
        raise ReadError(f"{name}: cannot be read (no layers)")
    if sheet is not None and sheet not in names:
        raise ReadError(f"{name}: no layer {sheet!r}; layers: {', '.join(names)}")
    layer = sheet or names[0]
    notes = []
    if len(names) > 1 and sheet is None:
        notes.append(f"layer {layer!r} read, the first of {len(names)} "
                     f"({', '.join(names)}); name another layer to read it")
    label = encoding
    if shapefile is not None:
        encoding, label, note = _inspect_shapefile(*shapefile, name=name, encoding=encoding)
        notes += [note] if note else []
    try:
        info = pyogrio.read_info(gdal_path, layer=layer, encoding=encoding)
    except Exception as exc:
        raise _unreadable(name, exc) from None
    label = label or info.get("encoding")
    try:
        file_crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    except CRSError:
        if crs is None:
            raise ReadError(f"{name}: its coordinate system is not understood ({info['crs']}); "
                            "give --crs EPSG") from None
        file_crs = None
    has_geometry = info.get("geometry_type") is not None
    if crs is not None:
        if file_crs is not None and not file_crs.equals(crs, ignore_axis_order=True):
            notes.append(f"coordinates read as {_crs_label(crs)} (--crs), not the file's "
                         f"{_crs_label(file_crs)}")
        file_crs = crs
    elif file_crs is None and has_geometry:
        raise ReadError(f"{name}: has no coordinate system; give --crs EPSG")
    if has_geometry:
        _check_system(system, file_crs, name)
    ints = [f for f, t in zip(info["fields"], info["ogr_types"], strict=True)
            if t in ("OFTInteger", "OFTInteger64")]
    return _GisSource(name, gdal_path, layer, file_crs if has_geometry else None, system,
                      encoding, label, int(info.get("features", -1)), ints, notes)


def _gis_batches(src: _GisSource, batch_size: int | None) -> Iterator[SourceTable]:
    skip = 0
    while True:
        try:
            df = pyogrio.read_dataframe(src.gdal_path, layer=src.layer, encoding=src.encoding,
                                        skip_features=skip, max_features=batch_size,
                                        force_2d=True)
        except Exception as exc:
            raise _unreadable(src.name, exc) from None
        rows = np.arange(skip + 1, skip + len(df) + 1)
        yield _gis_table(src, df, rows, first=skip == 0)
        skip += len(df)
        if batch_size is None or len(df) < batch_size or (src.count >= 0 and skip >= src.count):
            return


def _gis_table(src: _GisSource, df: pd.DataFrame, rows: np.ndarray, *,
               first: bool) -> SourceTable:
    geometry = None
    if "geometry" in df.columns and src.crs is not None:
        geometry = np.asarray(df["geometry"].array, dtype=object)
        df = df.drop(columns="geometry")
        geometry = _to_wgs84(geometry, rows, src.crs, src.system, src.name)
    frame = _clean_frame(pd.DataFrame(df), src.int_fields)
    notes = list(src.notes) if first else []
    if first and src.system != "wgs84" and geometry is not None:
        notes.append(f"coordinates converted from {_SYSTEMS[src.system]} to WGS84")
    label = _SYSTEMS[src.system] if src.system != "wgs84" else _crs_label(src.crs)
    return SourceTable(frame=frame, geometry=geometry, rows=rows, source=src.name,
                       crs=label if src.crs is not None else None,
                       encoding=src.encoding_label, notes=notes)


def _clean_frame(frame: pd.DataFrame, int_fields: Sequence[str]) -> pd.DataFrame:
    """NaN / NA / NaT → None; integer fields that pandas made float (nulls) back to int."""
    out = frame.astype(object).where(frame.notna(), None)
    for col in int_fields:
        if col in out.columns and frame[col].dtype.kind == "f":
            out[col] = [None if v is None else int(v) for v in out[col]]
    return out


def _zipped_shapefile(path: Path, sheet: str | None) -> tuple[str, tuple[Path, str | None]]:
    """The GDAL path of the one shapefile in a zip, and (zip, member) to find its parts."""
    name = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if not m.startswith("__MACOSX")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError(f"{name}: cannot be read ({exc})") from None
    shps = [m for m in members if m.lower().endswith(".shp")]
    if sheet is not None:
        shps = [m for m in shps if Path(m).stem == sheet or m == sheet]
    if len(shps) != 1:
        found = ", ".join(m for m in members if m.lower().endswith(".shp")) or "none"
        raise ReadError(f"{name}: a .zip must hold exactly one shapefile, or the name of the "
                        f"one to read must be given (shapefiles: {found})")
    shp = shps[0]
    return f"/vsizip/{path.resolve()}/{shp}", (path, shp)


# --- encodings ------------------------------------------------------------------------------

def _inspect_shapefile(path: Path, member: str | None, *, name: str,
                       encoding: str | None) -> tuple[str | None, str | None, str | None]:
    """Refuse a truncated shapefile; (encoding for pyogrio, label, note) of its attributes.

    GDAL reads a cut-off ``.shp`` without complaint, giving the missing features no geometry,
    so the sizes the headers declare are compared with the files. For the encoding, the one
    given wins, then a ``.cpg`` (GDAL applies it). Without either, the field names and records
    of the ``.dbf`` are decoded: UTF-8 when (nearly) every non-ASCII byte sequence is valid
    UTF-8, else GB18030.
    """
    with _sidecars(path, member) as files:
        for ext, (stream, size) in files.items():
            declared = _declared_size(ext, stream.read(32))
            if declared is not None and size < declared:
                raise ReadError(f"{name}: cannot be read (its {ext} is truncated: {size:,} of "
                                f"{declared:,} bytes)")
        if encoding is not None:
            return encoding, encoding, None
        if ".cpg" in files:
            stream = files[".cpg"][0]
            stream.seek(0)
            cpg = stream.read(100).decode("ascii", "replace").strip()
            return None, cpg or None, None
        if ".dbf" not in files:
            return None, None, None
        files[".dbf"][0].seek(0)
        detected = _dbf_encoding(files[".dbf"][0])
    if detected is None:
        return None, "ASCII", None
    if detected == "unknown":
        return None, None, ("no .cpg and the attributes are neither UTF-8 nor GB18030: read "
                            "with GDAL's default (give the encoding if the text is garbled)")
    return detected, detected, f"no .cpg: attributes read as {detected} (detected)"


def _declared_size(ext: str, head: bytes) -> int | None:
    """The file length a .shp/.shx/.dbf header promises (None for other files or no header)."""
    if ext in (".shp", ".shx") and len(head) >= 28:
        return int.from_bytes(head[24:28], "big") * 2  # in 16-bit words
    if ext == ".dbf" and len(head) >= 12:
        records = int.from_bytes(head[4:8], "little")
        return (int.from_bytes(head[8:10], "little")
                + records * int.from_bytes(head[10:12], "little"))
    return None


@contextmanager
def _sidecars(path: Path, member: str | None) -> Iterator[dict[str, tuple[IO[bytes], int]]]:
    """A shapefile's parts (in a folder or a zip), open for reading, with their sizes."""
    exts = (".shp", ".shx", ".dbf", ".cpg")
    with ExitStack() as stack:
        opened: dict[str, tuple[IO[bytes], int]] = {}
        if member is None:
            for f in path.parent.glob(glob.escape(path.stem) + ".*"):
                if f.stem == path.stem and f.suffix.lower() in exts:
                    opened[f.suffix.lower()] = (stack.enter_context(f.open("rb")),
                                                f.stat().st_size)
        else:
            zf = stack.enter_context(zipfile.ZipFile(path))
            stem = member[:-4]
            for info in zf.infolist():
                ext = info.filename[len(stem):].lower()
                if info.filename.startswith(stem) and ext in exts:
                    opened[ext] = (stack.enter_context(zf.open(info)), info.file_size)
        yield opened


def _dbf_encoding(stream: IO[bytes], *, chunk_bytes: int = 1 << 22,
                  sample_chars: int = 200_000) -> str | None:
    """``"UTF-8"``, ``"GB18030"``, ``"unknown"``, or None when the text is all ASCII.

    The field names and the record area are decoded in chunks of whole records (numeric, date
    and logical fields are ASCII, so only text fields can hold other bytes) until
    ``sample_chars`` non-ASCII characters have been seen. A few invalid UTF-8 sequences
    are tolerated, since a writer may cut a character at the field width; GBK text read as
    UTF-8 is almost all invalid.
    """
    head = stream.read(32)
    if len(head) < 32:
        return None
    header_len = int.from_bytes(head[8:10], "little")
    record_len = max(int.from_bytes(head[10:12], "little"), 1)
    descriptors = stream.read(max(header_len - 32, 0))
    names = b" ".join(descriptors[i:i + 11].split(b"\0", 1)[0]
                      for i in range(0, len(descriptors) - 31, 32) if descriptors[i] != 0x0D)
    counts = {"UTF-8": [0, 0], "GB18030": [0, 0]}  # [good, bad] non-ASCII characters
    size = max(chunk_bytes // record_len, 1) * record_len
    chunk = names
    while chunk and sum(counts["UTF-8"]) < sample_chars:
        if not chunk.isascii():
            for enc, tally in counts.items():
                text = chunk.decode(enc, errors="replace")
                bad = text.count("\ufffd")
                tally[0] += len(text) - len(text.encode("ascii", "ignore")) - bad
                tally[1] += bad
        chunk = stream.read(size)
    for enc, (good, bad) in counts.items():
        if good + bad == 0:
            return None
        if bad * 20 <= good:
            return enc
    return "unknown"


def _decode_text(data: bytes, encoding: str | None, name: str) -> tuple[str, str, str | None]:
    """(text, encoding label, note) of a CSV: the encoding given, else UTF-8, else GB18030."""
    if encoding is not None:
        try:
            return data.decode(encoding), encoding, None
        except (LookupError, UnicodeDecodeError) as exc:
            raise ReadError(f"{name}: cannot be read as {encoding} ({exc})") from None
    try:
        return data.decode("utf-8-sig"), "UTF-8", None
    except UnicodeDecodeError as first:
        try:
            return (data.decode("gb18030"), "GB18030",
                    "not UTF-8: read as GB18030 (detected)")
        except UnicodeDecodeError:
            line = data[:first.start].count(b"\n") + 1
            raise ReadError(f"{name}: cannot be read: the text is neither UTF-8 nor GB18030 "
                            f"(line {line}); save it as UTF-8 or give the encoding") from None


# --- coordinates ----------------------------------------------------------------------------

def _system(coords: str, name: str) -> str:
    key = str(coords).lower().replace("-", "").replace("_", "")
    if key not in _SYSTEMS:
        raise ReadError(f"{name}: unknown coordinate system --coords {coords!r}; one of "
                        f"{', '.join(_SYSTEMS)}")
    return key


def _epsg(code: int, name: str) -> CRS:
    try:
        return CRS.from_epsg(int(code))
    except (CRSError, ValueError, TypeError):
        raise ReadError(f"{name}: --crs {code!r} is not an EPSG code pyproj knows") from None


def _crs_label(crs: CRS | None) -> str | None:
    if crs is None:
        return None
    code = crs.to_epsg()
    if code is None and crs.equals(_WGS84, ignore_axis_order=True):
        code = 4326
    return f"EPSG:{code}" if code else crs.name


def _is_wgs84_degrees(crs: CRS) -> bool:
    """EPSG:4326, OGC:CRS84 or CGCS2000 (EPSG:4490): what GCJ-02 / BD-09 are shifted from."""
    return crs.equals(_WGS84, ignore_axis_order=True) or crs.to_epsg() == 4490


def _check_system(system: str, crs: CRS, name: str) -> None:
    if system != "wgs84" and not _is_wgs84_degrees(crs):
        raise ReadError(f"{name}: --coords {system} is for longitude/latitude in degrees, but "
                        f"the coordinates are in {_crs_label(crs)}; drop --coords or give the "
                        "right --crs")


def _centres(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = shapely.bounds(geoms)
    return (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2


def _check(geoms: np.ndarray, rows: np.ndarray, name: str) -> None:
    x, y = _centres(geoms)
    try:
        check_lonlat(x, y, source=name, rows=rows)
    except CoordinateError as exc:
        raise ReadError(str(exc), rows=exc.rows) from exc


def _to_wgs84(geoms: np.ndarray, rows: np.ndarray, crs: CRS, system: str,
              name: str) -> np.ndarray:
    """Geometries in ``crs`` (and ``system``) → EPSG:4326, refusing what is not lon/lat."""
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return geoms
    part, part_rows = geoms[present], rows[present]
    if crs.is_geographic:
        _check(part, part_rows, name)
    else:
        x, y = _centres(part)
        if np.all((np.abs(x) <= 180) & (np.abs(y) <= 90)):
            raise ReadError(f"{name}: the coordinates look like degrees (e.g. {x[0]:g}, {y[0]:g})"
                            f" but {_crs_label(crs)} is in metres; give --crs 4326")
    if not crs.equals(_WGS84, ignore_axis_order=True):
        part = _reproject(part, part_rows, crs, name)
    if not crs.is_geographic:
        _check(part, part_rows, name)
    if system != "wgs84":
        part = transform_geometries(part, system, to_wgs84=True)
    out = geoms.copy()
    out[present] = part
    return out


def _reproject(geoms: np.ndarray, rows: np.ndarray, crs: CRS, name: str) -> np.ndarray:
    tr = Transformer.from_crs(crs, _WGS84, always_xy=True)
    out = shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    x, y = _centres(out)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        wrong = rows[bad]
        raise ReadError(f"{name}: {rows_text(wrong)}: coordinates cannot be reprojected from "
                        f"{_crs_label(crs)}; are they in that system? (give the right --crs)",
                        rows=wrong)
    return out


# --- CSV and XLSX ---------------------------------------------------------------------------

def _read_sheet(path: Path, crs: CRS | None, system: str, sheet: str | None,
                encoding: str | None) -> SourceTable:
    name = str(path)
    notes: list[str] = []
    if path.suffix.lower() == ".csv":
        text, label, note = _decode_text(path.read_bytes(), encoding, name)
        notes += [note] if note else []
        first = next((line for line in text.splitlines() if line.strip()), "")
        delimiter = max(",\t;", key=first.count)  # comma unless tabs or semicolons win
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # long WKT polygons
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as exc:
            raise ReadError(f"{name}: cannot be read ({exc})") from None
        numbered = enumerate(records, 1)
    else:
        label = None
        numbered = enumerate(_xlsx_rows(path, sheet, name), 1)
    return _sheet_table(numbered, name=name, crs=crs, system=system, encoding=label, notes=notes)


def _xlsx_rows(path: Path, sheet: str | None, name: str) -> list[tuple]:
    import openpyxl  # only the XLSX reader needs it

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike
        raise ReadError(f"{name}: cannot be read as XLSX ({exc})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise ReadError(f"{name}: no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}")
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        ws.reset_dimensions()  # some writers record a wrong extent; read every row
        # read-only iteration pads missing rows with empty ones, so position = sheet row
        return [tuple(r) for r in ws.iter_rows(values_only=True)]
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(f"{name}: cannot be read as XLSX ({exc})") from None
    finally:
        wb.close()


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell_text(value: Any) -> Any:
    """A spreadsheet cell as the importer gets it: text, bool, or None."""
    if _empty(value):
        return None
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # codes typed as numbers must not come back as 5.30103e+11 or 530103002001.0
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _header_index(filled: list[tuple[int, Sequence[Any]]]) -> int:
    """Which of the first non-empty rows is the header: ledgers put a title row or two above it.

    The header is the first of the first 10 rows that fills at least half as many cells as the
    fullest of them (and at least two); a title fills one.
    """
    counts = [sum(not _empty(v) for v in values) for _, values in filled[:10]]
    if not counts:
        return 0
    need = max(2, (max(counts) + 1) // 2)
    return next((i for i, c in enumerate(counts) if c >= need), 0)


def _sheet_table(numbered, *, name: str, crs: CRS | None, system: str, encoding: str | None,
                 notes: list[str]) -> SourceTable:
    filled = [(number, values) for number, values in numbered
              if not all(_empty(v) for v in values)]
    at = _header_index(filled)
    if at:
        notes.append(f"row(s) {', '.join(str(n) for n, _ in filled[:at])} above the header "
                     "read as a title")
    header: list[str] = (["" if _empty(v) else str(_cell_text(v)).strip()
                          for v in filled[at][1]] if filled else [])
    data = [values for _, values in filled[at + 1:]]
    numbers = [number for number, _ in filled[at + 1:]]
    width = max([len(header), *map(len, data)]) if data or header else 0
    header += [""] * (width - len(header))
    columns = [[r[i] if i < len(r) else None for r in data] for i in range(width)]
    keep = [i for i in range(width) if header[i] or any(not _empty(v) for v in columns[i])]
    names = _unique_headers([header[i] or f"column_{i + 1}" for i in keep], notes)
    raw = dict(zip(names, (columns[i] for i in keep), strict=True))
    rows = np.asarray(numbers, dtype=int)

    coord = _coordinate_columns(names, name)
    geometry = None
    if coord:
        src_crs = crs or _WGS84
        _check_system(system, src_crs, name)
        if "wkt" in coord:
            geometry = _wkt_geometries(raw[coord["wkt"]], rows, coord["wkt"], name)
            if "lon" in coord:
                notes.append(f"geometry from the WKT column {coord['wkt']!r}; the columns "
                             f"{coord['lon']!r} and {coord['lat']!r} are not used")
        else:
            geometry = _point_geometries(raw[coord["lon"]], raw[coord["lat"]], rows, coord, name)
        geometry = _to_wgs84(geometry, rows, src_crs, system, name)
        if system != "wgs84":
            notes.append(f"coordinates converted from {_SYSTEMS[system]} to WGS84")
        label = _SYSTEMS[system] if system != "wgs84" else _crs_label(src_crs)
    else:
        label = None
    used = set(coord.values())
    # dtype=object: pandas would otherwise infer its str dtype and turn None into NaN
    frame = pd.DataFrame({h: [_cell_text(v) for v in col] for h, col in raw.items()
                          if h not in used}, index=pd.RangeIndex(len(rows)), dtype=object)
    return SourceTable(frame=frame, geometry=geometry, rows=rows, source=name, crs=label,
                       encoding=encoding, notes=notes)


def _unique_headers(names: list[str], notes: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in names:
        if h in seen:
            seen[h] += 1
            new = f"{h}.{seen[h]}"
            notes.append(f"header {h!r} appears more than once; the repeat is read as {new!r}")
            out.append(new)
        else:
            seen[h] = 0
            out.append(h)
    return out


def _coordinate_columns(headers: Sequence[str], name: str) -> dict[str, str]:
    """``{"lon": header, "lat": header}`` and/or ``{"wkt": header}``; empty for none."""
    aliases = {role: {normalize_header(a) for a in names}
               for role, names in COORDINATE_ALIASES.items()}
    found: dict[str, list[str]] = {role: [] for role in aliases}
    for h in headers:
        key = normalize_header(h)
        for role, keys in aliases.items():
            if key in keys:
                found[role].append(h)
    for role, hs in found.items():
        if len(hs) > 1:
            raise ReadError(f"{name}: columns {', '.join(map(repr, hs))} all look like the "
                            f"{role} column; keep one", column=hs[1])
    out = {role: hs[0] for role, hs in found.items() if hs}
    if ("lon" in out) != ("lat" in out) and "wkt" not in out:
        have, miss = ("lon", "lat") if "lon" in out else ("lat", "lon")
        accepted = "、".join(COORDINATE_ALIASES[miss])
        raise ReadError(f"{name}: column {out[have]!r} gives the {have} but no column gives the "
                        f"{miss} (headers accepted: {accepted})", column=out[have])
    return out


def _point_geometries(lon: list, lat: list, rows: np.ndarray, coord: dict[str, str],
                      name: str) -> np.ndarray:
    x, x_missing = _numbers(lon, rows, coord["lon"], name)
    y, y_missing = _numbers(lat, rows, coord["lat"], name)
    half = x_missing != y_missing
    if half.any():
        col = coord["lat"] if y_missing[half].any() else coord["lon"]
        raise ReadError(f"{name}: {rows_text(rows[half])}: a coordinate is missing in column "
                        f"{col!r}", rows=rows[half], column=col)
    geoms = np.full(len(rows), None, dtype=object)
    ok = ~x_missing
    geoms[ok] = shapely.points(x[ok], y[ok])
    return geoms


def _numbers(values: list, rows: np.ndarray, column: str,
             name: str) -> tuple[np.ndarray, np.ndarray]:
    """Floats of a coordinate column and which cells are empty; unparseable cells refused."""
    missing = np.array([_empty(v) for v in values], dtype=bool)
    text = pd.Series([None if m else str(v).strip().rstrip("°") for v, m in
                      zip(values, missing, strict=True)], dtype=object)
    x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~missing & ~np.isfinite(x)
    if bad.any():
        first = values[int(np.flatnonzero(bad)[0])]
        raise ReadError(f"{name}: {rows_text(rows[bad])}: column {column!r} is not a number "
                        f"(e.g. {first!r})", rows=rows[bad], column=column)
    return x, missing


def _wkt_geometries(values: list, rows: np.ndarray, column: str, name: str) -> np.ndarray:
    text = np.array([None if _empty(v) else _strip_srid(str(v)) for v in values], dtype=object)
    given = np.array([t is not None for t in text], dtype=bool)
    geoms = shapely.from_wkt(text, on_invalid="ignore")
    bad = given & shapely.is_missing(geoms)
    if bad.any():
        first = str(text[np.flatnonzero(bad)[0]])
        shown = first if len(first) <= 40 else first[:40] + "…"
        raise ReadError(f"{name}: {rows_text(rows[bad])}: column {column!r} is not valid WKT "
                        f"(e.g. {shown!r})", rows=rows[bad], column=column)
    return np.asarray(geoms, dtype=object)


def _strip_srid(text: str) -> str:
    """EWKT from PostGIS without its ``SRID=…;`` prefix: the CRS is for --crs to say."""
    text = text.strip()
    return text.split(";", 1)[-1].strip() if text.upper().startswith("SRID=") else text


def _unreadable(name: str, exc: Exception) -> ReadError:
    """ReadError for what GDAL / pyogrio could not read, with its reason on one line."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        reason += "; the attributes are in another encoding: give it (e.g. GBK)"
    return ReadError(f"{name}: cannot be read ({reason})")

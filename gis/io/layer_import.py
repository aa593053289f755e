"""Import a layer of DESIGN.md from a file, safely: check every row, then write all or nothing.

One import is one savepoint in the caller's transaction:

1. each batch of rows a reader gives (:class:`gis.io.table.SourceTable`) has its headers mapped
   onto the layer (:func:`gis.io.schema.resolve_columns`), its cells parsed, its geometry checked
   (broken polygons repaired with ``make_valid`` and reported) and is COPYed into a temporary
   staging table;
2. set-based SQL (:mod:`gis.io.layer_rules`) fills defaults, resolves codes to ids and checks
   every staged row against the database (references, places, ranges, duplicate codes);
3. if any row was rejected nothing is written and :class:`LayerImportError` lists the rows;
   otherwise one ``INSERT … ON CONFLICT DO UPDATE`` writes the layer, so re-importing a file
   updates by code instead of duplicating. ``dry_run`` does all of it and rolls back, reporting
   what would be inserted, updated and rejected.

Examples
--------
>>> from gis.db import connection
>>> from gis.io.layer_import import import_file
>>> with connection() as conn:                                       # doctest: +SKIP
...     report = import_file(conn, "buildings", "楼栋.shp", dry_run=True)
>>> print(report.summary())                                          # doctest: +SKIP
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.extensions
import shapely

from gis.io.layer_rules import PERSONS_PER_HOUSEHOLD, RESOLVED, rules_for
from gis.io.placement import communities_of, governance_grids_of
from gis.io.schema import (
    LAYERS,
    Field,
    LayerSpec,
    SchemaError,
    normalize_header,
    resolve_columns,
)
from gis.io.table import SourceTable

__all__ = ["ImportReport", "LayerImportError", "RowError", "import_file", "import_table"]

Connection = psycopg2.extensions.connection
_SQL_TYPES = {"text": "text", "choice": "text", "int": "bigint", "float": "double precision",
              "bool": "boolean"}
_SHOWN_ERRORS = 20
SHEET_ROWS = 10_000_000  # more rows than an XLSX sheet holds (1,048,576)


@dataclass(frozen=True)
class RowError:
    """A rejected row: its number in the file, the field (Chinese header) and what is wrong."""

    row: int | None
    field: str
    message: str
    sheet: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        if self.sheet:
            where = f"sheet {self.sheet} {where}"
        return f"{where}, {self.field}: {self.message}"


@dataclass
class ImportReport:
    """What an import did (or, on a dry run, would do)."""

    layer: str
    source: str
    dry_run: bool = False
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    repaired: list[RowError] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        """How many distinct rows were rejected."""
        return len({(e.sheet, e.row) for e in self.rejected})

    def summary(self) -> str:
        """A few lines for the CLI and the upload page."""
        verb = "would import" if self.dry_run else "imported"
        lines = [f"{verb} {self.layer} from {self.source}: {self.read:,} rows read, "
                 f"{self.inserted:,} new, {self.updated:,} updated, {self.unchanged:,} unchanged, "
                 f"{self.rejected_rows:,} rejected"]
        lines += [f"  rejected: {e}" for e in self.rejected[:_SHOWN_ERRORS]]
        if len(self.rejected) > _SHOWN_ERRORS:
            lines.append(f"  … {len(self.rejected) - _SHOWN_ERRORS} more")
        lines += [f"  repaired: {e}" for e in self.repaired[:_SHOWN_ERRORS]]
        if len(self.repaired) > _SHOWN_ERRORS:
            lines.append(f"  … {len(self.repaired) - _SHOWN_ERRORS} more repaired")
        if self.ignored_columns:
            lines.append(f"  columns not imported: {', '.join(self.ignored_columns)}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (errors as ``{row, field, message}``)."""
        def rows(errors: list[RowError]) -> list[dict[str, Any]]:
            return [{"row": e.row, "sheet": e.sheet, "field": e.field, "message": e.message}
                    for e in errors]
        return {"layer": self.layer, "source": self.source, "dry_run": self.dry_run,
                "read": self.read, "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "rejected_rows": self.rejected_rows,
                "rejected": rows(self.rejected), "repaired": rows(self.repaired),
                "mapping": self.mapping, "ignored_columns": self.ignored_columns,
                "notes": self.notes}


class LayerImportError(ValueError):
    """The import was refused and nothing was written; ``report`` lists the rejected rows."""

    def __init__(self, message: str, report: ImportReport | None = None):
        super().__init__(message)
        self.report = report


_BLANKS = ["", "nan", "NaN", "None", "NULL", "null", "<NA>"]


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as trimmed text (``None`` for blanks); whole floats lose their ``.0``."""
    if pd.api.types.is_float_dtype(values.dtype):
        # codes read as floats by a GIS driver: 530103002001.0 → "530103002001"
        whole = values.notna() & (values == np.floor(values))
        text = values.astype(object).where(values.notna(), None)
        text[whole] = values[whole].astype("int64").astype(str)
        text[~whole & values.notna()] = values[~whole & values.notna()].astype(str)
    elif pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        text = values.astype(str).astype(object).where(values.notna(), None)
    else:
        text = values.astype(object).where(values.notna(), None)
        text = text.where(text.isna(), text.astype(str).str.strip())
    return text.where(~text.isin(_BLANKS), None)


def _parse_column(f: Field, values: pd.Series) -> tuple[pd.Series, np.ndarray, list[str]]:
    """Parse one column vectorised: (values, positions of bad cells, their messages)."""
    if f.kind in ("int", "float") and (pd.api.types.is_integer_dtype(values.dtype)
                                       or pd.api.types.is_float_dtype(values.dtype)):
        numbers = values.astype(float)
        text = None
    else:
        text = _as_text(values)
        if f.kind == "text":
            return text, np.zeros(0, int), []
        if f.kind in ("int", "float"):
            numbers = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    if f.kind in ("int", "float"):
        bad = numbers.isna().to_numpy() & (text.notna().to_numpy() if text is not None
                                           else False)
        if f.kind == "int":
            bad |= (numbers.notna() & (numbers != np.floor(numbers))).to_numpy()
            parsed = numbers.where(~bad).astype("Int64")
        else:
            parsed = numbers
        where = np.flatnonzero(bad)
        shown = text if text is not None else values.astype(str)
        what = "a whole number" if f.kind == "int" else "a number"
        return parsed, where, [f"{shown.iloc[i]!r} is not {what}" for i in where]
    lookup: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for value in pd.unique(text.dropna()):
        try:
            lookup[value] = f.parse(value)
        except ValueError as exc:
            failures[value] = str(exc)
    parsed = text.map(lookup).astype(object)
    parsed = parsed.where(parsed.notna(), None)
    where = np.flatnonzero(text.isin(list(failures)).to_numpy())
    return parsed, where, [failures[text.iloc[i]] for i in where]


def _db_message(exc: psycopg2.Error) -> str:
    return ((exc.diag.message_primary if exc.diag else None) or str(exc)).strip()


def _polygonal(g: shapely.Geometry) -> shapely.Geometry | None:
    parts = shapely.get_parts(g)
    polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(polys) if polys else None


class _Import:
    """One import in progress: staging table, errors, counts."""

    def __init__(self, conn: Connection, layer: str, *, mapping: Mapping[str, str] | None,
                 user: str, source: str):
        if layer not in LAYERS:
            raise LayerImportError(f"unknown layer {layer!r}; one of {', '.join(LAYERS)}")
        self.conn = conn
        self.spec: LayerSpec = LAYERS[layer]
        self.explicit = mapping
        self.user = user
        self.report = ImportReport(layer, source)
        self.headers: list[str] | None = None
        self.mapping: dict[str, str] = {}
        # rows of the n-th sheet of a workbook are staged as n × SHEET_ROWS + row
        self.row_base = 0
        self.sheets: list[str] = []
        self.present: set[str] = set()
        self.cur = conn.cursor()
        self.cur.execute("SAVEPOINT layer_import")
        columns = [f"{f.name} {_SQL_TYPES[f.kind]}" for f in self.spec.fields]
        columns += [f"{c} {'integer' if c.endswith('_id') else 'text'}"
                    for c in RESOLVED[layer]]
        self.cur.execute("DROP TABLE IF EXISTS import_stage, import_written")
        self.cur.execute(f"CREATE TEMP TABLE import_stage (row integer NOT NULL, "
                         f"{', '.join(columns)}, geom geometry(Geometry, 4326))")

    def stage(self, table: SourceTable) -> None:
        """Map, parse, check and COPY one batch."""
        spec, report = self.spec, self.report
        headers = [str(h) for h in table.frame.columns]
        if headers != self.headers:  # the first batch, or the next sheet of a workbook
            try:
                cmap = resolve_columns(headers, spec.name, self.explicit)
            except SchemaError as exc:
                raise LayerImportError(f"{table.source}: {exc}", report) from None
            self.headers = headers
            self.mapping = cmap.mapping
            report.mapping.update(cmap.mapping)
            report.ignored_columns += [c for c in cmap.ignored
                                       if c not in report.ignored_columns]
            self.present |= set(cmap.mapping.values())
        report.notes += [n for n in table.notes if n not in report.notes]
        rows = np.asarray(table.rows) + self.row_base
        report.read += len(table)
        out = pd.DataFrame({"row": rows})
        bad = np.zeros(len(table), bool)
        for header, name in self.mapping.items():
            f = spec.field(name)
            parsed, where, messages = _parse_column(f, table.frame[header].reset_index(drop=True))
            out[name] = parsed.reset_index(drop=True)
            for i, message in zip(where, messages, strict=True):
                report.rejected.append(RowError(int(rows[i]), f.label, message))
            bad[where] = True
            if f.required:
                missing = np.flatnonzero(pd.isna(parsed).to_numpy() & ~bad)
                for i in missing:
                    report.rejected.append(RowError(int(rows[i]), f.label, "is empty"))
                bad[missing] = True
        geoms, geom_bad = self._geometry(table, rows)
        bad |= geom_bad
        keep = ~bad
        if geoms is not None:
            self.present.add("geom")
            kept = shapely.set_srid(geoms[keep], 4326)
            out = out[keep].assign(geom=shapely.to_wkb(kept, hex=True, include_srid=True))
            if spec.name == "buildings":
                out = self._place_buildings(out.reset_index(drop=True), kept,
                                            shapely.point_on_surface(kept))
        else:
            out = out[keep]
        if len(out):
            buf = io.StringIO()
            out.to_csv(buf, header=False, index=False)
            buf.seek(0)
            self.cur.copy_expert(f"COPY import_stage ({', '.join(out.columns)}) FROM STDIN"
                                 " WITH (FORMAT csv)", buf)

    def _place_buildings(self, out: pd.DataFrame, footprints: np.ndarray,
                         inner: np.ndarray) -> pd.DataFrame:
        """Community, governance grid, default kind and residents of staged footprints."""
        given = (out["community_code"].to_numpy(dtype=object) if "community_code" in out
                 else np.full(len(out), None, dtype=object))
        community = given.copy()
        unknown = pd.isna(community)
        community[unknown] = communities_of(self.conn, inner[unknown])
        grid = governance_grids_of(self.conn, footprints, community)
        households = (out["households"] if "households" in out
                      else pd.Series(pd.NA, index=out.index, dtype="Int64"))
        if "residents" in out:
            estimate = out["residents"].isna() & (households.fillna(0) > 0)
        else:
            estimate = households.fillna(0) > 0
        residents = out["residents"].copy() if "residents" in out else pd.Series(
            pd.NA, index=out.index, dtype="Int64")
        residents[estimate] = (households[estimate] * PERSONS_PER_HOUSEHOLD).round()
        if estimate.any():
            note = (f"residents estimated as households × {PERSONS_PER_HOUSEHOLD} where the "
                    "file gives 户数 only")
            if note not in self.report.notes:
                self.report.notes.append(note)
        kind = out["kind"] if "kind" in out else pd.Series(None, index=out.index, dtype=object)
        kind = kind.where(kind.notna(), np.where(households.fillna(0) > 0, "residential",
                                                 "other"))
        return out.assign(community=community, residents=residents.astype("Int64"),
                          kind=kind, grid_id=pd.array(np.where(grid < 0, None, grid),
                                                      dtype="Int64"))

    def _geometry(self, table: SourceTable, rows: np.ndarray
                  ) -> tuple[np.ndarray | None, np.ndarray]:
        """Checked geometries (repaired, points made from polygons) and the rows refused."""
        spec, report = self.spec, self.report
        n = len(table)
        bad = np.zeros(n, bool)
        if table.geometry is None or spec.geometry is None:
            if spec.geometry_required:
                raise LayerImportError(f"{table.source}: layer {spec.name} needs geometry "
                                       "(a GIS file, or 经度/纬度 or WKT columns)", report)
            if table.geometry is not None and "geometry ignored" not in " ".join(report.notes):
                report.notes.append(f"geometry ignored: layer {spec.name} stores none")
            return None, bad
        geoms = np.asarray(table.geometry, dtype=object).copy()
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if spec.geometry_required:
            for i in np.flatnonzero(missing):
                report.rejected.append(RowError(int(rows[i]), "几何", "has no geometry"))
            bad |= missing
        types = np.where(missing, -1, shapely.get_type_id(geoms))
        if spec.geometry == "polygon":
            wrong = ~missing & ~np.isin(types, [3, 6])
            invalid = np.flatnonzero(~missing & ~wrong & ~shapely.is_valid(geoms))
            for i in invalid:
                reason = shapely.is_valid_reason(geoms[i])
                fixed = _polygonal(shapely.make_valid(geoms[i]))
                if fixed is None or fixed.is_empty:
                    report.rejected.append(RowError(int(rows[i]), "几何",
                                                    f"broken beyond repair ({reason})"))
                    bad[i] = True
                else:
                    geoms[i] = fixed
                    report.repaired.append(RowError(int(rows[i]), "几何",
                                                    f"repaired with make_valid ({reason})"))
        else:
            polygonal = ~missing & np.isin(types, [3, 6])
            if polygonal.any():
                geoms[polygonal] = shapely.point_on_surface(geoms[polygonal])
                report.notes.append(f"{int(polygonal.sum())} polygons placed by a point inside")
            single = ~missing & (types == 4) & (shapely.get_num_geometries(geoms) == 1)
            if single.any():
                geoms[single] = shapely.get_geometry(geoms[single], 0)
            wrong = ~missing & ~polygonal & ~single & (types != 0)
        for i in np.flatnonzero(wrong):
            report.rejected.append(RowError(int(rows[i]), "几何",
                                            f"is a {geoms[i].geom_type}, not a {spec.geometry}"))
        bad |= wrong
        geoms[missing] = None
        return geoms, bad

    def finish(self, *, dry_run: bool) -> ImportReport:
        """Check the staged rows, then write (or, on a dry run, count and roll back)."""
        report, cur = self.report, self.cur
        report.dry_run = dry_run
        params = {"user": self.user}
        rules = rules_for(self.spec.name, self.present)
        try:
            rejected = self._check(rules, params)
        except psycopg2.Error as exc:
            self.abort()
            raise LayerImportError(f"{report.source}: the rows could not be checked "
                                   f"({_db_message(exc)}); nothing was imported", report) from None
        if report.rejected and not dry_run:
            self.abort()
            raise LayerImportError(
                f"{report.source}: {report.rejected_rows} of {report.read} rows rejected; "
                "nothing was imported\n" + "\n".join(f"  {e}" for e in report.rejected[:20]),
                report)
        try:
            cur.execute("DELETE FROM import_stage WHERE row = ANY(%s)", (sorted(rejected),))
            cur.execute("CREATE TEMP TABLE import_written (id integer, inserted boolean)")
            cur.execute(f"WITH w AS ({rules.upsert}) INSERT INTO import_written SELECT * FROM w",
                        params)
            # fresh rows have no statistics yet: plan the follow-up joins on real ones
            cur.execute("ANALYZE import_written")
            if report.read > 10_000:
                cur.execute(f"ANALYZE {self.spec.table}")
            for sql in rules.after:
                cur.execute(sql, params)
        except psycopg2.Error as exc:
            self.abort()
            raise LayerImportError(f"{report.source}: the database refused the rows "
                                   f"({_db_message(exc)}); nothing was imported", report) from None
        cur.execute("SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
                    " FROM import_written")
        report.inserted, report.updated = cur.fetchone()
        cur.execute("SELECT count(*) FROM import_stage")
        report.unchanged = cur.fetchone()[0] - report.inserted - report.updated
        if dry_run:
            self.abort()
        else:
            cur.execute("DROP TABLE import_stage, import_written")
            cur.execute("RELEASE SAVEPOINT layer_import")
        return report

    def _check(self, rules, params: dict[str, Any]) -> set[int]:
        """Fill defaults, then list duplicate keys and rows failing a check (by staged row)."""
        report, cur = self.report, self.cur
        cur.execute("ANALYZE import_stage")
        for sql in rules.prepare:
            cur.execute(sql, params)
        rejected: set[int] = set()
        key = ", ".join(self.spec.key)
        cur.execute(f"SELECT {key}, array_agg(row ORDER BY row) FROM import_stage"
                    f" GROUP BY {key} HAVING count(*) > 1 ORDER BY min(row)")
        for *code, dup_rows in cur.fetchall():
            for r in dup_rows[1:]:
                report.rejected.append(RowError(r, self.spec.fields[0].label,
                                                f"same {' '.join(code)} as row {dup_rows[0]}"))
                rejected.add(r)
        for label, condition, message in rules.checks:
            cur.execute(f"SELECT row, {message} FROM import_stage WHERE {condition}"
                        " ORDER BY row", params)
            for r, text in cur.fetchall():
                report.rejected.append(RowError(r, label, text))
                rejected.add(r)
        report.rejected.sort(key=lambda e: (e.row is None, e.row or 0))
        report.rejected = [self._sheet_row(e) for e in report.rejected]
        report.repaired = [self._sheet_row(e) for e in report.repaired]
        return rejected

    def next_sheet(self, name: str) -> None:
        """The following tables come from the workbook's sheet ``name``."""
        self.sheets.append(name)
        self.row_base = (len(self.sheets) - 1) * SHEET_ROWS

    def _sheet_row(self, error: RowError) -> RowError:
        if not self.sheets or error.row is None:
            return error
        return RowError(error.row % SHEET_ROWS, error.field, error.message,
                        self.sheets[error.row // SHEET_ROWS])

    def abort(self) -> None:
        """Undo everything this import did."""
        self.cur.execute("ROLLBACK TO SAVEPOINT layer_import")
        self.cur.execute("RELEASE SAVEPOINT layer_import")


def _run(conn: Connection, layer: str, tables: Iterable[SourceTable | tuple[str, SourceTable]],
         source: str, *, mapping: Mapping[str, str] | None, dry_run: bool, user: str,
         progress: Callable[[int], None] | None) -> ImportReport:
    job = _Import(conn, layer, mapping=mapping, user=user, source=source)
    try:
        for item in tables:
            if isinstance(item, tuple):  # (sheet name, table) of a multi-sheet workbook
                job.next_sheet(item[0])
                item = item[1]
            job.stage(item)
            if progress is not None:
                progress(job.report.read)
    except BaseException:
        job.abort()
        raise
    if job.report.read == 0:
        job.abort()
        raise LayerImportError(f"{source}: no rows to import", job.report)
    return job.finish(dry_run=dry_run)


def import_table(conn: Connection, layer: str, table: SourceTable, *,
                 mapping: Mapping[str, str] | None = None, dry_run: bool = False,
                 user: str = "import") -> ImportReport:
    """Import rows already read (by a reader or :mod:`gis.io.osm`) into ``layer``.

    Parameters
    ----------
    conn : psycopg2 connection
        The caller's transaction; the import is a savepoint in it (the caller commits).
    layer : str
        A key of :data:`gis.io.schema.LAYERS`.
    table : SourceTable
        Rows with the file's headers, geometry in EPSG:4326.
    mapping : mapping, optional
        Header → field name for headers the built-in aliases do not know.
    dry_run : bool, default False
        Check and count, write nothing.
    user : str
        Recorded in the grid history.

    Returns
    -------
    ImportReport

    Raises
    ------
    LayerImportError
        A column is missing, or (unless ``dry_run``) a row was rejected, or the database refused
        the rows; nothing was written and ``exc.report`` lists the rows.
    """
    return _run(conn, layer, [table], table.source, mapping=mapping, dry_run=dry_run,
                user=user, progress=None)


def import_file(conn: Connection, layer: str, path: str | Path, *, crs: int | None = None,
                coords: str = "wgs84", mapping: Mapping[str, str] | None = None,
                sheet: str | None = None, encoding: str | None = None, dry_run: bool = False,
                user: str = "import", batch_size: int = 100_000,
                progress: Callable[[int], None] | None = None) -> ImportReport:
    """Read ``path`` in batches (:func:`gis.io.readers.iter_tables`) and import it.

    Parameters
    ----------
    crs : int, optional
        EPSG code of the file's coordinates when it does not say (or says wrong).
    coords : {'wgs84', 'gcj02', 'bd09'}
        Chinese web-map coordinates are converted to WGS84 first.
    sheet : str, optional
        Sheet of an XLSX file or layer of a GeoPackage.
    encoding : str, optional
        Attribute encoding, when detection is wrong.
    progress : callable, optional
        Called with the rows read so far after each batch.

    Other parameters are those of :func:`import_table`.

    Raises
    ------
    LayerImportError
        The file cannot be read or does not fit the layer (see :func:`import_table`).
    """
    from gis.io.coords import CoordinateError
    from gis.io.readers import ReadError, iter_tables, read_table

    path = Path(path)
    try:
        lists = _ledger_sheets(path) if layer == "ledger" and sheet is None else []
        if lists:
            tables = ((name, _with_list(read_table(path, sheet=name), name)) for name in lists)
        else:
            tables = iter_tables(path, crs=crs, coords=coords, sheet=sheet, encoding=encoding,
                                 batch_size=batch_size)
        return _run(conn, layer, tables, path.name, mapping=mapping, dry_run=dry_run,
                    user=user, progress=progress)
    except (ReadError, CoordinateError) as exc:
        raise LayerImportError(str(exc)) from None


def _ledger_sheets(path: Path) -> list[str]:
    """Sheets of a workbook named after one of the three lists (需求清单 …), in order."""
    if path.suffix.lower() != ".xlsx" or not path.exists():
        return []
    from openpyxl import load_workbook

    try:
        names = load_workbook(path, read_only=True).sheetnames
    except Exception:  # the reader will say what is wrong with the file
        return []
    field = LAYERS["ledger"].field("list")
    out = []
    for name in names:
        try:
            field.parse(name)
        except ValueError:
            continue
        out.append(name)
    return out


def _with_list(table: SourceTable, sheet: str) -> SourceTable:
    """A sheet of the three lists without a 清单 column takes the list from its name."""
    keys = {normalize_header(h) for h in LAYERS["ledger"].field("list").headers()}
    if not any(normalize_header(c) in keys for c in table.frame.columns):
        table.frame = table.frame.assign(清单=sheet)
    return table

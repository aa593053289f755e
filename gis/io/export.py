"""Tables as downloadable files: CSV and XLSX with Chinese headers; the coverage gaps as files.

The writers here are shared by every export: :func:`add_sheet` lays a table out as a formatted
ledger sheet (bold header row on red, frozen, filterable, column widths fitted to the content
with Chinese characters counted double), :func:`write_csv` writes UTF-8 with a byte-order mark
so that Excel and WPS show the Chinese text. :class:`Column` turns stored values into what a
reader sees (a choice as its Chinese label, a yes/no as 是/否).

The gap files of the coverage page are built on them: the rows are the gaps of a
:class:`gis.coverage.CoverageReport`, in its order, every coded value (gap kind, severity, grid
layer, object type) written with its Chinese label from :mod:`gis.coverage_text`.

Examples
--------
>>> from gis.coverage import load_report
>>> from gis.io.export import gaps_to_csv, gaps_to_xlsx
>>> report = load_report(conn, region="530103002004")            # doctest: +SKIP
>>> open("coverage-530103002004.xlsx", "wb").write(gaps_to_xlsx(report))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from gis.coverage import KPI_COUNTS, KPI_SHARES, CoverageReport
from gis.coverage_text import (
    GAP_LABELS,
    KPI_COUNT_LABELS,
    LAYER_LABELS,
    OBJECT_TYPE_LABELS,
    SEVERITY_LABELS,
    SHARE_LABELS,
)
from gis.io.schema import Field

__all__ = [
    "GAP_HEADERS",
    "XLSX_MAX_ROWS",
    "Column",
    "Styled",
    "add_sheet",
    "csv_bytes",
    "display_width",
    "gap_rows",
    "gaps_to_csv",
    "gaps_to_geojson",
    "gaps_to_xlsx",
    "new_workbook",
    "workbook_bytes",
    "write_csv",
]

GAP_HEADERS = ("类型", "严重程度", "图层", "区划代码", "区划名称", "对象类型", "对象编码", "说明",
               "整改建议")
KPI_HEADERS = ("指标", "数值")
YES, NO = "是", "否"
# rows of a sheet, the header included (Excel's limit)
XLSX_MAX_ROWS = 1_048_576
# characters a cell holds (Excel's limit)
XLSX_MAX_CELL = 32_767

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="B71C1C")
_TITLE_FONT = Font(bold=True, size=14)
_WRAP = Alignment(wrap_text=True, vertical="top")


# --- columns and cells ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """A column of an exported table: its header, Shapefile name and how values are shown.

    Parameters
    ----------
    label : str
        Header written in CSV, XLSX, GeoJSON and GeoPackage (Chinese).
    short : str
        Shapefile field name (ASCII, at most 10 bytes).
    kind : {'text', 'int', 'float', 'bool', 'choice'}
        ``bool`` is written 是/否, ``choice`` as the label of its code.
    labels : mapping, optional
        For ``choice``: code → label (codes without one are written as they are).
    """

    label: str
    short: str
    kind: str = "text"
    labels: Mapping[str, str] | None = None

    @classmethod
    def of(cls, field: Field) -> Column:
        """The column of a schema field (its label, short name and Chinese value labels)."""
        return cls(field.label, field.short, field.kind,
                   field.labels() if field.kind == "choice" else None)

    def cell(self, value: Any) -> Any:
        """``value`` as written: None stays None (an empty cell)."""
        if value is None:
            return None
        if self.kind == "bool":
            return YES if value else NO
        if self.kind == "choice":
            return (self.labels or {}).get(value, value)
        if self.kind == "int":
            return int(value)
        if self.kind == "float":
            return float(value)
        return str(value)


@dataclass(frozen=True)
class Styled:
    """A cell value with its own Excel number format or wrapped text (for :func:`add_sheet`)."""

    value: Any
    number_format: str | None = None
    wrap: bool = False


def display_width(value: Any) -> int:
    """Characters ``value`` takes on screen: Chinese (wide) characters count double.

    Examples
    --------
    >>> display_width("桃源社区"), display_width("A1"), display_width(None)
    (8, 2, 0)
    """
    if value is None:
        return 0
    if isinstance(value, Styled):
        return display_width(value.value)
    if isinstance(value, float):
        value = f"{value:.10g}"
    text = str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fitted(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, low: int = 6,
            high: int = 60) -> list[float]:
    """Column widths fitting the header (bold: a little wider) and the widest cell."""
    widths = [display_width(h) + 2 for h in headers]
    for row in rows:
        for i, v in enumerate(row):
            w = display_width(v)
            if w > widths[i]:
                widths[i] = w
    return [float(min(high, max(low, w + 2))) for w in widths]


# --- XLSX --------------------------------------------------------------------------------------

def new_workbook() -> Workbook:
    """An empty write-only workbook for :func:`add_sheet` (streams rows; light on memory)."""
    return Workbook(write_only=True)


def add_sheet(book: Workbook, name: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
              *, title: str | None = None, widths: Sequence[float] | None = None,
              wrap: Collection[int] = ()) -> int:
    """Add a formatted ledger sheet to ``book``.

    Parameters
    ----------
    book : openpyxl.Workbook
        A write-only workbook (:func:`new_workbook`).
    name : str
        Sheet name (at most 31 characters).
    headers : sequence of str
        The header row: bold white on red, frozen, with an autofilter over the table.
    rows : iterable of sequences
        The cells, one sequence per row; a :class:`Styled` cell carries its own number format
        or wrapping.
    title : str, optional
        A title row above the header (bold, larger); the header row is then row 2.
    widths : sequence of float, optional
        Column widths in characters; default fitted to the content (Chinese counted double,
        between 6 and 60).
    wrap : collection of int
        0-based columns whose text wraps (long explanations).

    Returns
    -------
    int
        The number of data rows written.

    Raises
    ------
    ValueError
        If the table does not fit in a sheet (more than 1,048,576 rows with the header).
    """
    first = 2 if title else 1
    # checked and cleaned before the sheet exists, so a refusal leaves no half-written sheet
    rows = [[_cell_text(v, n, headers[i]) if isinstance(v, str) else v
             for i, v in enumerate(r)] for n, r in enumerate(rows, start=first + 1)]
    if len(rows) + first > XLSX_MAX_ROWS:
        raise ValueError(f"{len(rows):,} rows do not fit in an Excel sheet (at most "
                         f"{XLSX_MAX_ROWS - first:,}); export to .csv or .gpkg instead")
    sheet = book.create_sheet(name[:31])
    for col, width in enumerate(widths or _fitted(headers, rows), start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = f"A{first + 1}"
    # printed as a ledger: landscape, all columns on the page width, the header on every page
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = 9  # A4
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{first}:{first}"
    if title:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = _TITLE_FONT
        sheet.append([cell])
    head = []
    for h in headers:
        cell = WriteOnlyCell(sheet, value=h)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        head.append(cell)
    sheet.append(head)
    for row in rows:
        out = []
        for i, v in enumerate(row):
            if isinstance(v, Styled) or i in wrap:
                s = v if isinstance(v, Styled) else Styled(v, wrap=True)
                cell = WriteOnlyCell(sheet, value=s.value)
                if s.number_format and s.value is not None:
                    cell.number_format = s.number_format
                if s.wrap:
                    cell.alignment = _WRAP
                out.append(cell)
            else:
                out.append(v)
        sheet.append(out)
    last = get_column_letter(max(len(headers), 1))
    sheet.auto_filter.ref = f"A{first}:{last}{first + len(rows)}"
    return len(rows)


def _cell_text(text: str, row: int, header: str) -> str:
    """A text as a cell can hold it: without control characters, within Excel's length."""
    if len(text) > XLSX_MAX_CELL:
        raise ValueError(f"row {row}, column {header}: {len(text):,} characters do not fit in "
                         f"an Excel cell (at most {XLSX_MAX_CELL:,}); export to .csv or .gpkg "
                         f"instead")
    return ILLEGAL_CHARACTERS_RE.sub("", text)


def workbook_bytes(book: Workbook) -> bytes:
    """The workbook as the bytes of an XLSX file."""
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- CSV ---------------------------------------------------------------------------------------

def write_csv(stream: IO[str], headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header row and ``rows`` as CSV to a text stream (None → empty cell).

    Open the stream with ``encoding="utf-8-sig", newline=""`` so the file starts with the
    byte-order mark by which Excel recognises UTF-8.
    """
    writer = csv.writer(stream)
    writer.writerow(headers)
    writer.writerows(rows)


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file as bytes: UTF-8 with a byte-order mark, CRLF line ends."""
    buffer = io.StringIO()
    write_csv(buffer, headers, rows)
    return buffer.getvalue().encode("utf-8-sig")


# --- coverage gaps ---------------------------------------------------------------------------

def gap_rows(report: CoverageReport, *,
             region_names: Mapping[str, str] | None = None) -> list[tuple[str, ...]]:
    """The gaps of ``report`` as rows of text under :data:`GAP_HEADERS`.

    Parameters
    ----------
    report : CoverageReport
        As returned by :func:`gis.coverage.load_report` or :func:`gis.coverage.run_coverage`.
    region_names : mapping, optional
        Region code → name, for the 区划名称 column (see
        :func:`gis.coverage_layers.region_names`). The report's own region is always known;
        other codes without a name leave the cell empty.

    Returns
    -------
    list of tuple of str
        One row per gap, in the report's order.
    """
    names = dict(region_names or {})
    if report.region.get("code"):
        names.setdefault(report.region["code"], report.region["name"])

    def row(g: Mapping[str, Any]) -> tuple[str, ...]:
        return (GAP_LABELS.get(g["kind"], g["kind"]),
                SEVERITY_LABELS.get(g["severity"], g["severity"] or ""),
                LAYER_LABELS.get(g["layer"], "") if g["layer"] else "",
                g["region_code"] or "", names.get(g["region_code"], ""),
                OBJECT_TYPE_LABELS.get(g["object_type"], g["object_type"] or ""),
                g["object_code"] or "", g["explanation"] or "", g["remedy"] or "")

    return [row(g) for g in report.gaps]


def gaps_to_csv(report: CoverageReport, *,
                region_names: Mapping[str, str] | None = None) -> bytes:
    """The gaps of ``report`` as CSV with Chinese headers.

    Parameters
    ----------
    report : CoverageReport
        The coverage report.
    region_names : mapping, optional
        Region code → name for the 区划名称 column (see :func:`gap_rows`).

    Returns
    -------
    bytes
        UTF-8 with a byte-order mark (so that Excel detects the encoding and shows the
        Chinese text), CRLF line ends, a header row and one row per gap.
    """
    return csv_bytes(GAP_HEADERS, gap_rows(report, region_names=region_names))


def _kpi_rows(report: CoverageReport) -> list[tuple[str, Styled]]:
    """(label, value with its number format) of the KPI sheet: region, counts, shares, gaps."""
    k = report.kpis
    region = report.region
    rows: list[tuple[str, Styled]] = [
        ("区划名称", Styled(region.get("name") or "")),
        ("区划代码", Styled(region.get("code") or "")),
    ]
    rows += [(KPI_COUNT_LABELS[name], Styled(k[name], "#,##0")) for name in KPI_COUNTS]
    rows += [(f"{SHARE_LABELS[name]}（比例）", Styled(k[name], "0.0%")) for name in KPI_SHARES]
    rows += [(f"缺口：{GAP_LABELS[kind]}", Styled(n, "#,##0"))
             for kind, n in k.get("gap_counts", {}).items()]
    rows.append(("缺口合计", Styled(len(report.gaps), "#,##0")))
    return rows


def gaps_to_xlsx(report: CoverageReport, *,
                 region_names: Mapping[str, str] | None = None) -> bytes:
    """The gaps and KPIs of ``report`` as an Excel workbook.

    Parameters
    ----------
    report : CoverageReport
        The coverage report.
    region_names : mapping, optional
        Region code → name for the 区划名称 column (see :func:`gap_rows`).

    Returns
    -------
    bytes
        An XLSX file with two sheets: "缺口" (headers :data:`GAP_HEADERS`, one row per gap,
        filterable, explanations wrapped) and "指标" (headers 指标 / 数值: the region, the KPI
        counts, the shares as percentages — empty where there is nothing to measure — and the
        gap count per kind).
    """
    book = new_workbook()
    add_sheet(book, "缺口", GAP_HEADERS, gap_rows(report, region_names=region_names),
              wrap=(7, 8))
    add_sheet(book, "指标", KPI_HEADERS, _kpi_rows(report), widths=(40, 16))
    return workbook_bytes(book)


def gaps_to_geojson(fc: Mapping[str, Any]) -> bytes:
    """A gap FeatureCollection as a GeoJSON file, with the Chinese labels added.

    Parameters
    ----------
    fc : mapping
        As returned by :func:`gis.coverage_layers.gap_features` (one feature per gap; a gap
        without a place has a null geometry, which GeoJSON allows).

    Returns
    -------
    bytes
        UTF-8 GeoJSON (EPSG:4326). Each feature's properties gain ``kind_label``,
        ``severity_label``, ``layer_label`` and ``object_type_label`` (Chinese).
    """
    def labelled(f: Mapping[str, Any]) -> dict[str, Any]:
        p = dict(f.get("properties") or {})
        p.update(kind_label=GAP_LABELS.get(p.get("kind"), p.get("kind")),
                 severity_label=SEVERITY_LABELS.get(p.get("severity"), p.get("severity")),
                 layer_label=LAYER_LABELS.get(p.get("layer")),
                 object_type_label=OBJECT_TYPE_LABELS.get(p.get("object_type"),
                                                          p.get("object_type")))
        return {**f, "properties": p}

    out = {"type": "FeatureCollection",
           "features": [labelled(f) for f in fc.get("features", [])]}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

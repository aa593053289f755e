"""Coverage gaps as downloadable files: CSV and XLSX with Chinese headers, and GeoJSON.

The rows are the gaps of a :class:`gis.coverage.CoverageReport`, in its order; every coded value
(gap kind, severity, grid layer, object type) is written with its Chinese label from
:mod:`gis.coverage_text`, so the files read well in Excel or WPS without a legend.

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
from collections.abc import Mapping
from typing import Any

from openpyxl import Workbook
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

__all__ = ["GAP_HEADERS", "gap_rows", "gaps_to_csv", "gaps_to_geojson", "gaps_to_xlsx"]

GAP_HEADERS = ("类型", "严重程度", "图层", "区划代码", "区划名称", "对象类型", "对象编码", "说明",
               "整改建议")
KPI_HEADERS = ("指标", "数值")
# column widths of the gap sheet, in characters (CJK counted double)
_WIDTHS = (22, 9, 11, 15, 13, 9, 26, 70, 60)


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
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GAP_HEADERS)
    writer.writerows(gap_rows(report, region_names=region_names))
    return buffer.getvalue().encode("utf-8-sig")


def _kpi_rows(report: CoverageReport) -> list[tuple[str, Any, str | None]]:
    """(label, value, number format) of the KPI sheet: the region, counts, shares, gap counts."""
    k = report.kpis
    region = report.region
    rows: list[tuple[str, Any, str | None]] = [
        ("区划名称", region.get("name") or "", None),
        ("区划代码", region.get("code") or "", None),
    ]
    rows += [(KPI_COUNT_LABELS[name], k[name], "#,##0") for name in KPI_COUNTS]
    rows += [(f"{SHARE_LABELS[name]}（比例）", k[name], "0.0%") for name in KPI_SHARES]
    rows += [(f"缺口：{GAP_LABELS[kind]}", n, "#,##0")
             for kind, n in k.get("gap_counts", {}).items()]
    rows.append(("缺口合计", len(report.gaps), "#,##0"))
    return rows


def _header(sheet, headers: tuple[str, ...], widths: tuple[int, ...]) -> None:
    sheet.append(list(headers))
    fill = PatternFill("solid", fgColor="B71C1C")
    for col, width in enumerate(widths, start=1):
        cell = sheet.cell(row=1, column=col)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = fill
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = "A2"


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
        filterable) and "指标" (headers 指标 / 数值: the region, the KPI counts, the shares as
        percentages — empty where there is nothing to measure — and the gap count per kind).
    """
    book = Workbook()
    gaps = book.active
    gaps.title = "缺口"
    _header(gaps, GAP_HEADERS, _WIDTHS)
    wrap = Alignment(wrap_text=True, vertical="top")
    for values in gap_rows(report, region_names=region_names):
        gaps.append(list(values))
    for row in gaps.iter_rows(min_row=2, min_col=8, max_col=9):
        for cell in row:
            cell.alignment = wrap
    gaps.auto_filter.ref = gaps.dimensions

    kpis = book.create_sheet("指标")
    _header(kpis, KPI_HEADERS, (40, 16))
    for label, value, number_format in _kpi_rows(report):
        kpis.append([label, value])
        if number_format and value is not None:
            kpis.cell(row=kpis.max_row, column=2).number_format = number_format

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


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

"""The table every reader hands to the importer: attributes, geometry in EPSG:4326, row numbers.

Readers (:mod:`gis.io.readers`, :mod:`gis.io.osm`) produce a :class:`SourceTable`; the layer
importer (:mod:`gis.io.layer_import`) maps its headers onto a layer with
:func:`gis.io.schema.resolve_columns`, checks every row and writes it. Row numbers are the ones
the user sees in the file (a feature's number from 1 in a GIS file; the spreadsheet row, header
being row 1, in CSV and XLSX), so error messages can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["SourceTable", "rows_text"]


@dataclass
class SourceTable:
    """Rows read from one file (or one batch of a large file).

    Attributes
    ----------
    frame : pandas.DataFrame
        Attribute columns with the file's own headers (coordinate / WKT columns removed).
    geometry : ndarray of shapely geometries, or None
        One per row, in EPSG:4326 (longitude, latitude), ``None`` where a row has none; the whole
        attribute is ``None`` for a file without geometry.
    rows : ndarray of int
        The row number the user sees, one per row.
    source : str
        File name, for messages.
    crs : str, optional
        The coordinate system the file was read in (e.g. ``"EPSG:4547"``, ``"GCJ-02"``).
    encoding : str, optional
        Attribute encoding used (``"UTF-8"``, ``"GB18030"`` …).
    notes : list of str
        What the reader decided or repaired (detected encoding, converted coordinates …).
    """

    frame: pd.DataFrame
    geometry: np.ndarray | None
    rows: np.ndarray
    source: str
    crs: str | None = None
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.frame)
        if len(self.rows) != n or (self.geometry is not None and len(self.geometry) != n):
            raise ValueError("frame, geometry and rows must have one entry per row")

    def __len__(self) -> int:
        return len(self.frame)


def rows_text(rows, *, shown: int = 10, word: bool = True) -> str:
    """``"row 5"`` or ``"rows 2, 3, …"``: the first ``shown`` numbers, then ``… (N in all)``.

    With ``word=False`` only the numbers (for messages that say "rows" themselves).
    """
    rows = [int(r) for r in rows]
    text = ", ".join(str(r) for r in rows[:shown])
    if len(rows) > shown:
        text += f" … ({len(rows)} in all)"
    if not word:
        return text
    return f"{'row' if len(rows) == 1 else 'rows'} {text}"

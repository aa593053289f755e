"""Ledgers (台账) as Excel workbooks: the three lists and the per-grid ledger.

- :func:`three_lists_xlsx` — 需求清单、资源清单、项目清单 ("three lists") of a region, one
  sheet each, with the columns of :data:`gis.io.schema.LAYERS` ``['ledger']`` (so a sheet
  imports back as the ``ledger`` layer) followed by the names a reader wants beside the codes:
  the region, the unit offering or served, the grid and, for projects, the need and the
  resource they match.
- :func:`grid_ledger_xlsx` — 网格台账: one row per grid of both layers with its head (网格长)
  and phone, full- and part-time workers, party branch, buildings, households, residents and
  the party members living in its buildings.

Both are one set-based query each; :func:`grid_ledger_table` and :func:`three_lists_tables`
give the same rows to the other export formats (:mod:`gis.io.layer_export`).

Examples
--------
>>> from gis.db import connection
>>> from gis.io.ledgers import grid_ledger_xlsx, three_lists_xlsx
>>> with connection() as conn:                                    # doctest: +SKIP
...     open("三张清单.xlsx", "wb").write(three_lists_xlsx(conn, "530103002001"))
...     open("网格台账.xlsx", "wb").write(grid_ledger_xlsx(conn, "530103002001"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg2.extensions

from gis.io.export import Column, add_sheet, new_workbook, workbook_bytes
from gis.io.schema import LAYERS
from gis.regions import SUBREGIONS_SQL, region_header

__all__ = [
    "GRID_LEDGER_COLUMNS",
    "LIST_COLUMNS",
    "LIST_SHEETS",
    "PROJECT_COLUMNS",
    "LedgerTable",
    "grid_ledger_table",
    "grid_ledger_workbook",
    "grid_ledger_xlsx",
    "lists_workbook",
    "three_lists_tables",
    "three_lists_xlsx",
]

Connection = psycopg2.extensions.connection

# list code → sheet name, in the order of the workbook
LIST_SHEETS = {"need": "需求清单", "resource": "资源清单", "project": "项目清单"}


@dataclass
class LedgerTable:
    """Rows of a ledger: columns, raw values (one tuple per row) and, optionally, geometries.

    Attributes
    ----------
    columns : tuple of Column
    rows : list of tuple
        Stored values in column order; :meth:`cells` shows them as written.
    wkb : list of bytes or None, optional
        Geometry of each row as WKB (EPSG:4326), when asked for.
    """

    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    wkb: list[bytes | None] | None = field(default=None)

    @property
    def headers(self) -> list[str]:
        """The header row (Chinese labels)."""
        return [c.label for c in self.columns]

    def cells(self) -> list[list[Any]]:
        """The rows as written: choices as labels, yes/no as 是/否, empty as None."""
        cols = self.columns
        return [[c.cell(v) for c, v in zip(cols, row, strict=True)] for row in self.rows]


def _scope_check(conn: Connection, region: str | None) -> dict[str, Any]:
    """The region's header (raises RegionNotFoundError for an unknown code)."""
    return region_header(conn, region)


# --- three lists ---------------------------------------------------------------------------------

_LEDGER = LAYERS["ledger"]
LIST_COLUMNS = (*(Column.of(f) for f in _LEDGER.fields),
                Column("区划名称", "reg_name"), Column("单位名称", "unit"),
                Column("网格编码", "grid"), Column("网格名称", "grid_name"))
PROJECT_COLUMNS = (*LIST_COLUMNS, Column("对应需求", "need"), Column("对应资源", "resource"))

_LISTS_SQL = SUBREGIONS_SQL + """
SELECT l.list, l.code, l.list, l.region_code, l.title, l.description, l.status,
       r.name, u.name, g.code, g.name, n.title, s.title
FROM ledger_items l
LEFT JOIN regions r ON r.code = l.region_code
LEFT JOIN units u ON u.id = l.unit_id
LEFT JOIN grids g ON g.id = l.grid_id
LEFT JOIN ledger_items n ON n.id = l.need_id
LEFT JOIN ledger_items s ON s.id = l.resource_id
WHERE l.region_code IN (SELECT code FROM sub)
ORDER BY l.list, l.region_code, l.code NULLS LAST, l.id
"""


def three_lists_tables(conn: Connection, region: str | None = None) -> dict[str, LedgerTable]:
    """The three lists of ``region`` (and everything under it; every region when None).

    Returns
    -------
    dict
        List code (``need``, ``resource``, ``project``, in that order) → :class:`LedgerTable`.
        Columns: those of the ``ledger`` layer (编号, 清单, 区划代码, 事项, 内容, 状态), then
        区划名称, 单位名称, 网格编码, 网格名称, and for projects 对应需求 and 对应资源 (the
        titles of the need and resource a project matches).

    Raises
    ------
    RegionNotFoundError
        If ``region`` is not in the ``regions`` table.
    """
    _scope_check(conn, region)
    with conn.cursor() as cur:
        cur.execute(_LISTS_SQL, {"region": region})
        fetched = cur.fetchall()
    out = {}
    for code in LIST_SHEETS:
        cols = PROJECT_COLUMNS if code == "project" else LIST_COLUMNS
        out[code] = LedgerTable(cols, [r[1:1 + len(cols)] for r in fetched if r[0] == code])
    return out


def lists_workbook(tables: dict[str, LedgerTable], *, place: str | None = None) -> bytes:
    """The three lists workbook of :func:`three_lists_tables`' tables.

    Parameters
    ----------
    tables : dict
        As returned by :func:`three_lists_tables`.
    place : str, optional
        With a place name, a title row (``桃源社区需求清单``) goes above each header row.

    Returns
    -------
    bytes
        An XLSX file with the sheets 需求清单, 资源清单 and 项目清单.
    """
    book = new_workbook()
    for code, sheet in LIST_SHEETS.items():
        table = tables[code]
        add_sheet(book, sheet, table.headers, table.cells(),
                  title=f"{place}{sheet}" if place else None)
    return workbook_bytes(book)


def three_lists_xlsx(conn: Connection, region: str | None = None, *,
                     title: bool = False) -> bytes:
    """需求清单、资源清单、项目清单 of ``region`` as one workbook, one sheet per list.

    Parameters
    ----------
    conn : psycopg2 connection
    region : str, optional
        12-digit region code; default every region.
    title : bool, default False
        Put a title row (``桃源社区需求清单``) above each header row. Without it each sheet is
        a plain table that imports back as the ``ledger`` layer.

    Returns
    -------
    bytes
        An XLSX file with the sheets 需求清单, 资源清单 and 项目清单 (always all three, an
        empty list as a header row alone); columns as :func:`three_lists_tables`. Headers are
        frozen and filterable, column widths fitted.

    Raises
    ------
    RegionNotFoundError
        If ``region`` is not in the ``regions`` table.
    """
    place = _scope_check(conn, region)["name"]
    return lists_workbook(three_lists_tables(conn, region), place=place if title else None)


# --- grid ledger ---------------------------------------------------------------------------------

GRID_LEDGER_COLUMNS = (
    Column("网格编码", "code"),
    Column("网格名称", "name"),
    Column("网格类型", "layer", "choice", LAYERS["grids"].field("layer").labels()),
    Column("社区代码", "community"),
    Column("社区名称", "comm_name"),
    Column("网格长", "head"),
    Column("网格长电话", "head_phone"),
    Column("专职网格员", "full_time"),
    Column("兼职网格员", "part_time"),
    Column("党支部", "branch"),
    Column("楼栋数", "buildings", "int"),
    Column("户数", "households", "int"),
    Column("常住人口", "residents", "int"),
    Column("党员数", "members", "int"),
)

# A party grid and the governance grid with the same code are one grid in the seeds' sense
# ("统一、要重合"): each shows the staff and branches attached to either of the pair (as the map
# does, see gis.layers.grids). A governance grid holds the buildings assigned to it, a party
# grid the buildings whose interior point lies in it; its members are those living there.
_GRID_LEDGER_SQL = SUBREGIONS_SQL + """,
g AS (SELECT * FROM grids WHERE community_code IN (SELECT code FROM sub)),
pair AS (
    SELECT id, id AS attached_id FROM g
    UNION ALL
    SELECT g.id, o.id FROM g JOIN grids o ON o.code = g.code AND o.layer <> g.layer
),
held AS (
    SELECT b.grid_id AS id, b.id AS building_id, b.households, b.residents
    FROM buildings b WHERE b.grid_id IN (SELECT id FROM g WHERE layer = 'governance')
    UNION ALL
    SELECT g.id, b.id, b.households, b.residents
    FROM g JOIN buildings b ON b.geom && g.geom AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
    WHERE g.layer = 'party'
),
bstat AS (
    SELECT id, count(*) AS n, sum(households) AS households, sum(residents) AS residents
    FROM held GROUP BY id
),
mstat AS (
    SELECT held.id, count(*) AS n
    FROM held JOIN members m ON m.home_building_id = held.building_id
    GROUP BY held.id
),
staff AS (
    SELECT pair.id,
           string_agg(s.name, '、' ORDER BY s.id) FILTER (WHERE s.role = 'head') AS heads,
           string_agg(s.phone, '、' ORDER BY s.id) FILTER (WHERE s.role = 'head') AS phones,
           string_agg(s.name, '、' ORDER BY s.id) FILTER (WHERE s.role = 'full_time') AS full_time,
           string_agg(s.name, '、' ORDER BY s.id) FILTER (WHERE s.role = 'part_time') AS part_time
    FROM pair JOIN grid_staff s ON s.grid_id = pair.attached_id
    GROUP BY pair.id
),
branch AS (
    SELECT pair.id, string_agg(o.name, '、' ORDER BY o.id) AS names
    FROM pair JOIN party_orgs o ON o.grid_id = pair.attached_id AND o.kind <> 'building_group'
    GROUP BY pair.id
)
SELECT g.code, g.name, g.layer, g.community_code, c.name, staff.heads, staff.phones,
       staff.full_time, staff.part_time, branch.names, coalesce(bstat.n, 0),
       coalesce(bstat.households, 0), coalesce(bstat.residents, 0), coalesce(mstat.n, 0),
       CASE WHEN %(geometry)s THEN ST_AsBinary(g.geom) END
FROM g
LEFT JOIN regions c ON c.code = g.community_code
LEFT JOIN bstat ON bstat.id = g.id
LEFT JOIN mstat ON mstat.id = g.id
LEFT JOIN staff ON staff.id = g.id
LEFT JOIN branch ON branch.id = g.id
ORDER BY g.community_code, g.code, g.layer
"""


def grid_ledger_table(conn: Connection, region: str | None = None, *,
                      geometry: bool = False) -> LedgerTable:
    """The grid ledger (网格台账) of ``region``: one row per grid of either layer.

    Parameters
    ----------
    conn : psycopg2 connection
    region : str, optional
        12-digit region code; grids of the communities in it (default every grid).
    geometry : bool, default False
        Also return each grid's outline (WKB, EPSG:4326).

    Returns
    -------
    LedgerTable
        Columns :data:`GRID_LEDGER_COLUMNS`: code, name, layer (综治网格 / 党建网格), community
        code and name, head(s) and phone(s), full- and part-time workers and branches (names
        joined by 、), then buildings, households, residents and members (party members whose
        home building is in the grid). Sorted by community, code, layer.

    Raises
    ------
    RegionNotFoundError
        If ``region`` is not in the ``regions`` table.
    """
    _scope_check(conn, region)
    with conn.cursor() as cur:
        cur.execute(_GRID_LEDGER_SQL, {"region": region, "geometry": geometry})
        fetched = cur.fetchall()
    wkb = [None if r[-1] is None else bytes(r[-1]) for r in fetched] if geometry else None
    return LedgerTable(GRID_LEDGER_COLUMNS, [r[:-1] for r in fetched], wkb)


def grid_ledger_workbook(table: LedgerTable, *, place: str | None = None) -> bytes:
    """The grid ledger workbook (one sheet, 网格台账) of :func:`grid_ledger_table`'s table.

    With a ``place`` name, a title row (``桃源社区网格台账``) goes above the header row.
    """
    book = new_workbook()
    add_sheet(book, "网格台账", table.headers, table.cells(),
              title=f"{place}网格台账" if place else None)
    return workbook_bytes(book)


def grid_ledger_xlsx(conn: Connection, region: str | None = None, *,
                     title: bool = False) -> bytes:
    """The grid ledger (网格台账) of ``region`` as a workbook with one sheet, 网格台账.

    Columns as :func:`grid_ledger_table`; header frozen and filterable, widths fitted. With
    ``title``, a title row (``桃源社区网格台账``) goes above the header row. ``region`` and the
    errors are those of :func:`three_lists_xlsx`.
    """
    place = _scope_check(conn, region)["name"]
    return grid_ledger_workbook(grid_ledger_table(conn, region), place=place if title else None)

"""Geometry of the demo district, laid out in metres of the CGCS2000 Gauss-Krüger zone.

Communities are blocks bounded by road centrelines; each is cut into grid cells along internal
roads and compound paths; buildings are packed into cells in rows (slabs need sunlight spacing),
so no building ever crosses a grid or community boundary. Everything is deterministic for a
given random generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box

# 102.700 E / 25.040 N: south-west corner of the demo, near Kunming's 鼓楼街道
ORIGIN_LONLAT = (102.700, 25.040)
METRIC_EPSG = 4543  # CGCS2000 / 3-degree Gauss-Kruger CM 102E

MAIN_ROAD_SETBACK = 14.0  # half a 20 m road + building setback, on community edges
INNER_SETBACK = 8.0  # half a path + setback, on internal grid edges
ROW_GAP = 14.0  # between rows of buildings (compound paths run here)
COL_GAP = 9.0


class LayoutError(RuntimeError):
    """The buildings asked for do not fit the cell they were given."""


@dataclass
class Footprint:
    """A building to place: its size and everything else the caller attaches."""

    width: float
    depth: float
    attrs: dict = field(default_factory=dict)
    polygon: Polygon | None = None


@dataclass
class Cell:
    """A grid cell: a rectangle of a community, with the footprints packed into it."""

    rect: tuple[float, float, float, float]
    setbacks: tuple[float, float, float, float]  # west, south, east, north
    footprints: list[Footprint] = field(default_factory=list)
    path_ys: list[float] = field(default_factory=list)

    @property
    def polygon(self) -> Polygon:
        """The cell as a polygon."""
        return box(*self.rect)


def split_rect(rect, nx: int, ny: int) -> list[tuple[float, float, float, float]]:
    """Cut a rectangle into ``nx`` × ``ny`` equal cells, listed north→south, west→east."""
    x0, y0, x1, y1 = rect
    xs = np.linspace(x0, x1, nx + 1)
    ys = np.linspace(y1, y0, ny + 1)
    return [
        (float(xs[i]), float(ys[j + 1]), float(xs[i + 1]), float(ys[j]))
        for j in range(ny)
        for i in range(nx)
    ]


def setbacks_for(cell_rect, community_rect) -> tuple[float, float, float, float]:
    """Setback on each side of a cell: a main road on community edges, a path inside."""
    cx0, cy0, cx1, cy1 = cell_rect
    x0, y0, x1, y1 = community_rect

    def side(on_edge: bool) -> float:
        return MAIN_ROAD_SETBACK if on_edge else INNER_SETBACK

    return (side(cx0 == x0), side(cy0 == y0), side(cx1 == x1), side(cy1 == y1))


def pack_rows(cell: Cell, footprints: list[Footprint]) -> None:
    """Place footprints in rows from the north-west corner of the cell's buildable area.

    Sets ``polygon`` on each footprint and records the y of the path between rows.

    Raises
    ------
    LayoutError
        If the footprints do not fit.
    """
    x0, y0, x1, y1 = cell.rect
    w, s, e, n = cell.setbacks
    left, right, bottom, top = x0 + w, x1 - e, y0 + s, y1 - n
    x, row_top, row_depth = left, top, 0.0
    for fp in footprints:
        if fp.width > right - left:
            raise LayoutError(f"a {fp.width:.0f} m wide building does not fit cell {cell.rect}")
        if x + fp.width > right + 1e-9:  # next row
            cell.path_ys.append(row_top - row_depth - ROW_GAP / 2)
            row_top -= row_depth + ROW_GAP
            x, row_depth = left, 0.0
        if row_top - fp.depth < bottom - 1e-9:
            raise LayoutError(f"cell {cell.rect} is full: {len(footprints)} buildings asked")
        fp.polygon = box(x, row_top - fp.depth, x + fp.width, row_top)
        x += fp.width + COL_GAP
        row_depth = max(row_depth, fp.depth)
    cell.footprints.extend(footprints)


def street_network(rects: list[tuple[float, float, float, float]],
                   path_lines: list[LineString]) -> tuple[np.ndarray, list[tuple[int, int, str]],
                                                          list[LineString]]:
    """Node the roads (edges of every rectangle) and compound paths into a walking graph.

    Returns
    -------
    nodes : ndarray of shape (n, 2)
        Node coordinates.
    edges : list of (source, target, kind)
        Indices into ``nodes``; kind ``street`` or ``compound``.
    lines : list of LineString
        The edge geometries, in the order of ``edges``.
    """
    streets = [box(*r).exterior for r in rects]
    street_union = shapely.union_all(streets)
    noded = shapely.union_all([street_union, *path_lines])
    pieces = list(shapely.get_parts(shapely.line_merge(noded, directed=False)))
    # line_merge joins pieces through degree-2 nodes only; split again at every vertex shared
    # with another line so each piece is one edge between two intersections
    segments: list[LineString] = []
    for piece in pieces:
        coords = np.asarray(piece.coords)
        for a, b in zip(coords[:-1], coords[1:], strict=True):
            segments.append(LineString([a, b]))
    key_to_id: dict[tuple[float, float], int] = {}
    nodes: list[tuple[float, float]] = []
    edges: list[tuple[int, int, str]] = []
    lines: list[LineString] = []
    street_buffer = street_union.buffer(0.01)
    for seg in segments:
        ends = []
        for xy in (seg.coords[0], seg.coords[-1]):
            key = (round(xy[0], 2), round(xy[1], 2))
            if key not in key_to_id:
                key_to_id[key] = len(nodes)
                nodes.append(key)
            ends.append(key_to_id[key])
        if ends[0] == ends[1]:
            continue
        kind = "street" if street_buffer.contains(seg) else "compound"
        edges.append((ends[0], ends[1], kind))
        lines.append(LineString([nodes[ends[0]], nodes[ends[1]]]))  # ends exactly on nodes
    return np.asarray(nodes), edges, lines

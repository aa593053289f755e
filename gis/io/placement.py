"""Where imported footprints belong: their community and their governance grid.

A batch of up to 100,000 footprints is placed at once against the communities and governance
grids under the batch's bounding box, loaded from PostGIS and queried with a shapely STRtree
(GEOS predicates, the same as PostGIS's). A footprint belongs to the community holding its
inner point, and to the governance grid of that community holding most of its footprint (the
rule of :data:`gis.topology.REASSIGN_BUILDINGS_SQL`); areas are computed only for the few
footprints that cross grid lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg2.extensions
import shapely

__all__ = ["communities_of", "governance_grids_of"]

Connection = psycopg2.extensions.connection


def _load(conn: Connection, sql: str, bounds: np.ndarray) -> tuple[list, np.ndarray]:
    with conn.cursor() as cur:
        x0, y0, x1, y1 = (float(v) for v in bounds)
        cur.execute(sql, {"x0": x0, "y0": y0, "x1": x1, "y1": y1})
        rows = cur.fetchall()
    if not rows:
        return [], np.empty(0, dtype=object)
    return [r[:-1] for r in rows], shapely.from_wkb(np.array([bytes(r[-1]) for r in rows],
                                                             dtype=object))


def communities_of(conn: Connection, points: np.ndarray) -> np.ndarray:
    """Code of the community holding each point (``None`` outside every community).

    Where communities overlap (bad data) the lowest code wins, as it would in a rerun.
    """
    out = np.full(len(points), None, dtype=object)
    if not len(points):
        return out
    rows, shapes = _load(conn, """
        SELECT code, ST_AsBinary(geom) FROM regions
        WHERE level = 'community' AND geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
        ORDER BY code""", shapely.total_bounds(points))
    if not rows:
        return out
    codes = np.array([r[0] for r in rows], dtype=object)
    point_i, shape_i = shapely.STRtree(shapes).query(points, predicate="intersects")
    order = np.lexsort((shape_i, point_i))  # per point, the lowest code (rows are by code)
    point_i, shape_i = point_i[order], shape_i[order]
    first = np.r_[True, point_i[1:] != point_i[:-1]]
    out[point_i[first]] = codes[shape_i[first]]
    return out


def governance_grids_of(conn: Connection, footprints: np.ndarray,
                        communities: np.ndarray) -> np.ndarray:
    """Id of the governance grid of each footprint's community holding most of it (or -1)."""
    out = np.full(len(footprints), -1, dtype=np.int64)
    if not len(footprints):
        return out
    rows, shapes = _load(conn, """
        SELECT id, community_code, ST_AsBinary(geom) FROM grids
        WHERE layer = 'governance'
          AND geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)""",
                         shapely.total_bounds(footprints))
    if not rows:
        return out
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    grid_community = np.array([r[1] for r in rows], dtype=object)
    b, g = shapely.STRtree(shapes).query(footprints, predicate="intersects")
    same = grid_community[g] == communities[b]
    b, g = b[same], g[same]
    if not len(b):
        return out
    pairs = pd.DataFrame({"b": b, "gid": ids[g], "g": g})
    pairs["n"] = pairs.groupby("b")["b"].transform("size")
    crossing = pairs["n"].to_numpy() > 1
    area = np.zeros(len(pairs))
    area[crossing] = shapely.area(shapely.intersection(footprints[b[crossing]],
                                                       shapes[g[crossing]]))
    pairs["area"] = area
    best = pairs.sort_values(["b", "area", "gid"], ascending=[True, False, True])
    best = best.drop_duplicates("b")
    out[best["b"].to_numpy()] = best["gid"].to_numpy()
    return out

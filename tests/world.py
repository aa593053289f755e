"""Hand-built worlds for exact-answer tests: shapes given in metres, stored in EPSG:4326.

Coordinates are metres east/north of a point in Kunming, in EPSG:4543 (the metric CRS the engines
choose there), so areas and distances computed by PostGIS can be compared to hand arithmetic.
"""

from __future__ import annotations

import numpy as np
import psycopg2.extensions
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box

_TO_M = Transformer.from_crs(4326, 4543, always_xy=True)
_TO_LL = Transformer.from_crs(4543, 4326, always_xy=True)
OX, OY = _TO_M.transform(102.75, 25.05)

STREET = "530103002000"
COMMUNITY = "530103002001"
OTHER = "530103002002"


def to_lonlat(geom):
    """Metric shape (metres from the origin) → EPSG:4326, densified so shared edges stay shared."""
    geom = shapely.segmentize(geom, 5.0)

    def conv(xy):
        lon, lat = _TO_LL.transform(xy[:, 0] + OX, xy[:, 1] + OY)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, conv)


def ewkt(geom, multi=True):
    g = to_lonlat(geom)
    if multi and g.geom_type == "Polygon":
        g = shapely.MultiPolygon([g])
    return f"SRID=4326;{g.wkt}"


class World:
    """Insert rows of a tiny district; every method returns the new row's id."""

    def __init__(self, conn: psycopg2.extensions.connection):
        self.conn = conn
        self.cur = conn.cursor()
        self._nodes: dict[tuple[float, float], int] = {}
        self.cur.execute("""
            INSERT INTO regions(code, level, name, parent_code) VALUES
              ('530100000000', 'city', '昆明市', NULL),
              ('530103000000', 'district', '盘龙区', '530100000000'),
              ('530103002000', 'street', '鼓楼街道', '530103000000')""")

    def community(self, code, name, rect):
        self.cur.execute("INSERT INTO regions(code, level, name, parent_code, geom)"
                         " VALUES (%s, 'community', %s, %s, %s::geometry)",
                         (code, name, STREET, ewkt(box(*rect))))
        return code

    def grid(self, serial, rect_or_geom, *, layer="governance", community=COMMUNITY):
        geom = box(*rect_or_geom) if isinstance(rect_or_geom, tuple) else rect_or_geom
        self.cur.execute("INSERT INTO grids(code, layer, community_code, name, geom)"
                         " VALUES (%s, %s, %s, %s, %s::geometry) RETURNING id",
                         (f"{community}{serial:03d}", layer, community, f"第{serial}网格",
                          ewkt(geom)))
        return self.cur.fetchone()[0]

    def building(self, name, rect, *, households=0, residents=None, kind="residential",
                 grid=None, community=COMMUNITY):
        residents = residents if residents is not None else households * 3
        self.cur.execute(
            "INSERT INTO buildings(code, name, community_code, grid_id, kind, households,"
            " residents, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::geometry) RETURNING id",
            (name, name, community, grid, kind, households, residents, ewkt(box(*rect))))
        return self.cur.fetchone()[0]

    def staff(self, grid, role, name="张三"):
        self.cur.execute("INSERT INTO grid_staff(grid_id, role, name) VALUES (%s, %s, %s)",
                         (grid, role, name))

    def org(self, kind, name, *, grid=None, building=None, region=COMMUNITY, members=0,
            committee=False):
        self.cur.execute(
            "INSERT INTO party_orgs(kind, name, region_code, grid_id, building_id, has_committee)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (kind, name, region, grid, building, committee))
        org = self.cur.fetchone()[0]
        for k in range(members):
            self.cur.execute("INSERT INTO members(name, category, org_id) VALUES (%s,"
                             " 'registered', %s)", (f"党员{k}", org))
        return org

    def unit(self, name, building, *, own=None, joint=None, registered=True):
        self.cur.execute(
            "INSERT INTO units(name, kind, building_id, party_org_id, joint_org_id, registered)"
            " VALUES (%s, 'nonpublic', %s, %s, %s, %s) RETURNING id",
            (name, building, own, joint, registered))
        return self.cur.fetchone()[0]

    def responsible(self, building):
        """Put ``building`` in the responsibility area of a member of the community branch."""
        if not hasattr(self, "_branch"):
            self._branch = self.org("community_branch", "社区党支部", members=3)
        self.cur.execute("SELECT min(id) FROM members WHERE org_id = %s", (self._branch,))
        member = self.cur.fetchone()[0]
        self.cur.execute("INSERT INTO member_buildings VALUES (%s, %s)", (member, building))

    def centre(self, name, xy, *, level="community", status="existing", radius=None):
        self.cur.execute(
            "INSERT INTO service_centers(name, level, status, radius_m, geom)"
            " VALUES (%s, %s, %s, %s, %s::geometry) RETURNING id",
            (name, level, status, radius, f"SRID=4326;{to_lonlat(Point(*xy)).wkt}"))
        return self.cur.fetchone()[0]

    def walkway(self, *polylines, kind="street"):
        """Walking edges along metric polylines; nodes at their ends, shared where ends meet."""
        ids = []
        for line in polylines:
            ends = []
            for xy in (line[0], line[-1]):
                key = (round(xy[0], 3), round(xy[1], 3))
                if key not in self._nodes:
                    self.cur.execute("INSERT INTO walk_nodes(geom) VALUES (%s::geometry)"
                                     " RETURNING id",
                                     (f"SRID=4326;{to_lonlat(Point(*xy)).wkt}",))
                    self._nodes[key] = self.cur.fetchone()[0]
                ends.append(self._nodes[key])
            geom = shapely.LineString(line)
            self.cur.execute(
                "INSERT INTO walk_edges(source, target, length_m, kind, geom)"
                " VALUES (%s, %s, %s, %s, %s::geometry) RETURNING id",
                (ends[0], ends[1], geom.length, kind, f"SRID=4326;{to_lonlat(geom).wkt}"))
            ids.append(self.cur.fetchone()[0])
        return ids

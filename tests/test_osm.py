"""``gridmap import osm FILE``: OSM extracts read with GDAL's OSM driver and imported whole."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import psycopg2
import pytest
import shapely
from pyproj import Transformer

from gis.io.osm import (
    DEFAULT_FLOORS,
    ESTIMATE_NOTE,
    OsmImportError,
    import_osm,
    read_osm,
)

HELSINKI = Path(__file__).parent / "data" / "osm" / "helsinki.osm.pbf"
DISTRICT = "530103000000"  # 盘龙区, Kunming


class OsmXml:
    """A small OSM XML file drawn in metres (CGCS2000 GK zone 102°E) around a point of Kunming."""

    def __init__(self, lon: float = 102.70, lat: float = 25.04):
        self.to_ll = Transformer.from_crs(4543, 4326, always_xy=True)
        self.x0, self.y0 = Transformer.from_crs(4326, 4543, always_xy=True).transform(lon, lat)
        self.nodes: list[str] = []
        self.elements: list[str] = []
        self.next_node = 1

    @staticmethod
    def _tags(tags: dict[str, str]) -> str:
        return "".join(f'<tag k={quoteattr(k)} v={quoteattr(v)}/>' for k, v in tags.items())

    def node(self, x: float, y: float, tags: dict[str, str] | None = None,
             node_id: int | None = None) -> int:
        if node_id is None:
            node_id, self.next_node = self.next_node, self.next_node + 1
        lon, lat = self.to_ll.transform(self.x0 + x, self.y0 + y)
        self.nodes.append(f'<node id="{node_id}" lat="{lat:.9f}" lon="{lon:.9f}">'
                          f'{self._tags(tags or {})}</node>')
        return node_id

    def way(self, way_id: int, points: list[tuple[float, float]], tags: dict[str, str],
            *, closed: bool = False) -> int:
        refs = [self.node(x, y) for x, y in points]
        refs += refs[:1] if closed else []
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        self.elements.append(f'<way id="{way_id}">{nds}{self._tags(tags)}</way>')
        return way_id

    def box(self, way_id: int, x0: float, y0: float, x1: float, y1: float,
            tags: dict[str, str]) -> int:
        return self.way(way_id, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], tags, closed=True)

    def relation(self, rel_id: int, outer: int, tags: dict[str, str]) -> int:
        self.elements.append(f'<relation id="{rel_id}"><member type="way" ref="{outer}"'
                             f' role="outer"/>{self._tags(tags)}</relation>')
        return rel_id

    def write(self, path: Path) -> Path:
        # nodes are written in drawing order: ids given explicitly (9xx) come out of order, as
        # in a file saved by an editor, which the reader must cope with
        path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
                        + "\n".join(self.nodes + self.elements) + "\n</osm>\n",
                        encoding="utf-8")
        return path


def tiny(tmp_path: Path) -> Path:
    """Five buildings, a footway crossing a street, a boundary, three centres."""
    osm = OsmXml()
    # 625 m² × 6 floors × 0.75 / 90 = 31.25 → 31 households, 31 × 2.62 = 81.2 → 81 residents
    osm.box(101, 0, 0, 25, 25, {"building": "apartments", "building:levels": "6",
                                "name": "1号楼"})
    # 140 m² × 3 floors (no building:levels) × 0.75 / 90 = 3.5 → 3 households, 7.86 → 8
    osm.box(102, 40, 0, 54, 10, {"building": "house", "addr:street": "北京路",
                                 "addr:housenumber": "12号"})
    osm.box(103, 0, 130, 30, 160, {"building": "yes", "amenity": "school",
                                   "building:levels": "3"})
    # a multipolygon relation; its outer way has no tags of its own
    osm.way(202, [(150, 0), (180, 0), (180, 30), (150, 30)], {}, closed=True)
    osm.relation(201, 202, {"type": "multipolygon", "building": "office",
                            "building:levels": "two", "name:zh": "写字楼"})
    # 260 m² × 4 floors ("4.5") × 0.75 / 90 = 8.67 → 8 households, 20.96 → 21
    osm.box(105, 200, 0, 220, 13, {"building": "dormitory", "building:levels": "4.5"})
    osm.box(104, 60, 130, 90, 160, {"building": "no", "amenity": "parking"})
    # a street, a footway crossing it, a private service way open to walkers, and three ways
    # no pedestrian uses
    osm.way(301, [(-50, 60), (250, 60)], {"highway": "residential", "name": "北京路"})
    osm.way(302, [(100, 0), (100, 120)], {"highway": "footway"})
    osm.way(305, [(100.0, 120.0), (200, 120)], {"highway": "service", "access": "private",
                                                "foot": "yes"})
    osm.way(303, [(-50, 300), (250, 300)], {"highway": "motorway"})
    osm.way(304, [(-50, 250), (250, 250)], {"highway": "service", "access": "private"})
    osm.way(306, [(-50, 280), (250, 280)], {"highway": "primary", "foot": "no"})
    osm.box(401, -100, -100, 300, 320, {"boundary": "administrative", "admin_level": "8",
                                        "name": "鼓楼街道"})
    osm.node(50, 90, {"amenity": "community_centre", "name": "桃源社区党群服务中心"},
             node_id=901)
    osm.node(15, 145, {"amenity": "townhall"}, node_id=902)  # unnamed, inside building 103
    osm.box(106, 120, 130, 140, 150, {"amenity": "social_facility", "name": "养老服务站"})
    return osm.write(tmp_path / "taoyuan.osm")


# --- reading -------------------------------------------------------------------------------------

def test_tiny_extract_buildings_kinds_floors_and_estimates(tmp_path):
    data = read_osm(tiny(tmp_path))
    b = data.buildings.frame.set_index("code")
    assert sorted(b.index) == ["osm:r201", "osm:w101", "osm:w102", "osm:w103", "osm:w105"]
    assert b["kind"].to_dict() == {"osm:w101": "residential", "osm:w102": "residential",
                                   "osm:w103": "school", "osm:r201": "office",
                                   "osm:w105": "residential"}
    assert b["floors"].astype(object).where(b["floors"].notna(), None).to_dict() == {
        "osm:w101": 6, "osm:w102": None, "osm:w103": 3, "osm:r201": None, "osm:w105": 4}
    assert b["footprint_m2"]["osm:w101"] == pytest.approx(625, rel=1e-3)
    assert b["households"].to_dict() == {"osm:w101": 31, "osm:w102": 3, "osm:w103": 0,
                                         "osm:r201": 0, "osm:w105": 8}
    assert b["residents"].to_dict() == {"osm:w101": 81, "osm:w102": 8, "osm:w103": 0,
                                        "osm:r201": 0, "osm:w105": 21}
    assert b["name"].to_dict() == {"osm:w101": "1号楼", "osm:w102": "北京路 12号",
                                   "osm:w103": None, "osm:r201": "写字楼", "osm:w105": None}
    assert ESTIMATE_NOTE in data.buildings.notes and DEFAULT_FLOORS == 3
    geoms = data.buildings.geometry
    assert shapely.is_valid(geoms).all() and set(shapely.get_type_id(geoms)) == {6}
    assert data.buildings.crs == "EPSG:4326" and list(data.buildings.rows) == [1, 2, 3, 4, 5]
    assert data.metric_srid == 4543
    assert data.counts() == {"buildings": 5, "residential": 3, "with_levels": 3,
                             "households": 42, "residents": 110, "walkways": 3,
                             "boundaries": 1, "centres": 3}


def test_tiny_extract_walkways_boundary_and_centres(tmp_path):
    data = read_osm(tiny(tmp_path))
    # the street, the footway and the private service way open to walkers (foot=yes)
    assert len(data.walkways) == 3
    assert set(shapely.get_type_id(data.walkways)) == {1}
    x0, _, x1, _ = shapely.total_bounds(data.walkways)
    assert 102.699 < x0 < x1 < 102.703  # degrees, not metres
    bnd = data.boundaries
    assert bnd[["code", "name", "admin_level"]].to_dict("records") == [
        {"code": "osm:w401", "name": "鼓楼街道", "admin_level": 8}]
    assert bnd["area_m2"][0] == pytest.approx(400 * 420, rel=1e-3)
    c = data.centres.frame.set_index("code")
    assert c["name"].to_dict() == {"osm:n901": "桃源社区党群服务中心",
                                   "osm:n902": "政务服务中心 osm:n902",
                                   "osm:w106": "养老服务站"}
    assert set(c["level"]) == {"community"} and set(c["status"]) == {"existing"}
    # the unnamed town hall stands in the school
    assert c["building_code"].dropna().to_dict() == {"osm:n902": "osm:w103"}
    assert set(shapely.get_type_id(data.centres.geometry)) == {0}


def test_helsinki_pbf_reads_consistently():
    data = read_osm(HELSINKI)
    counts = data.counts()
    assert counts == {"buildings": 482, "residential": 29, "with_levels": 160,
                      "households": 841, "residents": 2203, "walkways": 2246,
                      "boundaries": 0, "centres": 6}
    b = data.buildings.frame
    assert b["code"].is_unique and b["code"].str.match(r"^osm:[wr][0-9]+$").all()
    geoms = data.buildings.geometry
    assert shapely.is_valid(geoms).all() and set(shapely.get_type_id(geoms)) == {6}
    assert (shapely.area(geoms) > 0).all()
    assert (b.loc[b["kind"] != "residential", "households"] == 0).all()
    assert (b["residents"] >= b["households"]).all()
    assert data.metric_srid == 32635  # UTM 35N
    assert any("cut at the edge" in n for n in data.notes)
    assert data.centres.frame["code"].is_unique


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(OsmImportError, match="nope.osm: no such file"):
        read_osm(tmp_path / "nope.osm")
    other = tmp_path / "roads.geojson"
    other.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(OsmImportError, match="roads.geojson: cannot be read as an OSM extract"):
        read_osm(other)
    empty = OsmXml()
    empty.node(0, 0, {"amenity": "bench"})
    with pytest.raises(OsmImportError, match="no buildings and no walkways"):
        read_osm(empty.write(tmp_path / "empty.osm"))


# --- importing -----------------------------------------------------------------------------------

def counts(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        out = {}
        for table in ("regions", "buildings", "service_centers", "walk_nodes", "walk_edges"):
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = cur.fetchone()[0]
        return out


def test_tiny_import_makes_a_street_and_community_when_no_boundary_is_below(schema_conn,
                                                                             tmp_path):
    path = tiny(tmp_path)
    summary = import_osm(schema_conn, path, district=DISTRICT)
    # the only boundary (admin_level 8) names the new district; nothing lies below it
    assert summary["district_name"] == "鼓楼街道"
    assert summary["admin_levels"] == {"district": 8, "street": None, "community": None}
    assert {k: summary[k] for k in ("city_created", "district_created", "streets_created",
                                    "communities_created", "buildings", "buildings_inserted",
                                    "buildings_outside", "centres", "centres_inserted",
                                    "walkways", "nodes", "edges")} == {
        "city_created": 1, "district_created": 1, "streets_created": 1,
        "communities_created": 1, "buildings": 5, "buildings_inserted": 5,
        "buildings_outside": 0, "centres": 3, "centres_inserted": 3, "walkways": 3,
        "nodes": 5, "edges": 4}
    with schema_conn.cursor() as cur:
        cur.execute("SELECT code, level, name, parent_code FROM regions ORDER BY code")
        assert cur.fetchall() == [
            ("530100000000", "city", "鼓楼街道所在市", None),
            ("530103000000", "district", "鼓楼街道", "530100000000"),
            ("530103001000", "street", "taoyuan", "530103000000"),
            ("530103001001", "community", "taoyuan", "530103001000")]
        cur.execute("SELECT code, kind, floors, households, residents, community_code"
                    " FROM buildings ORDER BY code")
        assert cur.fetchall() == [
            ("osm:r201", "office", None, 0, 0, "530103001001"),
            ("osm:w101", "residential", 6, 31, 81, "530103001001"),
            ("osm:w102", "residential", None, 3, 8, "530103001001"),
            ("osm:w103", "school", 3, 0, 0, "530103001001"),
            ("osm:w105", "residential", 4, 8, 21, "530103001001")]
        cur.execute("SELECT c.code, c.level, c.status, c.region_code, b.code FROM service_centers c"
                    " LEFT JOIN buildings b ON b.id = c.building_id ORDER BY c.code")
        assert cur.fetchall() == [
            ("osm:n901", "community", "existing", "530103001001", None),
            ("osm:n902", "community", "existing", "530103001001", "osm:w103"),
            ("osm:w106", "community", "existing", "530103001001", None)]
        cur.execute("SELECT count(*) FROM walk_edges WHERE kind = 'street'")
        assert cur.fetchone()[0] == 4


def district_extract(tmp_path: Path) -> Path:
    """A district boundary (level 6) holding two streets (8) with a community (10) each, and a
    street of the neighbouring district that the extract caught."""
    osm = OsmXml()
    osm.box(500, 0, 0, 1000, 500, {"boundary": "administrative", "admin_level": "6",
                                   "name": "盘龙区"})
    osm.box(510, 0, 0, 500, 500, {"boundary": "administrative", "admin_level": "8",
                                  "name": "鼓楼街道"})
    osm.box(520, 500, 0, 1000, 500, {"boundary": "administrative", "admin_level": "8",
                                     "name": "东华街道", "name:zh": "东华街道"})
    osm.box(530, 1000, 0, 1500, 500, {"boundary": "administrative", "admin_level": "8",
                                      "name": "邻区街道"})
    osm.box(511, 0, 0, 500, 250, {"boundary": "administrative", "admin_level": "10",
                                  "name": "桃源社区"})
    osm.box(521, 500, 0, 1000, 250, {"boundary": "administrative", "admin_level": "10",
                                     "name": "新村社区"})
    osm.box(101, 100, 100, 130, 120, {"building": "apartments", "building:levels": "6"})
    osm.box(102, 600, 100, 630, 120, {"building": "residential"})
    osm.box(103, 300, 400, 320, 420, {"building": "retail"})  # north of both communities
    osm.way(301, [(0, 200), (1000, 200)], {"highway": "tertiary"})
    osm.way(302, [(400, 0), (400, 450)], {"highway": "footway"})
    osm.node(110, 90, {"amenity": "community_centre", "name": "桃源社区党群服务中心"},
             node_id=901)
    return osm.write(tmp_path / "panlong.osm")


def test_boundaries_become_streets_and_communities_keeping_known_codes(schema_conn, tmp_path):
    with schema_conn.cursor() as cur:
        cur.execute("""INSERT INTO regions (code, level, name, parent_code) VALUES
            ('530100000000', 'city', '昆明市', NULL),
            ('530103000000', 'district', '盘龙区', '530100000000'),
            ('530103002000', 'street', '鼓楼街道', '530103000000'),
            ('530103002001', 'community', '桃源社区', '530103002000'),
            ('530103002004', 'community', '青年路社区', '530103002000')""")
    path = district_extract(tmp_path)
    summary = import_osm(schema_conn, path, district=DISTRICT)
    assert summary["admin_levels"] == {"district": 6, "street": 8, "community": 10}
    assert {k: summary[k] for k in ("city_created", "district_created", "streets_created",
                                    "streets_kept", "communities_created",
                                    "communities_kept", "buildings", "buildings_outside")} == {
        "city_created": 0, "district_created": 0, "streets_created": 1, "streets_kept": 1,
        "communities_created": 1, "communities_kept": 1, "buildings": 3,
        "buildings_outside": 1}
    with schema_conn.cursor() as cur:
        cur.execute("SELECT code, level, name, parent_code, geom IS NOT NULL FROM regions"
                    " WHERE level IN ('street', 'community') ORDER BY code")
        assert cur.fetchall() == [
            ("530103002000", "street", "鼓楼街道", "530103000000", True),
            ("530103002001", "community", "桃源社区", "530103002000", True),
            ("530103002004", "community", "青年路社区", "530103002000", False),
            # serials after the largest in use
            ("530103003000", "street", "东华街道", "530103000000", True),
            ("530103003001", "community", "新村社区", "530103003000", True)]
        cur.execute("SELECT code, community_code FROM buildings ORDER BY code")
        assert cur.fetchall() == [("osm:w101", "530103002001"), ("osm:w102", "530103003001"),
                                  ("osm:w103", None)]
        cur.execute("SELECT region_code FROM service_centers")
        assert cur.fetchall() == [("530103002001",)]
    # again: everything is found by name and code, nothing is added
    again = import_osm(schema_conn, path, district=DISTRICT)
    assert (again["streets_created"], again["communities_created"]) == (0, 0)
    assert (again["buildings_inserted"], again["buildings_unchanged"]) == (0, 3)
    # levels can be given: streets only, each with one community covering it
    streets_only = import_osm(schema_conn, path, district=DISTRICT, admin_levels=(8, None),
                              dry_run=True)
    assert streets_only["communities_created"] == 2  # 鼓楼街道 and 东华街道 as communities


def test_bad_district_codes_are_refused(schema_conn, tmp_path):
    path = tiny(tmp_path)
    for code in ("530103", "530103002000", "530100000000", "53010300000x"):
        with pytest.raises(OsmImportError, match="not the 12-digit code of a district"):
            import_osm(schema_conn, path, district=code)
    assert counts(schema_conn)["regions"] == 0


def test_helsinki_import_dry_run_reimport_coverage_and_access(database_factory):
    from gis.access_store import run_access
    from gis.coverage import run_coverage

    url = database_factory("osm")
    conn = psycopg2.connect(url)
    try:
        dry = import_osm(conn, HELSINKI, district=DISTRICT, dry_run=True)
        conn.commit()
        assert dry["dry_run"] and dry["buildings_inserted"] == 482
        assert counts(conn) == dict.fromkeys(("regions", "buildings", "service_centers",
                                              "walk_nodes", "walk_edges"), 0)

        first = import_osm(conn, HELSINKI, district=DISTRICT)
        conn.commit()
        assert {k: first[k] for k in ("buildings", "residential", "with_levels", "walkways",
                                      "nodes", "edges", "centres", "buildings_inserted",
                                      "buildings_outside", "streets_created",
                                      "communities_created")} == {
            "buildings": 482, "residential": 29, "with_levels": 160, "walkways": 2246,
            "nodes": 2468, "edges": 3695, "centres": 6, "buildings_inserted": 482,
            "buildings_outside": 0, "streets_created": 1, "communities_created": 1}
        assert {k: dry[k] for k in first if k != "dry_run"} == \
            {k: first[k] for k in first if k != "dry_run"}
        after_first = counts(conn)
        assert after_first == {"regions": 4, "buildings": 482, "service_centers": 6,
                               "walk_nodes": 2468, "walk_edges": 3695}
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FILTER (WHERE community_code = '530103001001'),"
                        " count(DISTINCT code), bool_and(ST_IsValid(geom)),"
                        " sum(households), sum(residents) FROM buildings")
            assert cur.fetchone() == (482, 482, True, 841, 2203)

        second = import_osm(conn, HELSINKI, district=DISTRICT)
        conn.commit()
        assert (second["buildings_inserted"], second["buildings_updated"],
                second["buildings_unchanged"]) == (0, 0, 482)
        assert (second["streets_kept"], second["communities_kept"]) == (1, 1)
        assert counts(conn) == after_first

        # the "coverage and access run on it", isochrones included
        access = run_access(conn, with_isochrones=True)
        kpis = access.kpis
        assert kpis["buildings"] == 482 and kpis["residents"] == 2203
        assert 0 < kpis["residents_within_radius_walk"] <= kpis["residents"]
        coverage = run_coverage(conn, region=DISTRICT)
        conn.commit()
        gaps = {g["kind"] for g in coverage.gaps}
        assert "building_no_grid" in gaps  # OSM brings no grids
        assert coverage.kpis["buildings"] == 482 and coverage.kpis["residents"] == 2203
        assert coverage.kpis["residents_within_radius"] == kpis["residents_within_radius_walk"]
    finally:
        conn.close()


def test_a_failed_import_leaves_the_transaction_as_it_was(schema_conn, tmp_path):
    path = tiny(tmp_path)
    with schema_conn.cursor() as cur:
        cur.execute("""INSERT INTO regions (code, level, name, parent_code) VALUES
            ('530100000000', 'city', '昆明市', NULL),
            ('530103000000', 'district', '盘龙区', '530100000000')""")
        # a rule of this database refuses building 101 (31 households), after the regions
        # were written
        cur.execute("ALTER TABLE buildings ADD CONSTRAINT small CHECK (households < 20)")
    before = counts(schema_conn)
    with pytest.raises(OsmImportError, match="taoyuan.osm: .*refused"):
        import_osm(schema_conn, path, district=DISTRICT)
    assert counts(schema_conn) == before  # and the transaction is still usable


def test_cli_imports_osm_and_names_the_problem(database_factory, tmp_path):
    import json
    import subprocess
    import sys

    url = database_factory("osmcli")
    gridmap = str(Path(sys.executable).with_name("gridmap"))
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    path = tiny(tmp_path)
    ok = subprocess.run([gridmap, "import", "osm", str(path), "--district", DISTRICT, "--json"],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert (summary["buildings"], summary["centres"], summary["edges"]) == (5, 3, 4)
    conn = psycopg2.connect(url)
    try:
        assert counts(conn)["buildings"] == 5
    finally:
        conn.close()
    bad = subprocess.run([gridmap, "import", "osm", str(path), "--district", "5301"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "not the 12-digit code of a district" in bad.stderr

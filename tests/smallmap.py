"""A tiny hand-made district for map tests: two communities of 鼓楼街道, grids, buildings, staff.

Used where the tests need fixed, known values (popup contents, a region filter) independent of
the demo generator. ``insert_small_district(conn)`` writes it into an empty migrated database.
"""

from __future__ import annotations

CITY, DISTRICT, STREET = "530100000000", "530103000000", "530103002000"
TAOYUAN, LINGGUANG = "530103002001", "530103002002"

GRID_CODE = TAOYUAN + "001"
CENTER_NAME = "桃源社区党群服务中心"
HEAD_NAME = "李网格"
BRANCH_NAME = "桃源社区第1网格党支部"
GROUP_NAME = "桃源1栋党小组"
RESPONSIBLE = "王责任"


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return (f"SRID=4326;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))")


def insert_small_district(conn) -> None:
    """Insert the small district (two communities, 4 grids each layer ...) and commit."""
    cur = conn.cursor()
    regions = [
        (CITY, "city", "昆明市", None, None),
        (DISTRICT, "district", "盘龙区", CITY, _box(102.70, 25.04, 102.72, 25.05)),
        (STREET, "street", "鼓楼街道", DISTRICT, _box(102.70, 25.04, 102.72, 25.05)),
        (TAOYUAN, "community", "桃源社区", STREET, _box(102.70, 25.04, 102.71, 25.05)),
        (LINGGUANG, "community", "灵光社区", STREET, _box(102.71, 25.04, 102.72, 25.05)),
    ]
    cur.executemany("INSERT INTO regions (code, level, name, parent_code, geom) "
                    "VALUES (%s, %s, %s, %s, %s)", regions)
    grid_ids: dict[tuple[str, str], int] = {}
    for comm, x0, cname in ((TAOYUAN, 102.70, "桃源"), (LINGGUANG, 102.71, "灵光")):
        for i in range(2):
            xa, xb = x0 + i * 0.005, x0 + (i + 1) * 0.005
            for layer, label in (("governance", "综治网格"), ("party", "党建网格")):
                cur.execute(
                    "INSERT INTO grids (code, layer, community_code, name, geom) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (f"{comm}{i + 1:03d}", layer, comm, f"{cname}第{i + 1}{label}",
                     _box(xa, 25.04, xb, 25.05)))
                grid_ids[(f"{comm}{i + 1:03d}", layer)] = cur.fetchone()[0]
    buildings = []
    kinds = ["residential", "residential", "office", "market", "school", "park"]
    n = 0
    for comm in (TAOYUAN, LINGGUANG):
        x0 = 102.70 if comm == TAOYUAN else 102.71
        for i, kind in enumerate(kinds):
            n += 1
            xa = x0 + 0.0005 + (i % 3) * 0.003
            ya = 25.041 + (i // 3) * 0.004
            gcode = f"{comm}{1 if xa < x0 + 0.005 else 2:03d}"
            hh = 120 if kind == "residential" else 0
            buildings.append((f"B{n:03d}", f"{'桃源' if comm == TAOYUAN else '灵光'}{i + 1}栋",
                              comm, grid_ids[(gcode, "governance")], kind, hh, hh * 3,
                              18 if kind == "residential" else 4, kind == "residential" and i == 1,
                              _box(xa, ya, xa + 0.0008, ya + 0.0012)))
    cur.executemany(
        "INSERT INTO buildings (code, name, community_code, grid_id, kind, households, residents,"
        " floors, is_rental, geom) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", buildings)
    cur.execute("SELECT id FROM buildings WHERE code = 'B001'")
    b1 = cur.fetchone()[0]
    g1 = grid_ids[(GRID_CODE, "governance")]
    p1 = grid_ids[(GRID_CODE, "party")]
    cur.execute("INSERT INTO party_orgs (kind, name, region_code) VALUES "
                "('community_committee', '桃源社区党委', %s) RETURNING id", (TAOYUAN,))
    top = cur.fetchone()[0]
    cur.execute("INSERT INTO party_orgs (kind, name, parent_id, region_code, grid_id) VALUES "
                "('grid_branch', %s, %s, %s, %s) RETURNING id", (BRANCH_NAME, top, TAOYUAN, p1))
    branch = cur.fetchone()[0]
    cur.execute("INSERT INTO party_orgs (kind, name, parent_id, region_code, building_id) VALUES "
                "('building_group', %s, %s, %s, %s)", (GROUP_NAME, branch, TAOYUAN, b1))
    cur.execute("INSERT INTO members (name, category, org_id, home_building_id) VALUES "
                "(%s, 'registered', %s, %s) RETURNING id", (RESPONSIBLE, branch, b1))
    member = cur.fetchone()[0]
    cur.execute("INSERT INTO member_buildings VALUES (%s, %s)", (member, b1))
    cur.executemany("INSERT INTO grid_staff (grid_id, role, name) VALUES (%s, %s, %s)",
                    [(g1, "head", HEAD_NAME), (g1, "full_time", "赵专职"),
                     (g1, "part_time", "钱兼职")])
    cur.executemany(
        "INSERT INTO service_centers (code, name, level, status, floor_area_m2, region_code,"
        " radius_m, geom) VALUES (%s,%s,%s,%s,%s,%s,%s, ST_SetSRID(ST_MakePoint(%s,%s),4326))",
        [("C1", "鼓楼街道党群服务中心", "street", "existing", 1200, STREET, None, 102.712, 25.046),
         ("C2", CENTER_NAME, "community", "existing", 450, TAOYUAN, None, 102.703, 25.047),
         ("C3", "桃源第2网格党群服务站", "grid", "planned", 80, TAOYUAN, 250, 102.707, 25.043)])
    conn.commit()

"""Headless Chromium on the grid editing page: every operation on the demo, through the map.

- 桃源社区: select a grid, drag one of its vertices, see the preview numbers, save, reload the
  page and find the new boundary, undo and get the original tiling back exactly;
- a grid changed by someone else meanwhile: the preview says so and the grid is reloaded;
- 灵光社区 (party layer): the split-to-balance suggestion of its 791-household grid, accepted,
  then the two parts merged again; 白塔社区: a new grid drawn over its hole, copied onto the
  party layer, deleted, and the deletion undone.

The page writes, so the module loads a demo database of its own. Screenshots go to
``test-artifacts/edit-preview.png`` (a vertex dragged, before saving) and
``test-artifacts/edit-result.png`` (after saving).
"""

from __future__ import annotations

import json
import math
import urllib.request

import pytest
import shapely
from browser import ARTIFACTS, hosts, live_server, new_log, open_tracked, page_point
from helpers import rows

pytestmark = pytest.mark.browser

TAOYUAN, LINGGUANG, BAITA = "530103002001", "530103002002", "530103001003"
READY = "window.gmEditState !== undefined && document.querySelectorAll('path.gm-grid').length > 0"
PAGE_POINT = page_point("window.gmEditState.map")
IDLE = "!window.gmEditState.busy()"


def status_is(text: str) -> str:
    return (f"document.querySelector('#gm-status').innerText === {json.dumps(text)}"
            f" && {IDLE}")


def message_has(text: str) -> str:
    return f"document.querySelector('#gm-message').innerText.includes({json.dumps(text)}) && {IDLE}"


@pytest.fixture(scope="module")
def edit_db(writable_demo_url):
    """A demo copy of its own: the tests save grid edits."""
    return writable_demo_url("editbrowser")


@pytest.fixture(scope="module")
def live_url(edit_db):
    with live_server(edit_db) as url:
        yield url


@pytest.fixture
def open_page(chromium, live_url):
    """Open an editing page in a new tab; afterwards, check nothing failed or left 127.0.0.1."""
    pages, log = [], new_log()

    def opener(query: str):
        # 409 is an answer the page handles (someone else changed the grid)
        page = open_tracked(chromium, f"{live_url}/edit?{query}", READY, fonts=False,
                            answered=(409,), log=log)["page"]
        pages.append(page)
        return page

    yield opener
    for page in pages:
        page.close()
    requests, failures, errors = log["requests"], log["failures"], log["errors"]
    assert hosts(requests) <= {"127.0.0.1"}, requests
    assert errors == [] and failures == []


def reload(page):
    page.reload(wait_until="load")
    page.wait_for_function(READY, timeout=30_000)


def geometries(url, community, layer):
    """Every grid of a community layer: id → hex EWKB."""
    return dict(rows(url, "SELECT id, encode(ST_AsEWKB(geom), 'hex') FROM grids"
                          " WHERE community_code = %s AND layer = %s", (community, layer)))


def equal_to(url, grid_id, ewkb) -> bool:
    return rows(url, "SELECT ST_Equals(geom, ST_GeomFromEWKB(decode(%s, 'hex'))) FROM grids"
                     " WHERE id = %s", (ewkb, grid_id))[0][0]


def inner_vertex(url, community):
    """A governance grid of ``community`` and its vertex furthest inside the community.

    Moving such a vertex (a corner shared with neighbouring grids) outward keeps the polygon
    valid and inside the community; the neighbours it now covers are clipped.
    """
    boundary = shapely.from_wkb(bytes(rows(url, "SELECT ST_AsBinary(ST_Boundary(geom))"
                                               " FROM regions WHERE code = %s",
                                           (community,))[0][0]))
    for grid_id, wkb in rows(url, "SELECT id, ST_AsBinary(geom) FROM grids WHERE"
                                  " community_code = %s AND layer = 'governance' ORDER BY code",
                             (community,)):
        grid = shapely.from_wkb(bytes(wkb))
        ring = shapely.get_exterior_ring(shapely.get_geometry(grid, 0))
        vertices = shapely.get_coordinates(ring)[:-1]
        far = max(vertices, key=lambda v: boundary.distance(shapely.Point(v)))
        if boundary.distance(shapely.Point(far)) > 3e-4:  # ≈ 30 m inside
            return grid_id, tuple(far), grid.centroid.coords[0]
    pytest.fail(f"no grid of {community} has a vertex inside the community")


def drag(page, start, end):
    """Drag with the mouse from ``start`` to ``end`` (page pixels), in small steps."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + (end[0] - start[0]) / 3, start[1] + (end[1] - start[1]) / 3,
                    steps=5)
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def click_grid(page, url, grid_id):
    """Click a grid on the map, at a point inside it that no other layer covers."""
    (lon, lat), = rows(url, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p"
                            " FROM grids WHERE id = %s) x", (grid_id,))
    x, y = page.evaluate(PAGE_POINT, [lat, lon])
    page.mouse.click(x, y)
    page.wait_for_function(f"window.gmEditState.selected() === {grid_id}", timeout=5_000)


def test_drag_a_vertex_preview_save_reload_and_undo(open_page, edit_db):
    grid_id, vertex, centroid = inner_vertex(edit_db, TAOYUAN)
    original = geometries(edit_db, TAOYUAN, "governance")
    (version,), = rows(edit_db, "SELECT version FROM grids WHERE id = %s", (grid_id,))
    page = open_page(f"region={TAOYUAN}")
    assert page.inner_text("#gm-status") == "无修改"
    assert page.locator("#gm-grid-table tbody tr").count() == len(original)

    # 1. select the grid on the map: its vertices become draggable
    click_grid(page, edit_db, grid_id)
    assert "版本 " + str(version) in page.inner_text("#gm-selected")
    vx, vy = page.evaluate(PAGE_POINT, [vertex[1], vertex[0]])
    cx, cy = page.evaluate(PAGE_POINT, [centroid[1], centroid[0]])
    on_marker = page.evaluate("([x, y]) => !!document.elementFromPoint(x, y)"
                              ".closest('.marker-icon')", [vx, vy])
    assert on_marker, "no vertex handle under the grid's corner"

    # 2. drag the corner outward by 90 px (about 50 m): the preview shows the numbers
    length = math.hypot(vx - cx, vy - cy)
    target = (vx + 90 * (vx - cx) / length, vy + 90 * (vy - cy) / length)
    drag(page, (vx, vy), target)
    page.wait_for_function(status_is("预览（未保存）"), timeout=15_000)
    preview = page.evaluate("() => window.gmEditLast")
    assert preview["committed"] is False and preview["action"] == "update"
    table = page.inner_text("#gm-preview-grids")
    mine = next(g for g in preview["grids"] if g["id"] == grid_id)
    assert mine["after"]["area_m2"] > mine["before"]["area_m2"]
    assert f"{mine['before']['households']:,} → {mine['after']['households']:,}" in table
    assert preview["clipped"], "the corner moved into the neighbours: they are clipped"
    body = page.inner_text("#gm-preview-body")
    assert "被裁切的相邻网格" in body and "覆盖指标" in body
    for c in preview["clipped"]:
        assert c["code"] in body
    for b in preview["moved_buildings"]:
        assert b["name"] in body
    # the buildings changing grid are outlined on the map
    outlined = page.locator(".leaflet-gm-buildings-pane path[stroke='#ffd21f']").count()
    assert outlined == len(preview["moved_buildings"])
    hatched = page.locator(".leaflet-gm-preview-pane path").count()
    assert hatched == len(preview["clipped"]) + len(preview["new_holes"])
    assert rows(edit_db, "SELECT version FROM grids WHERE id = %s", (grid_id,))[0][0] == version
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "edit-preview.png"))

    # 3. save: the grid has its new boundary and its next version
    page.click("#gm-save")
    page.wait_for_function(status_is("已保存"), timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "edit-result.png"))
    (saved_version, same, history), = rows(edit_db, """
        SELECT version, ST_Equals(geom, ST_GeomFromEWKB(decode(%s, 'hex'))),
               (SELECT array_agg(action ORDER BY version) FROM grid_history WHERE grid_id = %s)
        FROM grids WHERE id = %s""", (original[grid_id], grid_id, grid_id))
    assert saved_version == version + 1 and not same and history == ["import", "update"]
    (lat, lon) = page.evaluate("([x, y]) => { const m = window.gmEditState.map;"
                               " const r = m.getContainer().getBoundingClientRect();"
                               " const p = m.containerPointToLatLng([x - r.left, y - r.top]);"
                               " return [p.lat, p.lng]; }", list(target))
    (moved_m,), = rows(edit_db, """
        SELECT min(ST_Distance((d).geom::geography,
                               ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography))
        FROM (SELECT ST_DumpPoints(geom) d FROM grids WHERE id = %s) x""", (lon, lat, grid_id))
    assert moved_m < 2.0, f"no vertex where the corner was dropped ({moved_m:.1f} m away)"
    for c in preview["clipped"]:
        assert not equal_to(edit_db, c["id"], original[c["id"]])

    # 4. reload: the page draws the saved boundary, and the edit can still be undone
    reload(page)
    drawn = page.evaluate(f"""() => {{
        const f = window.gmEditState.S.grids.features.find(f => f.id === {grid_id});
        return [f.properties.version, JSON.stringify(f.geometry)]; }}""")
    assert drawn[0] == saved_version
    stored = rows(edit_db, "SELECT ST_AsGeoJSON(geom, 7) FROM grids WHERE id = %s",
                  (grid_id,))[0][0]
    assert json.loads(drawn[1]) == json.loads(stored)
    assert "可撤销：调整边界" in page.inner_text("#gm-undo-note")

    # 5. undo: every grid of the community has its original boundary again
    page.click("#gm-undo")
    page.wait_for_function(message_has("已撤销"), timeout=15_000)
    for gid, ewkb in original.items():
        assert equal_to(edit_db, gid, ewkb), gid
    assert rows(edit_db, "SELECT action FROM grid_history WHERE grid_id = %s"
                         " ORDER BY version DESC LIMIT 1", (grid_id,)) == [("restore",)]
    assert not page.locator("#gm-redo").is_disabled()
    assert page.locator("#gm-undo").is_disabled()


def test_a_grid_changed_meanwhile_is_reloaded(open_page, edit_db, live_url):
    grid_id, vertex, centroid = inner_vertex(edit_db, TAOYUAN)
    page = open_page(f"region={TAOYUAN}&grid={grid_id}")
    page.wait_for_function(f"window.gmEditState.selected() === {grid_id}", timeout=5_000)
    (version, shape), = rows(edit_db, "SELECT version, ST_AsGeoJSON(geom) FROM grids"
                                      " WHERE id = %s", (grid_id,))
    # another planner saves the grid (same shape, next version) while this page is open
    request = urllib.request.Request(
        f"{live_url}/api/grids/{grid_id}", method="PUT",
        data=json.dumps({"geometry": json.loads(shape), "version": version}).encode(),
        headers={"Content-Type": "application/json", "X-Gridmap-User": "planner-2"})
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 200
    vx, vy = page.evaluate(PAGE_POINT, [vertex[1], vertex[0]])
    cx, cy = page.evaluate(PAGE_POINT, [centroid[1], centroid[0]])
    length = math.hypot(vx - cx, vy - cy)
    drag(page, (vx, vy), (vx + 30 * (vx - cx) / length, vy + 30 * (vy - cy) / length))
    page.wait_for_function(message_has("该网格已被他人修改，请刷新"), timeout=15_000)
    page.wait_for_function(f"document.querySelector('#gm-selected').innerText"
                           f".includes('版本 {version + 1}')", timeout=10_000)
    assert page.inner_text("#gm-status") == "无修改"
    assert rows(edit_db, "SELECT version FROM grids WHERE id = %s", (grid_id,))[0][0] \
        == version + 1


def test_balance_split_merge_draw_copy_delete(open_page, edit_db):
    # split to balance: 灵光社区's party grid 001 holds 791 households
    (big, households), = rows(edit_db, """
        SELECT g.id, sum(b.households) FROM grids g JOIN buildings b
          ON b.community_code = g.community_code
         AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.community_code = %s AND g.layer = 'party' GROUP BY g.id
        ORDER BY 2 DESC LIMIT 1""", (LINGGUANG,))
    assert households > 500
    page = open_page(f"region={LINGGUANG}&layer=party&grid={big}")
    page.wait_for_function(f"window.gmEditState.selected() === {big}", timeout=5_000)
    before = geometries(edit_db, LINGGUANG, "party")
    page.click("#gm-balance")
    page.wait_for_function(status_is("预览（未保存）"), timeout=15_000)
    assert "建议切分为 2 部分" in page.inner_text("#gm-message")
    preview = page.evaluate("() => window.gmEditLast")
    assert preview["action"] == "split"
    assert all(300 <= g["after"]["households"] <= 500 for g in preview["grids"])
    page.click("#gm-save")
    page.wait_for_function(status_is("已保存"), timeout=15_000)
    after = geometries(edit_db, LINGGUANG, "party")
    new = (set(after) - set(before)).pop()
    assert len(after) == len(before) + 1

    # merge the two parts again, keeping the first one's code
    page.click("#gm-merge")
    assert page.locator("#gm-mode-hint").is_visible()
    click_point = rows(edit_db, "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_PointOnSurface(geom) p"
                                " FROM grids WHERE id = %s) x", (new,))[0]
    page.mouse.click(*page.evaluate(PAGE_POINT, list(click_point)))
    page.wait_for_function(status_is("预览（未保存）"), timeout=15_000)
    assert page.locator("#gm-keep input[type=radio]").count() == 2
    assert "将被删除" in page.inner_text("#gm-preview-grids")
    page.click("#gm-save")
    page.wait_for_function(status_is("已保存"), timeout=15_000)
    assert set(geometries(edit_db, LINGGUANG, "party")) == set(before)
    # the cut's points on the outline are computed (rounded): the same shape within the gap
    # tolerance (under 1 m², digitising noise)
    (off,), = rows(edit_db, "SELECT ST_Area(ST_SymDifference(geom, ST_GeomFromEWKB("
                            "decode(%s, 'hex')))::geography) FROM grids WHERE id = %s",
                   (before[big], big))
    assert off < 1.0

    # draw a new grid over 白塔社区's hole (its corners clicked, the first again to finish)
    hole = "ST_Difference(r.geom, (SELECT ST_Union(geom) FROM grids WHERE community_code = r.code" \
           " AND layer = %s))"
    (ring,), = rows(edit_db, f"SELECT ST_AsGeoJSON({hole}) FROM regions r WHERE code = %s",
                    ("governance", BAITA))
    corners = json.loads(ring)["coordinates"][0][:-1]
    page = open_page(f"region={BAITA}")
    page.click("#gm-draw")
    for lon, lat in corners + corners[:1]:
        page.mouse.click(*page.evaluate(PAGE_POINT, [lat, lon]))
        page.wait_for_timeout(120)
    page.wait_for_function(status_is("预览（未保存）"), timeout=15_000)
    assert "新网格" in page.inner_text("#gm-preview-grids")
    page.click("#gm-save")
    page.wait_for_function(status_is("已保存"), timeout=15_000)
    (left,), = rows(edit_db, f"SELECT ST_Area({hole}::geography) FROM regions r WHERE code = %s",
                    ("governance", BAITA))
    assert left < 1.0  # the hole is covered
    (drawn, code), = rows(edit_db, "SELECT id, code FROM grids WHERE community_code = %s"
                                   " AND layer = 'governance' ORDER BY id DESC LIMIT 1", (BAITA,))
    page.wait_for_function(f"window.gmEditState.selected() === {drawn}", timeout=5_000)

    # copy it onto the party layer, which has the same hole
    page.click("#gm-copy")
    page.wait_for_function(status_is("预览（未保存）"), timeout=15_000)
    page.click("#gm-save")
    page.wait_for_function(status_is("已保存"), timeout=15_000)
    (twin,), = rows(edit_db, """
        SELECT ST_Equals(p.geom, g.geom) FROM grids p JOIN grids g ON g.code = p.code
        WHERE p.layer = 'party' AND g.id = %s""", (drawn,))
    assert twin

    # delete the drawn grid, then undo: it is drawn again from its history
    page.click("#gm-delete")
    page.wait_for_function(status_is("预览（未保存）"), timeout=15_000)
    assert "新出现的空白区" in page.inner_text("#gm-preview-body")
    page.click("#gm-save")
    page.wait_for_function(status_is("已保存"), timeout=15_000)
    assert rows(edit_db, "SELECT count(*) FROM grids WHERE id = %s", (drawn,))[0][0] == 0
    page.click("#gm-undo")
    page.wait_for_function(message_has("已撤销"), timeout=15_000)
    (again, same), = rows(edit_db, """
        SELECT g.code, ST_Equals(g.geom, h.geom) FROM grids g, grid_history h
        WHERE g.community_code = %s AND g.layer = 'governance' AND h.grid_id = %s
          AND h.version = 1 AND g.id = (SELECT max(id) FROM grids WHERE layer = 'governance'
                                        AND community_code = %s)""", (BAITA, drawn, BAITA))
    assert same and again == code

"""Headless Chromium on the access page of 桃源社区: the live what-if of service centres.

Dragging a centre re-evaluates access and the KPI panel changes, buildings are recoloured and the
lines follow; "添加服务站" places a new centre with a click on the map; a centre's popup removes
it or saves it as a planned centre; "恢复现状" brings the stored results back. The screenshot
goes to ``test-artifacts/access.png``.
"""

from __future__ import annotations

import re

import pytest
from browser import ARTIFACTS, live_server, open_tracked, page_point
from browser import hosts as hosts_of
from helpers import rows as _rows

pytestmark = pytest.mark.browser

TAOYUAN = "530103002001"
DRAWN = ("document.querySelectorAll('path.leaflet-interactive').length > 0"
         " && document.querySelector('.leaflet-control-layers') !== null"
         " && document.querySelectorAll('.leaflet-marker-pane .awesome-marker').length > 0"
         " && window.gmAccessState !== undefined")
PAGE_POINT = page_point("window.gmAccessState.map")
# whether a page point is on the open map (not under a control, the legend or a popup)
FREE_SPOT = """([x, y]) => {
    const e = document.elementFromPoint(x, y);
    const map = window.gmAccessState.map.getContainer();
    return !!e && map.contains(e) && !e.closest('.leaflet-control, .gm-legend, .leaflet-popup,'
                                                + ' .leaflet-marker-icon');
}"""
KPIS = "() => document.querySelector('#gm-acc-kpis table').innerText"
# every building path's fill against the colour of its band in the last what-if answer
RECOLOURED = """() => {
    const state = window.gmAccessState, byId = {};
    window.gmAccessLast.buildings.forEach(b => { byId[b.id] = b; });
    let wrong = 0, checked = 0;
    state.buildings.eachLayer(l => {
        const b = byId[l.feature.id];
        if (!b) return;
        const key = b.walk_m === null ? 'unreachable'
            : b.walk_band_m === null ? 'beyond' : String(b.walk_band_m);
        checked += 1;
        if (l.options.fillColor !== state.colors[key]) wrong += 1;
    });
    return [checked, wrong];
}"""


@pytest.fixture(scope="module")
def browser_demo_url(writable_demo_url):
    """A demo copy of its own: the page stores access results and the test saves a centre."""
    return writable_demo_url("accessbrowser")


@pytest.fixture(scope="module")
def live_url(browser_demo_url):
    with live_server(browser_demo_url) as url:
        yield url


@pytest.fixture(scope="module")
def access_page(chromium, live_url):
    return open_tracked(chromium, f"{live_url}/access?region={TAOYUAN}", DRAWN)


def _icon_centre(page, selector):
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 3
    on_top = page.evaluate("([x, y, s]) => { const e = document.elementFromPoint(x, y);"
                           " return !!e && document.querySelector(s).contains(e); }",
                           [x, y, selector])
    assert on_top, f"{selector} is covered"
    return x, y


def _timing_ms(page) -> int:
    return int(re.search(r"(\d+) ms", page.inner_text("#gm-timing")).group(1))


def test_the_walkthrough(access_page, browser_demo_url):
    page = access_page["page"]
    hosts = hosts_of(access_page["requests"])
    assert hosts == {"127.0.0.1"}, access_page["requests"]
    control = page.locator(".leaflet-control-layers").inner_text()
    for name in ("楼栋（按步行距离着色）", "步行 300 米等时圈", "服务半径", "楼栋至服务站连线",
                 "党群服务中心（站）"):
        assert name in control
    assert page.inner_text("#gm-acc-mode") == "现状（已保存的计算结果）"
    stored_kpis = page.evaluate(KPIS)
    page.evaluate("() => { const m = window.gmAccessState.map;"
                  " window.gmView = [m.getCenter(), m.getZoom()]; }")
    assert page.locator("#gm-center-table tbody tr").count() > 0

    # 1. drag the centre serving most of the community's residents
    (busiest,), = _rows(browser_demo_url, """
        SELECT a.center_id FROM building_access a JOIN buildings b ON b.id = a.building_id
        WHERE b.community_code = %s GROUP BY a.center_id ORDER BY sum(b.residents) DESC
        LIMIT 1""", (TAOYUAN,))
    selector = f".awesome-marker[data-center-id='{busiest}']"
    x, y = _icon_centre(page, selector)
    box = page.locator("#gm-acc-map").bounding_box()
    tx, ty = box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.68
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move((x + tx) / 2, (y + ty) / 2, steps=8)
    page.mouse.move(tx, ty, steps=8)
    page.mouse.up()
    page.wait_for_function(f"() => ({KPIS})() !== {stored_kpis!r}"
                           " && !document.querySelector('#gm-timing').innerText.includes('…')",
                           timeout=10_000)
    page.wait_for_timeout(300)  # a request sent at the drop may still be on its way
    page.wait_for_function("() => !document.querySelector('#gm-timing').innerText"
                           ".includes('…')", timeout=10_000)
    dragged_kpis = page.evaluate(KPIS)
    assert dragged_kpis != stored_kpis
    assert _timing_ms(page) < 1000
    assert page.inner_text("#gm-acc-mode") == "方案推演（未保存）"
    assert "移动 1" in page.inner_text("#gm-changes")
    assert "gm-changed" in page.locator(selector).get_attribute("class")
    checked, wrong = page.evaluate(RECOLOURED)
    assert checked == 97 and wrong == 0
    # the lines of the buildings it serves now end where it was dropped
    at = page.evaluate(f"() => {{ const c = window.gmAccessState.scenario().find("
                       f"c => c.id === {busiest}); return [c.lat, c.lon]; }}")
    ends = page.evaluate("""([lat, lon]) => {
        let n = 0;
        window.gmAccessState.map.eachLayer(l => {
            if (l instanceof L.Polyline && l.options.pane === 'gm-lines')
                l.getLatLngs().forEach(seg => { const e = seg[seg.length - 1];
                    if (Math.abs(e.lat - lat) < 1e-9 && Math.abs(e.lng - lon) < 1e-9) n += 1; });
        });
        return n; }""", at)
    served = page.evaluate(f"() => window.gmAccessLast.buildings.filter("
                           f"b => b.center_id === {busiest}).length")
    assert served > 0 and ends == served

    # 2. add a grid station on the building furthest from any centre now
    answer = page.evaluate("() => window.gmAccessLast")
    candidates = sorted((b for b in answer["buildings"] if b["walk_m"] is not None),
                        key=lambda b: -b["walk_m"])
    page.select_option("#gm-add-level", "grid")
    page.click("#gm-add-center")
    assert page.locator("#gm-placing-hint").is_visible()
    for b in candidates:
        (lon, lat), = _rows(browser_demo_url, "SELECT ST_X(p), ST_Y(p) FROM (SELECT"
                                              " ST_PointOnSurface(geom) p FROM buildings"
                                              " WHERE id = %s) x", (b["id"],))
        px, py = page.evaluate(PAGE_POINT, [lat, lon])
        if page.evaluate(FREE_SPOT, [px, py]):
            far = b
            break
    else:
        pytest.fail("no far building is visible to click on")
    assert far["walk_m"] > 300
    before = page.evaluate(KPIS)
    markers = page.locator(".leaflet-marker-pane .awesome-marker").count()
    page.mouse.click(px, py)
    page.wait_for_function(f"() => ({KPIS})() !== {before!r}", timeout=10_000)
    assert page.locator(".leaflet-marker-pane .awesome-marker").count() == markers + 1
    assert "新增 1" in page.inner_text("#gm-changes")
    assert not page.locator("#gm-placing-hint").is_visible()
    now = next(b for b in page.evaluate("() => window.gmAccessLast.buildings")
               if b["id"] == far["id"])
    assert now["walk_m"] <= 300 and now["center_id"] < 0
    assert "新增网格党群服务站1" in page.inner_text("#gm-center-table")

    # 3. save the new centre as a planned centre, under the name typed in its popup
    new = page.locator(".awesome-marker[data-center]:not([data-center-id])")
    nx, ny = _icon_centre(page, ".awesome-marker[data-center]:not([data-center-id])")
    page.mouse.click(nx, ny)
    popup = page.locator(".leaflet-popup .gm-cpopup")
    popup.wait_for(timeout=5_000)
    popup.locator("[data-field=name]").fill("桃源社区北片党群服务站（规划）")  # the name saved
    popup.locator("[data-action=save]").click()
    page.locator(".leaflet-popup .gm-saved").wait_for(timeout=5_000)
    planned = "桃源社区北片党群服务站（规划）"
    (status, level), = _rows(browser_demo_url, "SELECT status, level FROM service_centers"
                                               " WHERE name = %s", (planned,))
    assert (status, level) == ("planned", "grid")
    assert new.count() == 1  # still in the what-if, marked as saved
    assert "已保存为规划" in page.inner_text("#gm-center-table")
    page.evaluate("() => window.gmAccessState.map.closePopup()")

    # 4. remove an existing centre through its popup
    (other,), = _rows(browser_demo_url, """
        SELECT a.center_id FROM building_access a JOIN buildings b ON b.id = a.building_id
        WHERE b.community_code = %s AND a.center_id <> %s GROUP BY a.center_id
        ORDER BY sum(b.residents) DESC LIMIT 1""", (TAOYUAN, busiest))
    name = _rows(browser_demo_url, "SELECT name FROM service_centers WHERE id = %s",
                 (other,))[0][0]
    page.evaluate("() => { window.gmBefore = window.gmAccessLast; }")
    ox, oy = _icon_centre(page, f".awesome-marker[data-center-id='{other}']")
    page.mouse.click(ox, oy)
    page.locator(".leaflet-popup .gm-cpopup [data-action=remove]").click()
    page.wait_for_function("() => window.gmAccessLast !== window.gmBefore", timeout=10_000)
    assert page.evaluate(f"() => window.gmAccessLast.buildings.filter("
                         f"b => b.center_id === {other}).length") == 0
    assert name in page.inner_text("#gm-removed")
    assert page.locator(f".awesome-marker[data-center-id='{other}']").count() == 0
    assert "删除 1" in page.inner_text("#gm-changes")
    # popups opened near the edge pan the map: back to the first view for the screenshot
    page.evaluate("() => { const m = window.gmAccessState.map; m.closePopup();"
                  " m.setView(window.gmView[0], window.gmView[1], {animate: false}); }")
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "access.png"))

    # 5. back to the stored centres and results
    page.click("#gm-reset")
    page.wait_for_function(f"() => ({KPIS})() === {stored_kpis!r}", timeout=10_000)
    assert page.inner_text("#gm-acc-mode") == "现状（已保存的计算结果）"
    assert page.locator(f".awesome-marker[data-center-id='{other}']").count() == 1
    assert page.locator(".awesome-marker[data-center]:not([data-center-id])").count() == 0
    assert access_page["errors"] == [] and access_page["failures"] == []

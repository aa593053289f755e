"""Headless Chromium opens the served map: it is drawn, popups work, nothing leaves 127.0.0.1.

Debian's ``chromium`` is driven through Playwright (``playwright install`` cannot download
browsers here). The screenshot goes to ``test-artifacts/home.png``.
"""

from __future__ import annotations

import pytest
import shapely
from browser import ARTIFACTS, live_server, open_tracked, page_point
from browser import hosts as hosts_of
from helpers import rows as _rows

pytestmark = pytest.mark.browser

DRAWN = ("document.querySelectorAll('path.leaflet-interactive').length > 0"
         " && document.querySelector('.leaflet-control-layers') !== null"
         " && document.querySelectorAll('.leaflet-marker-pane .awesome-marker').length > 0")
# the folium map object (a global `map_<id>`), and a lat/lon → page pixel conversion
PAGE_POINT = page_point("Object.values(window).find(v => v instanceof L.Map)")
CLOSE_POPUP = "() => Object.values(window).find(v => v instanceof L.Map).closePopup()"


@pytest.fixture(scope="module")
def live_url(demo_url):
    with live_server(demo_url) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(chromium, live_url):
    """The home page loaded in Chromium, with every request and error it produced."""
    return {**open_tracked(chromium, live_url + "/", DRAWN), "url": live_url}


def test_map_is_drawn_from_local_assets_only(browser_page, demo_url):
    page = browser_page["page"]
    assert browser_page["errors"] == []
    assert browser_page["failures"] == []
    hosts = hosts_of(browser_page["requests"])
    assert hosts == {"127.0.0.1"}, browser_page["requests"]
    assert any(u.endswith("leaflet.js") for u in browser_page["requests"])
    # every building, grid and boundary is a clickable path; every centre a marker
    paths = page.locator("path.leaflet-interactive").count()
    (n_buildings, n_grids, n_centres), = _rows(
        demo_url, "SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM grids),"
                  " (SELECT count(*) FROM service_centers)")
    assert paths >= n_buildings + n_grids
    assert page.locator(".leaflet-marker-pane .awesome-marker").count() == n_centres
    control = page.locator(".leaflet-control-layers").inner_text()
    for name in ["综治网格", "党建网格", "社区边界", "楼栋", "服务半径", "党群服务中心（站）"]:
        assert name in control
    assert "图例" in page.locator("#gm-legend").inner_text()


def _click_inside(page, candidates, obstacles, *, inset: float = 0.0) -> tuple[str, str] | None:
    """Click the first candidate polygon that has a visible spot free of ``obstacles``.

    ``candidates`` are ``(key, wkt)``; ``inset`` (degrees) keeps the click away from the
    polygon's edge, where neighbours' outlines lie. Returns ``(key, popup text)`` once a popup
    naming the key opens, or None.
    """
    for key, wkt in candidates:
        free = shapely.from_wkt(wkt).buffer(-inset).difference(obstacles)
        if free.is_empty or free.area < 1e-10:
            continue
        point = free.representative_point()
        x, y = page.evaluate(PAGE_POINT, [point.y, point.x])
        target = page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y);"
            " return e ? e.tagName + ' ' + (e.getAttribute('class') || '') : ''; }", [x, y])
        if not target.startswith("path") or "leaflet-interactive" not in target:
            continue  # under the legend, the layer control, or off screen
        page.mouse.click(x, y)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5_000)
        text = popup.inner_text()
        page.evaluate(CLOSE_POPUP)
        if key in text:
            return key, text
    return None


def _markers(demo_url):
    # a marker's icon stands up to ~50 px above and beside its point
    return [shapely.Point(x, y).buffer(0.0015) for x, y in _rows(
        demo_url, "SELECT ST_X(geom), ST_Y(geom) FROM service_centers")]


def test_click_on_a_grid_opens_its_popup(browser_page, demo_url):
    grids = _rows(demo_url, "SELECT code, ST_AsText(geom) FROM grids WHERE layer = 'governance'"
                            " ORDER BY code")
    obstacles = shapely.union_all(
        [shapely.from_wkt(w).buffer(0.0002) for (w,) in _rows(
            demo_url, "SELECT ST_AsText(geom) FROM buildings")] + _markers(demo_url))
    hit = _click_inside(browser_page["page"], grids, obstacles, inset=0.0003)
    assert hit, "no governance grid had a visible spot free of buildings and markers to click"
    for label in ["编码", "户数", "人口", "网格长", "网格员", "党支部"]:
        assert label in hit[1]


def test_click_on_a_building_opens_its_popup(browser_page, demo_url):
    # the largest residential buildings, named in their popups
    buildings = _rows(demo_url, "SELECT name, ST_AsText(geom) FROM buildings"
                                " WHERE kind = 'residential' AND name IS NOT NULL"
                                " ORDER BY ST_Area(geom) DESC, id LIMIT 40")
    hit = _click_inside(browser_page["page"], buildings, shapely.union_all(_markers(demo_url)))
    assert hit, "no building could be clicked"
    for label in ["类型", "户数", "人口", "楼栋党小组", "责任党员", "住宅楼"]:
        assert label in hit[1]


def test_click_on_a_centre_opens_its_popup(browser_page, demo_url):
    page = browser_page["page"]
    names = {n for (n,) in _rows(demo_url, "SELECT name FROM service_centers")}
    markers = page.locator(".leaflet-marker-pane .awesome-marker")
    for i in range(markers.count()):
        box = markers.nth(i).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 3
        on_top = page.evaluate(
            "([x, y, i]) => {"
            " const m = document.querySelectorAll('.leaflet-marker-pane .awesome-marker')[i];"
            " const e = document.elementFromPoint(x, y); return !!e && m.contains(e); }",
            [x, y, i])
        if not on_top:
            continue
        page.mouse.click(x, y)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5_000)
        text = popup.inner_text()
        assert any(name in text for name in names)
        for label in ["级别", "状态", "面积", "服务半径", "米"]:
            assert label in text
        page.evaluate(CLOSE_POPUP)
        return
    pytest.fail("no service-centre marker could be clicked")


def test_screenshot(browser_page):
    page = browser_page["page"]
    page.evaluate(CLOSE_POPUP)
    page.mouse.move(5, 5)  # off the map: no hover tooltip in the picture
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "home.png"
    page.screenshot(path=str(out))
    assert out.stat().st_size > 20_000

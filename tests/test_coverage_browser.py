"""Headless Chromium on the coverage page of the demo's hole community.

The map draws with the hole hatched, a row of the gap table zooms the map to its gap and opens
the popup that explains it, and the breadcrumb leads up the hierarchy. The screenshot goes to
``test-artifacts/coverage.png``.
"""

from __future__ import annotations

import pytest
from browser import ARTIFACTS, live_server, open_tracked
from browser import hosts as hosts_of
from helpers import rows as _rows

pytestmark = pytest.mark.browser

DRAWN = ("document.querySelectorAll('path.leaflet-interactive').length > 0"
         " && document.querySelector('.leaflet-control-layers') !== null")
VIEW = """() => {
    const map = Object.values(window).find(v => v instanceof L.Map);
    const c = map.getCenter();
    return {zoom: map.getZoom(), lat: c.lat, lng: c.lng};
}"""


@pytest.fixture(scope="module")
def live_url(coverage_demo_url):
    with live_server(coverage_demo_url) as url:
        yield url


@pytest.fixture(scope="module")
def hole(coverage_demo_url):
    """The community with the planted grid hole: code, name, parent street code and name."""
    return _rows(coverage_demo_url, """
        SELECT c.code, c.name, s.code, s.name FROM regions c JOIN regions s
            ON s.code = c.parent_code
        WHERE c.code = (SELECT region_code FROM demo_planted_gaps WHERE kind = 'grid_hole'
                        ORDER BY region_code LIMIT 1)""")[0]


@pytest.fixture(scope="module")
def coverage_page(chromium, live_url, hole):
    """The hole community's coverage page in Chromium, with its requests and errors."""
    return open_tracked(chromium, f"{live_url}/coverage?region={hole[0]}", DRAWN)


def _gap(url, community, kind):
    """(id, explanation) of the first stored gap of ``kind`` in ``community``."""
    return _rows(url, "SELECT id, explanation FROM coverage_gaps WHERE region_code = %s"
                      " AND kind = %s ORDER BY id LIMIT 1", (community, kind))[0]


def test_map_draws_with_local_assets_and_hatched_hole(coverage_page, coverage_demo_url, hole):
    page = coverage_page["page"]
    assert coverage_page["errors"] == [] and coverage_page["failures"] == []
    hosts = hosts_of(coverage_page["requests"])
    assert hosts == {"127.0.0.1"}
    control = page.locator(".leaflet-control-layers").inner_text()
    holes = _rows(coverage_demo_url, "SELECT count(*) FROM coverage_gaps WHERE kind = 'grid_hole'"
                                     " AND region_code = %s", (hole[0],))[0][0]
    assert f"网格空白区 ({holes})" in control
    # the hole is drawn with the hatch pattern, which the page defines
    assert page.locator("path[fill='url(#gm-hatch-hole)']").count() == holes
    assert page.locator("pattern#gm-hatch-hole").count() == 1
    rows = page.locator("#gm-gap-table tbody tr")
    assert rows.count() == _rows(coverage_demo_url, "SELECT count(*) FROM coverage_gaps"
                                                    " WHERE region_code = %s", (hole[0],))[0][0]


@pytest.mark.parametrize("kind", ["building_no_grid", "grid_hole"])
def test_clicking_a_row_zooms_to_the_gap_and_opens_its_popup(coverage_page, coverage_demo_url,
                                                             hole, kind):
    page = coverage_page["page"]
    page.evaluate("() => Object.values(window).find(v => v instanceof L.Map).closePopup()")
    page.evaluate("() => { const m = Object.values(window).find(v => v instanceof L.Map);"
                  " m.setZoom(m.getZoom() - 2, {animate: false}); }")
    before = page.evaluate(VIEW)
    gap_id, explanation = _gap(coverage_demo_url, hole[0], kind)
    row = page.locator(f"#gm-gap-table tbody tr[data-gap='{gap_id}']")
    row.click()
    # (a popup closed a moment ago fades out for 200 ms: look for the one naming the gap)
    popup = page.locator(".leaflet-popup-content", has_text=explanation)
    popup.wait_for(timeout=5_000)
    assert "整改建议" in popup.inner_text()
    after = page.evaluate(VIEW)
    assert after["zoom"] > before["zoom"]
    # the gap is in view: its centre is inside the map's bounds
    (lon, lat), = _rows(coverage_demo_url, "SELECT ST_X(p), ST_Y(p) FROM (SELECT"
                                           " ST_PointOnSurface(geom) p FROM coverage_gaps"
                                           " WHERE id = %s) x", (gap_id,))
    inside = page.evaluate("([lat, lon]) => Object.values(window).find(v => v instanceof L.Map)"
                           ".getBounds().contains([lat, lon])", [lat, lon])
    assert inside
    assert "table-active" in (row.get_attribute("class") or "")


def test_screenshot(coverage_page, coverage_demo_url, hole):
    page = coverage_page["page"]
    gap_id, explanation = _gap(coverage_demo_url, hole[0], "building_no_grid")
    page.locator(f"#gm-gap-table tbody tr[data-gap='{gap_id}']").click()
    page.locator(".leaflet-popup-content", has_text=explanation).wait_for(timeout=5_000)
    page.mouse.move(5, 5)
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "coverage.png"
    page.screenshot(path=str(out))
    assert out.stat().st_size > 20_000


def test_recompute_button_reruns_and_reloads(coverage_page, coverage_demo_url, hole):
    page = coverage_page["page"]
    before = _rows(coverage_demo_url, "SELECT computed_at FROM coverage_kpis"
                                      " WHERE region_code = %s", (hole[0],))[0][0]
    with page.expect_navigation():
        page.locator("#gm-recompute").click()
    page.wait_for_function(DRAWN, timeout=30_000)
    after = _rows(coverage_demo_url, "SELECT computed_at FROM coverage_kpis"
                                     " WHERE region_code = %s", (hole[0],))[0][0]
    assert after > before
    # the reloaded table lists the recomputed gaps (new ids)
    ids = {int(i) for i in page.eval_on_selector_all(
        "#gm-gap-table tbody tr", "rows => rows.map(r => r.dataset.gap)")}
    assert ids == {i for (i,) in _rows(coverage_demo_url, "SELECT id FROM coverage_gaps"
                                                          " WHERE region_code = %s", (hole[0],))}


def test_breadcrumb_leads_to_the_street(coverage_page, hole):
    page = coverage_page["page"]
    _, community_name, street, street_name = hole
    crumbs = page.locator("#gm-breadcrumb").inner_text()
    assert community_name in crumbs and street_name in crumbs
    page.locator(f"#gm-breadcrumb a[data-code='{street}']").click()
    page.wait_for_url(f"**/coverage?region={street}")
    page.wait_for_function(DRAWN, timeout=30_000)
    assert street_name in page.locator(".gm-h1").inner_text()
    # the street page lists its communities, the hole community among them
    assert page.locator(f"#gm-drill a[data-code='{hole[0]}']").count() == 1
    assert coverage_page["errors"] == []

"""Headless Chromium on the siting page of the demo district, then the coverage page with the plan.

LSCP is run from the form: a progress indicator shows while it solves, the proposed sites appear
as numbered markers with their radius, the buildings are coloured by the site serving them, the
"现状 vs 方案" table shows the gain and the curve of residents covered against k is drawn.
"采纳方案" stores the sites as planned centres, and the coverage page with the plan then lists no
resident beyond every radius. Screenshots: ``test-artifacts/siting.png`` and
``test-artifacts/coverage-planned.png``.
"""

from __future__ import annotations

import pytest
from browser import ARTIFACTS, live_server, open_tracked
from browser import hosts as hosts_of
from helpers import rows as _rows

pytestmark = pytest.mark.browser

DISTRICT = "530103000000"
DRAWN = ("document.querySelectorAll('path.leaflet-interactive').length > 0"
         " && document.querySelector('.leaflet-control-layers') !== null"
         " && window.gmSitingState !== undefined")
# what the progress line showed while the run was under way: [text, spinner, button disabled]
PROGRESS_WATCH = """() => {
    window.gmSeen = [];
    const el = document.querySelector('#gm-progress');
    new MutationObserver(() => window.gmSeen.push([el.innerText,
        !!el.querySelector('.spinner-border'), document.querySelector('#gm-run').disabled]))
        .observe(el, {childList: true, subtree: true, characterData: true});
}"""
# every building's fill against what the last answer says serves it
COLOURED = """() => {
    const state = window.gmSitingState, answer = window.gmSitingLast, byId = {};
    const colour = {};
    state.sites().forEach(s => { colour[s.ref] = s.color; });
    answer.buildings.forEach(b => { byId[b.id] = b; });
    let red = 0, fresh = 0, old = 0, none = 0, wrong = 0;
    state.buildings.eachLayer(l => {
        const b = byId[l.feature.id], fill = l.options.fillColor;
        if (!b) { none += 1; return; }
        if (!b.covered) { red += 1; if (fill !== '#d7191c') wrong += 1; return; }
        if (colour[b.site]) { fresh += 1; if (fill !== colour[b.site]) wrong += 1; }
        else { old += 1; if (fill !== '#9db89a') wrong += 1; }
    });
    return {red, fresh, old, none, wrong};
}"""


@pytest.fixture(scope="module")
def browser_demo_url(writable_demo_url):
    """A demo copy of its own: the test adopts the proposed sites."""
    return writable_demo_url("sitingbrowser")


@pytest.fixture(scope="module")
def live_url(browser_demo_url):
    with live_server(browser_demo_url) as url:
        yield url


def test_propose_adopt_and_see_the_gaps_close(chromium, live_url, browser_demo_url):
    opened = open_tracked(chromium, f"{live_url}/siting?region={DISTRICT}", DRAWN)
    requests, failures, errors = opened["requests"], opened["failures"], opened["errors"]
    _walkthrough(opened["page"], live_url, browser_demo_url)
    assert errors == [] and failures == []
    hosts = hosts_of(requests)
    assert hosts == {"127.0.0.1"}, requests


def _walkthrough(page, live_url, url):
    # the form: LSCP needs no k; MCLP does
    assert page.input_value("#gm-model") == "lscp" and page.is_disabled("#gm-k")
    page.select_option("#gm-model", "mclp")
    assert page.is_enabled("#gm-k") and "新增 k 处" in page.inner_text("#gm-model-help")
    page.select_option("#gm-level", "community")
    assert page.get_attribute("#gm-radius", "placeholder") == "按标准 500"
    page.select_option("#gm-level", "grid")
    page.select_option("#gm-model", "lscp")
    assert page.is_hidden("#gm-compare") and page.is_hidden("#gm-sites-card")

    # run: a progress indicator (spinner, elapsed time, button disabled) while it solves
    page.evaluate(PROGRESS_WATCH)
    page.click("#gm-run")
    page.wait_for_function("window.gmSitingLast !== undefined", timeout=30_000)
    seen = page.evaluate("window.gmSeen")
    assert any(spinner and busy and "求解中" in text for text, spinner, busy in seen), seen
    answer = page.evaluate("window.gmSitingLast")
    assert "完成" in page.inner_text("#gm-progress") and page.is_enabled("#gm-run")

    # the proposed sites: numbered markers with their radius, one table row each
    n = answer["new_sites"]
    assert n > 0
    assert page.locator(".gm-site-icon").count() == n
    assert page.locator("#gm-site-table tbody tr").count() == n
    assert page.inner_text("#gm-site-count") == str(n)
    radius = page.evaluate("() => { let k = 0; window.gmSitingState.groups.radius.eachLayer("
                           "l => { if (l.getRadius() === 300) k += 1; }); return k; }")
    assert radius == n
    # buildings coloured by the site serving them; nobody left beyond a radius
    colours = page.evaluate(COLOURED)
    assert colours["wrong"] == 0 and colours["red"] == 0 and colours["fresh"] > 0
    (with_residents,), = _rows(url, "SELECT count(*) FROM buildings WHERE residents > 0")
    assert colours["fresh"] + colours["old"] == with_residents

    # before vs after
    table = page.inner_text("#gm-cmp-table")
    before, after = answer["residents_within_before"], answer["residents_within_after"]
    assert after == answer["demand_weight"] > before
    assert f"{before:,.0f}" in table and f"{after:,.0f}" in table
    assert f"+{after - before:,.0f}" in table and "100.0%" in table
    # the current situation on the map: the residents beyond every radius in red
    page.click("#gm-compare [data-show=current]")
    current = page.evaluate(COLOURED.replace("if (!b.covered)", "if (!b.covered_before)"))
    assert current["red"] == sum(1 for b in answer["buildings"] if not b["covered_before"]) > 0
    assert page.locator(".gm-site-icon").count() == 0
    page.click("#gm-compare [data-show=plan]")
    assert page.locator(".gm-site-icon").count() == n

    # the curve: k = 0 … 10, non-decreasing, full at k = n
    page.wait_for_function("window.gmSitingCurve !== undefined", timeout=30_000)
    points = page.locator("#gm-curve circle.gm-pt")
    assert points.count() == 11
    covered = [float(points.nth(i).get_attribute("data-covered")) for i in range(11)]
    assert covered == sorted(covered) and covered[0] == before and covered[n] == after
    assert page.locator("#gm-curve circle.gm-chosen").get_attribute("data-k") == str(n)

    # a row of the site table opens its popup
    page.click("#gm-site-table tbody tr >> nth=0")
    popup = page.wait_for_selector(".leaflet-popup-content", timeout=5_000).inner_text()
    assert "新增站点 1" in popup and "服务居民" in popup
    page.evaluate("window.gmSitingState.map.closePopup()")
    page.evaluate("window.gmSitingState.fit()")
    page.evaluate("document.getElementById('gm-side').scrollTop = 0")
    page.wait_for_timeout(400)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "siting.png"))

    # adopt: the sites become planned centres, with links to the pages that count them
    (planned_before,), = _rows(url, "SELECT count(*) FROM service_centers"
                                    " WHERE status = 'planned'")
    page.click("#gm-adopt")
    page.wait_for_selector("#gm-adopted a#gm-to-coverage", timeout=10_000)
    assert f"已保存 {n} 处规划服务站" in page.inner_text("#gm-adopted")
    assert page.is_disabled("#gm-adopt")
    (planned_after,), = _rows(url, "SELECT count(*) FROM service_centers"
                                   " WHERE status = 'planned'")
    assert planned_after == planned_before + n

    # the coverage page with the plan: no resident beyond every radius
    page.click("#gm-to-coverage")
    page.wait_for_load_state("load")
    page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 0",
                           timeout=30_000)
    assert page.url.endswith(f"/coverage?region={DISTRICT}&planned=1")
    assert page.is_checked("#gm-plan-toggle")
    assert page.inner_text("#gm-view") == "视图：现有 + 规划服务站"
    assert page.locator("#gm-gap-table tr[data-kind=beyond_service_radius]").count() == 0
    assert "超出服务半径" not in page.locator(".leaflet-control-layers").inner_text()
    page.screenshot(path=str(ARTIFACTS / "coverage-planned.png"))
    # the toggle goes back to the existing centres only: the gaps are there
    page.click("#gm-plan-toggle")
    page.wait_for_url(f"{live_url}/coverage?region={DISTRICT}", timeout=30_000)
    page.wait_for_selector("#gm-view", timeout=30_000)
    assert page.inner_text("#gm-view") == "视图：仅现有服务站"
    assert not page.is_checked("#gm-plan-toggle")
    assert page.locator("#gm-gap-table tr[data-kind=beyond_service_radius]").count() > 0

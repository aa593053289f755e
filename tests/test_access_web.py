"""The access page, its JSON API, the what-if API and planned centres, on the demo (real PostGIS).

Expectations come from the database, not from the code under test: the stored
``building_access`` rows (walk, straight line, band, the nearest centre of every level) and
single-centre evaluations.
"""

from __future__ import annotations

import json
import re
import time

import psycopg2
import pytest
from helpers import URL_RE, app_for, contains, execute, rows

from gis.access_store import access_is_fresh, load_access_report
from gis.access_whatif import WhatIf
from gis.config import get_settings
from web.access_map import BEYOND_COLOR, UNREACHABLE_COLOR, band_colors, band_key, band_text
from web.i18n import Labels

TAOYUAN, STREET, DISTRICT = "530103002001", "530103002000", "530103000000"
NORMS = get_settings().norms
COLORS = band_colors(NORMS.walk_bands_m)
LEVELS = ("street", "community", "grid", "building")


@pytest.fixture(scope="module")
def access_url(writable_demo_url) -> str:
    """A copy of the demo (seed 1) for this module: pages store access, tests add centres."""
    return writable_demo_url("accessweb")


@pytest.fixture(scope="module")
def app(access_url):
    return app_for(access_url)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def page(client, access_url):
    """The access page of 桃源社区 (the first visit computes access)."""
    assert rows(access_url, "SELECT count(*) FROM access_runs")[0][0] == 0
    response = client.get(f"/access?region={TAOYUAN}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture(scope="module")
def stored(page, access_url):
    """The stored access of every building of 桃源社区, by building id."""
    out = {}
    for (bid, cid, walk, straight, band, within, reachable, name, residents, lv_ids,
         lv_m) in rows(access_url, """
            SELECT a.building_id, a.center_id, a.walk_m, a.straight_m, a.walk_band_m,
                   a.within_radius_walk, a.reachable, c.name, b.residents,
                   a.level_walk_center_ids, a.level_walk_m
            FROM building_access a JOIN buildings b ON b.id = a.building_id
            LEFT JOIN service_centers c ON c.id = a.center_id
            WHERE b.community_code = %s""", (TAOYUAN,)):
        out[bid] = {"center_id": cid, "walk_m": walk, "straight_m": straight,
                    "walk_band_m": band, "within": within, "reachable": reachable,
                    "name": name, "residents": residents,
                    "levels": dict(zip(LEVELS, zip(lv_ids, lv_m, strict=True), strict=True))}
    assert len(out) == 97
    return out


def existing_centres(access_url) -> list[dict]:
    return [{"id": i, "name": n, "level": lv, "lon": x, "lat": y, "radius_m": r}
            for i, n, lv, x, y, r in rows(access_url, """
                SELECT id, name, level, ST_X(geom), ST_Y(geom), radius_m::float8
                FROM service_centers WHERE status = 'existing' ORDER BY id""")]


def whatif(client, centres, region=TAOYUAN):
    response = client.post("/api/access/whatif", json={"region": region, "centers": centres})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- the page ------------------------------------------------------------------------------------

def test_first_visit_computes_access_once(page, client, access_url):
    assert rows(access_url, "SELECT count(*) FROM access_runs")[0][0] == 1
    conn = psycopg2.connect(access_url)
    try:
        assert access_is_fresh(conn)
    finally:
        conn.close()
    assert rows(access_url, "SELECT count(*) FROM center_isochrones")[0][0] > 0
    assert client.get(f"/access?region={STREET}").status_code == 200
    assert rows(access_url, "SELECT count(*) FROM access_runs")[0][0] == 1


def test_isochrones_missing_for_the_region_are_computed(client, access_url, stored):
    # a city-scale run skips isochrones; the page computes those of the region it shows
    execute(access_url, "DELETE FROM center_isochrones")
    page = client.get(f"/access?region={TAOYUAN}").get_data(as_text=True)
    serving = {b["center_id"] for b in stored.values()}
    have = {i for (i,) in rows(access_url, "SELECT DISTINCT center_id FROM center_isochrones")}
    assert serving <= have
    assert rows(access_url, "SELECT count(*) FROM access_runs")[0][0] == 1  # no full rerun
    for cid in serving:  # drawn: one feature per band, id "<centre>:<band>"
        for band in ("300", "500", "1000"):
            assert f'"id": "{cid}:{band}"' in page


def test_popups_say_walk_straight_and_centre(page, stored):
    for b in stored.values():
        text = (f"步行 {round(b['walk_m']):,} m（直线 {round(b['straight_m']):,} m）"
                f"至 {b['name']}")
        assert contains(page, text), text
    assert "步行可达" in page or contains(page, "步行可达")
    assert contains(page, "在服务半径内") and contains(page, "步行圈")


def test_buildings_are_coloured_by_their_walking_band(page, stored):
    # folium's styler of the buildings: "case 12: case 13: ... return {style}" per style
    colour_of = {}
    for cases, style in re.findall(r"((?:case \d+: )+)\s*return (\{[^}]*\});", page):
        if '"fillOpacity": 0.88' not in style:
            continue
        for bid in re.findall(r"\d+", cases):
            colour_of[int(bid)] = json.loads(style)["fillColor"]
    default = re.search(r"default:\s*return (\{[^}]*\"fillOpacity\": 0.88[^}]*\});", page)
    for bid, b in stored.items():
        expected = COLORS[f"{b['walk_band_m']:g}"] if b["walk_band_m"] else COLORS["beyond"]
        got = colour_of.get(bid) or json.loads(default.group(1))["fillColor"]
        assert got == expected, (bid, b)
    assert {COLORS["300"], COLORS["500"]} <= set(colour_of.values()) | {
        json.loads(default.group(1))["fillColor"]}
    # the legend names every band, beyond and unreachable
    for text in ("300 m 以内", "500 m 以内", "1,000 m 以内", "超过 1,000 m", "不可达"):
        assert text in page, text


def test_kpi_panel_shows_the_stored_shares(page, access_url):
    conn = psycopg2.connect(access_url)
    try:
        kpis = load_access_report(conn, region=TAOYUAN).kpis
    finally:
        conn.close()
    panel = page[page.index('id="gm-acc-kpis"'):page.index('id="gm-scenario"')]
    for band, share in kpis["walk_band_shares"].items():
        cell = re.search(rf'data-kpi="walk_band_shares.{band}".*?gm-pct">([^<]+)<', panel, re.S)
        assert cell.group(1) == f"{share:.1%}"
    cell = re.search(r'data-kpi="straight_band_shares.300".*?gm-pct">([^<]+)<', panel, re.S)
    assert cell.group(1) == f"{kpis['straight_band_shares']['300']:.1%}"
    assert f"{kpis['residents']:,}" in panel
    for label in ("步行", "直线", "服务半径内", "无步行路径的居民"):
        assert label in panel


def test_page_state_holds_the_centres_and_buildings(page, client, stored, access_url):
    state = json.loads(re.search(r"gmAccess\((\{.*\})\);</script>", page).group(1))
    ids = {c["id"] for c in state["centers"]}
    assert ids == {i for (i,) in rows(access_url, "SELECT id FROM service_centers"
                                                  " WHERE status = 'existing'")}
    assert {c["status"] for c in state["others"]} <= {"planned", "candidate"}
    # every centre serving the community is drawn
    assert {b["center_id"] for b in stored.values()} <= {c["id"] for c in state["centers"]
                                                         if c["shown"]}
    assert set(state["buildings"]) == {str(i) for i in stored}
    for bid, b in stored.items():
        s = state["buildings"][str(bid)]
        assert (s["center_id"], s["walk_m"], s["band"]) == (
            b["center_id"], b["walk_m"], f"{b['walk_band_m']:g}")
        lat, lon = s["point"]
        assert rows(access_url, "SELECT ST_DWithin(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326),"
                                " 1e-6) FROM buildings WHERE id = %s", (lon, lat, bid))[0][0]
    assert state["urls"] == {"whatif": "/api/access/whatif", "centers": "/api/centers"}
    # the district page draws every planned and candidate centre apart
    district = client.get(f"/access?region={DISTRICT}").get_data(as_text=True)
    state = json.loads(re.search(r"gmAccess\((\{.*\})\);</script>", district).group(1))
    assert {c["id"] for c in state["others"]} == {i for (i,) in rows(
        access_url, "SELECT id FROM service_centers WHERE status <> 'existing'")} != set()


def test_page_is_local_and_linked_from_the_other_pages(page, client):
    assert URL_RE.findall(page) == []
    assert "/static/js/access.js" in page
    for path in ("/", f"/coverage?region={TAOYUAN}"):
        other = client.get(path).get_data(as_text=True)
        assert "可达性分析" in other and "/access" in other
    assert 'class="active" aria-current="page" href="/access?region=530103002001"' in page


@pytest.mark.parametrize("region", [DISTRICT, STREET, None])
def test_page_renders_above_community_level(client, region):
    response = client.get("/access" + (f"?region={region}" if region else ""))
    assert response.status_code == 200
    assert "可达性指标" in response.get_data(as_text=True)


def test_english_page(client, stored):
    page = client.get(f"/access?region={TAOYUAN}&lang=en").get_data(as_text=True)
    assert 'lang="en"' in page
    b = next(iter(stored.values()))
    assert contains(page, f"{round(b['walk_m']):,} m on foot ({round(b['straight_m']):,} m "
                          f"straight) to {b['name']}")
    for text in ("Access KPIs", "Add a centre", "Walking", "Straight line"):
        assert contains(page, text), text
    assert "可达性指标" not in page


@pytest.mark.parametrize("query, status", [("region=5301", 400), ("region=530103002999", 404)])
def test_page_bad_region(client, query, status):
    assert client.get(f"/access?{query}").status_code == status


def test_band_helpers():
    labels = Labels("zh")
    assert band_key(None) == "unreachable"
    assert band_key({"walk_m": None, "reachable": False, "walk_band_m": None}) == "unreachable"
    assert band_key({"walk_m": 1500.0, "reachable": True, "walk_band_m": None}) == "beyond"
    assert band_key({"walk_m": 420.0, "reachable": True, "walk_band_m": 500.0}) == "500"
    assert band_text("beyond", labels, NORMS.walk_bands_m) == "超过 1,000 m"
    assert band_text("unreachable", labels, NORMS.walk_bands_m) == "不可达"
    assert COLORS["beyond"] == BEYOND_COLOR and COLORS["unreachable"] == UNREACHABLE_COLOR
    assert len(set(COLORS.values())) == len(COLORS)


# --- GET /api/access -----------------------------------------------------------------------------

def test_api_access_is_the_stored_report(client, page, access_url):
    response = client.get(f"/api/access?region={TAOYUAN}")
    assert response.status_code == 200
    conn = psycopg2.connect(access_url)
    try:
        expected = json.loads(json.dumps(load_access_report(conn, region=TAOYUAN).to_json()))
    finally:
        conn.close()
    assert response.get_json() == expected
    assert response.get_json()["region"]["code"] == TAOYUAN
    assert set(response.get_json()["kpis"]["walk_band_shares"]) == {"300", "500", "1000"}


@pytest.mark.parametrize("query, status", [("region=12", 400), ("region=530103002999", 404)])
def test_api_access_errors(client, query, status):
    response = client.get(f"/api/access?{query}")
    assert response.status_code == status
    assert response.get_json()["error"]


# --- POST /api/access/whatif ---------------------------------------------------------------------

def test_whatif_of_the_existing_centres_is_the_stored_result(client, page, stored, access_url):
    started = time.perf_counter()
    answer = whatif(client, existing_centres(access_url))
    assert time.perf_counter() - started < 1.0  # "within a second" on the demo
    conn = psycopg2.connect(access_url)
    try:
        kpis = load_access_report(conn, region=TAOYUAN).kpis
    finally:
        conn.close()
    assert {k: answer["kpis"][k] for k in kpis if k != "levels"} == \
        {k: v for k, v in kpis.items() if k != "levels"}
    assert {b["id"] for b in answer["buildings"]} == set(stored)
    for b in answer["buildings"]:
        s = stored[b["id"]]
        assert b["center_id"] == s["center_id"]
        assert b["walk_m"] == pytest.approx(s["walk_m"], abs=0.1)
        assert b["walk_band_m"] == s["walk_band_m"]


def test_removing_a_centre_moves_exactly_its_buildings_to_the_next_nearest(client, stored,
                                                                           access_url):
    centres = existing_centres(access_url)
    # a level with a single existing centre: without it, a building's nearest centre is the
    # nearest of the other levels, which building_access stores per level
    by_level = {}
    for c in centres:
        by_level.setdefault(c["level"], []).append(c)
    served = {b["center_id"] for b in stored.values()}
    (gone,) = [cs[0] for cs in by_level.values() if len(cs) == 1 and cs[0]["id"] in served][:1]
    answer = whatif(client, [c for c in centres if c["id"] != gone["id"]])
    after = {b["id"]: b for b in answer["buildings"]}
    moved = 0
    for bid, b in stored.items():
        if b["center_id"] != gone["id"]:
            assert after[bid]["center_id"] == b["center_id"], bid
            assert after[bid]["walk_m"] == pytest.approx(b["walk_m"], abs=0.1)
            continue
        moved += 1
        options = [(m, cid) for lv, (cid, m) in b["levels"].items()
                   if lv != gone["level"] and cid is not None]
        best_m, best_id = min(options)
        assert after[bid]["walk_m"] == pytest.approx(best_m, abs=0.1), bid
        ties = {cid for m, cid in options if abs(m - best_m) < 0.01}
        assert after[bid]["center_id"] in ties, bid
    assert moved > 0
    assert gone["id"] not in {c["id"] for c in answer["centers"]}


def test_moving_a_centre_changes_exactly_the_expected_assignments(client, stored, access_url,
                                                                 page):
    centres = existing_centres(access_url)
    by_level = {}
    for c in centres:
        by_level.setdefault(c["level"], []).append(c)
    (mover,) = [cs[0] for cs in by_level.values() if len(cs) == 1][:1]
    # the building furthest from every centre by walking: the centre moves onto it
    far_id = max(stored, key=lambda i: stored[i]["walk_m"])
    (lon, lat), = rows(access_url, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom)"
                                   " p FROM buildings WHERE id = %s) x", (far_id,))
    moved = [dict(c, lon=lon, lat=lat) if c["id"] == mover["id"] else c for c in centres]
    answer = {b["id"]: b for b in whatif(client, moved)["buildings"]}
    # independently: the moved centre alone, and the nearest of the other levels (stored)
    alone = {b["id"]: b for b in whatif(client, [dict(mover, lon=lon, lat=lat)])["buildings"]}
    changed = 0
    for bid, b in stored.items():
        others = [(m, cid) for lv, (cid, m) in b["levels"].items()
                  if lv != mover["level"] and cid is not None]
        best_m, best_id = min(others)
        mine = alone[bid]["walk_m"]
        mine = float("inf") if mine is None else mine
        if abs(mine - best_m) < 0.01:
            continue  # a tie: either is right
        expected = mover["id"] if mine < best_m else best_id
        assert answer[bid]["center_id"] == expected, bid
        assert answer[bid]["walk_m"] == pytest.approx(min(mine, best_m), abs=0.1)
        changed += answer[bid]["center_id"] != b["center_id"]
    assert changed > 0
    assert answer[far_id]["center_id"] == mover["id"]


def test_a_new_centre_on_a_far_building_brings_it_within_300_m(client, stored, access_url):
    centres = existing_centres(access_url)
    far_id = max(stored, key=lambda i: stored[i]["walk_m"])
    assert stored[far_id]["walk_m"] > 300
    (lon, lat), = rows(access_url, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom)"
                                   " p FROM buildings WHERE id = %s) x", (far_id,))
    answer = whatif(client, [*centres, {"lon": lon, "lat": lat, "level": "grid",
                                        "name": "新站"}])
    far = next(b for b in answer["buildings"] if b["id"] == far_id)
    assert far["center_id"] == -(len(centres) + 1)
    assert far["walk_m"] <= 300 and far["walk_band_m"] == 300
    base = whatif(client, centres)["kpis"]["walk_band_shares"]["300"]
    assert answer["kpis"]["walk_band_shares"]["300"] > base
    new = answer["centers"][-1]
    assert new["id"] == -(len(centres) + 1) and new["residents"] >= stored[far_id]["residents"]


def test_no_centre_leaves_everyone_unreachable(client, stored):
    answer = whatif(client, [])
    assert answer["kpis"]["residents_unreachable"] == sum(b["residents"] for b in stored.values())
    assert all(b["center_id"] is None for b in answer["buildings"])


@pytest.mark.parametrize("body, status, words", [
    ({"region": TAOYUAN, "centers": "all"}, 400, ["centers"]),
    ({"region": TAOYUAN}, 400, ["centers"]),
    ({"region": TAOYUAN, "centers": [3]}, 400, ["centre 1"]),
    ({"region": "5301", "centers": []}, 400, ["5301"]),
    ({"region": "530103002999", "centers": []}, 404, ["530103002999"]),
    ({"region": TAOYUAN, "centers": [], "mode": "walk"}, 400, ["mode"]),
    ({"region": TAOYUAN, "centers": [
        {"lon": 102.70, "lat": 25.05, "level": "grid"},
        {"lon": 102.70, "lat": 25.05, "level": "grid"},
        {"lon": 102.70, "lat": 25.05, "level": "palace"}]}, 400, ["centre 3", "level"]),
    ({"region": TAOYUAN, "centers": [
        {"lon": "east", "lat": 25.05, "level": "grid"}]}, 400, ["centre 1", "lon"]),
    ({"region": TAOYUAN, "centers": [
        {"id": 3, "lon": 102.70, "lat": 95, "level": "grid"}]}, 400, ["centre 1", "id 3"]),
    ({"region": TAOYUAN, "centers": [
        {"lon": 102.70, "lat": 25.05, "level": "grid", "radius_m": -5}]}, 400, ["radius_m"]),
])
def test_whatif_rejects_malformed_requests(client, body, status, words):
    response = client.post("/api/access/whatif", json=body)
    assert response.status_code == status
    for word in words:
        assert word in response.get_json()["error"], response.get_json()


def test_whatif_needs_a_json_object(client):
    response = client.post("/api/access/whatif", data="centers", content_type="text/plain")
    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]


def test_whatif_session_is_reused_until_the_data_changes(app, client, access_url, stored):
    centres = existing_centres(access_url)
    whatif(client, centres)
    sessions = app.extensions["gridmap_whatif"]["sessions"]
    (first,) = sessions.values()
    whatif(client, centres)
    assert next(iter(sessions.values())) is first
    bid = next(iter(stored))
    execute(access_url, "UPDATE buildings SET residents = residents + 7 WHERE id = %s", (bid,))
    try:
        answer = whatif(client, centres)
        assert next(iter(sessions.values())) is not first
        assert answer["kpis"]["residents"] == sum(b["residents"] for b in stored.values()) + 7
    finally:
        execute(access_url, "UPDATE buildings SET residents = residents - 7 WHERE id = %s",
                (bid,))
    answer = whatif(client, centres)
    assert answer["kpis"]["residents"] == sum(b["residents"] for b in stored.values())


# --- POST /api/centers ---------------------------------------------------------------------------

def centre_count(url: str) -> int:
    return rows(url, "SELECT count(*) FROM service_centers")[0][0]


def test_save_a_planned_centre(client, access_url, page):
    far = rows(access_url, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p"
                           " FROM buildings WHERE community_code = %s ORDER BY id LIMIT 1) x",
               (TAOYUAN,))[0]
    assert client.get(f"/api/access?region={TAOYUAN}").status_code == 200  # fresh results
    before = centre_count(access_url)
    response = client.post("/api/centers", json={
        "name": "  桃源社区东片党群服务站（规划）", "level": "grid", "lon": far[0], "lat": far[1],
        "radius_m": 350, "status": "planned"})
    assert response.status_code == 201, response.get_json()
    centre = response.get_json()
    assert centre["name"] == "桃源社区东片党群服务站（规划）"
    assert centre["status"] == "planned" and centre["region_code"] == TAOYUAN
    assert centre_count(access_url) == before + 1
    (name, level, status, radius, region, lon, lat), = rows(access_url, """
        SELECT name, level, status, radius_m::float8, region_code, ST_X(geom), ST_Y(geom)
        FROM service_centers WHERE id = %s""", (centre["id"],))
    assert (name, level, status, radius, region) == (
        "桃源社区东片党群服务站（规划）", "grid", "planned", 350.0, TAOYUAN)
    assert (lon, lat) == pytest.approx(far)
    # a planned centre serves nobody yet: stored access stays current, and the page lists it
    conn = psycopg2.connect(access_url)
    try:
        assert access_is_fresh(conn)
        assert WhatIf.load(conn).existing_centres() == existing_centres_dicts(access_url)
    finally:
        conn.close()
    assert contains(client.get(f"/access?region={TAOYUAN}").get_data(as_text=True),
                    "桃源社区东片党群服务站（规划）")
    # the status defaults to planned; the radius to the level's norm
    response = client.post("/api/centers", json={"name": "候选点", "level": "community",
                                                 "lon": far[0], "lat": far[1]})
    assert response.status_code == 201
    assert response.get_json()["status"] == "planned"
    assert response.get_json()["radius_m"] is None


def existing_centres_dicts(url):
    return [{"id": c["id"], "name": c["name"], "level": c["level"], "lon": c["lon"],
             "lat": c["lat"], "radius_m": c["radius_m"]} for c in existing_centres(url)]


GOOD = {"name": "新站", "level": "grid", "lon": 102.70, "lat": 25.05}


@pytest.mark.parametrize("change, field", [
    ({"name": None}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "站" * 101}, "name"),
    ({"level": "palace"}, "level"),
    ({"level": None}, "level"),
    ({"lon": None}, "lon"),
    ({"lon": "east"}, "lon"),
    ({"lon": 181}, "lon"),
    ({"lat": -91}, "lat"),
    ({"lat": True}, "lat"),
    ({"radius_m": 0}, "radius_m"),
    ({"radius_m": "far"}, "radius_m"),
    ({"floor_area_m2": -3}, "floor_area_m2"),
    ({"status": "existing"}, "status"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_centre_is_rejected_and_nothing_is_stored(client, access_url, change, field):
    before = centre_count(access_url)
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = client.post("/api/centers", json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["field"] == field and answer["error"].startswith(field), answer
    assert centre_count(access_url) == before


def test_a_centre_body_must_be_an_object(client, access_url):
    before = centre_count(access_url)
    for data in ("[1, 2]", "not json"):
        response = client.post("/api/centers", data=data, content_type="application/json")
        assert response.status_code == 400
        assert response.get_json()["error"]
    assert centre_count(access_url) == before

"""The siting page and its API, and the "with the plan" views of coverage and access, on the demo.

Expectations come from the database and the engines, not from the code under test: residents
within a radius from the stored walking access, the demo's planted service-radius gaps, the
planned centres stored by adopting.
"""

from __future__ import annotations

import html
import json
import re

import psycopg2
import pytest
from helpers import URL_RE, app_for, execute, rows

from gis.config import get_settings

DISTRICT, STREET, TAOYUAN = "530103000000", "530103002000", "530103002001"
NORMS = get_settings().norms
BEYOND_ROW = re.compile(r'<tr data-gap="\d+" data-kind="beyond_service_radius"')


@pytest.fixture(scope="module")
def siting_url(writable_demo_url) -> str:
    """A demo copy (seed 1) of this module's own: the tests adopt planned centres."""
    return writable_demo_url("sitingweb")


@pytest.fixture(scope="module")
def client(siting_url):
    return app_for(siting_url).test_client()


def run(client, **body):
    response = client.post("/api/siting/run", json=body)
    return response.status_code, response.get_json()


def residents_within_existing(url: str, region: str) -> float:
    """Residents of ``region`` within some existing centre's radius, on foot (access engine)."""
    from gis.access_store import run_access

    conn = psycopg2.connect(url)
    try:
        run_access(conn, with_isochrones=False)
        with conn.cursor() as cur:
            cur.execute("""
                WITH RECURSIVE sub(code) AS (
                    SELECT %s::text UNION SELECT r.code FROM regions r
                    JOIN sub ON r.parent_code = sub.code)
                SELECT coalesce(sum(b.residents), 0) FROM buildings b
                JOIN building_access a ON a.building_id = b.id
                WHERE a.within_radius_walk AND b.community_code IN (SELECT code FROM sub)""",
                        (region,))
            return float(cur.fetchone()[0])
    finally:
        conn.rollback()
        conn.close()


# --- the page ------------------------------------------------------------------------------------

def test_page_renders_with_the_form_and_local_assets(client, siting_url):
    response = client.get(f"/siting?region={DISTRICT}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ("选址分析", "LSCP 最少站点全覆盖", "MCLP 最大覆盖", "p-median 最短步行",
                 "新增站点数 k", "服务半径（m）", "候选点", "按面积限定服务能力", "运行",
                 "现状 vs 方案", "采纳方案", "楼栋（按服务站点着色）", "盘龙区"):
        assert text in page, text
    assert f'placeholder="按标准 {NORMS.radius_grid_m:,.0f}"' in page
    assert URL_RE.findall(page) == []  # nothing from another host
    # every building of the district is on the map, with its id for the script to recolour
    (buildings,), = rows(siting_url, "SELECT count(*) FROM buildings")
    state = json.loads(re.search(r"gmSiting\((\{.*\})\);", page).group(1))
    assert len(state["residents"]) == buildings
    assert state["urls"]["run"] == "/api/siting/run" and state["region"] == DISTRICT


def test_every_page_links_to_siting(client):
    for url in ("/", f"/coverage?region={STREET}", f"/access?region={TAOYUAN}",
                f"/siting?region={STREET}"):
        page = client.get(url).get_data(as_text=True)
        assert re.search(r'<a[^>]*href="/siting[^"]*"[^>]*>选址分析</a>', page), url
    assert "Siting" in client.get(f"/siting?region={STREET}&lang=en").get_data(as_text=True)


@pytest.mark.parametrize("query, status", [("region=12", 400), ("region=530103999999", 404)])
def test_page_bad_region(client, query, status):
    assert client.get(f"/siting?{query}").status_code == status


# --- running models ------------------------------------------------------------------------------

@pytest.mark.parametrize("model, k", [("lscp", None), ("mclp", 3), ("pmedian", 3)])
def test_each_model_proposes_sites_and_covers_no_fewer(client, siting_url, model, k):
    body = {"region": DISTRICT, "model": model, **({"k": k} if k else {})}
    status, out = run(client, **body)
    assert status == 200, out
    new = [s for s in out["sites"] if not s["existing"]]
    assert len(new) == out["new_sites"] > 0
    if k:
        assert len(new) == k
    assert out["residents_within_after"] >= out["residents_within_before"]
    assert out["covered_after"] >= out["covered_before"]
    # "before" is what the access engine finds for the existing centres
    assert out["residents_within_before"] == residents_within_existing(siting_url, DISTRICT)
    (total,), = rows(siting_url, "SELECT sum(residents) FROM buildings")
    assert out["demand_weight"] == total
    # every building with residents is there once, with the site serving it
    ids = [b["id"] for b in out["buildings"]]
    assert len(ids) == len(set(ids)) == rows(
        siting_url, "SELECT count(*) FROM buildings WHERE residents > 0")[0][0]
    refs = {s["ref"] for s in out["sites"]}
    assert all(b["site"] in refs for b in out["buildings"] if b["covered"])
    assert sum(b["residents"] for b in out["buildings"] if b["covered"]) \
        == out["residents_within_after"]
    assert sum(s["served_within"] for s in out["sites"]) == out["residents_within_after"]
    for s in new:  # each proposed site serves someone, within its radius
        assert s["served_within"] > 0 and s["radius_m"] == NORMS.radius_grid_m


def test_lscp_brings_every_resident_within_a_radius(client):
    status, out = run(client, region=DISTRICT, model="lscp")
    assert status == 200
    assert out["residents_within_before"] < out["demand_weight"]  # the demo's planted gap
    assert out["residents_within_after"] == out["demand_weight"]
    assert out["residents_beyond_after"] == 0 and out["gap"] == 0
    assert all(b["covered"] for b in out["buildings"])
    # buildings beyond every radius before are now served by a new site
    newly = [b for b in out["buildings"] if not b["covered_before"]]
    new_refs = {s["ref"] for s in out["sites"] if not s["existing"]}
    assert newly and all(b["site"] in new_refs for b in newly)


def test_a_region_plans_for_its_own_residents(client, siting_url):
    status, out = run(client, region=TAOYUAN, model="mclp", k=1, radius_m=250,
                      source="public", level="building", capacitated=True)
    assert status == 200, out
    (residents,), = rows(siting_url, "SELECT sum(residents) FROM buildings"
                                     " WHERE community_code = %s", (TAOYUAN,))
    assert out["demand_weight"] == residents and out["radius_m"] == 250
    assert out["level"] == "building" and out["capacitated"] is True


@pytest.mark.parametrize("body, field", [
    ({"model": "mclp"}, "k"),
    ({"model": "mclp", "k": 0}, "k"),
    ({"model": "mclp", "k": 2.5}, "k"),
    ({"model": "mclp", "k": "three"}, "k"),
    ({"model": "nearest"}, "model"),
    ({}, "model"),
    ({"model": "lscp", "radius_m": -5}, "radius_m"),
    ({"model": "lscp", "radius_m": "far"}, "radius_m"),
    ({"model": "lscp", "radius_m": 1e6}, "radius_m"),
    ({"model": "lscp", "level": "city"}, "level"),
    ({"model": "lscp", "source": "osm"}, "source"),
    ({"model": "lscp", "capacitated": "yes"}, "capacitated"),
    ({"model": "lscp", "region": "5301"}, "region"),
    ({"model": "lscp", "region": 530103000000}, "region"),
    ({"model": "lscp", "colour": "red"}, "colour"),
])
def test_bad_run_requests_name_the_field(client, body, field):
    status, out = run(client, **body)
    assert status == 400, out
    assert out["field"] == field and out["error"].startswith(f"{field}:")


def test_run_needs_a_json_object(client):
    response = client.post("/api/siting/run", data="model=lscp",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.get_json()["field"] == "body"


def test_impossible_asks_say_why(client):
    status, out = run(client, model="mclp", k=10_000, source="candidates")
    assert status == 422 and "more than the" in out["error"] and "candidate" in out["error"]
    status, out = run(client, region="530103999999", model="lscp")
    assert status == 404


# --- the curve -----------------------------------------------------------------------------------

def test_curve_is_non_decreasing_and_starts_at_the_current_cover(client):
    response = client.post("/api/siting/curve", json={"region": DISTRICT, "k_max": 8})
    assert response.status_code == 200
    out = response.get_json()
    points = out["points"]
    assert [p["k"] for p in points] == list(range(9))
    covered = [p["covered"] for p in points]
    assert all(b >= a for a, b in zip(covered, covered[1:], strict=False))
    _, lscp = run(client, region=DISTRICT, model="lscp")
    assert covered[0] == lscp["residents_within_before"]
    # as many sites as LSCP needs cover everyone; gains shrink (diminishing returns)
    assert covered[lscp["new_sites"]] == out["demand_weight"]
    assert covered[lscp["new_sites"] - 1] < out["demand_weight"]
    gains = [b - a for a, b in zip(covered, covered[1:], strict=False)]
    assert gains[0] == max(gains) and gains[-1] == 0
    for k in (1, 3):  # each point is the MCLP optimum for its k
        _, mclp = run(client, region=DISTRICT, model="mclp", k=k)
        assert covered[k] == mclp["covered_after"]


@pytest.mark.parametrize("body, field", [({"k_max": 0}, "k_max"), ({"k_max": 31}, "k_max"),
                                         ({"k": 3}, "k"), ({"level": "x"}, "level")])
def test_bad_curve_requests(client, body, field):
    response = client.post("/api/siting/curve", json=body)
    assert response.status_code == 400 and response.get_json()["field"] == field


# --- adopting, and the views with the plan --------------------------------------------------------

def beyond_rows(page: str) -> int:
    return len(BEYOND_ROW.findall(page))


def test_adopt_stores_planned_centres_and_closes_the_gaps_with_the_plan(client, siting_url):
    before = client.get(f"/coverage?region={DISTRICT}").get_data(as_text=True)
    gaps = beyond_rows(before)
    assert gaps > 0 and "视图：仅现有服务站" in before
    status, out = run(client, region=DISTRICT, model="lscp")
    new = [s for s in out["sites"] if not s["existing"]]
    (planned_before,), = rows(siting_url, "SELECT count(*) FROM service_centers"
                                          " WHERE status = 'planned'")
    response = client.post("/api/siting/adopt", json={
        "region": DISTRICT, "level": "grid", "radius_m": out["radius_m"],
        "sites": [{"lon": s["lon"], "lat": s["lat"], "ref": s["ref"]} for s in new]})
    assert response.status_code == 201, response.get_json()
    adopted = response.get_json()
    assert len(adopted["centers"]) == len(new)
    assert adopted["links"]["coverage"] == f"/coverage?region={DISTRICT}&planned=1"
    assert adopted["links"]["access"] == f"/access?region={DISTRICT}&planned=1"
    stored = rows(siting_url, """
        SELECT name, level, status, radius_m::float8, ST_X(geom), ST_Y(geom)
        FROM service_centers WHERE id = ANY(%s) ORDER BY id""",
                  ([c["id"] for c in adopted["centers"]],))
    assert len(stored) == len(new)
    for (name, level, status_, radius, lon, lat), site in zip(stored, new, strict=True):
        assert level == "grid" and status_ == "planned" and radius == out["radius_m"]
        assert re.fullmatch(r".+社区规划党群服务站\d+", name), name
        assert lon == pytest.approx(site["lon"], abs=1e-6)
        assert lat == pytest.approx(site["lat"], abs=1e-6)
    assert len({r[0] for r in stored}) == len(stored)  # names are unique
    (planned_after,), = rows(siting_url, "SELECT count(*) FROM service_centers"
                                         " WHERE status = 'planned'")
    assert planned_after == planned_before + len(new)

    # with the plan: no resident beyond every radius; without it, the gaps are still there
    with_plan = client.get(f"/coverage?region={DISTRICT}&planned=1").get_data(as_text=True)
    assert beyond_rows(with_plan) == 0 and "视图：现有 + 规划服务站" in with_plan
    assert 'id="gm-plan-toggle"' in with_plan and "checked" in with_plan.split(
        'id="gm-plan-toggle"')[1].split(">")[0]
    api = client.get(f"/api/coverage?region={DISTRICT}&planned=1").get_json()
    assert api["planned"] is True and api["kpis"]["gap_counts"]["beyond_service_radius"] == 0
    assert api["kpis"]["residents_within_radius"] == api["kpis"]["residents"]
    without = client.get(f"/coverage?region={DISTRICT}").get_data(as_text=True)
    assert beyond_rows(without) == gaps and "视图：仅现有服务站" in without
    api = client.get(f"/api/coverage?region={DISTRICT}").get_json()
    assert api["planned"] is False and api["kpis"]["gap_counts"]["beyond_service_radius"] == gaps

    # siting again: counting the plan nothing is left to site; without it, the same proposal
    status, again = run(client, region=DISTRICT, model="lscp", planned=True)
    assert status == 200 and again["planned"] is True
    assert [s for s in again["sites"] if not s["existing"]] == []
    status, again = run(client, region=DISTRICT, model="lscp")
    assert again["planned"] is False
    assert len([s for s in again["sites"] if not s["existing"]]) == len(new)

    # links keep the view; downloads are of the view asked for
    street = rows(siting_url, "SELECT min(code) FROM regions WHERE parent_code = %s",
                  (DISTRICT,))[0][0]
    assert f'href="/coverage?region={street}&amp;planned=1"' in with_plan
    csv_with = client.get(f"/coverage/download.csv?region={DISTRICT}&planned=1")
    assert "超出服务半径" not in csv_with.get_data(as_text=True)
    assert "planned" in csv_with.headers["Content-Disposition"]
    assert "超出服务半径" in client.get(
        f"/coverage/download.csv?region={DISTRICT}").get_data(as_text=True)

    # the access page with the plan: the planned centres serve, and everyone is within reach
    page = client.get(f"/access?region={DISTRICT}&planned=1").get_data(as_text=True)
    assert "视图：现有 + 规划服务站" in page
    state = json.loads(re.search(r"gmAccess\((\{.*\})\);", page).group(1))
    serving = {c["id"] for c in state["centers"]}
    assert {c["id"] for c in adopted["centers"]} <= serving
    assert all(c["status"] != "planned" for c in state["others"])
    assert state["kpis"]["residents_within_radius_walk"] == state["kpis"]["residents"]
    report = client.get(f"/api/access?region={DISTRICT}&planned=1").get_json()
    assert report["run"]["planned"] is True
    page = client.get(f"/access?region={DISTRICT}").get_data(as_text=True)
    state = json.loads(re.search(r"gmAccess\((\{.*\})\);", page).group(1))
    assert "视图：仅现有服务站" in page
    assert all(c["status"] == "existing" for c in state["centers"])
    assert state["kpis"]["residents_within_radius_walk"] < state["kpis"]["residents"]


def test_the_view_with_the_plan_follows_the_plan(client, siting_url):
    """Planned centres added or removed after the view was computed count at the next view."""
    def beyond(planned: bool) -> list[int]:
        report = client.get(f"/api/coverage?region={DISTRICT}"
                            + ("&planned=1" if planned else "")).get_json()
        assert report["planned"] is planned
        return sorted(g["object_id"] for g in report["gaps"]
                      if g["kind"] == "beyond_service_radius")

    planned = [r[0] for r in rows(siting_url, "SELECT id FROM service_centers"
                                              " WHERE status = 'planned'")]
    execute(siting_url, "UPDATE service_centers SET status = 'candidate' WHERE id = ANY(%s)",
            (planned,))
    try:
        alone = beyond(False)
        assert alone and beyond(True) == alone  # no plan: the same gaps
        far = alone[0]
        (lon, lat), = rows(siting_url, "SELECT ST_X(p), ST_Y(p) FROM (SELECT"
                                       " ST_PointOnSurface(geom) p FROM buildings"
                                       " WHERE id = %s) x", (far,))
        response = client.post("/api/centers", json={"name": "测试规划站", "level": "grid",
                                                      "lon": lon, "lat": lat})
        assert response.status_code == 201
        with_it = beyond(True)
        assert far not in with_it and len(with_it) < len(alone)
        assert beyond(False) == alone
        assert beyond(True) == with_it  # read back, not recomputed into something else
        execute(siting_url, "DELETE FROM service_centers WHERE name = '测试规划站'")
        assert beyond(True) == alone
    finally:
        execute(siting_url, "UPDATE service_centers SET status = 'planned' WHERE id = ANY(%s)",
                (planned,))


@pytest.mark.parametrize("body, field", [
    ({"level": "grid", "sites": []}, "sites"),
    ({"level": "grid", "sites": "here"}, "sites"),
    ({"level": "grid"}, "sites"),
    ({"sites": [{"lon": 102.7, "lat": 25.04}]}, "level"),
    ({"level": "town", "sites": [{"lon": 102.7, "lat": 25.04}]}, "level"),
    ({"level": "grid", "radius_m": 0, "sites": [{"lon": 102.7, "lat": 25.04}]}, "radius_m"),
    ({"level": "grid", "sites": [{"lon": 102.7, "lat": 25.04}, {"lon": 200, "lat": 25.04}]},
     "sites[1].lon"),
    ({"level": "grid", "sites": [{"lon": 102.7}]}, "sites[0].lat"),
    ({"level": "grid", "sites": [{"lon": 102.7, "lat": 25.04, "height": 3}]},
     "sites[0].height"),
    ({"level": "grid", "sites": [5]}, "sites[0]"),
    ({"level": "grid", "sites": [{"lon": 102.7, "lat": 25.04}], "extra": 1}, "extra"),
])
def test_bad_adopt_requests_store_nothing(client, siting_url, body, field):
    (count,), = rows(siting_url, "SELECT count(*) FROM service_centers")
    response = client.post("/api/siting/adopt", json=body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["field"] == field
    assert rows(siting_url, "SELECT count(*) FROM service_centers")[0][0] == count


def test_adopting_a_candidate_centre_promotes_it(client, siting_url):
    (cid, name, lon, lat), = rows(siting_url, "SELECT id, name, ST_X(geom), ST_Y(geom) FROM"
                                              " service_centers WHERE status = 'candidate'"
                                              " ORDER BY id LIMIT 1")
    (count,), = rows(siting_url, "SELECT count(*) FROM service_centers")
    response = client.post("/api/siting/adopt", json={
        "level": "community", "sites": [{"lon": lon, "lat": lat, "ref": f"C{cid}"}]})
    assert response.status_code == 201
    (center,) = response.get_json()["centers"]
    assert center["id"] == cid and center["name"] == name and center["status"] == "planned"
    assert rows(siting_url, "SELECT count(*) FROM service_centers")[0][0] == count
    assert rows(siting_url, "SELECT status, level FROM service_centers WHERE id = %s",
                (cid,)) == [("planned", "community")]


def test_planned_parameter_is_checked(client):
    for url in (f"/coverage?region={STREET}&planned=yes", f"/access?region={STREET}&planned=2",
                f"/api/coverage?region={STREET}&planned=x"):
        assert client.get(url).status_code == 400, url


def test_english_labels(client):
    page = client.get(f"/coverage?region={STREET}&lang=en").get_data(as_text=True)
    assert "Count planned centres" in page
    assert html.escape("View: existing") in page or "View: existing" in page

"""The first map: gis.layers GeoJSON, the JSON API and the home page, on a real database.

Most tests run on the demo district (``demo_url``) and derive what they expect from SQL; the
exact popup contents are checked on a tiny hand-made district (``tests/smallmap.py``).
"""

from __future__ import annotations

import json
import re

import folium
import psycopg2
import pytest
from folium.elements import JSCSSMixin
from helpers import URL_RE, app_for
from smallmap import (
    BRANCH_NAME,
    CENTER_NAME,
    GRID_CODE,
    GROUP_NAME,
    HEAD_NAME,
    LINGGUANG,
    RESPONSIBLE,
    TAOYUAN,
    insert_small_district,
)

from gis import layers
from web import create_app
from web.assets import LOCAL, UnvendoredAssetError, localize, missing_files

LAYER_NAMES_ZH = ["街道边界", "社区边界", "综治网格", "党建网格", "楼栋", "服务半径",
                  "党群服务中心（站）"]
LAYER_NAMES_EN = ["Street boundaries", "Community boundaries", "Governance grids", "Party grids",
                  "Buildings", "Service radius", "Service centres"]


def contains(html: str, text: str) -> bool:
    """Whether ``text`` is in the page, as it is or JSON-escaped (folium embeds data as JSON)."""
    return text in html or json.dumps(text)[1:-1] in html


def scalar(url: str, sql: str, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def client(demo_url):
    return app_for(demo_url, TESTING=True).test_client()


@pytest.fixture(scope="module")
def home(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture(scope="module")
def small_url(database_factory) -> str:
    url = database_factory("smallmap")
    conn = psycopg2.connect(url)
    try:
        insert_small_district(conn)
    finally:
        conn.close()
    return url


@pytest.fixture(scope="module")
def small_client(small_url):
    return app_for(small_url, TESTING=True).test_client()


# --- the home page -------------------------------------------------------------------------------

def test_home_shows_chinese_layer_names_and_legend(home):
    for name in LAYER_NAMES_ZH:
        assert contains(home, name), name
    assert 'id="gm-legend"' in home and "图例" in home
    assert "住宅楼" in home and "商务楼宇" in home  # building kinds in the legend


def test_home_shows_data_from_the_database(client, home, demo_url):
    summary = client.get("/api/summary").get_json()
    assert summary["region"]["name"] in home  # the header names the district
    grid_code = scalar(demo_url, "SELECT code FROM grids ORDER BY code LIMIT 1")
    assert grid_code in home
    centre = scalar(demo_url, "SELECT name FROM service_centers ORDER BY id LIMIT 1")
    assert contains(home, centre)
    head = scalar(demo_url, "SELECT name FROM grid_staff WHERE role = 'head' ORDER BY id LIMIT 1")
    assert contains(home, head)
    # the KPI box shows the database's totals
    households = scalar(demo_url, "SELECT sum(households) FROM buildings")
    assert f"{households:,}" in home


def test_home_has_no_external_urls(home):
    assert URL_RE.findall(home) == []
    assert "cdn" not in home.lower()


def test_every_local_asset_of_the_page_is_served(client, home):
    assert missing_files() == []
    paths = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', home))
    assert any("leaflet.js" in p for p in paths) and any("leaflet.css" in p for p in paths)
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


def test_home_in_english(client):
    html = client.get("/?lang=en").get_data(as_text=True)
    for name in LAYER_NAMES_EN:
        assert contains(html, name), name
    assert "Legend" in html and "图例" not in html
    assert 'lang="en"' in html


def test_home_for_one_community(client, demo_url):
    code, name = "530103002001", scalar(demo_url,
                                        "SELECT name FROM regions WHERE code = '530103002001'")
    html = client.get(f"/?region={code}").get_data(as_text=True)
    assert name in html
    other = scalar(demo_url, "SELECT code FROM grids WHERE community_code <> %s ORDER BY code"
                             " LIMIT 1", (code,))
    assert other not in html


def test_home_bad_and_unknown_region(client):
    assert client.get("/?region=12ab").status_code == 400
    assert client.get("/?region=999999999999").status_code == 404


def test_tile_url_is_the_only_external_url_with_a_basemap(demo_url):
    app = create_app({"DATABASE_URL": demo_url, "TESTING": True, "BASEMAP": "osm"})
    html = app.test_client().get("/").get_data(as_text=True)
    assert URL_RE.findall(html) == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]


def test_app_rejects_bad_settings():
    with pytest.raises(ValueError, match="BASEMAP"):
        create_app({"BASEMAP": "google"})
    with pytest.raises(ValueError, match="TIANDITU_KEY"):
        create_app({"BASEMAP": "tianditu", "TIANDITU_KEY": ""})
    with pytest.raises(ValueError, match="LANG"):
        create_app({"LANG": "fr"})


# --- the layer API -------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, sql", [
    ("grids", "SELECT count(*) FROM grids"),
    ("buildings", "SELECT count(*) FROM buildings"),
    ("centers", "SELECT count(*) FROM service_centers"),
    ("communities", "SELECT count(*) FROM regions WHERE level = 'community' AND geom IS NOT NULL"),
    ("streets", "SELECT count(*) FROM regions WHERE level = 'street' AND geom IS NOT NULL"),
])
def test_layer_feature_count_matches_the_table(client, demo_url, layer, sql):
    response = client.get(f"/api/layers/{layer}")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    fc = response.get_json()
    assert fc["type"] == "FeatureCollection"
    assert len(fc["features"]) == scalar(demo_url, sql) > 0
    assert all(f["type"] == "Feature" and f["geometry"]["coordinates"] for f in fc["features"])


def test_grid_features_carry_what_is_attached(client, demo_url):
    fc = client.get("/api/layers/grids").get_json()
    props = {f["properties"]["id"]: f["properties"] for f in fc["features"]}
    assert {p["layer"] for p in props.values()} == {"governance", "party"}
    governance = [p for p in props.values() if p["layer"] == "governance"]
    assert sum(p["households"] for p in governance) == scalar(
        demo_url, "SELECT sum(households) FROM buildings WHERE grid_id IS NOT NULL")
    assert sum(len(p["heads"]) for p in governance) == scalar(
        demo_url, "SELECT count(*) FROM grid_staff s JOIN grids g ON g.id = s.grid_id"
                  " WHERE s.role = 'head' AND g.layer = 'governance'")
    assert any(p["branches"] for p in props.values())
    assert any(p["full_time_workers"] for p in props.values())


def test_region_filter_of_the_api(client, demo_url):
    fc = client.get(f"/api/layers/grids?region={TAOYUAN}").get_json()
    assert len(fc["features"]) == scalar(
        demo_url, "SELECT count(*) FROM grids WHERE community_code = %s", (TAOYUAN,))
    assert {f["properties"]["community_code"] for f in fc["features"]} == {TAOYUAN}
    street = client.get("/api/layers/buildings?region=530103002000").get_json()
    assert len(street["features"]) == scalar(
        demo_url, "SELECT count(*) FROM buildings b JOIN regions c ON c.code = b.community_code"
                  " WHERE c.parent_code = '530103002000'")


def test_bbox_filter_of_the_api(client, demo_url):
    box = "102.700,25.040,102.705,25.045"
    fc = client.get(f"/api/layers/buildings?bbox={box}").get_json()
    assert len(fc["features"]) == scalar(
        demo_url, "SELECT count(*) FROM buildings"
                  " WHERE geom && ST_MakeEnvelope(102.700, 25.040, 102.705, 25.045, 4326)")
    assert client.get("/api/layers/buildings?bbox=1,2,3").status_code == 400


def test_unknown_layer_is_404_json(client):
    response = client.get("/api/layers/rivers")
    assert response.status_code == 404
    assert response.is_json and "rivers" in response.get_json()["error"]
    assert client.get("/api/no/such/route").is_json


@pytest.mark.parametrize("code", ["12", "53010300200x", "5301030020011"])
def test_malformed_region_is_400_json(client, code):
    response = client.get(f"/api/layers/grids?region={code}")
    assert response.status_code == 400
    assert response.is_json and "12-digit" in response.get_json()["error"]


def test_unknown_region_is_404_json(client):
    response = client.get("/api/layers/grids?region=999999999999")
    assert response.status_code == 404
    assert "999999999999" in response.get_json()["error"]


def test_summary_matches_the_database(client, demo_url):
    s = client.get("/api/summary").get_json()
    assert s["communities"] == scalar(demo_url,
                                      "SELECT count(*) FROM regions WHERE level = 'community'")
    assert s["grids"]["party"] == scalar(demo_url,
                                         "SELECT count(*) FROM grids WHERE layer = 'party'")
    assert s["buildings"] == scalar(demo_url, "SELECT count(*) FROM buildings")
    assert s["residents"] == scalar(demo_url, "SELECT sum(residents) FROM buildings")
    assert s["centers"]["total"] == scalar(demo_url, "SELECT count(*) FROM service_centers")
    minx, miny, maxx, maxy = s["bbox"]
    assert minx < maxx and miny < maxy


# --- exact contents, on the small hand-made district ---------------------------------------------

def test_grid_pair_shares_staff_and_branch(small_client):
    fc = small_client.get(f"/api/layers/grids?region={TAOYUAN}").get_json()
    pair = {f["properties"]["layer"]: f["properties"] for f in fc["features"]
            if f["properties"]["code"] == GRID_CODE}
    # staff hang on the governance grid, the branch on the party grid: both show both
    for props in pair.values():
        assert props["heads"] == [HEAD_NAME]
        assert props["full_time_workers"] == ["赵专职"]
        assert props["part_time_workers"] == ["钱兼职"]
        assert props["branches"] == [BRANCH_NAME]
    assert pair["governance"]["buildings"] == pair["party"]["buildings"] == 4
    assert pair["governance"]["households"] == 240 and pair["governance"]["residents"] == 720


def test_building_and_centre_properties(small_client):
    buildings = small_client.get("/api/layers/buildings").get_json()["features"]
    b1 = next(f["properties"] for f in buildings if f["properties"]["code"] == "B001")
    assert b1["party_groups"] == [GROUP_NAME]
    assert b1["responsible_members"] == [RESPONSIBLE]
    assert b1["kind"] == "residential" and b1["households"] == 120
    centres = {f["properties"]["code"]: f["properties"]
               for f in small_client.get("/api/layers/centers").get_json()["features"]}
    assert centres["C1"]["radius_m"] == 1000 and centres["C1"]["radius_is_norm"]
    assert centres["C2"]["radius_m"] == 500 and centres["C2"]["name"] == CENTER_NAME
    assert centres["C3"]["radius_m"] == 250 and not centres["C3"]["radius_is_norm"]
    # a community filter keeps a centre coded to the street but standing in the community
    in_lingguang = small_client.get(f"/api/layers/centers?region={LINGGUANG}").get_json()
    assert [f["properties"]["code"] for f in in_lingguang["features"]] == ["C1"]


def test_popups_in_chinese(small_client):
    html = small_client.get("/").get_data(as_text=True)
    for text in ["编码", "户数", "人口", "网格长", "网格员", "党支部", "类型", "楼栋党小组",
                 "责任党员", "级别", "面积", "服务半径", HEAD_NAME, "钱兼职（兼职）", BRANCH_NAME,
                 GROUP_NAME, RESPONSIBLE, CENTER_NAME, "社区党群服务中心", "450 m²", "500 米"]:
        assert contains(html, text), text
    assert "鼓楼街道" in html  # the header: the single street under the single district


def test_layers_validate_their_arguments(small_url):
    conn = psycopg2.connect(small_url)
    try:
        with pytest.raises(layers.UnknownLayerError):
            layers.get_layer(conn, "rivers")
        with pytest.raises(ValueError):
            layers.grids(conn, region="5301")
        with pytest.raises(ValueError):
            layers.buildings(conn, bbox="102.72,25.0,102.70,25.1")  # min > max
        with pytest.raises(layers.RegionNotFoundError):
            layers.communities(conn, region="530103999001")
        assert layers.region_summary(conn, region=TAOYUAN)["communities"] == 1
    finally:
        conn.close()


def test_empty_database_renders(database_factory):
    url = database_factory("emptymap")
    app = create_app({"DATABASE_URL": url, "TESTING": True, "BASEMAP": "none"})
    html = app.test_client().get("/")
    assert html.status_code == 200
    assert "gridmap demo" in html.get_data(as_text=True)


# --- vendoring -----------------------------------------------------------------------------------

def test_localize_replaces_every_folium_cdn_link():
    m = folium.Map(tiles=None)
    folium.Marker((25.0, 102.7), icon=folium.Icon(prefix="fa", icon="flag")).add_to(m)
    localize(m)
    html = m.get_root().render()
    assert URL_RE.findall(html) == []
    assert "/static/vendor/leaflet-1.9.3/leaflet.js" in html
    # folium's own class-level lists are left alone
    assert folium.Map.default_js[0][1].startswith("https://")
    assert set(LOCAL) >= {name for name, _ in folium.Map.default_js}


def test_localize_refuses_an_unvendored_asset():
    class Plugin(JSCSSMixin):
        default_js = [("thing", "https://assets.example.org/thing.js")]

    m = folium.Map(tiles=None)
    m.add_child(Plugin())
    with pytest.raises(UnvendoredAssetError, match="thing.js"):
        localize(m)

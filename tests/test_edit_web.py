"""The grid editing page through Flask's test client, on the demo district (read only).

The page of a community renders for both grid layers with everything its script needs (the
community's grids of both layers and its buildings, as in the database), loads nothing from
another host and links the vendored Leaflet-Geoman; a region above a community lists the
communities to choose from; malformed or unknown regions and layers get 400 / 404.
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import URL_RE, app_for, rows

from web.assets import PAGE_ASSETS, missing_files

TAOYUAN, STREET = "530103002001", "530103002000"
STATE_RE = re.compile(r"gmEdit\((\{.*\})\);")


@pytest.fixture(scope="module")
def client(demo_url):
    return app_for(demo_url, TESTING=True).test_client()


def page_state(html: str) -> dict:
    return json.loads(STATE_RE.search(html).group(1))


@pytest.mark.parametrize("layer", ["governance", "party"])
def test_page_renders_for_each_layer(client, demo_url, layer):
    response = client.get(f"/edit?region={TAOYUAN}&layer={layer}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("网格调整 · 桃源社区", "绘制新网格", "切分", "合并", "删除", "均衡切分建议",
                 "撤销", "重做", "历史", "保存", "取消", "本社区网格", "户数标准 300–500 户"):
        assert text in html, text
    other = "party" if layer == "governance" else "governance"
    assert f"同步到{'党建网格' if other == 'party' else '综治网格'}" in html
    state = page_state(html)
    assert state["layer"] == layer and state["other"] == other
    assert state["community"] == {"code": TAOYUAN, "name": "桃源社区"}
    # both layers' grids with their versions, and every building, as the database has them
    grids = {f["id"]: f["properties"] for f in state["grids"]["features"]}
    db_grids = rows(demo_url, "SELECT id, code, layer, version FROM grids"
                              " WHERE community_code = %s", (TAOYUAN,))
    assert {(i, grids[i]["code"], grids[i]["layer"], grids[i]["version"]) for i in grids} \
        == set(db_grids)
    (buildings, households), = rows(demo_url, "SELECT count(*), sum(households) FROM buildings"
                                              " WHERE community_code = %s", (TAOYUAN,))
    features = state["buildings"]["features"]
    assert len(features) == buildings
    assert sum(f["properties"]["households"] or 0 for f in features) == households
    assert state["urls"]["grids"] == "/api/grids" and state["urls"]["merge"] == "/api/grids/merge"
    assert state["urls"]["layer"] == f"/api/layers/grids?region={TAOYUAN}"
    assert state["norms"] == {"households_min": 300, "households_max": 500}
    # the layer switch links both layers, the current one marked
    assert re.search(rf'<a class="btn btn-outline-secondary active" href="/edit\?region={TAOYUAN}'
                     rf'&amp;layer={layer}"', html)


def test_page_assets_are_local_and_served(client):
    html = client.get(f"/edit?region={TAOYUAN}").get_data(as_text=True)
    assert URL_RE.findall(html) == []  # nothing from another host
    assert missing_files() == []
    paths = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    for asset in PAGE_ASSETS.values():
        assert f"/static/vendor/{asset}" in paths, asset
    assert "/static/js/edit.js" in paths
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_data()
        response.close()
        if path.endswith((".js", ".css")):  # and they do not reach out themselves
            text = body.decode("utf-8", "replace")
            assert not re.search(r"""(?:src=|url\(|import\s|fetch\()\s*["']?(?:https?:)?//""",
                                 text), path
    # Geoman comes after Leaflet, before the map is made (it hooks into new maps and layers)
    assert html.index("leaflet.js") < html.index("leaflet-geoman.min.js") \
        < html.index("L.map(")


def test_a_grid_to_select(client, demo_url):
    (grid,), = rows(demo_url, "SELECT min(id) FROM grids WHERE community_code = %s"
                              " AND layer = 'party'", (TAOYUAN,))
    state = page_state(client.get(f"/edit?region={TAOYUAN}&layer=party&grid={grid}")
                       .get_data(as_text=True))
    assert state["select"] == grid


def test_every_page_links_to_the_editing_page(client):
    for url in ("/", f"/coverage?region={STREET}", f"/access?region={TAOYUAN}",
                f"/siting?region={STREET}", f"/edit?region={TAOYUAN}", "/edit"):
        html = client.get(url).get_data(as_text=True)
        assert re.search(r'<a[^>]*href="/edit[^"]*"[^>]*>网格调整</a>', html), url
    html = client.get(f"/coverage?region={TAOYUAN}").get_data(as_text=True)
    assert f'href="/edit?region={TAOYUAN}"' in html


def test_grid_popups_link_to_the_editing_page(client, demo_url):
    (grid, layer), = rows(demo_url, "SELECT id, layer FROM grids WHERE community_code = %s"
                                    " ORDER BY id DESC LIMIT 1", (TAOYUAN,))
    # the popup HTML sits in the map's GeoJSON, as a JSON string
    link = json.dumps(f'<a class="gm-edit-link" href="/edit?region={TAOYUAN}&amp;layer={layer}'
                      f'&amp;grid={grid}">在网格调整页修改</a>')
    link = link.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    for url in ("/", f"/coverage?region={TAOYUAN}"):
        html = client.get(url).get_data(as_text=True)
        assert link[1:-1] in html, url


@pytest.mark.parametrize("query", ["", f"region={STREET}", "region=530103000000"])
def test_above_a_community_the_page_lists_the_communities(client, demo_url, query):
    response = client.get(f"/edit?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "选择社区" in html
    region = query.partition("=")[2] or None
    communities = rows(demo_url, "SELECT code FROM regions WHERE level = 'community'"
                                 " AND (%s IS NULL OR code LIKE %s)",
                       (region, (region or "")[:9].rstrip("0") + "%"))
    listed = re.findall(r'<tr data-code="(\d{12})">', html)
    assert sorted(listed) == sorted(c for (c,) in communities) and listed
    for code in listed:
        for layer in ("governance", "party"):
            assert f'href="/edit?region={code}&amp;layer={layer}"' in html
    assert URL_RE.findall(html) == []


@pytest.mark.parametrize("query, status", [
    ("region=12", 400),
    (f"region={TAOYUAN}&layer=roads", 400),
    (f"region={TAOYUAN}&grid=abc", 400),
    ("region=530103999999", 404),
    ("region=530103002099", 404),
])
def test_bad_region_or_layer(client, query, status):
    response = client.get(f"/edit?{query}")
    assert response.status_code == status


def test_english_labels(client):
    html = client.get(f"/edit?region={TAOYUAN}&layer=party&lang=en").get_data(as_text=True)
    for text in ("Grid editing", "Draw a grid", "Split to balance", "Copy to the governance grid",
                 "Undo", "Redo", "Save", "Grids of the community"):
        assert text in html, text
    assert "绘制新网格" not in html
    state = page_state(html)
    assert state["lang"] == "en" and state["labels"]["edit.conflict"].startswith("This grid")
    assert 'href="/edit?region=530103002001&amp;layer=party&amp;lang=zh"' in html

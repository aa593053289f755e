"""The grid editing API through Flask's test client, on the hand-made community of
``test_topology``: each operation, refusals that leave the database as it was, 409 on a stale
version, history and restore."""

from __future__ import annotations

from urllib.parse import quote

import psycopg2
import pytest
import shapely
from shapely.geometry import box, mapping
from test_topology import setup, snapshot
from world import COMMUNITY, to_lonlat

from web import create_app


@pytest.fixture
def world(database_factory):
    url = database_factory("grids_api")
    conn = psycopg2.connect(url)
    ids = setup(conn)
    conn.commit()
    app = create_app({"DATABASE_URL": url, "BASEMAP": "none", "TESTING": True})
    yield app.test_client(), conn, ids
    conn.close()


def state(conn):
    conn.rollback()  # see what the app committed
    return snapshot(conn)


def test_preview_then_save_then_stale(world):
    client, conn, (g1, g2, b1, b2) = world
    start = state(conn)
    shape = mapping(to_lonlat(box(0, 0, 120, 100)))
    preview = client.post(f"/api/grids/{g1}/preview", json={"geometry": shape, "version": 1})
    assert preview.status_code == 200
    body = preview.get_json()
    assert body["committed"] is False and body["moved_buildings"][0]["id"] == b2
    assert state(conn) == start
    saved = client.put(f"/api/grids/{g1}", json={"geometry": shape, "version": 1},
                       # HTTP headers are Latin-1: a Chinese name travels percent-encoded
                       headers={"X-Gridmap-User": quote("张主任")})
    assert saved.status_code == 200 and saved.get_json()["committed"] is True
    assert state(conn) != start
    stale = client.put(f"/api/grids/{g1}", json={"geometry": shape, "version": 1})
    assert stale.status_code == 409 and stale.get_json()["field"] == "version"
    history = client.get(f"/api/grids/{g1}/history").get_json()["versions"]
    assert [(v["version"], v["action"]) for v in history] == [(2, "update"), (1, "import")]
    assert history[0]["changed_by"] == "张主任"


@pytest.mark.parametrize("method, path, payload, status, field", [
    ("post", "/api/grids/{g1}/preview", {"version": 1}, 400, "geometry"),
    ("put", "/api/grids/{g1}", {"geometry": {"type": "Point", "coordinates": [0, 0]},
                                "version": 1}, 400, "geometry"),
    ("put", "/api/grids/{g1}", "not an object", 400, "body"),
    ("put", "/api/grids/999999", {"geometry": None, "version": 1}, 404, "id"),
    ("put", "/api/grids/{g1}", {"geometry": mapping(to_lonlat(box(0, 0, 120, 100)))}, 400,
     "version"),
    ("post", "/api/grids", {"community_code": "530103002009", "layer": "governance",
                            "geometry": mapping(to_lonlat(box(0, 0, 10, 10)))}, 400,
     "community_code"),
    ("post", "/api/grids/merge", {"ids": ["{g1}"], "keep": "{g1}", "versions": [1]}, 400, "ids"),
    ("post", "/api/grids/{g1}/split", {"line": {"type": "Point", "coordinates": [0, 0]},
                                       "version": 1}, 400, "line"),
    ("post", "/api/grids/{g1}/restore", {"version": 7}, 400, "version"),
    ("post", "/api/communities/{community}/renumber?layer=parcel", None, 400, "layer"),
])
def test_bad_requests_change_nothing(world, method, path, payload, status, field):
    client, conn, (g1, g2, b1, b2) = world
    start = state(conn)

    def fill(value):
        if isinstance(value, str):
            return value.format(g1=g1, community=COMMUNITY)
        if isinstance(value, list):
            return [int(fill(v)) if isinstance(v, str) else v for v in value]
        if isinstance(value, dict):
            return {k: fill(v) if k in ("ids", "keep") else v for k, v in value.items()}
        return value

    body = fill(payload)
    if isinstance(body, dict) and isinstance(body.get("keep"), str):
        body["keep"] = int(body["keep"])
    answer = getattr(client, method)(fill(path), json=body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["field"] == field
    assert state(conn) == start


def test_split_merge_delete_restore_renumber(world):
    client, conn, (g1, g2, b1, b2) = world
    line = mapping(to_lonlat(shapely.LineString([(150, -10), (150, 110)])))
    split = client.post(f"/api/grids/{g2}/split", json={"line": line, "version": 1})
    assert split.status_code == 200
    new_id = [g["id"] for g in split.get_json()["grids"] if g["before"] is None][0]
    merged = client.post("/api/grids/merge?preview=1",
                         json={"ids": [g2, new_id], "keep": g2, "versions": [2, 1]})
    assert merged.status_code == 200 and merged.get_json()["committed"] is False
    gone = client.delete(f"/api/grids/{new_id}?version=1")
    assert gone.status_code == 200
    assert round(gone.get_json()["new_holes"][0]["area_m2"], -2) == 5000
    back = client.post(f"/api/grids/{g2}/restore", json={"version": 1})
    assert back.status_code == 200 and back.get_json()["new_holes"] == []
    renumbered = client.post(f"/api/communities/{COMMUNITY}/renumber?layer=governance")
    assert renumbered.status_code == 200
    assert renumbered.get_json()["changes"] == []  # 001 west, 002 east already


def test_balance_suggestion_of_a_grid_within_the_norm_is_empty(world):
    client, conn, (g1, *_) = world
    answer = client.get(f"/api/grids/{g1}/balance")
    assert answer.status_code == 200 and answer.get_json()["lines"] == []
    assert client.get("/api/grids/999999/balance").status_code == 404

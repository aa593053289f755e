"""The coverage page, its JSON API and the gap downloads, on the demo district (real PostGIS).

What the pages must show is derived from the database: the demo's planted gaps
(``demo_planted_gaps``) matched to what the engine stored (:func:`gis.coverage.load_report`).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re

import openpyxl
import psycopg2
import pytest
from helpers import URL_RE, app_for, contains, execute, rows

from gis import coverage_layers
from gis.coverage import GAP_KINDS, load_report
from gis.coverage_text import GAP_LABELS, KPI_COUNT_LABELS, SHARE_LABELS
from gis.io.export import GAP_HEADERS, gaps_to_csv

DISTRICT, STREET = "530103000000", "530103002000"


def report_of(url: str, region: str | None):
    conn = psycopg2.connect(url)
    try:
        return load_report(conn, region=region)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def client(coverage_demo_url):
    return app_for(coverage_demo_url, TESTING=True).test_client()


@pytest.fixture
def district_page(client) -> str:
    response = client.get(f"/coverage?region={DISTRICT}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def planted(coverage_demo_url, district_page):
    """Each planted gap with the stored gap the engine found for it."""
    found = report_of(coverage_demo_url, DISTRICT).gaps
    out = []
    for kind, layer, region, object_type, object_id, object_code in rows(
            coverage_demo_url, "SELECT kind, layer, region_code, object_type, object_id,"
                               " object_code FROM demo_planted_gaps ORDER BY kind, object_id"):
        match = [g for g in found if (g["kind"], g["layer"], g["region_code"].strip(),
                                      g["object_type"]) == (kind, layer, region, object_type)
                 and (g["object_id"] == object_id if object_id is not None
                      else g["object_code"] == object_code)]
        assert len(match) == 1, (kind, layer, region, object_id, object_code)
        out.append(match[0])
    assert out
    return out


def hole_community(url: str) -> str:
    return rows(url, "SELECT region_code FROM demo_planted_gaps WHERE kind = 'grid_hole'"
                     " ORDER BY region_code LIMIT 1")[0][0]


def overlap_community(url: str) -> str:
    return rows(url, "SELECT region_code FROM demo_planted_gaps WHERE kind = 'grid_overlap'"
                     " ORDER BY region_code LIMIT 1")[0][0]


# --- the page ------------------------------------------------------------------------------------

def test_first_visit_computes_and_stores_coverage(client, coverage_demo_url):
    execute(coverage_demo_url, "DELETE FROM coverage_gaps; DELETE FROM coverage_kpis")
    assert client.get(f"/coverage?region={STREET}").status_code == 200
    communities = rows(coverage_demo_url, "SELECT count(*) FROM regions"
                                          " WHERE parent_code = %s", (STREET,))[0][0]
    assert rows(coverage_demo_url, "SELECT count(*) FROM coverage_kpis")[0][0] == communities
    # a second visit reads what is stored: nothing is recomputed
    before = rows(coverage_demo_url, "SELECT max(computed_at) FROM coverage_kpis")[0][0]
    assert client.get(f"/coverage?region={STREET}").status_code == 200
    assert rows(coverage_demo_url, "SELECT max(computed_at) FROM coverage_kpis")[0][0] == before


@pytest.mark.parametrize("level", ["district", "street", "community", "grid"])
def test_page_renders_at_every_level(client, coverage_demo_url, level):
    community = overlap_community(coverage_demo_url)
    grid = rows(coverage_demo_url, "SELECT min(code) FROM grids WHERE community_code = %s",
                (community,))[0][0]
    query, name_code = {
        "district": (f"region={DISTRICT}", DISTRICT),
        "street": (f"region={STREET}", STREET),
        "community": (f"region={community}", community),
        "grid": (f"region={community}&grid={grid}", community),
    }[level]
    response = client.get(f"/coverage?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    trail = rows(coverage_demo_url, """
        WITH RECURSIVE up AS (SELECT code, name, parent_code FROM regions WHERE code = %s
            UNION ALL SELECT r.code, r.name, r.parent_code FROM regions r
            JOIN up ON r.code = up.parent_code) SELECT name FROM up""", (name_code,))
    start = page.index('id="gm-breadcrumb"')
    crumbs = page[start:page.index("</ol>", start)]
    for (name,) in trail:
        assert name in crumbs
    assert 'id="gm-gap-table"' in page or "未发现缺口" in page
    assert 'id="gm-kpis"' in page and "覆盖指标" in page
    for label in SHARE_LABELS.values():
        assert label in page
    assert URL_RE.findall(page) == []


def test_every_planted_gap_is_explained_in_the_table_and_a_popup(district_page, planted,
                                                                 coverage_demo_url):
    table = district_page[district_page.index('id="gm-gap-table"'):]
    for gap in planted:
        assert html.escape(gap["explanation"]) in table, gap
        assert html.escape(gap["remedy"]) in table, gap
        assert f'data-gap="{gap["id"]}"' in table
    # the popups are built from the map data (in the script after the panel), JSON-escaped;
    # a gap without a place (a branch with neither building nor grid) is in the table only
    placed = {i for (i,) in rows(coverage_demo_url,
                                 "SELECT id FROM coverage_gaps WHERE geom IS NOT NULL")}
    script = district_page[district_page.index("</aside>"):]
    for gap in planted:
        in_popup = contains(script, gap["explanation"]) and contains(script, gap["remedy"])
        assert in_popup == (gap["id"] in placed), gap
    assert any(g["id"] not in placed for g in planted)  # the demo plants one such gap
    for gap in (g for g in planted if g["id"] not in placed):
        assert re.search(rf'data-gap="{gap["id"]}"[^>]*class="gm-noplace"', table)


def test_community_page_explains_its_planted_gaps(client, coverage_demo_url, planted):
    community = hole_community(coverage_demo_url)
    page = client.get(f"/coverage?region={community}").get_data(as_text=True)
    mine = [g for g in planted if g["region_code"].strip() == community]
    assert {g["kind"] for g in mine} >= {"grid_hole", "building_no_grid"}
    for gap in mine:
        assert contains(page, gap["explanation"])
    others = [g for g in planted if g["region_code"].strip() != community]
    assert not any(f'data-gap="{g["id"]}"' in page for g in others)


def test_layer_names_carry_the_gap_counts(district_page, coverage_demo_url):
    counts = report_of(coverage_demo_url, DISTRICT).kpis["gap_counts"]
    assert any(counts.values())
    for kind in GAP_KINDS:
        name = f"{GAP_LABELS[kind]} ({counts[kind]})"
        assert contains(district_page, name) == bool(counts[kind]), name


def test_holes_and_overlaps_are_hatched_red(district_page):
    for pattern in ("gm-hatch-hole", "gm-hatch-overlap"):
        assert f'<pattern id="{pattern}"' in district_page
        assert f"url(#{pattern})" in district_page  # the fill of the layer's features


def test_grids_and_buildings_are_coloured_by_status(client, coverage_demo_url):
    community = hole_community(coverage_demo_url)
    page = client.get(f"/coverage?region={community}").get_data(as_text=True)
    conn = psycopg2.connect(coverage_demo_url)
    try:
        targets = coverage_layers.gap_targets(conn, region=community)
    finally:
        conn.close()
    assert targets["building"]
    # both colours are used, and a building with gaps lists them in its popup
    assert "#2e9d4f" in page and "#e4572e" in page
    (gap_id,) = next(ids for ids in targets["building"].values() if len(ids) == 1)
    explanation = rows(coverage_demo_url, "SELECT explanation FROM coverage_gaps WHERE id = %s",
                       (gap_id,))[0][0]
    assert contains(page, explanation)


def test_drill_down_links(client, coverage_demo_url):
    page = client.get(f"/coverage?region={DISTRICT}").get_data(as_text=True)
    for code, name in rows(coverage_demo_url, "SELECT code, name FROM regions"
                                              " WHERE parent_code = %s", (DISTRICT,)):
        assert f'href="/coverage?region={code}"' in page and name in page
    street = client.get(f"/coverage?region={STREET}").get_data(as_text=True)
    for (code,) in rows(coverage_demo_url, "SELECT code FROM regions WHERE parent_code = %s",
                        (STREET,)):
        assert f'href="/coverage?region={code}"' in street
    community = overlap_community(coverage_demo_url)
    page = client.get(f"/coverage?region={community}").get_data(as_text=True)
    for (code,) in rows(coverage_demo_url, "SELECT DISTINCT code FROM grids"
                                           " WHERE community_code = %s", (community,)):
        assert f'href="/coverage?region={community}&amp;grid={code}"' in page


def test_grid_page_shows_only_that_grids_gaps(client, coverage_demo_url, district_page):
    community = overlap_community(coverage_demo_url)
    grid = rows(coverage_demo_url, "SELECT code FROM grids WHERE id = (SELECT object_id FROM"
                                   " coverage_gaps WHERE kind = 'grid_overlap' LIMIT 1)")[0][0]
    page = client.get(f"/coverage?region={community}&grid={grid}").get_data(as_text=True)
    shown = {int(i) for i in re.findall(r'data-gap="(\d+)"', page)}
    conn = psycopg2.connect(coverage_demo_url)
    try:
        (cell,) = coverage_layers.grid_gaps(conn, region=community, grid=grid)
    finally:
        conn.close()
    assert shown == set(cell["gaps"]) and shown
    kinds = {k for (k,) in rows(coverage_demo_url, "SELECT kind FROM coverage_gaps"
                                                   " WHERE id = ANY(%s)", (list(shown),))}
    assert "grid_overlap" in kinds
    # zoomed to the grid: the map is fitted to the grid's bounds
    (xmin, ymin, xmax, ymax), = rows(coverage_demo_url, "SELECT ST_XMin(e), ST_YMin(e),"
                                     " ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e"
                                     " FROM grids WHERE code = %s) x", (grid,))
    fit = re.search(r"fitBounds\(\s*\[\[([\d.]+), ([\d.]+)\], \[([\d.]+), ([\d.]+)\]\]", page)
    assert [float(v) for v in fit.groups()] == pytest.approx([ymin, xmin, ymax, xmax], abs=1e-6)
    # a grid code without a region finds its community
    assert client.get(f"/coverage?grid={grid}").status_code == 200


def test_english_page(client, coverage_demo_url):
    community = hole_community(coverage_demo_url)
    page = client.get(f"/coverage?region={community}&lang=en").get_data(as_text=True)
    assert 'lang="en"' in page
    for text in ("Coverage KPIs", "Recompute", "Download gaps", "Hole in the grid tiling (2)"):
        assert contains(page, text), text
    assert "覆盖指标" not in page and "重新计算" not in page
    # links keep the language
    assert re.search(r'href="/coverage\?region=\d{12}&amp;lang=en"', page)


def test_home_page_links_to_coverage(client):
    page = client.get(f"/?region={STREET}").get_data(as_text=True)
    assert f'href="/coverage?region={STREET}"' in page and "覆盖分析" in page


@pytest.mark.parametrize("url, status, message", [
    ("/coverage?region=5301", 400, "12-digit"),
    ("/coverage?region=999999999999", 404, "999999999999"),
    ("/coverage?region=530103002004&grid=abc", 400, "15 digits"),
    ("/coverage?region=530103002004&grid=530103002001001", 404, "530103002001001"),
    ("/coverage/download.csv?region=5301", 400, "12-digit"),
    ("/coverage/download.xlsx?region=999999999999", 404, "999999999999"),
    ("/coverage/download.pdf?region=530103002004", 404, ""),
    ("/api/coverage?region=5301", 400, "12-digit"),
    ("/api/coverage?region=999999999999", 404, "999999999999"),
])
def test_bad_and_unknown_codes(client, url, status, message):
    response = client.get(url)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    if url.startswith("/api/"):
        assert response.get_json()["error"]


# --- the JSON API --------------------------------------------------------------------------------

@pytest.mark.parametrize("region", [DISTRICT, STREET, "530103002004"])
def test_api_is_the_stored_report(client, coverage_demo_url, region):
    response = client.get(f"/api/coverage?region={region}")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"region", "kpis", "gaps", "distance_mode", "planned"}
    assert body == json.loads(json.dumps(report_of(coverage_demo_url, region).to_json()))


def test_api_run_recomputes(client, coverage_demo_url, district_page):
    community = overlap_community(coverage_demo_url)
    before = rows(coverage_demo_url, "SELECT max(computed_at) FROM coverage_kpis"
                                     " WHERE region_code = %s", (community,))[0][0]
    response = client.post(f"/api/coverage/run?region={community}")
    assert response.status_code == 200
    after = rows(coverage_demo_url, "SELECT max(computed_at) FROM coverage_kpis"
                                    " WHERE region_code = %s", (community,))[0][0]
    assert after > before
    assert response.get_json() == json.loads(json.dumps(
        report_of(coverage_demo_url, community).to_json()))
    assert client.get(f"/api/coverage/run?region={community}").status_code == 405
    assert client.post("/api/coverage/run?region=999999999999").status_code == 404


# --- downloads -----------------------------------------------------------------------------------

def test_csv_download(client, coverage_demo_url):
    response = client.get(f"/coverage/download.csv?region={DISTRICT}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="coverage-{DISTRICT}.csv"'
    assert response.data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    gaps = report_of(coverage_demo_url, DISTRICT).gaps
    assert tuple(table[0]) == GAP_HEADERS
    assert len(table) == 1 + len(gaps)
    assert [r[7] for r in table[1:]] == [g["explanation"] for g in gaps]
    assert {r[0] for r in table[1:]} <= set(GAP_LABELS.values())
    names = dict(rows(coverage_demo_url, "SELECT code, name FROM regions"))
    assert all(r[4] == names[r[3]] for r in table[1:])


def test_xlsx_download(client, coverage_demo_url):
    community = overlap_community(coverage_demo_url)
    response = client.get(f"/coverage/download.xlsx?region={community}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="coverage-{community}.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["缺口", "指标"]
    sheet = book["缺口"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("类型", "严重程度", "图层", "区划代码", "区划名称", "对象类型",
                         "对象编码", "说明", "整改建议")
    report = report_of(coverage_demo_url, community)
    assert len(values) == 1 + len(report.gaps)
    assert [v[7] for v in values[1:]] == [g["explanation"] for g in report.gaps]
    kpis = {label: value for label, value in book["指标"].iter_rows(min_row=2, values_only=True)}
    assert kpis[KPI_COUNT_LABELS["households"]] == report.kpis["households"]
    share = next(k for k in kpis if k.startswith(SHARE_LABELS["share_grids_with_head"]))
    assert kpis[share] == pytest.approx(report.kpis["share_grids_with_head"])


def test_geojson_download(client, coverage_demo_url):
    community = hole_community(coverage_demo_url)
    response = client.get(f"/coverage/download.geojson?region={community}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="coverage-{community}.geojson"'
    fc = json.loads(response.data.decode("utf-8"))
    gaps = report_of(coverage_demo_url, community).gaps
    assert fc["type"] == "FeatureCollection"
    assert [f["id"] for f in fc["features"]] == [g["id"] for g in gaps]
    assert {f["properties"]["kind_label"] for f in fc["features"]} == \
        {GAP_LABELS[g["kind"]] for g in gaps}
    assert all(f["geometry"] for f in fc["features"] if f["properties"]["kind"] == "grid_hole")


def test_grid_download_has_the_grids_gaps(client, coverage_demo_url):
    community = overlap_community(coverage_demo_url)
    grid = f"{community}001"
    response = client.get(f"/coverage/download.csv?region={community}&grid={grid}")
    assert response.headers["Content-Disposition"] == f'attachment; filename="coverage-{grid}.csv"'
    conn = psycopg2.connect(coverage_demo_url)
    try:
        (cell,) = coverage_layers.grid_gaps(conn, region=community, grid=grid)
    finally:
        conn.close()
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert len(table) == 1 + len(cell["gaps"])


def test_csv_without_names_leaves_other_region_names_empty(coverage_demo_url, district_page):
    report = report_of(coverage_demo_url, STREET)
    table = list(csv.reader(io.StringIO(gaps_to_csv(report).decode("utf-8-sig"))))
    assert len(table) == 1 + len(report.gaps)
    assert {r[4] for r in table[1:]} == {""}  # gaps are in communities, not in the street itself


# --- gis.coverage_layers -------------------------------------------------------------------------

@pytest.fixture
def conn(coverage_demo_url, district_page):
    conn = psycopg2.connect(coverage_demo_url)
    yield conn
    conn.rollback()
    conn.close()


def test_gap_features_filters(conn):
    everything = coverage_layers.gap_features(conn, region=DISTRICT)
    assert len(everything["features"]) == len(load_report(conn, region=DISTRICT).gaps)
    holes = coverage_layers.gap_features(conn, region=DISTRICT, kind="grid_hole")
    assert holes["features"] and {f["properties"]["kind"] for f in holes["features"]} == \
        {"grid_hole"}
    some = [f["id"] for f in everything["features"][:3]]
    assert [f["id"] for f in coverage_layers.gap_features(conn, ids=some)["features"]] == some
    with pytest.raises(ValueError, match="gap kind"):
        coverage_layers.gap_features(conn, kind="nonsense")


def test_trail_children_and_grid_codes(conn, coverage_demo_url):
    community = hole_community(coverage_demo_url)
    trail = coverage_layers.region_trail(conn, community)
    assert [r["level"] for r in trail] == ["city", "district", "street", "community"]
    assert trail[-1]["code"] == community
    roots = coverage_layers.child_regions(conn, None)
    assert [r["level"] for r in roots] == ["city"]
    assert roots[0]["gaps"] == len(load_report(conn).gaps)
    assert coverage_layers.child_regions(conn, community) == []
    streets = coverage_layers.child_regions(conn, DISTRICT)
    assert sum(s["gaps"] for s in streets) == len(load_report(conn, region=DISTRICT).gaps)
    assert coverage_layers.check_grid_code(" 530103002004001 ") == "530103002004001"
    for bad in ("53010300200400", "5301030020040011", "53010300200400x"):
        with pytest.raises(ValueError):
            coverage_layers.check_grid_code(bad)
    with pytest.raises(coverage_layers.GridNotFoundError):
        coverage_layers.grid_gaps(conn, region=community, grid="530103002004001")


def test_an_overlap_is_a_gap_of_both_grids(conn, coverage_demo_url):
    community = overlap_community(coverage_demo_url)
    (gap_id, a, b), = rows(coverage_demo_url, """
        SELECT g.id, g.object_code, g.details ->> 'other_grid_code' FROM coverage_gaps g
        WHERE g.kind = 'grid_overlap' AND g.region_code = %s ORDER BY g.id LIMIT 1""",
                           (community,))
    cells = {c["code"]: c["gaps"] for c in coverage_layers.grid_gaps(conn, region=community)}
    assert gap_id in cells[a] and gap_id in cells[b]
    targets = coverage_layers.gap_targets(conn, region=community)
    both = {gid for gid, ids in targets["grid"].items() if gap_id in ids}
    # both grids, in both layers (a party grid and the governance grid of its code are one)
    assert len(both) == 4

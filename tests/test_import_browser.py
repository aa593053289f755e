"""Headless Chromium on the import page: check a GeoJSON of buildings, see it, import it.

The file's buildings appear on the map as soon as the check has read them, the progress bar
runs to 100 %, the counts and the column mapping show, and "导入" (enabled by a check without
rejected rows) writes them from the upload the check kept (the file is not sent again). A
second file with a bad row is drawn with that row in red, lists it, and cannot be imported.
An OpenStreetMap extract is checked (its buildings drawn, its counts listed) and imported into
the district offered. Screenshots:
``test-artifacts/import.png``, ``test-artifacts/import-rejected.png`` and
``test-artifacts/import-osm.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import ARTIFACTS, live_server, open_tracked
from browser import hosts as hosts_of
from helpers import rows
from shapely.geometry import box, mapping

pytestmark = pytest.mark.browser

IN_TAOYUAN = (102.70252, 25.04766)
HELSINKI = Path(__file__).parent / "data" / "osm" / "helsinki.osm.pbf"
READY = ("window.gmImport !== undefined"
         " && document.querySelector('.leaflet-control-layers') !== null")
# every state the progress bar and the status line went through: [aria-valuenow, width, text]
PROGRESS_WATCH = """() => {
    window.gmSeen = [];
    const bar = document.querySelector('#gm-import-bar');
    const status = document.querySelector('#gm-import-status');
    const note = () => window.gmSeen.push([bar.getAttribute('aria-valuenow'), bar.style.width,
                                           status.innerText]);
    new MutationObserver(note).observe(bar, {attributes: true, childList: true});
    new MutationObserver(note).observe(status, {childList: true, characterData: true,
                                                subtree: true});
}"""
IDLE = ("window.gmImport.last !== null && window.gmImport.last !== undefined"
        " && !document.querySelector('#gm-check').disabled")


@pytest.fixture(scope="module")
def browser_demo_url(writable_demo_url):
    """A demo copy of its own: the test imports buildings."""
    return writable_demo_url("importbrowser")


@pytest.fixture(scope="module")
def live_url(browser_demo_url):
    with live_server(browser_demo_url) as url:
        yield url


def buildings_geojson(path, n: int, *, prefix: str, bad_row: int | None = None):
    """``n`` buildings in 桃源社区 as GeoJSON; feature ``bad_row`` (from 1) has fewer residents
    than households, which the importer rejects."""
    x, y = IN_TAOYUAN
    features = []
    for i in range(n):
        footprint = box(x + (i % 4) * 0.0003, y - 0.0009 + (i // 4) * 0.00025,
                        x + (i % 4) * 0.0003 + 0.0002, y - 0.0009 + (i // 4) * 0.00025 + 0.00015)
        features.append({"type": "Feature", "geometry": mapping(footprint), "properties": {
            "楼栋编码": f"{prefix}{i + 1}", "楼栋名称": f"新楼{i + 1}栋", "户数": 36,
            "常住人口": 10 if i + 1 == bad_row else 90, "层数": 6}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False), encoding="utf-8")
    return path


def test_check_preview_and_import_buildings(chromium, live_url, browser_demo_url, tmp_path):
    opened = open_tracked(chromium, f"{live_url}/import", READY)
    page, failures, errors = opened["page"], opened["failures"], opened["errors"]
    assert page.input_value("#gm-layer") == "buildings"
    assert page.is_disabled("#gm-import")  # nothing checked yet
    assert "几何" in page.inner_text("#gm-layer-help")

    geojson = buildings_geojson(tmp_path / "新楼栋.geojson", 6, prefix="WEB-G")
    page.set_input_files("#gm-file", str(geojson))
    page.evaluate(PROGRESS_WATCH)
    page.click("#gm-check")
    page.wait_for_function(IDLE, timeout=60_000)
    job = page.evaluate("window.gmImport.last")
    assert job["state"] == "done" and job["report"]["inserted"] == 6

    # the preview: one path per building, none red, the map fitted to them
    assert page.locator("path.gm-preview").count() == 6
    assert page.locator("path.gm-rejected").count() == 0
    assert page.evaluate("window.gmImport.features") == 6
    assert "全部 6 个要素" in page.inner_text("#gm-preview-note")
    # the progress bar ran to 100 % and says what was done
    seen = page.evaluate("window.gmSeen")
    assert seen and seen[-1][0] == "100" and seen[-1][1] == "100%", seen
    assert page.get_attribute("#gm-import-bar", "aria-valuenow") == "100"
    assert "检查完成：6 行" in page.inner_text("#gm-import-status")
    # counts, verdict, mapping
    counts = page.inner_text("#gm-counts")
    for label in ("读取", "新增", "更新", "未变", "拒绝"):
        assert label in counts
    assert page.inner_text("#gm-counts > div:nth-child(2) b") == "6"
    assert "检查通过" in page.inner_text("#gm-verdict")
    mapping_text = page.inner_text("#gm-mapping-table")
    assert "楼栋编码" in mapping_text and "常住人口" in mapping_text
    assert page.is_hidden("#gm-rejected-block")
    (before,), = rows(browser_demo_url, "SELECT count(*) FROM buildings WHERE code LIKE 'WEB-G%%'")
    assert before == 0  # a check writes nothing

    # import
    assert page.is_enabled("#gm-import")
    page.click("#gm-import")
    page.wait_for_selector("#gm-imported", timeout=60_000)
    page.wait_for_function(IDLE, timeout=60_000)
    assert "已导入楼栋：新增 6，更新 0，未变 0" in page.inner_text("#gm-imported")
    assert page.evaluate("window.gmImport.reused") is True  # the checked upload, not a new one
    assert "导入完成" in page.inner_text("#gm-import-status")
    assert page.get_attribute("#gm-import-bar", "aria-valuenow") == "100"
    assert page.is_disabled("#gm-import")  # check again before importing again
    got = rows(browser_demo_url, "SELECT code, community_code, households, residents, floors"
                                 " FROM buildings WHERE code LIKE 'WEB-G%%' ORDER BY code")
    assert got == [(f"WEB-G{i}", "530103002001", 36, 90, 6) for i in range(1, 7)]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import.png"))

    assert errors == [] and failures == []
    assert hosts_of(opened["requests"]) == {"127.0.0.1"}, opened["requests"]


def test_a_rejected_row_is_red_listed_and_blocks_the_import(chromium, live_url, browser_demo_url,
                                                            tmp_path):
    opened = open_tracked(chromium, f"{live_url}/import", READY)
    page, failures, errors = opened["page"], opened["failures"], opened["errors"]
    geojson = buildings_geojson(tmp_path / "有错的楼栋.geojson", 5, prefix="WEB-R", bad_row=3)
    page.set_input_files("#gm-file", str(geojson))
    page.click("#gm-check")
    page.wait_for_function(IDLE, timeout=60_000)

    assert page.locator("path.gm-preview").count() == 5
    assert page.locator("path.gm-rejected").count() == 1
    table = page.inner_text("#gm-rejected-table")
    assert "常住人口" in table and "10 residents in 36 households" in table
    assert page.inner_text("#gm-rejected-table tbody tr td:first-child") == "3"
    assert "1 行被拒绝" in page.inner_text("#gm-verdict")
    assert page.is_disabled("#gm-import")
    # a row of the table finds its building on the map
    page.click("#gm-rejected-table tbody tr")
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    assert "第 3 行" in page.inner_text(".leaflet-popup-content")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import-rejected.png"))
    (n,), = rows(browser_demo_url, "SELECT count(*) FROM buildings WHERE code LIKE 'WEB-R%%'")
    assert n == 0
    assert errors == [] and failures == []


def test_errors_are_shown_in_the_page_language(chromium, live_url, tmp_path):
    opened = open_tracked(chromium, f"{live_url}/import", READY, answered=(400,))
    page, failures, errors = opened["page"], opened["failures"], opened["errors"]
    page.select_option("#gm-layer", "centers")
    assert "名称、级别" in page.inner_text("#gm-layer-help")
    # a sheet without the 级别 column: the job fails, saying why, and nothing can be imported
    sheet = tmp_path / "缺列.csv"
    sheet.write_text("名称,经度,纬度\n新站,102.70252,25.04766\n", encoding="utf-8")
    page.set_input_files("#gm-file", str(sheet))
    page.click("#gm-check")
    page.wait_for_function(IDLE, timeout=60_000)
    error = page.inner_text("#gm-import-error")
    assert "文件无法读取或不符合该图层，数据库没有任何改动" in error
    assert "缺列.csv: missing column 级别 (level) for layer centers" in error
    assert "Traceback" not in error and "/imports/" not in error
    assert page.is_hidden("#gm-report") and page.is_disabled("#gm-import")
    assert "bg-danger" in page.get_attribute("#gm-import-bar", "class")
    assert page.inner_text("#gm-import-status") == "失败"
    # a file the API refuses (400): its message in Chinese, the field marked
    other = tmp_path / "说明.txt"
    other.write_text("不是数据", encoding="utf-8")
    page.set_input_files("#gm-file", str(other))
    page.click("#gm-check")
    page.wait_for_function("!document.querySelector('#gm-import-error').hidden"
                           " && document.querySelector('#gm-import-error').innerText"
                           ".includes('不支持的文件类型')", timeout=30_000)
    assert "is-invalid" in page.get_attribute("#gm-file", "class")
    assert page.is_enabled("#gm-check") and page.is_disabled("#gm-import")
    assert errors == [] and failures == []


def test_openstreetmap_extract_is_checked_on_the_map_then_imported(chromium, live_url,
                                                                   browser_demo_url):
    opened = open_tracked(chromium, f"{live_url}/import", READY)
    page, failures, errors = opened["page"], opened["failures"], opened["errors"]
    assert page.is_hidden("#gm-field-district")
    assert page.is_visible("#gm-field-mapping") and page.is_visible("#gm-field-encoding")
    # OSM takes the file and the district alone; the district is the database's one
    page.select_option("#gm-layer", "osm")
    assert page.is_visible("#gm-field-district")
    assert page.input_value("#gm-district") == "530103000000"
    for name in ("crs", "coords", "sheet", "encoding", "mapping"):
        assert page.is_hidden(f"#gm-field-{name}"), name
    assert "步行路网被替换" in page.inner_text("#gm-layer-help")
    assert page.get_attribute("#gm-file", "accept") == ".pbf,.osm"
    assert "OpenStreetMap 提取文件（.osm 或 .osm.pbf）" in page.inner_text("#gm-file-hint")
    page.set_input_files("#gm-file", str(HELSINKI))

    # a district code that is none is said before the extract is uploaded
    page.fill("#gm-district", "5301")
    page.click("#gm-check")
    assert "区县代码须为 12 位" in page.inner_text("#gm-import-error")
    assert "is-invalid" in page.get_attribute("#gm-district", "class")
    assert page.evaluate("window.gmImport.job") is None

    page.fill("#gm-district", "530103000000")
    page.click("#gm-check")
    page.wait_for_function(IDLE, timeout=120_000)
    job = page.evaluate("window.gmImport.last")
    assert job["state"] == "done" and job["report"]["osm"]["buildings"] == 482
    # the extract's buildings on the map, the counts and notes in the report
    assert page.locator("path.gm-preview").count() == 482
    assert "全部 482 个要素" in page.inner_text("#gm-preview-note")
    counts = page.inner_text("#gm-counts")
    for label in ("楼栋", "住宅楼", "步行道", "路段", "服务中心", "街道 新建/保留",
                  "社区 新建/保留"):
        assert label in counts, label
    assert page.inner_text("#gm-counts > div:nth-child(1) b") == "482"
    assert page.inner_text("#gm-counts > div:nth-child(7) b") == "3,695"
    assert page.inner_text("#gm-counts > div:nth-child(8) b") == "1 / 0"
    notes = page.inner_text("#gm-notes")
    assert "区县 530103000000（" in notes and "households estimated" in notes
    assert "检查完成：482 栋楼" in page.inner_text("#gm-import-status")
    assert "检查通过" in page.inner_text("#gm-verdict")
    (before,), = rows(browser_demo_url, "SELECT count(*) FROM buildings WHERE code LIKE 'osm:%%'")
    assert before == 0

    page.click("#gm-import")
    page.wait_for_selector("#gm-imported", timeout=120_000)
    page.wait_for_function(IDLE, timeout=60_000)
    assert "已导入 OpenStreetMap：楼栋新增 482，更新 0，未变 0" in page.inner_text("#gm-imported")
    assert page.evaluate("window.gmImport.reused") is True
    assert "导入完成：482 栋楼" in page.inner_text("#gm-import-status")
    (after,), = rows(browser_demo_url, "SELECT count(*) FROM buildings WHERE code LIKE 'osm:%%'")
    assert after == 482
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import-osm.png"))
    # back to a layer of the schema: its options again, no district
    page.select_option("#gm-layer", "buildings")
    assert page.is_hidden("#gm-field-district") and page.is_visible("#gm-field-mapping")
    assert "GeoJSON" in page.inner_text("#gm-file-hint")
    assert errors == [] and failures == []

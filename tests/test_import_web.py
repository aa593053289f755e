"""The import page and its API (``/import``, ``POST /api/import``, ``/api/import/jobs/<id>``).

Files are uploaded with Flask's test client to a demo copy of this module's own; expectations
come from the database (rows written, checksums of whole tables) and from the files themselves,
not from the code under test. The upload folder must be empty once each job ends, but for the
upload a passed check keeps for the import (``from_job``) until it is used or expires.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest
from helpers import URL_RE, app_for, rows
from shapely.geometry import LineString, box, mapping

TAOYUAN, LINGGUANG = "530103002001", "530103002002"
DISTRICT = "530103000000"  # 盘龙区, the demo's one district
HELSINKI = Path(__file__).parent / "data" / "osm" / "helsinki.osm.pbf"  # see its README
# points inside the two communities (ST_PointOnSurface of the demo's boundaries)
IN_TAOYUAN = (102.70252, 25.04766)
IN_LINGGUANG = (102.70821, 25.04727)
CGCS2000_GK_102E = 4543  # CGCS2000 / 3-degree Gauss-Kruger CM 102E: the zone of Kunming


@pytest.fixture(scope="module")
def import_url(writable_demo_url) -> str:
    """A demo copy (seed 1) of this module's own: the tests import into it."""
    return writable_demo_url("importweb")


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("imports")


@pytest.fixture(scope="module")
def client(import_url, upload_dir):
    return app_for(import_url, IMPORT_DIR=str(upload_dir)).test_client()


def checksum(url: str, table: str) -> str:
    (value,), = rows(url, f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
                          f" FROM {table} x")
    return value


def csv_bytes(header: list[str], body: list[list]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue().encode("utf-8")


def start(client, layer: str | None, files: list[tuple[bytes, str]], *,
          dry_run: bool | str = True, mapping: tuple[bytes, str] | None = None, **fields):
    """POST the form; ``dry_run`` True or False, or the text to send; ``mapping`` a column
    mapping file as ``(content, name)``."""
    sent = ("1" if dry_run else "0") if isinstance(dry_run, bool) else dry_run
    data = {"dry_run": sent, **fields}
    if layer is not None:
        data["layer"] = layer
    data["files"] = [(io.BytesIO(content), name) for content, name in files]
    if mapping is not None:
        data["mapping"] = (io.BytesIO(mapping[0]), mapping[1])
    return client.post("/api/import", data=data, content_type="multipart/form-data")


def wait(client, job: str, *, timeout: float = 120.0) -> dict:
    """Poll the job until it ends; the answer of the last poll (with the preview)."""
    end = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/import/jobs/{job}")
        assert response.status_code == 200
        body = response.get_json()
        if body["state"] != "running":
            return body
        assert time.monotonic() < end, body
        time.sleep(0.05)


def run(client, layer, files, **kwargs) -> dict:
    response = start(client, layer, files, **kwargs)
    assert response.status_code == 202, response.get_json()
    return wait(client, response.get_json()["job"])


def uploads_left(client, upload_dir: Path) -> list[str]:
    """The upload folders left but those passed checks keep for their import."""
    left = []
    for folder in sorted(upload_dir.iterdir()):
        response = client.get(f"/api/import/jobs/{folder.name}?preview=0")
        if response.status_code == 200 and response.get_json()["reusable"]:
            continue
        left.append(folder.name)
    return left


def centres_csv(*body: list) -> bytes:
    return csv_bytes(["编码", "名称", "级别", "状态", "社区代码", "经度", "纬度", "面积（㎡）"],
                     [list(r) for r in body])


# --- the page ------------------------------------------------------------------------------------

def test_page_has_the_form_the_map_and_local_assets_only(client):
    response = client.get("/import")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ("导入数据", "检查", "导入", "图层", "坐标系 EPSG（可选）", "GCJ-02（高德、腾讯）",
                 "BD-09（百度）", "工作表 / 图层（可选）", "楼栋", "党群服务中心", "行政区划",
                 "三张清单", "步行路网", "文件预览", "被拒绝的行", "OpenStreetMap (.osm/.osm.pbf)",
                 "区县代码", "列映射文件（可选）", "属性编码", "自动（.cpg 或检测）", "GB18030"):
        assert text in page, text
    # the district code is offered: the demo database has one district
    assert re.search(r'<input [^>]*name="district" [^>]*value="530103000000"', page)
    # the navigation has the page, marked as the one shown
    assert re.search(r'<a class="active" aria-current="page" href="/import" '
                     r'id="gm-nav-import">导入</a>', page)
    assert URL_RE.findall(page) == []  # nothing from another host
    state = json.loads(re.search(r"gmImportPage\((\{.*\})\);", page).group(1))
    assert state["urls"]["start"] == "/api/import"
    assert state["urls"]["job"] == "/api/import/jobs/JOB"
    assert state["help"]["centers"]["required"] == ["名称", "级别"]
    assert state["layer_names"]["buildings"] == "楼栋"
    # the other pages link here
    assert 'id="gm-nav-import"' in client.get("/siting").get_data(as_text=True)


def test_page_in_english(client):
    page = client.get("/import?lang=en").get_data(as_text=True)
    for text in ("Import data", "Check", "Buildings", "Walking network", "GCJ-02 (Gaode, Tencent)",
                 "District code", "Column mapping file (optional)", "Attribute encoding"):
        assert html.escape(text) in page, text


# --- check, then import --------------------------------------------------------------------------

def test_centres_csv_is_checked_then_imported(client, import_url, upload_dir):
    data = centres_csv(["WEB-C1", "桃源社区新站", "网格级", "规划", TAOYUAN, *IN_TAOYUAN, 120],
                       ["WEB-C2", "灵光社区第二中心", "社区", "现有", LINGGUANG, *IN_LINGGUANG, ""])
    before = checksum(import_url, "service_centers")

    check = run(client, "centers", [(data, "服务中心.csv")])
    assert check["state"] == "done" and check["dry_run"] is True
    report = check["report"]
    assert (report["read"], report["inserted"], report["updated"], report["unchanged"],
            report["rejected_rows"]) == (2, 2, 0, 0, 0)
    assert report["rejected"] == [] and report["source"] == "服务中心.csv"
    assert {h: f["label"] for h, f in report["fields"].items()} == {
        "编码": "编码", "名称": "名称", "级别": "级别", "状态": "状态", "社区代码": "区划代码",
        "面积（㎡）": "面积"}
    assert check["read"] == check["total"] == 2
    # the preview: both points where the file puts them, by their row in the sheet
    features = check["preview"]["features"]
    assert [f["properties"]["row"] for f in features] == [2, 3]
    assert [f["geometry"]["coordinates"] for f in features] == [list(IN_TAOYUAN),
                                                               list(IN_LINGGUANG)]
    assert ["名称", "桃源社区新站"] in features[0]["properties"]["attrs"]
    assert check["preview"]["rejected_rows"] == []
    # a check writes nothing, and keeps the upload (only) for the import
    assert checksum(import_url, "service_centers") == before
    assert check["reusable"] is True
    assert uploads_left(client, upload_dir) == []
    assert (upload_dir / check["job"] / "服务中心.csv").read_bytes() == data

    # the import takes the checked upload: no file sent
    done = run(client, "centers", [], dry_run=False, from_job=check["job"])
    assert done["state"] == "done" and done["error"] is None
    assert done["source"] == "服务中心.csv" and done["reusable"] is False
    assert not (upload_dir / check["job"]).exists()
    assert (done["report"]["inserted"], done["report"]["rejected_rows"]) == (2, 0)
    assert done["preview"] is None  # an import draws nothing new
    got = rows(import_url, "SELECT code, name, level, status, region_code, floor_area_m2,"
                           " round(ST_X(geom)::numeric, 5), round(ST_Y(geom)::numeric, 5)"
                           " FROM service_centers WHERE code LIKE 'WEB-%%' ORDER BY code")
    assert [(*r[:6], float(r[6]), float(r[7])) for r in got] == [
        ("WEB-C1", "桃源社区新站", "grid", "planned", TAOYUAN, 120.0, *IN_TAOYUAN),
        ("WEB-C2", "灵光社区第二中心", "community", "existing", LINGGUANG, None, *IN_LINGGUANG)]
    assert list(upload_dir.iterdir()) == []

    # the same file again: nothing new, nothing changed
    again = run(client, "centers", [(data, "服务中心.csv")])
    assert (again["report"]["inserted"], again["report"]["updated"],
            again["report"]["unchanged"]) == (0, 0, 2)


def from_job(client, job: str, layer: str = "centers", **fields):
    """POST an import of the checked upload of ``job`` (no file)."""
    return start(client, layer, [], dry_run=False, from_job=job, **fields)


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert (body["code"], body["status"]) == (code, status) and body["error"]


def test_a_checked_upload_is_imported_once(client, import_url, upload_dir):
    data = centres_csv(["WEB-T1", "一次导入站", "网格级", "", TAOYUAN, *IN_TAOYUAN, ""])
    check = run(client, "centers", [(data, "一次.csv")])
    assert check["state"] == "done" and check["reusable"] is True
    done = wait(client, from_job(client, check["job"]).get_json()["job"])
    assert done["state"] == "done" and done["report"]["inserted"] == 1
    after = checksum(import_url, "service_centers")
    assert not (upload_dir / check["job"]).exists()

    # the upload is gone with the import: a second one is refused, writing nothing
    refused(from_job(client, check["job"]), 410, "check_used")
    assert client.get(f"/api/import/jobs/{check['job']}").get_json()["reusable"] is False
    assert checksum(import_url, "service_centers") == after
    assert rows(import_url, "SELECT count(*) FROM service_centers WHERE code = 'WEB-T1'") == [(1,)]
    assert uploads_left(client, upload_dir) == []


def test_a_checked_upload_needs_the_checked_options(client, import_url, upload_dir):
    data = csv_bytes(["站号", "名称", "级别", "社区代码", "经度", "纬度"],
                     [["WEB-O1", "选项站", "社区", TAOYUAN, *IN_TAOYUAN]])
    mapping = ("站号,code\n".encode(), "映射.csv")
    check = run(client, "centers", [(data, "选项.csv")], mapping=mapping)
    assert check["state"] == "done" and check["reusable"] is True
    before = checksum(import_url, "service_centers")
    for changed in ({"layer": "buildings"}, {"coords": "gcj02"}, {"crs": "4490"},
                    {"encoding": "GBK"}, {"sheet": "Sheet1"}, {"mapping": None},
                    {"mapping": ("站号,name\n".encode(), "映射.csv")}):
        fields = {"layer": "centers", "mapping": mapping, **changed}
        layer = fields.pop("layer")
        response = start(client, layer, [], dry_run=False, from_job=check["job"], **fields)
        refused(response, 409, "options_changed")
        assert "options changed since the check" in response.get_json()["error"]
    assert checksum(import_url, "service_centers") == before
    # the refusals leave the check's upload for the import with its own options
    assert (upload_dir / check["job"] / "选项.csv").exists()
    done = wait(client, from_job(client, check["job"], mapping=mapping).get_json()["job"])
    assert done["state"] == "done", done["error"]
    assert rows(import_url, "SELECT name FROM service_centers WHERE code = 'WEB-O1'") == [
        ("选项站",)]
    assert not (upload_dir / check["job"]).exists()


def test_only_a_passed_check_can_be_imported(client, import_url, upload_dir):
    rejected = run(client, "centers", [(centres_csv(
        ["WEB-X1", "级别写错", "省级", "", TAOYUAN, *IN_TAOYUAN, ""]), "有错.csv")])
    assert rejected["report"]["rejected_rows"] == 1 and rejected["reusable"] is False
    assert not (upload_dir / rejected["job"]).exists()
    refused(from_job(client, rejected["job"]), 409, "check_rejected")
    failed = run(client, "centers", [(csv_bytes(["名称"], [["无级别"]]), "缺列.csv")])
    assert failed["state"] == "failed" and failed["reusable"] is False
    refused(from_job(client, failed["job"]), 409, "check_failed")
    refused(from_job(client, "nosuchjob"), 404, "check_unknown")
    # an import is no check
    imported = run(client, "centers", [(centres_csv(
        ["WEB-X2", "直接导入站", "社区", "", TAOYUAN, *IN_TAOYUAN, ""]), "直接.csv")],
        dry_run=False)
    assert imported["state"] == "done"
    refused(from_job(client, imported["job"]), 404, "check_unknown")
    # from_job is for an import, instead of files
    data = centres_csv(["WEB-X3", "好站", "社区", "", TAOYUAN, *IN_TAOYUAN, ""])
    check = run(client, "centers", [(data, "好.csv")])
    refused(start(client, "centers", [], from_job=check["job"]), 400, "from_job_dry_run")
    refused(start(client, "centers", [(data, "好.csv")], dry_run=False, from_job=check["job"]),
            400, "from_job_files")
    assert check["reusable"] is True
    after_direct = rows(import_url, "SELECT count(*) FROM service_centers"
                                    " WHERE code LIKE 'WEB-X%%'")
    assert after_direct == [(1,)]  # WEB-X2 alone
    assert uploads_left(client, upload_dir) == []


def test_a_kept_upload_expires(import_url, tmp_path):
    client = app_for(import_url, IMPORT_DIR=str(tmp_path),
                     IMPORT_KEEP_CHECK_SECONDS=2).test_client()
    data = centres_csv(["WEB-Z1", "过期站", "社区", "", TAOYUAN, *IN_TAOYUAN, ""])
    check = run(client, "centers", [(data, "过期.csv")])
    assert check["reusable"] is True and [p.name for p in tmp_path.iterdir()] == [check["job"]]
    end = time.monotonic() + 10
    while list(tmp_path.iterdir()):  # a timer deletes it, with no request to the app
        assert time.monotonic() < end
        time.sleep(0.05)
    refused(from_job(client, check["job"]), 410, "check_expired")
    assert rows(import_url, "SELECT count(*) FROM service_centers WHERE code = 'WEB-Z1'") == [(0,)]
    assert list(tmp_path.iterdir()) == []

    # not kept at all
    off = app_for(import_url, IMPORT_DIR=str(tmp_path), IMPORT_KEEP_CHECK_SECONDS=0).test_client()
    check = run(off, "centers", [(data, "过期.csv")])
    assert check["state"] == "done" and check["reusable"] is False
    assert list(tmp_path.iterdir()) == []
    refused(from_job(off, check["job"]), 410, "check_expired")


def test_a_kept_upload_goes_with_its_forgotten_check(import_url, tmp_path, monkeypatch):
    import web.import_jobs

    client = app_for(import_url, IMPORT_DIR=str(tmp_path)).test_client()
    data = centres_csv(["WEB-F1", "遗忘站", "社区", "", TAOYUAN, *IN_TAOYUAN, ""])
    check = run(client, "centers", [(data, "遗忘.csv")])
    assert [p.name for p in tmp_path.iterdir()] == [check["job"]]
    monkeypatch.setattr(web.import_jobs, "KEEP_JOBS", 0)  # the next job drops every finished one
    other = run(client, "centers", [(b"x", "x.csv")])
    assert client.get(f"/api/import/jobs/{check['job']}").status_code == 404
    assert other["state"] == "failed" and list(tmp_path.iterdir()) == []
    refused(from_job(client, check["job"]), 404, "check_unknown")


def test_rejected_rows_are_listed_and_the_database_is_left_alone(client, import_url, upload_dir):
    data = centres_csv(["BAD-1", "好站", "网格级", "", TAOYUAN, *IN_TAOYUAN, ""],
                       ["BAD-2", "级别写错", "省级", "", TAOYUAN, *IN_TAOYUAN, ""],
                       ["BAD-3", "社区不存在", "社区", "", "530103002099", *IN_TAOYUAN, ""])
    before = checksum(import_url, "service_centers")

    check = run(client, "centers", [(data, "有错.csv")])
    assert check["state"] == "done"  # a check reports rejected rows, it does not fail
    report = check["report"]
    assert (report["read"], report["rejected_rows"]) == (3, 2)
    assert [(e["row"], e["field"]) for e in report["rejected"]] == [(3, "级别"), (4, "区划代码")]
    assert "'省级' is not one of 街道、社区、网格、楼栋" in report["rejected"][0]["message"]
    assert "530103002099 not found" in report["rejected"][1]["message"]
    assert check["preview"]["rejected_rows"] == [3, 4]

    done = run(client, "centers", [(data, "有错.csv")], dry_run=False)
    assert done["state"] == "failed" and done["error_kind"] == "rejected"
    assert "2 of 3 rows rejected; nothing was imported" in done["error"]
    assert [e["row"] for e in done["report"]["rejected"]] == [3, 4]
    assert checksum(import_url, "service_centers") == before
    assert uploads_left(client, upload_dir) == []


def test_a_file_missing_a_required_column_fails_with_the_reason(client, import_url, upload_dir):
    data = csv_bytes(["名称", "经度", "纬度"], [["无级别的站", *IN_TAOYUAN]])
    before = checksum(import_url, "service_centers")
    job = run(client, "centers", [(data, "缺列.csv")])
    assert job["state"] == "failed" and job["error_kind"] == "unreadable"
    assert "missing column 级别 (level) for layer centers" in job["error"]
    # the message names the file the user sent, not where the server keeps it
    assert str(upload_dir) not in job["error"] and "Traceback" not in job["error"]
    assert job["error"].startswith("缺列.csv")
    assert checksum(import_url, "service_centers") == before


def test_xlsx_of_buildings(client, import_url, upload_dir):
    x, y = IN_TAOYUAN
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "楼栋"
    ws.append(["楼栋编码", "楼栋名称", "户数", "常住人口", "类型", "WKT", "备注"])
    for i in range(3):
        footprint = box(x + i * 0.0003, y, x + i * 0.0003 + 0.0002, y + 0.00015)
        ws.append([f"WEB-B{i + 1}", f"新建{i + 1}栋", 40 + i, 100 + i, "住宅", footprint.wkt,
                   "新建"])
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()

    check = run(client, "buildings", [(data, "楼栋.xlsx")], sheet="楼栋")
    assert check["state"] == "done", check["error"]
    report = check["report"]
    assert (report["read"], report["inserted"], report["rejected_rows"]) == (3, 3, 0)
    assert report["ignored_columns"] == ["备注"]
    assert [f["geometry"]["type"] for f in check["preview"]["features"]] == ["Polygon"] * 3

    done = run(client, "buildings", [(data, "楼栋.xlsx")], sheet="楼栋", dry_run=False)
    assert done["state"] == "done" and done["report"]["inserted"] == 3
    got = rows(import_url, "SELECT b.code, b.name, b.community_code, b.kind, b.households,"
                           " b.residents, g.layer FROM buildings b"
                           " LEFT JOIN grids g ON g.id = b.grid_id"
                           " WHERE b.code LIKE 'WEB-B%%' ORDER BY b.code")
    assert got == [(f"WEB-B{i + 1}", f"新建{i + 1}栋", TAOYUAN, "residential", 40 + i, 100 + i,
                    "governance") for i in range(3)]
    # a sheet that is not there
    missing = run(client, "buildings", [(data, "楼栋.xlsx")], sheet="Sheet9")
    assert missing["state"] == "failed" and "no sheet 'Sheet9'" in missing["error"]
    assert uploads_left(client, upload_dir) == []


def shapefile(folder: Path, n: int = 4, *, prefix: str = "WEB-S", encoding: str = "utf-8",
              dy: float = 0.0) -> dict[str, bytes]:
    """A shapefile of ``n`` buildings in 桃源社区, in CGCS2000 Gauss-Krüger metres, its text
    in ``encoding`` (which its .cpg names); ``dy`` moves it north (degrees)."""
    x, y = IN_TAOYUAN
    y += dy
    frame = gpd.GeoDataFrame(
        {"code": [f"{prefix}{i}" for i in range(n)], "name": [f"测绘{i}号楼" for i in range(n)],
         "households": [30] * n, "residents": [80] * n},
        geometry=[box(x - 0.0008 + i * 0.0002, y - 0.0006, x - 0.00065 + i * 0.0002,
                      y - 0.00048) for i in range(n)], crs=4326).to_crs(CGCS2000_GK_102E)
    frame.to_file(folder / "测绘楼栋.shp", encoding=encoding)
    return {p.suffix: p.read_bytes() for p in folder.iterdir()}


def test_zipped_shapefile_and_shapefile_parts(client, import_url, tmp_path, upload_dir):
    parts = shapefile(tmp_path)
    assert {".shp", ".dbf", ".shx", ".prj", ".cpg"} <= set(parts)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for suffix, content in parts.items():
            zf.writestr(f"测绘楼栋{suffix}", content)

    done = run(client, "buildings", [(buf.getvalue(), "测绘楼栋.zip")], dry_run=False)
    assert done["state"] == "done", done["error"]
    assert (done["report"]["inserted"], done["total"], done["read"]) == (4, 4, 4)
    got = rows(import_url, "SELECT code, community_code, households,"
                           " round(ST_Area(geom::geography)) FROM buildings"
                           " WHERE code LIKE 'WEB-S%%' ORDER BY code")
    assert [r[:3] for r in got] == [(f"WEB-S{i}", TAOYUAN, 30) for i in range(4)]
    # 0.00015° × 0.00012° at 25° N: about 15 m × 13 m, whatever the projection on the way
    assert all(180 < r[3] < 230 for r in got), got

    # the same shapefile as its separate files: nothing new
    files = [(content, f"测绘楼栋{suffix}") for suffix, content in parts.items()]
    check = run(client, "buildings", files)
    assert check["state"] == "done", check["error"]
    assert (check["report"]["unchanged"], check["report"]["inserted"]) == (4, 0)
    assert len(check["preview"]["features"]) == 4 and check["total"] == 4
    assert uploads_left(client, upload_dir) == []


def test_walking_network_dry_run_counts_and_writes_nothing(client, import_url, tmp_path):
    x, y = IN_TAOYUAN
    lines = gpd.GeoDataFrame(geometry=[LineString([(x, y), (x + 0.001, y)]),
                                       LineString([(x + 0.0005, y - 0.0005),
                                                   (x + 0.0005, y + 0.0005)])], crs=4326)
    path = tmp_path / "路网.geojson"
    lines.to_file(path, driver="GeoJSON")
    before = checksum(import_url, "walk_edges")
    job = run(client, "network", [(path.read_bytes(), path.name)])
    assert job["state"] == "done", job["error"]
    net = job["report"]["network"]
    assert (net["lines"], net["edges"], net["nodes"], net["components"]) == (2, 4, 5, 1)
    assert len(job["preview"]["features"]) == 2
    assert checksum(import_url, "walk_edges") == before


def test_a_broken_footprint_is_repaired_and_reported(client, import_url):
    x, y = IN_TAOYUAN
    d = 0.0002
    bowtie = {"type": "Polygon", "coordinates": [[[x, y], [x + d, y + d], [x + d, y],
                                                  [x, y + d], [x, y]]]}
    square = mapping(box(x + 0.0004, y, x + 0.0004 + d, y + d))
    data = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": square, "properties": {"楼栋编码": "WEB-OK"}},
        {"type": "Feature", "geometry": bowtie, "properties": {"楼栋编码": "WEB-BOWTIE"}}]},
        ensure_ascii=False).encode("utf-8")
    job = run(client, "buildings", [(data, "蝴蝶结.geojson")])
    assert job["state"] == "done", job["error"]
    report = job["report"]
    assert (report["read"], report["inserted"], report["rejected_rows"]) == (2, 2, 0)
    assert [(e["row"], e["field"]) for e in report["repaired"]] == [(2, "几何")]
    assert "Self-intersection" in report["repaired"][0]["message"]
    assert report["repaired_total"] == 1


def test_a_column_mapping_file_names_headers_the_importer_does_not_know(client, import_url,
                                                                        upload_dir):
    x, y = IN_TAOYUAN
    footprints = [box(x + i * 0.0003, y + 0.0004, x + i * 0.0003 + 0.0002, y + 0.00055)
                  for i in range(2)]
    data = csv_bytes(["楼号", "楼栋名称", "户数", "常住人口", "WKT"],
                     [[f"WEB-M{i + 1}", f"映射{i + 1}号楼", 20, 50, f.wkt]
                      for i, f in enumerate(footprints)])
    # without a mapping 楼号 means nothing to the importer
    plain = run(client, "buildings", [(data, "楼号.csv")])
    assert plain["state"] == "done", plain["error"]
    assert plain["report"]["ignored_columns"] == ["楼号"]

    mapping = ("楼号,code\n".encode(), "列映射.csv")
    done = run(client, "buildings", [(data, "楼号.csv")], mapping=mapping, dry_run=False)
    assert done["state"] == "done", done["error"]
    assert done["report"]["fields"]["楼号"] == {"name": "code", "label": "楼栋编码"}
    assert (done["report"]["inserted"], done["report"]["ignored_columns"]) == (2, [])
    assert rows(import_url, "SELECT code, name, households, residents, community_code"
                            " FROM buildings WHERE code LIKE 'WEB-M%%' ORDER BY code") == [
        ("WEB-M1", "映射1号楼", 20, 50, TAOYUAN), ("WEB-M2", "映射2号楼", 20, 50, TAOYUAN)]
    # the same as JSON: the rows are there already
    as_json = (json.dumps({"楼号": "code"}, ensure_ascii=False).encode(), "列映射.json")
    again = run(client, "buildings", [(data, "楼号.csv")], mapping=as_json)
    assert (again["report"]["unchanged"], again["report"]["inserted"]) == (2, 0)
    assert uploads_left(client, upload_dir) == []

    # a mapping to a field the layer has not: the job fails with the schema's message
    before = checksum(import_url, "buildings")
    bad = run(client, "buildings", [(data, "楼号.csv")], dry_run=False,
              mapping=("楼号,楼号码\n".encode(), "列映射.csv"))
    assert bad["state"] == "failed" and bad["error_kind"] == "unreadable"
    assert "mapping '楼号' → '楼号码': layer buildings has no field '楼号码'" in bad["error"]
    # a file that is no mapping at all is refused before any job, naming the line
    response = start(client, "buildings", [(data, "楼号.csv")],
                     mapping=("楼号\n".encode(), "列映射.csv"))
    assert response.status_code == 400
    body = response.get_json()
    assert (body["code"], body["field"]) == ("mapping", "mapping")
    assert body["error"] == "列映射.csv: line 1 is not 'header,field'"
    assert checksum(import_url, "buildings") == before
    assert uploads_left(client, upload_dir) == []


def test_encoding_override_reads_a_gbk_shapefile_whose_cpg_says_utf8(client, import_url,
                                                                     tmp_path, upload_dir):
    parts = shapefile(tmp_path, 3, prefix="WEB-E", encoding="GBK", dy=0.0012)
    assert parts[".cpg"].strip() in (b"GBK", b"CP936")
    parts[".cpg"] = b"UTF-8"  # wrong: the names are GBK bytes
    files = [(content, f"测绘楼栋{suffix}") for suffix, content in parts.items()]
    before = checksum(import_url, "buildings")

    wrong = run(client, "buildings", files, dry_run=False)
    assert wrong["state"] == "failed" and wrong["error_kind"] == "unreadable"
    assert wrong["error"].startswith("测绘楼栋.shp: cannot be read")
    assert "give it (e.g. GBK)" in wrong["error"]
    assert checksum(import_url, "buildings") == before

    check = run(client, "buildings", files, encoding="GBK")
    assert check["state"] == "done", check["error"]
    assert ["name", "测绘0号楼"] in check["preview"]["features"][0]["properties"]["attrs"]
    done = run(client, "buildings", files, encoding="GBK", dry_run=False)
    assert done["state"] == "done", done["error"]
    assert rows(import_url, "SELECT code, name FROM buildings WHERE code LIKE 'WEB-E%%'"
                            " ORDER BY code") == [(f"WEB-E{i}", f"测绘{i}号楼") for i in range(3)]
    assert uploads_left(client, upload_dir) == []


def test_openstreetmap_extract_is_checked_then_imported(database_factory, tmp_path):
    url = database_factory("importosm")
    client = app_for(url, IMPORT_DIR=str(tmp_path), IMPORT_PREVIEW_FEATURES=400).test_client()
    district_input = r'<input [^>]*name="district" [^>]*value="{}"'
    # an empty database has no district to offer
    assert re.search(district_input.format(""), client.get("/import").get_data(as_text=True))
    data = HELSINKI.read_bytes()
    bad = start(client, "osm", [(data, HELSINKI.name)], district="530103")
    assert bad.status_code == 400
    assert (bad.get_json()["code"], bad.get_json()["field"]) == ("district", "district")
    broken = run(client, "osm", [(b"not an extract", "坏的.osm.pbf")], district=DISTRICT)
    assert broken["state"] == "failed" and broken["error_kind"] == "unreadable"
    assert broken["error"].startswith("坏的.osm.pbf: cannot be read as an OSM extract")
    assert str(tmp_path) not in broken["error"]

    check = run(client, "osm", [(data, HELSINKI.name)], district=DISTRICT)
    assert check["state"] == "done", check["error"]
    osm = check["report"]["osm"]
    # the counts tests/data/osm/README.md gives for the extract
    assert {k: osm[k] for k in ("buildings", "residential", "households", "residents", "walkways",
                                "nodes", "edges", "centres", "streets_created", "streets_kept",
                                "communities_created", "communities_kept",
                                "buildings_inserted", "buildings_outside")} == {
        "buildings": 482, "residential": 29, "households": 841, "residents": 2203,
        "walkways": 2246, "nodes": 2468, "edges": 3695, "centres": 6, "streets_created": 1,
        "streets_kept": 0, "communities_created": 1, "communities_kept": 0,
        "buildings_inserted": 482, "buildings_outside": 0}
    assert (osm["district"], osm["dry_run"], check["read"]) == (DISTRICT, True, 482)
    assert any("households estimated" in n for n in osm["notes"])
    # the preview: the extract's first buildings, in Helsinki
    preview = check["preview"]
    assert (len(preview["features"]), preview["truncated"], preview["rows"]) == (400, True, 482)
    first = preview["features"][0]
    assert first["properties"]["row"] == 1
    assert first["properties"]["attrs"][0][0] == "code"
    assert first["properties"]["attrs"][0][1].startswith("osm:")
    lon, lat = first["geometry"]["coordinates"][0][0][:2] if first["geometry"]["type"] == \
        "Polygon" else first["geometry"]["coordinates"][0][0][0][:2]
    assert 24.93 < lon < 24.96 and 60.16 < lat < 60.18
    assert rows(url, "SELECT (SELECT count(*) FROM regions), (SELECT count(*) FROM buildings)")\
        == [(0, 0)]
    assert [p.name for p in tmp_path.iterdir()] == [check["job"]]  # kept for the import

    # the extract is not sent again
    done = run(client, "osm", [], district=DISTRICT, dry_run=False, from_job=check["job"])
    assert done["state"] == "done", done["error"]
    assert done["preview"] is None
    assert {k: done["report"]["osm"][k] for k in osm if k != "dry_run"} == \
        {k: osm[k] for k in osm if k != "dry_run"}
    assert rows(url, "SELECT count(*), count(*) FILTER (WHERE code LIKE 'osm:%%'),"
                     " sum(households) FROM buildings") == [(482, 482, 841)]
    assert rows(url, "SELECT count(*) FROM walk_edges") == [(3695,)]
    assert list(tmp_path.iterdir()) == []
    # the district is there now: the page offers it
    assert re.search(district_input.format(DISTRICT),
                     client.get("/import").get_data(as_text=True))


def test_upload_folders_left_by_a_stopped_server_are_removed(import_url, tmp_path):
    old, recent = tmp_path / "old-job", tmp_path / "recent-job"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "a.csv").write_text("x")
    os.utime(old, (time.time() - 2 * 86_400,) * 2)
    app_for(import_url, IMPORT_DIR=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recent-job"]


# --- bad requests ------------------------------------------------------------------------------

@pytest.mark.parametrize(("layer", "files", "fields", "code", "field"), [
    ("centers", [], {}, "file_missing", "files"),
    ("roads", [(b"a,b\n1,2\n", "a.csv")], {}, "layer_unknown", "layer"),
    (None, [(b"a,b\n1,2\n", "a.csv")], {}, "layer_missing", "layer"),
    ("buildings", [(b"x", "楼栋.txt")], {}, "file_type", "files"),
    ("buildings", [(b"x", "楼栋.shp")], {}, "shp_parts", "files"),
    ("buildings", [(b"x", "a.shp"), (b"x", "b.dbf"), (b"x", "a.shx")], {}, "file_set", "files"),
    ("buildings", [(b"x", "a.csv"), (b"x", "b.csv")], {}, "file_set", "files"),
    ("buildings", [(b"x", "kunming.osm.pbf")], {}, "osm", "files"),
    ("centers", [(b"x", "kunming.osm")], {}, "osm", "files"),
    ("osm", [(b"x", "kunming.osm.pbf")], {}, "district_missing", "district"),
    ("osm", [(b"x", "kunming.osm.pbf")], {"district": "530103"}, "district", "district"),
    ("osm", [(b"x", "kunming.osm.pbf")], {"district": "530100000000"}, "district", "district"),
    ("osm", [(b"x", "kunming.osm.pbf")], {"district": "530103002001"}, "district", "district"),
    ("osm", [(b"x", "a.geojson")], {"district": DISTRICT}, "osm_file", "files"),
    ("osm", [(b"x", "a.osm"), (b"x", "b.osm")], {"district": DISTRICT}, "osm_file", "files"),
    ("osm", [(b"x", "a.osm")], {"district": DISTRICT, "crs": "4326"}, "osm_options", "crs"),
    ("osm", [(b"x", "a.osm")], {"district": DISTRICT, "coords": "gcj02"}, "osm_options",
     "coords"),
    ("osm", [(b"x", "a.osm")], {"district": DISTRICT, "mapping": (b"a,code", "m.csv")},
     "osm_options", "mapping"),
    ("centers", [(b"a,b\n1,2\n", "a.csv")], {"encoding": "latin-1"}, "encoding", "encoding"),
    ("centers", [(b"a,b\n1,2\n", "a.csv")], {"mapping": (b"a,code", "m.txt")}, "mapping_type",
     "mapping"),
    ("centers", [(b"a,b\n1,2\n", "a.csv")], {"mapping": (b"{1: 2}", "m.json")}, "mapping",
     "mapping"),
    ("centers", [(b"a,b\n1,2\n", "a.csv")], {"crs": "北京54"}, "crs", "crs"),
    ("centers", [(b"a,b\n1,2\n", "a.csv")], {"crs": "999999"}, "crs", "crs"),
    ("centers", [(b"a,b\n1,2\n", "a.csv")], {"coords": "mars"}, "coords", "coords"),
    ("centers", [(b"a,b\n1,2\n", "a.csv")], {"dry_run": "maybe"}, "dry_run", "dry_run"),
    ("network", [(b"{}", "a.geojson")], {"coords": "gcj02"}, "network_options", "coords"),
    ("network", [(b"{}", "a.geojson")], {"encoding": "GBK"}, "network_options", "encoding"),
])
def test_bad_requests_get_400_with_the_reason(client, import_url, upload_dir, layer, files,
                                              fields, code, field):
    before = checksum(import_url, "buildings"), checksum(import_url, "service_centers")
    response = start(client, layer, files, **fields)
    assert response.status_code == 400
    body = response.get_json()
    assert (body["code"], body["field"], body["status"]) == (code, field, 400)
    assert body["error"]
    assert (checksum(import_url, "buildings"), checksum(import_url, "service_centers")) == before
    assert uploads_left(client, upload_dir) == []


def test_missing_file_message_and_unknown_job(client):
    response = start(client, "centers", [])
    assert response.get_json()["error"] == "choose a file to import (files)"
    response = client.get("/api/import/jobs/nosuchjob")
    assert response.status_code == 404
    assert response.get_json()["code"] == "job_unknown"


def test_an_upload_over_the_limit_gets_413(import_url, tmp_path):
    small = app_for(import_url, IMPORT_DIR=str(tmp_path), IMPORT_MAX_BYTES=1000).test_client()
    data = centres_csv(*[["X", "站", "社区", "", TAOYUAN, *IN_TAOYUAN, ""]] * 40)
    assert len(data) > 1000
    response = start(small, "centers", [(data, "big.csv")])
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_large"
    assert list(tmp_path.iterdir()) == []

"""``gridmap import network FILE``: line layers noded into a walking network, or refused whole."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely import LineString, Point

from gis.io.network_import import NetworkImportError, import_network

# a cross of two 0.01° streets in Kunming and an island street 0.01° east of it
CROSS = [LineString([(102.70, 25.04), (102.71, 25.04)]),
         LineString([(102.705, 25.035), (102.705, 25.045)])]
ISLAND = [LineString([(102.72, 25.04), (102.73, 25.04)])]


def write(tmp_path, name, geoms, *, crs="EPSG:4326", names=None, **kwargs):
    gdf = gpd.GeoDataFrame({"名称": names or [f"路{i}" for i in range(len(geoms))]},
                           geometry=geoms, crs=crs)
    path = tmp_path / name
    gdf.to_file(path, engine="pyogrio", **kwargs)
    return path


def network(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT component) FROM walk_nodes")
        nodes, components = cur.fetchone()
        cur.execute("SELECT count(*), round(sum(length_m)) FROM walk_edges")
        return nodes, components, *cur.fetchone()


def test_lines_are_noded_at_crossings_and_components_labelled(schema_conn, tmp_path):
    path = write(tmp_path, "roads.geojson", CROSS + ISLAND)
    summary = import_network(schema_conn, path)
    # the cross: 4 ends + the crossing = 5 nodes, 4 edges; the island: 2 nodes, 1 edge
    assert (summary["nodes"], summary["edges"], summary["components"]) == (7, 5, 2)
    assert summary["largest_component_share"] == 0.8
    nodes, components, edges, length = network(schema_conn)
    assert (nodes, components, edges) == (7, 2, 5)
    # 0.01° is 1,009.6 m east-west and 1,108.7 m north-south at 25°N (three streets)
    assert float(length) == pytest.approx(1009.6 * 2 + 1108.7, abs=3)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_gbk_shapefile_and_crs_from_the_command_line(schema_conn, tmp_path):
    path = write(tmp_path, "roads.shp", CROSS, names=["北京路", "东风东路"], encoding="GBK")
    assert import_network(schema_conn, path)["edges"] == 4
    no_prj = write(tmp_path, "bare.shp", CROSS, crs=None)
    with pytest.raises(NetworkImportError, match="no coordinate system.*--crs"):
        import_network(schema_conn, no_prj)
    assert import_network(schema_conn, no_prj, crs=4326)["edges"] == 4


def test_bad_files_are_refused_and_change_nothing(schema_conn, tmp_path):
    import_network(schema_conn, write(tmp_path, "good.geojson", CROSS))
    before = network(schema_conn)
    with pytest.raises(NetworkImportError, match="nope.geojson: no such file"):
        import_network(schema_conn, tmp_path / "nope.geojson")
    mixed = write(tmp_path, "mixed.geojson", [CROSS[0], Point(102.7, 25.04), CROSS[1]])
    with pytest.raises(NetworkImportError, match=r"rows 2 are Point, not LineString"):
        import_network(schema_conn, mixed)
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json")
    with pytest.raises(NetworkImportError, match="broken.geojson: cannot be read"):
        import_network(schema_conn, broken)
    metres_as_degrees = write(tmp_path, "gk.geojson", [LineString([(5e5, 2.77e6),
                                                                   (5.01e5, 2.77e6)])])
    with pytest.raises(NetworkImportError, match="give the right --crs"):
        import_network(schema_conn, metres_as_degrees)
    assert import_network(schema_conn, write(tmp_path, "dry.geojson", ISLAND),
                          dry_run=True)["edges"] == 1
    assert network(schema_conn) == before


def test_cli_reports_and_fails_with_the_row(database_factory, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    url = database_factory("netcli")
    gridmap = str(Path(sys.executable).with_name("gridmap"))
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([gridmap, "import", "network", str(write(tmp_path, "r.geojson", CROSS))],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "5 nodes, 4 edges" in ok.stdout
    mixed = write(tmp_path, "m.geojson", [CROSS[0], Point(102.7, 25.04)])
    bad = subprocess.run([gridmap, "import", "network", str(mixed)], capture_output=True,
                         text=True, env=env)
    assert bad.returncode != 0 and "rows 2 are Point" in bad.stderr

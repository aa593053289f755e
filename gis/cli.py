"""The ``gridmap`` command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from gis.config import get_settings


def _fail(message: str) -> None:
    click.echo(f"gridmap: {message}", err=True)
    sys.exit(1)


@click.group()
@click.version_option(package_name="gridmap")
def main() -> None:
    """Gridmap: grids, coverage and service centres for urban community party building."""


@main.group()
def db() -> None:
    """Run the embedded PostGIS cluster and the schema migrations."""


def _embedded_or_fail():
    from gis.db.cluster import ClusterError, cluster_for

    settings = get_settings()
    if settings.database_url:
        _fail("DATABASE_URL is set: the embedded cluster is not used (unset it to manage var/pg)")
    try:
        return cluster_for(settings)
    except ClusterError as exc:
        _fail(str(exc))


@db.command("up")
def db_up() -> None:
    """Start the embedded cluster (initialising it first) and create the database."""
    from gis.db import admin
    from gis.db.cluster import ClusterError, start
    from gis.db.connection import database_url

    settings = get_settings()
    if not settings.database_url:
        cluster = _embedded_or_fail()
        try:
            started = start(cluster)
        except ClusterError as exc:
            _fail(str(exc))
        click.echo(f"cluster {'started' if started else 'already running'}: {cluster.data_dir}")
    url = database_url()
    if not settings.database_url:
        created = admin.create_database(url)
        if created:
            click.echo(f"created database {admin.dbname_of(url)}")
    exts = admin.ensure_extensions(url)
    click.echo("extensions: " + ", ".join(exts))


@db.command("down")
def db_down() -> None:
    """Stop the embedded cluster."""
    from gis.db.cluster import stop

    cluster = _embedded_or_fail()
    click.echo("stopped" if stop(cluster) else "not running")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def db_status(as_json: bool) -> None:
    """Report the cluster, the database and the migrations."""
    import psycopg2

    from gis.db import migrate as mig
    from gis.db.cluster import is_running
    from gis.db.connection import database_url

    settings = get_settings()
    status: dict = {"url": database_url(), "embedded": not settings.database_url}
    if not settings.database_url:
        cluster = _embedded_or_fail()
        status.update(data_dir=str(cluster.data_dir), socket_dir=str(cluster.socket_dir),
                      running=is_running(cluster))
    try:
        conn = psycopg2.connect(status["url"], connect_timeout=5)
    except psycopg2.Error as exc:
        status.update(reachable=False, error=str(exc).strip())
    else:
        with conn, conn.cursor() as cur:
            cur.execute("SHOW server_version")
            status["server_version"] = cur.fetchone()[0]
            cur.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1")
            status["extensions"] = dict(cur.fetchall())
            done = mig.applied(conn)
            files = [f.name for f in mig.migration_files(settings.migrations_dir)]
            status["migrations_applied"] = sorted(done)
            status["migrations_pending"] = [f for f in files if f not in done]
        conn.close()
        status["reachable"] = True
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False))
    else:
        for key, value in status.items():
            click.echo(f"{key:20} {value}")
    if not status.get("reachable"):
        sys.exit(1)


@db.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations."""
    from gis.db.connection import connect
    from gis.db.migrate import MigrationError, migrate

    conn = connect()
    try:
        done = migrate(conn, get_settings().migrations_dir)
    except MigrationError as exc:
        _fail(str(exc))
    finally:
        conn.close()
    click.echo("applied: " + ", ".join(done) if done else "schema up to date")


@db.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_reset(yes: bool) -> None:
    """Drop the database, recreate it and migrate (all data is lost)."""
    from gis.db import admin
    from gis.db.connection import close_pools, connect, database_url
    from gis.db.migrate import migrate

    url = database_url()
    if not yes and sys.stdin.isatty():
        click.confirm(f"drop every table of {admin.dbname_of(url)}?", abort=True)
    close_pools()
    admin.drop_database(url)
    admin.create_database(url)
    admin.ensure_extensions(url)
    conn = connect(url)
    try:
        migrate(conn, get_settings().migrations_dir)
    finally:
        conn.close()
    click.echo(f"reset {admin.dbname_of(url)}")


@db.command("url")
def db_url() -> None:
    """Print the libpq URL of the database in use (for psql, QGIS, scripts)."""
    from gis.db.connection import database_url

    click.echo(database_url())


def _pg_tool(name: str) -> str:
    from gis.db.cluster import ClusterError, cluster_for, pg_tool

    settings = get_settings()
    cluster = None
    if not settings.database_url:
        try:
            cluster = cluster_for(settings)
        except ClusterError:
            cluster = None
    return pg_tool(cluster, name)


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(file: Path) -> None:
    """Write a backup of the database to FILE (pg_dump custom format)."""
    import subprocess

    from gis.db import admin
    from gis.db.connection import database_url

    try:
        admin.backup(database_url(), file, _pg_tool("pg_dump"))
    except subprocess.CalledProcessError as exc:
        _fail(f"{file}: backup failed: {exc.stderr.strip()}")
    click.echo(f"wrote {file} ({file.stat().st_size:,} bytes)")


@db.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def db_restore(file: Path) -> None:
    """Replace the database's contents with the backup in FILE."""
    import subprocess

    from gis.db import admin
    from gis.db.connection import database_url

    try:
        admin.restore(database_url(), file, _pg_tool("pg_restore"))
    except FileNotFoundError as exc:
        _fail(str(exc))
    except subprocess.CalledProcessError as exc:
        _fail(f"{file}: restore failed (database unchanged): {exc.stderr.strip()}")
    click.echo(f"restored {file}")


@main.command()
@click.option("--seed", default=1, show_default=True, help="Random seed; same seed, same rows.")
@click.option("--scale", type=click.Choice(["community", "district", "city"]), default="district",
              show_default=True,
              help="community: 桃源社区 alone; district: 7 communities in 2 streets; "
                   "city: the district repeated --copies times (for scale tests).")
@click.option("--copies", type=click.IntRange(1, 5000), default=None,
              help="Districts in a city (default 30, about 10,000 buildings).")
@click.option("--force", is_flag=True, help="Replace data that the demo did not load.")
def demo(seed: int, scale: str, copies: int | None, force: bool) -> None:
    """Load the demo district (replaces any earlier demo data)."""
    from gis.db.connection import connection
    from gis.demo import build_demo, load_demo

    if copies is not None and scale != "city":
        _fail("--copies goes with --scale city")
    data = build_demo(seed=seed, scale=scale, copies=copies)
    try:
        with connection() as conn:
            counts = load_demo(conn, data, force=force)
    except RuntimeError as exc:
        _fail(str(exc))
    click.echo("demo loaded: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@main.command()
@click.option("--region", default=None, help="12-digit code of a district, street or community.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--planned", is_flag=True, help="Count planned centres as serving (with the plan).")
def coverage(region: str | None, as_json: bool, planned: bool) -> None:
    """Find coverage gaps (grids, organisation, staff, service radius) and their KPIs."""
    from gis.coverage import RegionError, run_coverage
    from gis.db.connection import connection
    from gis.layers import check_region_code

    try:
        region = check_region_code(region)
        with connection() as conn:
            report = run_coverage(conn, region=region, planned=planned)
    except (ValueError, RegionError) as exc:
        _fail(f"--region: {exc}")
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    from gis.coverage_text import format_report

    click.echo(format_report(report))


@main.command()
@click.option("--mode", type=click.Choice(["walk", "straight"]), default="walk",
              show_default=True, help="Which distances the printed table shows.")
@click.option("--region", default=None, help="12-digit code; default every region.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (walking and straight-line figures per region).")
@click.option("--no-isochrones", is_flag=True, help="Skip the walking isochrones (faster).")
@click.option("--planned", is_flag=True, help="Count planned centres as serving (with the plan).")
def access(mode: str, region: str | None, as_json: bool, no_isochrones: bool,
           planned: bool) -> None:
    """Nearest service centres by walking and straight line; band shares per region."""
    from gis.access_store import region_reports, run_access
    from gis.coverage import RegionError
    from gis.db.connection import connection
    from gis.layers import check_region_code

    try:
        region = check_region_code(region)
        with connection() as conn:
            run_access(conn, with_isochrones=not no_isochrones, planned=planned)
            reports = region_reports(conn, region=region)
    except (ValueError, RegionError) as exc:
        _fail(f"--region: {exc}")
    if as_json:
        top = reports[0] if reports else None
        click.echo(json.dumps({
            "run": top.run if top else None,
            "long_snaps": top.long_snaps if top else [],
            "regions": [{"region": r.region, "kpis": r.kpis} for r in reports],
        }, ensure_ascii=False))
        return
    from gis.access_text import format_access

    click.echo(format_access(reports, mode))


@main.command()
@click.option("--model", "model_name", type=click.Choice(["lscp", "mclp", "pmedian"]),
              required=True, help="lscp: fewest sites for full cover; mclp: k sites, most "
                                  "residents covered; pmedian: k sites, least walking.")
@click.option("--k", type=int, default=None, help="New sites to open (mclp, pmedian).")
@click.option("--radius", type=float, default=None, help="Radius of new sites, metres "
                                                         "(default: the level's norm).")
@click.option("--level", type=click.Choice(["street", "community", "grid", "building"]),
              default="grid", show_default=True, help="Level of the new centres.")
@click.option("--source", type=click.Choice(["candidates", "units", "public", "network"]),
              default="network", show_default=True, help="Where candidate sites come from.")
@click.option("--capacitated", is_flag=True, help="Sites serve at most 100 households per 30 m².")
@click.option("--allow-close", is_flag=True, help="Existing centres may close or move.")
@click.option("--planned", is_flag=True,
              help="Count planned centres as already there (site what the plan leaves).")
@click.option("--time-limit", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def site(model_name: str, k: int | None, radius: float | None, level: str, source: str,
         capacitated: bool, allow_close: bool, planned: bool, time_limit: float,
         as_json: bool) -> None:
    """Propose where new party-mass service centres should go (walking distances)."""
    from gis.db.connection import connection
    from gis.siting import SitingError
    from gis.siting_data import build_problem, describe, solve

    if model_name != "lscp" and k is None:
        _fail(f"--model {model_name} needs --k")
    try:
        with connection() as conn:
            data = build_problem(conn, source=source, level=level, radius_m=radius,
                                 capacitated=capacitated, planned=planned,
                                 cutoff_m=None if model_name != "pmedian" else
                                 2 * (radius or get_settings().norms.radius_for_level(level)))
        sol = solve(data, model=model_name, k=k, allow_close=allow_close,
                    time_limit=time_limit)
    except SitingError as exc:
        _fail(str(exc))
    doc = describe(data, sol)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    total = doc["demand_weight"] or 1
    click.echo(f"{model_name.upper()}：新增 {doc['new_sites']} 处（半径 {doc['radius_m']:.0f} m），"
               f"覆盖居民 {doc['covered_before']:,.0f} → {doc['covered_after']:,.0f}"
               f"（{doc['covered_after'] / total:.1%}），差距 {doc['gap']:.2%}，"
               f"用时 {doc['seconds']:.2f} s")
    for s in doc["sites"]:
        if not s["existing"]:
            click.echo(f"  新址 {s['ref']:<10} {s['lon']:.6f}, {s['lat']:.6f}  "
                       f"服务居民 {s['served']:,.0f}")
    if doc["unreachable_buildings"]:
        click.echo(f"  无候选点可达的楼栋：{len(doc['unreachable_buildings'])} 栋")


@main.command("import")
@click.argument("layer", type=click.Choice(["regions", "grids", "buildings", "centers", "units",
                                            "members", "staff", "ledger", "network", "osm"]))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--crs", type=int, default=None,
              help="EPSG code of the file's coordinates when the file does not say.")
@click.option("--coords", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84",
              show_default=True, help="Gaode/Tencent (gcj02) or Baidu (bd09) coordinates.")
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON or CSV file of 'file header → field' for unknown headers.")
@click.option("--sheet", default=None, help="XLSX sheet or GeoPackage layer (default: first).")
@click.option("--encoding", default=None, help="Attribute encoding when detection is wrong.")
@click.option("--district", default=None, help="osm: 12-digit code of the district it fills.")
@click.option("--dry-run", is_flag=True, help="Check and report; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def import_layer(layer: str, file: Path, crs: int | None, coords: str, mapping: Path | None,
                 sheet: str | None, encoding: str | None, district: str | None, dry_run: bool,
                 as_json: bool) -> None:
    """Import LAYER from FILE (GeoJSON, GeoPackage, Shapefile, CSV, XLSX; osm: .osm/.osm.pbf).

    Rows are checked first; one bad row refuses the whole file and lists the rows at fault.
    Re-importing a file updates rows by code.
    """
    from gis.db.connection import connection

    if layer == "network":
        _import_network(file, crs, dry_run)
        return
    if layer == "osm":
        _import_osm(file, district, dry_run, as_json)
        return
    from gis.io.layer_import import LayerImportError, import_file
    from gis.io.schema import SchemaError, load_mapping_file

    try:
        explicit = load_mapping_file(mapping) if mapping else None
        with connection() as conn:
            report = import_file(conn, layer, file, crs=crs, coords=coords, mapping=explicit,
                                 sheet=sheet, encoding=encoding, dry_run=dry_run,
                                 user=os.environ.get("USER", "import"))
    except SchemaError as exc:
        _fail(str(exc))
    except LayerImportError as exc:
        if as_json and exc.report is not None:
            click.echo(json.dumps({**exc.report.to_dict(), "error": str(exc)},
                                  ensure_ascii=False))
            sys.exit(1)
        _fail(str(exc))
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False) if as_json else report.summary())
    if report.rejected:
        sys.exit(1)


def _import_network(file: Path, crs: int | None, dry_run: bool) -> None:
    from gis.db.connection import connection
    from gis.io.network_import import NetworkImportError, import_network

    try:
        with connection() as conn:
            summary = import_network(conn, file, crs=crs, dry_run=dry_run)
    except NetworkImportError as exc:
        _fail(str(exc))
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} network: {summary['lines']:,} lines → {summary['nodes']:,} nodes, "
               f"{summary['edges']:,} edges, {summary['length_km']:,} km, "
               f"{summary['components']} component(s), largest holding "
               f"{(summary['largest_component_share'] or 0):.1%} of the edges")


def _import_osm(file: Path, district: str | None, dry_run: bool, as_json: bool) -> None:
    from gis.db.connection import connection
    from gis.io.layer_import import LayerImportError
    from gis.io.osm import OsmImportError, import_osm

    if district is None:
        _fail("import osm needs --district CODE (the 12-digit district the extract fills)")
    try:
        with connection() as conn:
            summary = import_osm(conn, file, district=district, dry_run=dry_run)
    except (OsmImportError, LayerImportError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, default=str))
        return
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} osm from {file.name}:")
    for key, value in summary.items():
        click.echo(f"  {key}: {value}")


@main.command("export")
@click.argument("layer", metavar="LAYER")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--region", default=None, help="12-digit code: the region and everything under it.")
@click.option("--coords", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84",
              show_default=True, help="Coordinates written (gcj02: Gaode/Tencent, bd09: Baidu).")
def export_layer(layer: str, file: Path, region: str | None, coords: str) -> None:
    """Write LAYER to FILE; the format follows the extension (.geojson .gpkg .shp .csv .xlsx).

    LAYER is one of regions, grids, buildings, centers, units, members, staff, ledger (the
    three lists), grid-ledger (网格台账), coverage (gaps), access (per building) or siting
    (planned centres).
    """
    from gis.db.connection import connection
    from gis.io.layer_export import ExportError
    from gis.io.layer_export import export_layer as export
    from gis.layers import RegionNotFoundError, check_region_code

    try:
        region = check_region_code(region)
    except ValueError as exc:
        _fail(f"--region: {exc}")
    try:
        with connection() as conn:
            result = export(conn, layer, file, region=region, coords=coords)
    except RegionNotFoundError as exc:
        _fail(f"--region: {exc}")
    except ExportError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{file}: cannot write ({exc.strerror or exc})")
    place = result["region"]["name"]
    extra = ""
    if result.get("sheets"):
        extra = "（" + "，".join(f"{k} {v:,}" for k, v in result["sheets"].items()) + "）"
    if result.get("truncated"):
        extra += f"; {result['truncated']:,} texts cut to the 254 bytes a DBF field holds"
    if coords != "wgs84":
        extra += f"; coordinates in {coords}"
    click.echo(f"exported {layer} ({result['title']}, {place}): {result['rows']:,} rows → "
               f"{file} ({result['format']}){extra}")
    for other in result.get("files", [])[1:]:
        click.echo(f"  + {other}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Reload on code changes.")
def serve(host: str, port: int, debug: bool) -> None:
    """Serve the web app."""
    from web import create_app

    app = create_app()
    click.echo(f"gridmap on http://{host}:{port}/")
    app.run(host=host, port=port, debug=debug, threaded=True)


if __name__ == "__main__":
    main()

"""Schema, migrations and constraints, against a real PostGIS database."""

from __future__ import annotations

import psycopg2
import pytest

from gis.config import get_settings
from gis.db.migrate import MigrationError, applied, migrate, migration_files

SQUARE = ("SRID=4326;MULTIPOLYGON(((102.70 25.04, 102.701 25.04, 102.701 25.041,"
          " 102.70 25.041, 102.70 25.04)))")
BOWTIE = ("SRID=4326;MULTIPOLYGON(((102.70 25.04, 102.701 25.041, 102.701 25.04,"
          " 102.70 25.041, 102.70 25.04)))")  # self-intersecting ring


def test_migrations_apply_to_empty_db_once(database_factory):
    url = database_factory("mig", migrated=False)
    conn = psycopg2.connect(url)
    try:
        first = migrate(conn, get_settings().migrations_dir)
        assert first == [f.name for f in migration_files(get_settings().migrations_dir)]
        assert migrate(conn, get_settings().migrations_dir) == []  # idempotent
        assert applied(conn) == set(first)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'"
                        " AND table_name = ANY(%s)", ([
                            "regions", "grids", "buildings", "party_orgs", "members",
                            "member_buildings", "grid_staff", "units", "service_centers",
                            "ledger_items", "walk_nodes", "walk_edges", "grid_history",
                            "building_access"],))
            assert cur.fetchone()[0] == 14
            cur.execute("SELECT Find_SRID('public', 'buildings', 'geom'),"
                        " Find_SRID('public', 'grids', 'geom')")
            assert cur.fetchone() == (4326, 4326)
            # every geometry column that is searched spatially has a GiST index
            cur.execute("SELECT f_table_name FROM geometry_columns g WHERE NOT EXISTS ("
                        " SELECT 1 FROM pg_indexes i WHERE i.tablename = g.f_table_name"
                        " AND i.indexdef ILIKE '%%USING gist (geom)%%')")
            assert [r[0] for r in cur.fetchall()] == ["grid_history"]
    finally:
        conn.close()


def test_failed_migration_changes_nothing_and_names_the_file(database_factory, tmp_path):
    url = database_factory("badmig", migrated=False)
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok_table (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (id int); SELECT nonsense FROM;")
    conn = psycopg2.connect(url)
    try:
        with pytest.raises(MigrationError, match="0002_broken.sql"):
            migrate(conn, tmp_path)
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('ok_table') IS NOT NULL, to_regclass('half') IS NULL")
            assert cur.fetchone() == (True, True)
        assert applied(conn) == {"0001_ok.sql"}
    finally:
        conn.close()


def test_misnamed_migration_is_refused(tmp_path):
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="1_first.sql"):
        migration_files(tmp_path)


def _region(cur, code="530103002001", level="community", parent="530103002000", geom=SQUARE):
    cur.execute("INSERT INTO regions(code, level, name, parent_code, geom) VALUES"
                " ('530100000000', 'city', '昆明市', NULL, NULL),"
                " ('530103000000', 'district', '盘龙区', '530100000000', NULL),"
                " ('530103002000', 'street', '鼓楼街道', '530103000000', NULL)")
    cur.execute("INSERT INTO regions(code, level, name, parent_code, geom)"
                " VALUES (%s, %s, '桃源社区', %s, %s::geometry)", (code, level, parent, geom))


def test_constraints_accept_a_valid_row(schema_conn):
    with schema_conn.cursor() as cur:
        _region(cur)
        cur.execute("INSERT INTO buildings(kind, community_code, geom, households, residents)"
                    " VALUES ('residential', '530103002001', %s::geometry, 60, 150)", (SQUARE,))
        cur.execute("INSERT INTO grids(code, layer, community_code, name, geom) VALUES"
                    " ('530103002001001', 'party', '530103002001', 'g', %s::geometry)", (SQUARE,))


@pytest.mark.parametrize(("sql", "params", "error"), [
    ("INSERT INTO grids(code, layer, community_code, name, geom) VALUES "
     "('530103002001001', 'party', '530103002001', 'g', %s::geometry)", (BOWTIE,),
     psycopg2.errors.CheckViolation),
    ("INSERT INTO grids(code, layer, community_code, name, geom) VALUES "
     "('53010300200101', 'party', '530103002001', 'g', %s::geometry)", (SQUARE,),
     psycopg2.errors.CheckViolation),
    ("INSERT INTO grids(code, layer, community_code, name, geom) VALUES "
     "('530103002002001', 'party', '530103002001', 'g', %s::geometry)", (SQUARE,),
     psycopg2.errors.CheckViolation),
    ("INSERT INTO buildings(kind, geom) VALUES ('residential', ST_Transform(%s::geometry, 3857))",
     (SQUARE,), psycopg2.errors.InvalidParameterValue),
    ("INSERT INTO buildings(kind, geom) VALUES ('castle', %s::geometry)", (SQUARE,),
     psycopg2.errors.CheckViolation),
    ("INSERT INTO buildings(kind, geom, households, residents) VALUES "
     "('residential', %s::geometry, 10, 3)", (SQUARE,), psycopg2.errors.CheckViolation),
    ("INSERT INTO service_centers(name, level, status, geom) VALUES "
     "('x', 'grid', 'dreamed', 'SRID=4326;POINT(102.7 25.04)')", (),
     psycopg2.errors.CheckViolation),
], ids=["invalid-polygon", "grid-code-14-digits", "grid-code-other-community",
        "building-srid-3857", "unknown-kind", "fewer-residents-than-households",
        "unknown-centre-status"])
def test_constraints_reject(schema_conn, sql, params, error):
    with schema_conn.cursor() as cur:
        _region(cur)
        with pytest.raises(error):
            cur.execute(sql, params)


@pytest.mark.parametrize(("code", "level"), [
    ("53010300200", "community"),       # 11 digits
    ("5301030020011", "community"),     # 13 digits
    ("530103002000", "community"),      # a street's padding on a community
    ("53010300200A", "community"),
])
def test_region_code_format_is_checked(schema_conn, code, level):
    with schema_conn.cursor() as cur:
        with pytest.raises((psycopg2.errors.CheckViolation,
                            psycopg2.errors.StringDataRightTruncation)):
            _region(cur, code=code, level=level)

"""The ``gridmap`` command, run as a user would run it, against real databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from gis.config import load_settings

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))


def run(*args, url=None, check=True, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if url:
        env["DATABASE_URL"] = url
    env.update(env_extra or {})
    proc = subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_embedded_cluster_status_reports_the_socket_and_extensions():
    run("db", "up")  # already running: says so, succeeds
    status = json.loads(run("db", "status", "--json").stdout)
    assert status["embedded"] and status["running"] and status["reachable"]
    assert status["socket_dir"].endswith("var/run")
    assert "postgis" in status["extensions"] and "pgrouting" in status["extensions"]
    assert status["migrations_pending"] == []
    url = run("db", "url").stdout.strip()
    assert url.startswith("postgresql://") and url.endswith("/gridmap")
    psql = subprocess.run(["psql", url, "-tAc", "SELECT PostGIS_Lib_Version()"],
                          capture_output=True, text=True)
    assert psql.returncode == 0 and psql.stdout.strip().startswith("3.")


def test_demo_backup_restore_round_trip(database_factory, tmp_path):
    url = database_factory("cli")
    out = run("demo", "--seed", "4", url=url).stdout
    assert "buildings" in out
    dump = tmp_path / "gridmap.dump"
    run("db", "backup", str(dump), url=url)
    assert dump.stat().st_size > 10_000
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), sum(residents) FROM buildings")
        before = cur.fetchone()
        cur.execute("TRUNCATE buildings CASCADE")
    run("db", "restore", str(dump), url=url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), sum(residents) FROM buildings")
        assert cur.fetchone() == before
    conn.close()


def test_errors_name_what_is_wrong_and_exit_non_zero(database_factory, tmp_path):
    url = database_factory("clierr")
    missing = run("db", "restore", str(tmp_path / "nope.dump"), url=url, check=False)
    assert missing.returncode != 0 and "nope.dump" in missing.stderr
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("INSERT INTO regions(code, level, name)"
                    " VALUES ('110000000000', 'city', '北京市')")
    refused = run("demo", url=url, check=False)
    assert refused.returncode != 0 and "--force" in refused.stderr
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM regions")
        assert cur.fetchone()[0] == 1  # nothing changed
    run("demo", "--force", url=url)
    misplaced = run("demo", "--copies", "2", url=url, check=False)
    assert misplaced.returncode != 0 and "--scale city" in misplaced.stderr
    out = run("demo", "--scale", "city", "--copies", "2", url=url).stdout
    assert "buildings 684" in out  # two copies of the 342-building district
    conn.close()
    unreachable = run("db", "status", url="postgresql://nobody@127.0.0.1:1/none", check=False)
    assert unreachable.returncode != 0


def test_settings_file_overrides_norms_and_rejects_unknown_keys(tmp_path, monkeypatch):
    cfg = tmp_path / "gridmap.toml"
    cfg.write_text("[norms]\nradius_community_m = 600\nwalk_bands_m = [300, 800]\n")
    monkeypatch.setenv("GRIDMAP_CONFIG", str(cfg))
    settings = load_settings()
    assert settings.norms.radius_for_level("community") == 600
    assert settings.norms.walk_bands_m == (300.0, 800.0)
    cfg.write_text("databse_url = 'typo'\n")
    with pytest.raises(ValueError, match="databse_url"):
        load_settings()

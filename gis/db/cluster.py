"""The project-local PostgreSQL/PostGIS cluster under ``var/pg``.

It listens only on a unix socket in ``var/run`` (``listen_addresses = ''``), so it never clashes
with another server's TCP port. Run as root, the server runs as the ``postgres`` system user (the
server refuses to run as root) and owns ``var/pg``. ``DATABASE_URL`` bypasses all of this.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gis.config import Settings

SUPERUSER = "gridmap"
# libpq's unix socket path limit is 107 bytes; keep a margin for ".s.PGSQL.NNNNN"
_MAX_SOCKET_DIR = 90
_SERVER_OPTIONS = {
    "listen_addresses": "''",
    "shared_buffers": "256MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "synchronous_commit": "off",
    "max_connections": "60",
    "jit": "off",
}


class ClusterError(RuntimeError):
    """The embedded cluster could not be set up, started or reached."""


@dataclass(frozen=True)
class Cluster:
    """Paths and binaries of the embedded cluster."""

    data_dir: Path
    socket_dir: Path
    log_file: Path
    bindir: Path
    port: int

    @property
    def url(self) -> str:
        """Libpq URL of the cluster's superuser connection to the default database."""
        return self.url_for("gridmap")

    def url_for(self, dbname: str) -> str:
        """Return the libpq URL of database ``dbname`` in this cluster."""
        from urllib.parse import quote

        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@{host}:{self.port}/{dbname}"


def find_bindir() -> Path:
    """Find the newest PostgreSQL server binaries that have PostGIS installed.

    Returns
    -------
    Path
        Directory holding ``initdb``, ``pg_ctl``, ``pg_dump``.

    Raises
    ------
    ClusterError
        If no PostgreSQL server with PostGIS is installed.
    """
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    base = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in base.glob("*") if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
    ) if base.is_dir() else []
    for vdir in versions:
        has_postgis = Path(f"/usr/share/postgresql/{vdir.name}/extension/postgis.control").exists()
        if (vdir / "bin" / "initdb").exists() and has_postgis:
            return vdir / "bin"
    raise ClusterError(
        "no PostgreSQL server with PostGIS found under /usr/lib/postgresql; "
        "run scripts/install-system-deps.sh (or `make demo`) first"
    )


def _socket_dir(var_dir: Path) -> Path:
    wanted = var_dir / "run"
    if len(str(wanted)) <= _MAX_SOCKET_DIR:
        return wanted
    # a deep checkout: the socket path would be too long for libpq, use a short stable one
    digest = hashlib.sha1(str(var_dir).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"gridmap-{digest}"


def cluster_for(settings: Settings) -> Cluster:
    """Describe the embedded cluster for these settings (nothing is started)."""
    var = settings.var_dir
    return Cluster(
        data_dir=var / "pg",
        socket_dir=_socket_dir(var),
        log_file=var / "log" / "postgresql.log",
        bindir=find_bindir(),
        port=settings.pg_port,
    )


def _server_user() -> str | None:
    """The system user the server must run as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ClusterError("running as root but no 'postgres' system user exists") from exc
    return "postgres"


def _run_as_server(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    user = _server_user()
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)} failed:\n{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _prepare_dirs(cluster: Cluster) -> None:
    user = _server_user()
    for d in (cluster.data_dir.parent, cluster.socket_dir, cluster.log_file.parent):
        d.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for d in (cluster.socket_dir, cluster.log_file.parent):
        os.chown(d, entry.pw_uid, entry.pw_gid)
    if cluster.data_dir.exists():
        os.chown(cluster.data_dir, entry.pw_uid, entry.pw_gid)
    probe = _run_as_server(["test", "-w", str(cluster.socket_dir)], check=False)
    if probe.returncode != 0:
        raise ClusterError(
            f"the 'postgres' user cannot reach {cluster.socket_dir}: make the checkout's parent "
            "directories world-traversable (chmod o+x) or set DATABASE_URL"
        )


def is_initialised(cluster: Cluster) -> bool:
    """Whether ``initdb`` has run in the data directory."""
    return (cluster.data_dir / "PG_VERSION").exists()


def is_running(cluster: Cluster) -> bool:
    """Whether the server of this data directory is running."""
    if not is_initialised(cluster):
        return False
    proc = _run_as_server(
        [str(cluster.bindir / "pg_ctl"), "status", "-D", str(cluster.data_dir)], check=False
    )
    return proc.returncode == 0


def init(cluster: Cluster) -> bool:
    """Run ``initdb`` unless already done; return whether it ran."""
    if is_initialised(cluster):
        return False
    _prepare_dirs(cluster)
    user = _server_user()
    cluster.data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(cluster.data_dir, entry.pw_uid, entry.pw_gid)
    os.chmod(cluster.data_dir, 0o700)
    _run_as_server([
        str(cluster.bindir / "initdb"), "-D", str(cluster.data_dir), "-U", SUPERUSER,
        "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
    ])
    return True


def start(cluster: Cluster) -> bool:
    """Start the server unless it runs; return whether it was started."""
    init(cluster)
    _prepare_dirs(cluster)
    if is_running(cluster):
        return False
    opts = {**_SERVER_OPTIONS, "unix_socket_directories": f"'{cluster.socket_dir}'",
            "port": str(cluster.port)}
    opt_str = " ".join(f"-c {k}={v}" for k, v in opts.items())
    proc = _run_as_server([
        str(cluster.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(cluster.data_dir),
        "-l", str(cluster.log_file), "-o", opt_str,
    ], check=False)
    if proc.returncode != 0:
        tail = ""
        if cluster.log_file.exists():
            tail = "\n".join(cluster.log_file.read_text(errors="replace").splitlines()[-15:])
        raise ClusterError(f"the database server did not start:\n{proc.stderr.strip()}\n{tail}")
    return True


def stop(cluster: Cluster) -> bool:
    """Stop the server if it runs; return whether it was running."""
    if not is_running(cluster):
        return False
    _run_as_server([str(cluster.bindir / "pg_ctl"), "stop", "-w", "-m", "fast",
                    "-D", str(cluster.data_dir)])
    return True


def pg_tool(cluster_or_none: Cluster | None, name: str) -> str:
    """Path of a PostgreSQL client tool (``pg_dump``, ``pg_restore``, ``psql``)."""
    if cluster_or_none is not None:
        candidate = cluster_or_none.bindir / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ClusterError(f"{name} not found; install the PostgreSQL client")
    return found

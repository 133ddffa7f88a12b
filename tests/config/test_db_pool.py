"""Connection pooling: more concurrent clients than PostgreSQL's ``max_connections`` allows,
through the production web server (gunicorn, one process with a thread per client), all
answered, while the process never holds more than its pool's connections."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

from console.management.commands.runlocal import child_env, web_command
from tests.conftest import TenantSetup
from tests.console.test_runlocal import _free_port

POOL = 4


def _connections_to_the_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_more_clients_than_max_connections_get_answers_through_the_pool(
    transactional_db: None, acme: TenantSetup, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        max_connections = int(cursor.fetchone()[0])
    clients = max_connections + 20
    port = _free_port()
    env = child_env(debug=False, database_url=subprocess_env["DATABASE_URL"],
                    redis_url=subprocess_env["REDIS_URL"])
    env.update(WEB_CONCURRENCY="1", GUNICORN_THREADS=str(clients), DB_POOL_MAX_SIZE=str(POOL),
               STATIC_ROOT=str(tmp_path / "static"), API_DEFAULT_RATE_LIMIT_PER_MINUTE="100000")
    before = _connections_to_the_database()
    web = subprocess.Popen(web_command(debug=False, host="127.0.0.1", port=port),  # noqa: S603
                           env=env, cwd=settings.BASE_DIR)
    url = f"http://127.0.0.1:{port}/api/v1/me"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)  # noqa: S310
                break
            except OSError:
                assert web.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)

        statuses: list[int] = []
        start = threading.Barrier(clients)

        def client() -> None:
            request = urllib.request.Request(  # noqa: S310
                url, headers={"Authorization": f"Bearer {acme.raw_key}"})
            start.wait()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
            except OSError:
                statuses.append(0)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        peak = 0
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, _connections_to_the_database() - before)
            time.sleep(0.05)
    finally:
        web.terminate()
        web.wait(timeout=30)

    assert len(statuses) == clients
    assert statuses.count(200) == clients, sorted(set(statuses))
    assert peak <= POOL, peak

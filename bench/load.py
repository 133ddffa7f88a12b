"""Load on the production web server of ``make run``: 20 concurrent clients for 60 s each
against ``GET /api/v1/me``, a recommendation read (a precomputed list), and, as the baseline,
a bare Django view on the same server (``/healthz``: no database, no authentication).

The server is the very gunicorn command ``runlocal`` starts (2 processes × 4 threads, the
connection pool of ``DB_POOL_MAX_SIZE=4``), over http://127.0.0.1; clients keep their
connections alive. Figures: requests per second, p50/p95/p99 latency and errors for each,
and ``api.me_rps_ratio_vs_bare``. The load generator shares the machine's two cores with the
server, as it would on a developer's laptop: read the ratios, not the absolute figures.

    python bench/load.py               # 60 s per target
    python bench/load.py --seconds 10  # a quick look
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402
from django_setup import ROOT, setup  # noqa: E402

CLIENTS = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _drive(port: int, paths: list[str], headers: dict[str, str], seconds: float
           ) -> tuple[float, list[float], int]:
    """``CLIENTS`` threads, each on one kept-alive connection, for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors = [0] * CLIENTS
    start = threading.Barrier(CLIENTS + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        n = index
        while time.monotonic() < stop_at[0]:
            path = paths[n % len(paths)]
            n += CLIENTS
            began = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies[index].append((time.perf_counter() - began) * 1000)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    merged = sorted(value for values in latencies for value in values)
    return len(merged) / elapsed, merged, sum(errors)


def _percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(len(values) * fraction))] if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    seconds = parser.parse_args().seconds
    os.environ.setdefault("AIPLATFORM_DATA_DIR", str(ROOT / ".data" / "bench"))
    setup()
    import recs_serving
    from django.conf import settings
    from django_setup import bench_tenant

    from accounts.services import api_key_create
    from apps.recommendation.models import EndUser
    from console.management.commands.runlocal import child_env, web_command
    from tenancy.context import tenant_context

    tenant = bench_tenant("bench-load")
    items, users = 2_000, 400
    tag = f"load{items}x{users}t{recs_serving.CATEGORIES}"
    if not recs_serving._catalogue_ready(tenant.pk, tag):
        recs_serving._catalogue(tenant.pk, items, users, tag)
    with tenant_context(tenant.pk):
        raw = api_key_create(name=f"load {uuid.uuid4().hex[:6]}", scopes=["read"],
                             created_by_id=None, rate_limit_per_minute=10_000_000).raw_key
        ordered = list(EndUser.objects.filter(external_id__startswith=f"{tag}-u")
                       .order_by("id").values_list("external_id", flat=True))
    precomputed = ordered[: users // 2]  # the first half by id got precomputed lists

    database = settings.DATABASES["default"]
    from urllib.parse import quote

    database_url = (f"postgresql://{database['USER']}@{quote(str(database['HOST']), safe='')}"
                    f"/{database['NAME']}")
    env = child_env(debug=False, database_url=database_url, redis_url=settings.REDIS_URL)
    env.update(WEB_CONCURRENCY="2", GUNICORN_THREADS="4", DB_POOL_MAX_SIZE="4",
               LOG_LEVEL="WARNING", STATIC_ROOT=str(ROOT / ".data" / "bench" / "static"))
    port = _free_port()
    server = subprocess.Popen(web_command(debug=False, host="127.0.0.1", port=port),  # noqa: S603
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/healthz")
                probe.getresponse().read()
                break
            except OSError:
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        auth = {"Authorization": f"Bearer {raw}"}
        targets = {
            "bare": (["/healthz"], {}),
            "me": (["/api/v1/me"], auth),
            "recs_read": ([f"/api/v1/recommendations/users/{user}?k=10"
                           for user in precomputed], auth),
        }
        figures = {}
        for name, (paths, headers) in targets.items():
            _drive(port, paths, headers, min(5.0, seconds))  # warm-up: connections, caches
            rps, latencies, errors = _drive(port, paths, headers, seconds)
            figures[name] = rps
            p50, p95, p99 = (_percentile(latencies, f) for f in (0.5, 0.95, 0.99))
            print(f"{name}: {rps:.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
                  f"p99 {p99:.1f} ms, {errors} errors ({CLIENTS} clients, {seconds:.0f} s)",
                  flush=True)
            prefix = "api.bare" if name == "bare" else f"api.{name}"
            record(f"{prefix}_rps", rps, "req/s")
            record(f"{prefix}_p50_ms", p50, "ms")
            record(f"{prefix}_p95_ms", p95, "ms")
            record(f"{prefix}_p99_ms", p99, "ms")
            record(f"{prefix}_errors", errors, "requests")
        record("api.me_rps_ratio_vs_bare", figures["me"], "req/s", baseline=figures["bare"],
               ratio=figures["me"] / figures["bare"])
        record("api.recs_read_rps_ratio_vs_bare", figures["recs_read"], "req/s",
               baseline=figures["bare"], ratio=figures["recs_read"] / figures["bare"])
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

"""Overhead of real-time metering on a metered endpoint: the latency of the same API request
with metering on and off, interleaved in one run (same process, same data, same key).

Measured through the whole Django stack (middleware, API key, DRF), in process with Django's
test client, on ``GET /api/v1/recommendations/users/<id>`` (metered twice: ``api_calls`` and
``recommendation_requests``, a cold user served popular items from a 200-item catalogue) and
``GET /api/v1/me`` (``api_calls`` only). The chat endpoint takes the same ``meter_consume``
path (``chat_messages``) in front of a round trip to a worker that takes tens of milliseconds
or more, so its relative overhead is smaller than the recommendation endpoint's. Also
reported: ``meter_consume`` alone, and the flush of the counters.

    PYTHONPATH=platform:. python bench/metering.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = str(Path(__file__).resolve().parent)
sys.path.insert(0, BENCH_DIR)

from django_setup import bench_tenant, setup  # noqa: E402

ROUNDS = 11
REQUESTS_PER_ROUND = 200
CONSUME_CALLS = 5_000


def main() -> None:
    setup()
    from django.test import Client, override_settings

    from accounts.services import api_key_create
    from apps.recommendation.services import events_ingest, items_upsert
    from bench.common import record
    from billing.metering import meter_consume
    from billing.models import Meter
    from billing.services import meter_flush, subscription_change_plan, subscription_current
    from config.redis import redis_client
    from tenancy.context import tenant_context

    tenant = bench_tenant()
    with tenant_context(tenant.pk):
        subscription_current()
        # Pro has hard limits (far above what this uses), so every request takes the full
        # path: check the month's counter against the limit, then count.
        subscription_change_plan(plan_code="pro")
        raw_key = api_key_create(name="bench billing", scopes=["read"],
                                 created_by_id=None).raw_key
        items_upsert(rows=[{"external_id": f"book-{n}", "title": f"Book {n}"}
                           for n in range(200)])
        events_ingest(rows=[{"event_id": f"bench-{n}", "user": f"reader-{n % 50}",
                             "item": f"book-{(n * 7) % 200}", "kind": "view"}
                            for n in range(1_000)])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def per_request_ms(path: str, enabled: bool) -> float:
        with override_settings(BILLING_METERING_ENABLED=enabled,
                               API_DEFAULT_RATE_LIMIT_PER_MINUTE=10**9):
            started = time.perf_counter()
            for _ in range(REQUESTS_PER_ROUND):
                response = client.get(path)
                assert response.status_code == 200, response.content
            return (time.perf_counter() - started) * 1000 / REQUESTS_PER_ROUND

    def compare(path: str) -> tuple[float, float]:
        per_request_ms(path, True)  # warm up both paths (connections, scripts, plan cache)
        per_request_ms(path, False)
        on, off = [], []
        for round_number in range(ROUNDS):  # interleaved, alternating which goes first
            first, second = (True, False) if round_number % 2 == 0 else (False, True)
            for enabled in (first, second):
                (on if enabled else off).append(per_request_ms(path, enabled))
        return statistics.median(on), statistics.median(off)

    recs_on, recs_off = compare("/api/v1/recommendations/users/cold-reader?k=10")
    print(f"GET /api/v1/recommendations/users/…: {recs_on:.3f} ms metered, {recs_off:.3f} ms "
          "not metered", flush=True)
    record("billing.recs_metering_overhead_ratio", recs_on / recs_off, "x", baseline=recs_off,
           ratio=recs_on / recs_off)
    on_ms, off_ms = compare("/api/v1/me")

    with tenant_context(tenant.pk):
        started = time.perf_counter()
        for _ in range(CONSUME_CALLS):
            meter_consume(meter=Meter.CHAT_MESSAGES)
        consume_us = (time.perf_counter() - started) * 1e6 / CONSUME_CALLS
    redis = redis_client()
    started = time.perf_counter()
    for _ in range(CONSUME_CALLS):
        redis.ping()
    ping_us = (time.perf_counter() - started) * 1e6 / CONSUME_CALLS
    started = time.perf_counter()
    written = meter_flush(now=time.time() + 600)
    flush_ms = (time.perf_counter() - started) * 1000

    print(f"GET /api/v1/me: {on_ms:.3f} ms metered, {off_ms:.3f} ms not metered "
          f"(median of {ROUNDS} interleaved rounds of {REQUESTS_PER_ROUND}); meter_consume "
          f"{consume_us:.0f} µs (a Redis PING: {ping_us:.0f} µs); flush of {written} records "
          f"{flush_ms:.1f} ms")
    record("billing.metering_overhead_ratio", on_ms / off_ms, "x", baseline=off_ms,
           ratio=on_ms / off_ms)
    record("billing.metered_request_ms", on_ms, "ms", baseline=off_ms, ratio=on_ms / off_ms)
    record("billing.metering_overhead_ms", on_ms - off_ms, "ms", baseline=off_ms)
    record("billing.meter_consume_us", consume_us, "us", baseline=ping_us,
           ratio=consume_us / ping_us)


if __name__ == "__main__":
    main()

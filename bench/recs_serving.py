"""Recommendation ingestion and serving on the embedded PostgreSQL (``.data/bench``).

1. Events per second through the API (``POST /api/v1/events``, batches of 1,000) against
   the same rows written by per-row ORM saves in one transaction.
2. Serving latency (p50/p95 over the API, in-process client) of the three paths with a large
   catalogue: precomputed lists, content-based (pgvector HNSW over random unit vectors) and
   cold users (popularity).

    python bench/recs_serving.py                       # 100,000 items, 10,000 users
    python bench/recs_serving.py --items 20000 --users 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402
from django_setup import bench_tenant, setup  # noqa: E402

setup()

from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.services import api_key_create  # noqa: E402
from apps.recommendation import services  # noqa: E402
from apps.recommendation.models import EndUser, Interaction, Item  # noqa: E402
from jobs.models import Job  # noqa: E402
from tenancy.context import tenant_context  # noqa: E402

BATCH = 1_000
K = 10
REQUESTS = 200


def _client(tenant_id: int) -> Client:
    with tenant_context(tenant_id):
        raw = api_key_create(name=f"bench {uuid.uuid4().hex[:6]}", scopes=["read", "write"],
                             created_by_id=None).raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _catalogue(tenant_id: int, items: int, users: int, tag: str) -> None:
    rng = np.random.default_rng(0)
    with tenant_context(tenant_id):
        for start in range(0, items, 5_000):
            services.items_upsert(rows=[
                {"external_id": f"{tag}-i{n}", "title": f"Item {n}",
                 "categories": [f"c{n % 50}"]} for n in range(start, min(start + 5_000, items))],
                max_rows=None)
        ids = list(Item.objects.filter(external_id__startswith=f"{tag}-i")
                   .order_by("id").values_list("id", flat=True))
        for start in range(0, len(ids), 5_000):
            chunk = ids[start:start + 5_000]
            vectors = rng.standard_normal((len(chunk), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            services.item_embeddings_record(ids=chunk, vectors=vectors.tolist(),
                                            embedded_at=timezone.now())
        services.item_popularity_record(popularity={
            item_id: float(rng.random()) for item_id in ids[:5_000]})
        for start in range(0, users, 1_000):
            services.events_ingest(rows=[
                {"event_id": f"{tag}-u{u}-{j}", "user": f"{tag}-u{u}",
                 "item": f"{tag}-i{int(rng.integers(items))}", "kind": "view"}
                for u in range(start, min(start + 1_000, users)) for j in range(5)],
                max_rows=None)
        # Half the users get precomputed lists (as a recommend job writes them).
        job = Job.objects.create(app="recommendation", kind="recommend",
                                 status=Job.Status.SUCCEEDED, params={"k": 20})
        user_ids = list(EndUser.objects.filter(external_id__startswith=f"{tag}-u")
                        .order_by("id").values_list("id", flat=True))[: users // 2]
        services.recommendations_record(job=job, version=None, rows=(
            services.RecommendationRow(user_id=user_id, item_id=ids[int(item)], rank=rank,
                                       score=1.0 / rank, reason="bench")
            for user_id in user_ids
            for rank, item in enumerate(rng.choice(len(ids), 20, replace=False), start=1)))


def _latency(client: Client, users: list[str]) -> tuple[float, float]:
    timings = []
    for user in users:
        started = time.perf_counter()
        response = client.get(f"/api/v1/recommendations/users/{user}", {"k": K})
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
        assert len(response.json()["items"]) == K
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def ingestion(tenant_id: int, count: int) -> None:
    tag = uuid.uuid4().hex[:8]
    with tenant_context(tenant_id):
        services.items_upsert(rows=[{"external_id": f"{tag}-i{n}", "title": f"Item {n}"}
                                    for n in range(1_000)])
    client = _client(tenant_id)
    rows = [{"event_id": f"{tag}-api-{n}", "user": f"{tag}-u{n % 500}",
             "item": f"{tag}-i{n % 1_000}", "kind": "click"} for n in range(count)]
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        response = client.post("/api/v1/events", {"events": rows[start:start + BATCH]},
                               content_type="application/json")
        assert response.status_code == 201, response.content
    api_rate = count / (time.perf_counter() - started)

    with tenant_context(tenant_id):
        users = dict(EndUser.objects.filter(external_id__startswith=f"{tag}-u")
                     .values_list("external_id", "id"))
        items = dict(Item.objects.filter(external_id__startswith=f"{tag}-i")
                     .values_list("external_id", "id"))
        now = timezone.now()
        started = time.perf_counter()
        with transaction.atomic():
            for n, row in enumerate(rows):
                Interaction(event_id=f"{tag}-orm-{n}", user_id=users[row["user"]],
                            item_id=items[row["item"]], kind="click", occurred_at=now).save()
        orm_rate = count / (time.perf_counter() - started)
    record("recs.events_per_second_api", api_rate, "events/s", baseline=orm_rate,
           ratio=api_rate / orm_rate)


def serving(tenant_id: int, items: int, users: int) -> None:
    tag = f"serve{items}x{users}"
    with tenant_context(tenant_id):
        ready = Item.objects.filter(external_id=f"{tag}-i{items - 1}").exists()
    if not ready:
        started = time.perf_counter()
        _catalogue(tenant_id, items, users, tag)
        print(f"catalogue of {items} items and {users} users in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    client = _client(tenant_id)
    rng = np.random.default_rng(1)
    picks = rng.choice(users // 2, REQUESTS, replace=False)
    paths: dict[str, list[str]] = {
        "precomputed": [f"{tag}-u{u}" for u in picks],
        "content": [f"{tag}-u{users // 2 + u}" for u in picks],
        "cold": [f"{tag}-nobody-{u}" for u in picks],
    }
    for name, path_users in paths.items():
        _latency(client, path_users[:10])  # warm-up
        p50, p95 = _latency(client, path_users)
        record(f"recs.serve_{name}_p50_ms", p50, "ms")
        record(f"recs.serve_{name}_p95_ms", p95, "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    tenant = bench_tenant()
    ingestion(tenant.pk, args.events)
    serving(tenant.pk, args.items, args.users)


if __name__ == "__main__":
    main()

"""Recommendation ingestion and serving on the embedded PostgreSQL (``.data/bench``).

1. Events per second through the API (``POST /api/v1/events``, batches of 1,000) against
   the same rows written by per-row ORM saves in one transaction.
2. Serving latency (p50/p95 over the API, in-process client, one request after another) of
   the three paths with a large catalogue: precomputed lists, content-based (pgvector HNSW
   over the items' embeddings) and cold users (popularity); every list must come wholly from
   the path it is timed for. Also the content path filtered to a category (one item in
   fifty), the user's favourite or another, the content query through the index against the
   exact search over the same rows (and the index's recall@10), and the product's embedding
   writes with the index in place. Embeddings cluster by category and users view items of
   one favourite category, as text embeddings and tastes do (see ``CENTROIDS``).

The catalogue is built once and kept in the bench database (a recommend job tagged with its
size marks it complete). It is written through the app's services; the one bench-only step
is the shared HNSW index, dropped while the items are written and built again afterwards
(pgvector's advice for a bulk load; production never drops it). Figures go to
``bench/results.json`` only at the default size.

    python bench/recs_serving.py                       # 100,000 items, 10,000 users
    python bench/recs_serving.py --items 20000 --users 2000 --events 0
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402
from django_setup import bench_tenant, setup  # noqa: E402

setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import F, Value  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from pgvector.django import CosineDistance, HnswIndex  # noqa: E402

from accounts.services import api_key_create  # noqa: E402
from apps.recommendation import selectors, services  # noqa: E402
from apps.recommendation.models import (  # noqa: E402
    EMBEDDING_DIMENSIONS,
    EndUser,
    Interaction,
    Item,
    Recommendation,
)
from jobs.models import Job  # noqa: E402
from tenancy.context import tenant_context  # noqa: E402

BATCH = 1_000
K = 10
REQUESTS = 200
ISSUE_ITEMS = 100_000
ISSUE_USERS = 10_000
ISSUE_EVENTS = 20_000
CATEGORIES = 50
EMBEDDING_WRITES = 2_000
EMBEDDING_INDEX = "recs_item_embedding_hnsw"


def _client(tenant_id: int) -> Client:
    """A client with its own key, rate-limited far above what the bench sends (the default
    600 a minute would answer 429 once serving is fast)."""
    with tenant_context(tenant_id):
        raw = api_key_create(name=f"bench {uuid.uuid4().hex[:6]}", scopes=["read", "write"],
                             created_by_id=None, rate_limit_per_minute=1_000_000).raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@contextmanager
def _embedding_index_built_after() -> Iterator[None]:
    """Bench-only load step: without the HNSW index while the one-off catalogue's embeddings
    are written, then the index built again from the model's own definition (pgvector's advice
    for a bulk load). Production never drops it: the index is shared by every tenant. The
    graph of 100,000 vectors of 384 dimensions takes about 200 MB: with the default
    ``maintenance_work_mem`` (64 MB) the build would spill to the slow on-disk path."""
    index = next(index for index in Item._meta.indexes if isinstance(index, HnswIndex))
    with connection.schema_editor() as editor:
        editor.remove_index(Item, index)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '1GB'")
        with connection.schema_editor() as editor:
            editor.add_index(Item, index)
        with connection.cursor() as cursor:
            cursor.execute("RESET maintenance_work_mem")


def _embedding_index_present() -> None:
    """A load interrupted before the index was built again leaves it missing: build it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [EMBEDDING_INDEX])
        if cursor.fetchone() is not None:
            return
    print("the embedding index is missing (an interrupted load): building it", flush=True)
    with _embedding_index_built_after():
        pass


def _catalogue(tenant_id: int, items: int, users: int, tag: str) -> dict[str, float]:
    """The serving catalogue, written through the app's services (the API's and the worker's
    write paths); only the HNSW index is handled by a bench-only step around the item writes.
    Returns seconds per step."""
    rng = np.random.default_rng(0)
    steps: dict[str, float] = {}
    with tenant_context(tenant_id):
        started = time.perf_counter()
        with _embedding_index_built_after():
            for start in range(0, items, 5_000):
                services.items_upsert(rows=[
                    {"external_id": f"{tag}-i{n}", "title": f"Item {n}",
                     "categories": [f"c{n % CATEGORIES}"]}
                    for n in range(start, min(start + 5_000, items))], max_rows=None)
            rows = list(Item.objects.filter(external_id__startswith=f"{tag}-i")
                        .order_by("id").values_list("id", "external_id"))
            ids = [item_id for item_id, _ in rows]
            for start in range(0, len(rows), 5_000):
                chunk = rows[start:start + 5_000]
                services.item_embeddings_record(
                    ids=[item_id for item_id, _ in chunk],
                    vectors=_item_vectors(rng, [_number(key) for _, key in chunk]),
                    embedded_at=timezone.now())
            services.item_popularity_record(popularity={
                item_id: float(rng.random()) for item_id in ids[:5_000]})
            steps["items, embeddings, popularity"] = time.perf_counter() - started
        steps["index"] = time.perf_counter() - started - steps["items, embeddings, popularity"]
        started = time.perf_counter()
        # Five views each, in the user's favourite category (user u's is u % 50).
        per_category = items // CATEGORIES
        for start in range(0, users, 1_000):
            services.events_ingest(rows=[
                {"event_id": f"{tag}-u{u}-{j}", "user": f"{tag}-u{u}", "kind": "view",
                 "item": f"{tag}-i{u % CATEGORIES + CATEGORIES * int(rng.integers(per_category))}"}
                for u in range(start, min(start + 1_000, users)) for j in range(5)],
                max_rows=None)
        # Half the users get precomputed lists (as a recommend job writes them); the job is
        # written last and marks the catalogue complete.
        job = Job.objects.create(app="recommendation", kind="recommend",
                                 status=Job.Status.SUCCEEDED, params={"k": 20, "bench": tag})
        user_ids = list(EndUser.objects.filter(external_id__startswith=f"{tag}-u")
                        .order_by("id").values_list("id", flat=True))[: users // 2]
        services.recommendations_record(job=job, version=None, rows=(
            services.RecommendationRow(user_id=user_id, item_id=ids[int(item)], rank=rank,
                                       score=1.0 / rank, reason="bench")
            for user_id in user_ids
            for rank, item in enumerate(rng.choice(len(ids), 20, replace=False), start=1)))
        steps["events and lists"] = time.perf_counter() - started
    # Fresh statistics, as autovacuum would gather them a little later.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for model in (Item, EndUser, Interaction, Recommendation):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    steps["analyze"] = time.perf_counter() - started
    return steps


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


# One random direction per category: an item's embedding lies around its category's
# (cosine about 0.6 between two items of a category, about 0 across), as text embeddings of
# a catalogue cluster by topic. Independent random vectors would have no neighbourhoods: every
# item about as far as any other (cosine 0 +/- 0.05), where no index finds the nearest.
CENTROIDS = _unit(np.random.default_rng(7).standard_normal((CATEGORIES, EMBEDDING_DIMENSIONS)))


def _item_vectors(rng: np.random.Generator, numbers: Sequence[int]) -> list[list[float]]:
    """Embeddings of the items numbered ``numbers`` (item n is in category n % 50)."""
    noise = _unit(rng.standard_normal((len(numbers), EMBEDDING_DIMENSIONS)))
    centroids = CENTROIDS[[number % CATEGORIES for number in numbers]]
    return _unit(centroids + 0.8 * noise).astype(np.float32).tolist()


def _number(external_id: str) -> int:
    return int(external_id.rsplit("-i", 1)[1])


def _user_number(external_id: str) -> int:
    return int(external_id.rsplit("-u", 1)[1])


def _catalogue_ready(tenant_id: int, tag: str) -> bool:
    with tenant_context(tenant_id):
        return Job.objects.filter(app="recommendation", params__bench=tag).exists()


def _indexed_embedding_writes(tenant_id: int, tag: str, count: int) -> float:
    """Rows per second of the product's path (``item_embeddings_record``) re-embedding
    ``count`` items of the catalogue with the shared HNSW index in place."""
    rng = np.random.default_rng()
    with tenant_context(tenant_id):
        rows = list(Item.objects.filter(external_id__startswith=f"{tag}-i")
                    .order_by("-id").values_list("id", "external_id")[:count])
        ids = [item_id for item_id, _ in rows]
        vectors = _item_vectors(rng, [_number(key) for _, key in rows])
        started = time.perf_counter()
        for start in range(0, len(ids), 500):
            services.item_embeddings_record(ids=ids[start:start + 500],
                                            vectors=vectors[start:start + 500],
                                            embedded_at=timezone.now())
        return len(ids) / (time.perf_counter() - started)


def _latency(client: Client, requests: Sequence[tuple[str, dict[str, str]]], source: str
             ) -> tuple[float, float]:
    """p50 and p95 of serving ``requests`` (a user and the query's filters) one after
    another; every list must be ``K`` items from ``source``, so that each figure is the path
    it names."""
    timings = []
    for user, query in requests:
        started = time.perf_counter()
        response = client.get(f"/api/v1/recommendations/users/{user}", {"k": K, **query})
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
        served = response.json()["items"]
        assert len(served) == K, served
        assert {row["source"] for row in served} == {source}, served
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def _index_against_exact(tenant_id: int, users: list[str]) -> tuple[float, float, float]:
    """The content path's nearest-item query (the user's profile, consumed items left out)
    through the HNSW index and as the exact search over the same rows (a sequential scan and
    a sort): median milliseconds of each, and the index's recall of the exact top ``K``."""
    index_ms, exact_ms, recalls = [], [], []
    with tenant_context(tenant_id):
        for external_id in users:
            user = EndUser.objects.get(external_id=external_id)
            profile, _ = selectors._profile(user)
            assert profile is not None
            candidates = (Item.objects.defer("embedding").filter(available=True)
                          .exclude(pk__in=selectors.consumed_item_ids(user))
                          .exclude(embedding=None)
                          .annotate(distance=CosineDistance("embedding", profile.tolist())))
            started = time.perf_counter()
            by_index = [item.pk for item in candidates.order_by("distance")[:K]]
            index_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            exact = [item.pk for item in
                     candidates.order_by(F("distance") + Value(0.0))[:K]]
            exact_ms.append((time.perf_counter() - started) * 1000)
            recalls.append(len(set(by_index) & set(exact)) / K)
    return statistics.median(index_ms), statistics.median(exact_ms), statistics.mean(recalls)


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
    _figure(count == ISSUE_EVENTS)("recs.events_per_second_api", api_rate, "events/s",
                                   baseline=orm_rate, ratio=api_rate / orm_rate)


def _figure(recorded: bool) -> Callable[..., object]:
    """``record`` at the issue's scale; elsewhere the figure is only printed, so a smaller
    run never stands in for it in ``bench/results.json``."""
    if recorded:
        return record

    def show(name: str, value: float, unit: str, baseline: float | None = None,
             ratio: float | None = None) -> None:
        extra = "" if baseline is None else f" | baseline {baseline:.4g} | ratio {ratio:.3g}"
        print(f"{name}: {value:.4g} {unit}{extra} (not recorded: not the default size)",
              flush=True)

    return show


def serving(tenant_id: int, items: int, users: int) -> None:
    tag = f"serve{items}x{users}t{CATEGORIES}"
    figure = _figure((items, users) == (ISSUE_ITEMS, ISSUE_USERS))
    _embedding_index_present()
    if not _catalogue_ready(tenant_id, tag):
        started = time.perf_counter()
        steps = _catalogue(tenant_id, items, users, tag)
        seconds = time.perf_counter() - started
        print(f"catalogue of {items:,} items and {users:,} users in {seconds:.0f} s ("
              + ", ".join(f"{name} {value:.0f} s" for name, value in steps.items()) + ")",
              flush=True)
        figure("recs.catalogue_load_seconds", seconds, "s")
        figure("recs.catalogue_index_build_seconds", steps["index"], "s")
    writes = _indexed_embedding_writes(tenant_id, tag, EMBEDDING_WRITES)
    figure("recs.embedding_writes_per_second_indexed", writes, "rows/s")
    client = _client(tenant_id)
    with tenant_context(tenant_id):
        # The first half by id got precomputed lists (ids follow the events' batches, whose
        # new users are created in the order of their external ids as strings).
        ordered = list(EndUser.objects.filter(external_id__startswith=f"{tag}-u")
                       .order_by("id").values_list("external_id", flat=True))
    rng = np.random.default_rng(1)
    picks = rng.choice(users // 2, REQUESTS, replace=False)
    content_users = [ordered[users // 2 + u] for u in picks]
    paths: dict[str, tuple[list[str], str]] = {
        "precomputed": ([ordered[u] for u in picks], "precomputed"),
        "content": (content_users, "content"),
        "cold": ([f"{tag}-nobody-{u}" for u in picks], "popular"),
    }
    for name, (path_users, source) in paths.items():
        requests = [(user, {}) for user in path_users]
        _latency(client, requests[:10], source)  # warm-up
        p50, p95 = _latency(client, requests, source)
        figure(f"recs.serve_{name}_p50_ms", p50, "ms")
        figure(f"recs.serve_{name}_p95_ms", p95, "ms")
    # The content path filtered to a category (one item in fifty): the user's favourite one,
    # around the profile, where the index's first candidates suffice; and another one, far
    # from the profile: the index's candidates hold none of it, so the selector widens the
    # scan and then searches exactly (see selectors._nearest).
    for name, offset in (("own_category", 0), ("other_category", 1)):
        p50, p95 = _latency(client, [
            (user, {"category": f"c{(_user_number(user) + offset) % CATEGORIES}"})
            for user in content_users[:50]], "content")
        figure(f"recs.serve_content_{name}_p50_ms", p50, "ms")
        figure(f"recs.serve_content_{name}_p95_ms", p95, "ms")
    index_ms, exact_ms, recall = _index_against_exact(tenant_id, content_users[:30])
    figure("recs.content_query_index_ms", index_ms, "ms", baseline=exact_ms,
           ratio=exact_ms / index_ms)
    figure("recs.content_query_index_recall10", recall, "fraction")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=ISSUE_ITEMS)
    parser.add_argument("--users", type=int, default=ISSUE_USERS)
    parser.add_argument("--events", type=int, default=ISSUE_EVENTS,
                        help="0 skips the ingestion part")
    args = parser.parse_args()
    tenant = bench_tenant()
    if args.events:
        ingestion(tenant.pk, args.events)
    serving(tenant.pk, args.items, args.users)


if __name__ == "__main__":
    main()

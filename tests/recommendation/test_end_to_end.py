"""End to end through a real Celery worker on the embedded Redis and PostgreSQL: items and
events posted to the API → item embeddings (a tiny random 384-wide BERT) → training with its
holdout evaluation → the top-K job it triggers → served lists with reasons; new and cold users
take the fallbacks."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from apps.recommendation.models import Interaction, Item, Recommendation
from jobs.models import Job, ModelVersion
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, WorkerFactory, wait_until
from tests.recommendation.conftest import TINY_384_NAME, item_row

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GENRES = ("space", "love", "crime")
K = 5


def _finished(setup: TenantSetup, kind: str) -> Job | None:
    with tenant_context(setup.tenant.pk):
        job = Job.objects.filter(kind=kind).order_by("-id").first()
    return job if job is not None and job.is_finished else None


def test_ingest_embed_train_recommend_serve(acme: TenantSetup, tiny_base_384: Path,
                                            tmp_path: Path, workers: WorkerFactory,
                                            settings: Any) -> None:
    settings.BASE_MODELS = {TINY_384_NAME: str(tiny_base_384)}
    workers.start(BASE_MODELS=json.dumps({TINY_384_NAME: str(tiny_base_384)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"), HF_HUB_OFFLINE="1",
                  MEDIA_ROOT=str(settings.MEDIA_ROOT))
    api = acme.api()
    items = [item_row(f"{genre}-{n}", f"{genre.title()} story {n}", [genre])
             for genre in GENRES for n in range(10)]
    assert api.post("/api/v1/items", {"items": items}, format="json").status_code == 200
    rng = random.Random(0)
    events = []
    for user in range(45):
        genre = GENRES[user % 3]
        for n in rng.sample(range(10), 7):
            events.append({"event_id": f"{user}-{n}", "user": f"user-{user}",
                           "item": f"{genre}-{n}", "kind": "rating",
                           "value": rng.choice([4, 5])})
        events.append({"event_id": f"{user}-x", "user": f"user-{user}",
                       "item": f"{GENRES[(user + 1) % 3]}-0", "kind": "view"})
        events.append({"event_id": f"{user}-y", "user": f"user-{user}", "item": "crime-9",
                       "kind": "view"})
        events.append({"event_id": f"{user}-z", "user": f"user-{user}", "item": "love-9",
                       "kind": "view"})
    assert api.post("/api/v1/events", {"events": events},
                    format="json").json()["created"] == len(events)

    # One request: the embedding job submits the training job, whose promoted version
    # submits the top-K job.
    embed = api.post("/api/v1/jobs", {"app": "recommendation", "kind": "embed_items", "params": {
        "base_model": TINY_384_NAME, "then_train": {
            "factors": 8, "iterations": 10, "recommend_k": K, "content_weight": 0.2}}},
        format="json")
    assert embed.status_code == 201, embed.json()
    bad = api.post("/api/v1/jobs", {"app": "recommendation", "kind": "embed_items",
                                    "params": {"then_train": {"factors": 0}}}, format="json")
    assert bad.status_code == 400
    assert "factors" in str(bad.json()["error"]["fields"]["params.then_train"])

    embedded = wait_until("the embeddings", lambda: _finished(acme, "embed_items"))
    assert embedded.status == "succeeded", embedded.error
    assert embedded.metrics["follow_up_job"] is not None
    trained = wait_until("the training", lambda: _finished(acme, "train"))
    assert trained.pk == embedded.metrics["follow_up_job"]
    assert trained.status == "succeeded", trained.error
    metrics = trained.metrics
    assert metrics["promoted"] is True
    assert metrics["ndcg_at_10"] > metrics["popularity"]["ndcg_at_10"]
    assert metrics["ndcg_ratio_vs_popularity"] > 1
    assert {"recall_at_10", "coverage", "plain_als", "train_seconds"} <= set(metrics)
    # The learned ranker was trained on a validation split and judged against the blend;
    # its feature importances are on the version page.
    ranker = metrics["ranker"]
    assert set(ranker["importances"]) == set(ranker["features"])
    assert ranker["serving"] == (ranker["validation"]["ranker_ndcg_at_10"]
                                 > ranker["validation"]["blend_ndcg_at_10"])
    assert metrics["blend"]["ndcg_at_10"] > 0
    recommended = wait_until("the top-K job", lambda: _finished(acme, "recommend"))
    assert recommended.status == "succeeded", recommended.error

    with tenant_context(acme.tenant.pk):
        assert Item.objects.filter(embedding__isnull=True).count() == 0
        version = ModelVersion.objects.get(app="recommendation")
        assert version.status == "active"
        assert version.metrics["ndcg_at_10"] > 0
        assert recommended.model_version_id == version.pk
        rows = list(Recommendation.objects.filter(job=recommended)
                    .select_related("user", "item"))
        assert len(rows) == 45 * K
        consumed = set(Interaction.objects.values_list("user_id", "item_id"))
        assert not {(row.user_id, row.item_id) for row in rows} & consumed
        assert all(row.reason.startswith(("Because you liked “", "Popular")) for row in rows)
        # Each user has 3 unread items of their genre among 20 unread: a random list would hold
        # 15% of them; the model learnt the taste.
        own = [row for row in rows
               if row.item.categories[0] == GENRES[int(row.user.external_id[5:]) % 3]]
        assert len(own) / len(rows) > 0.4
        assert sum(row.rank == 1 for row in own) / 45 > 0.6
        popular = list(Item.objects.order_by("-popularity").values_list("external_id",
                                                                        flat=True)[:2])
        assert set(popular) == {"crime-9", "love-9"}

    page = acme.browser().get(reverse("jobs:model_detail", args=[version.pk]))
    assert 'data-testid="feature-importances"' in page.content.decode()
    assert "category_match" in page.content.decode()

    served = api.get("/api/v1/recommendations/users/user-0", {"k": K}).json()["items"]
    assert [row["source"] for row in served] == ["precomputed"] * K
    assert all(row["item"].startswith("space-") or row["reason"] for row in served)
    api.post("/api/v1/events", {"events": [{"event_id": "new-1", "user": "newcomer",
                                            "item": "love-3", "kind": "purchase"}]},
             format="json")
    newcomer = api.get("/api/v1/recommendations/users/newcomer", {"k": 3}).json()["items"]
    assert newcomer[0]["source"] == "content"
    assert "love-3" not in [row["item"] for row in newcomer]
    cold = api.get("/api/v1/recommendations/users/stranger", {"k": 2}).json()["items"]
    assert [row["item"] for row in cold] == popular

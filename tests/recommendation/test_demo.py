"""The demo seed: goodbooks books as items, ratings as events, training queued; once only."""

from __future__ import annotations

from apps.recommendation import demo
from apps.recommendation.models import EndUser, Interaction, Item
from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup


def test_demo_seed_loads_goodbooks_once_and_queues_training(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        created = demo.seed(books=150)
        items, events = Item.objects.count(), Interaction.objects.count()
        assert items == 150
        assert created == items + events
        assert events > 1_000
        assert EndUser.objects.filter(is_stub=True).count() == EndUser.objects.count() > 100
        rating = Interaction.objects.select_related("item").first()
        assert rating is not None
        assert rating.kind == "rating"
        assert 1 <= rating.value <= 5
        assert rating.item.title
        assert rating.item.categories
        # Training follows the embeddings (the embedding job submits it when done).
        [job] = Job.objects.all()
        assert job.kind == "embed_items"
        assert job.params["then_train"]["recommend_k"] == 20
        assert demo.seed(books=150) == 0
        assert Item.objects.count() == 150

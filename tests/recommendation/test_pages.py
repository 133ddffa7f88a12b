"""Dashboard pages: overview with the metrics chart and click-through, the catalogue and an
item's similar items, the preview of a user's recommendations, and training by role."""

from __future__ import annotations

from django.urls import reverse

from jobs.models import Job, ModelVersion
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup
from tests.recommendation.conftest import (
    add_events,
    add_items,
    item_row,
    precompute,
    set_embeddings,
)


def test_overview_draws_the_active_models_metrics_against_the_baselines(
        acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        ModelVersion.objects.create(
            app="recommendation", version=1, base_model="als", method="hybrid",
            status=ModelVersion.Status.ACTIVE, artifact="x.zip", metrics={
                "ndcg_at_10": 0.317, "recall_at_10": 0.28, "coverage": 0.25,
                "plain_als": {"ndcg_at_10": 0.274, "recall_at_10": 0.23, "coverage": 0.09},
                "popularity": {"ndcg_at_10": 0.093, "recall_at_10": 0.08, "coverage": 0.004},
                "ndcg_ratio_vs_popularity": 3.41, "split": "fixed-seed random positives "
                "per user", "users": 2671, "train_seconds": 7.2})
    page = acme.browser().get(reverse("recs:overview"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert "NDCG@10" in html
    assert "0.317" in html
    assert "0.093" in html
    assert "0.274" in html
    assert "3.41× popularity" in html
    # The platform's model page renders a recommender version (its ranking metrics are on
    # this overview; that page shows classifier metrics).
    with tenant_context(acme.tenant.pk):
        version = ModelVersion.objects.get(app="recommendation")
    assert acme.browser().get(reverse("jobs:model_detail",
                                      args=[version.pk])).status_code == 200


def test_catalogue_item_and_preview(acme: TenantSetup) -> None:
    items = add_items(acme, [item_row("b1", "Dune", ["science-fiction"]),
                             item_row("b2", "Hyperion", ["science-fiction"]),
                             item_row("b3", "Emma", ["romance"])])
    set_embeddings(acme, {"b1": [1, 0], "b2": [0.9, 0.1], "b3": [0, 1]})
    add_events(acme, [("reader", "b1", "purchase")])
    precompute(acme, {"reader": ["b2"]})
    browser = acme.browser()
    catalogue = browser.get(reverse("recs:catalogue"), {"category": "romance"}).content.decode()
    assert "Emma" in catalogue
    assert "Dune" not in catalogue
    item = browser.get(reverse("recs:item", args=[items["b1"].pk])).content.decode()
    assert item.index("Hyperion") < item.index("Emma")
    preview = browser.get(reverse("recs:preview"), {"user": "reader"}).content.decode()
    assert "Hyperion" in preview
    assert "Because you liked" in preview
    assert "precomputed" in preview


def test_members_train_and_viewers_cannot(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1")])
    add_events(acme, [("reader", "b1", "purchase")])  # without events training is refused
    viewer = acme.browser()
    viewer.force_login(acme.add_member(Role.VIEWER).user)
    assert viewer.post(reverse("recs:train")).status_code == 403
    with tenant_context(acme.tenant.pk):
        assert not Job.objects.exists()
    response = acme.browser().post(reverse("recs:train"))
    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        [job] = Job.objects.all()
        assert job.kind == "embed_items"
        assert job.params["then_train"]["factors"] == 128

"""Another tenant's credentials against every recommendation endpoint and page: reads,
changes and deletions of acme's items, users and pages answer 404 (or serve only the caller's
own catalogue), and nothing of acme's changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.recommendation.models import EndUser, Impression, Interaction, Item
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import (
    add_events,
    add_items,
    item_row,
    precompute,
    set_embeddings,
)


@pytest.fixture
def acme_data(acme: TenantSetup) -> dict[str, Item]:
    items = add_items(acme, [item_row("secret-1", "Acme secret"), item_row("secret-2")])
    set_embeddings(acme, {"secret-1": [1, 0], "secret-2": [1, 0.1]})
    add_events(acme, [("acme-user", "secret-1", "purchase")])
    precompute(acme, {"acme-user": ["secret-2"]})
    return items


def _snapshot(setup: TenantSetup) -> tuple:
    with tenant_context(setup.tenant.pk):
        return (list(Item.objects.order_by("id").values_list("external_id", "title",
                                                             "available")),
                list(EndUser.objects.values_list("external_id", "attributes")),
                Interaction.objects.count(), Impression.objects.count())


def test_api_reads_changes_and_deletes_never_reach_another_tenant(
        acme: TenantSetup, globex: TenantSetup, acme_data: dict[str, Item]) -> None:
    before = _snapshot(acme)
    api = globex.api()
    for path in ("/api/v1/items/secret-1", "/api/v1/items/secret-1/similar",
                 "/api/v1/end-users/acme-user"):
        assert api.get(path).status_code == 404, path
    assert api.delete("/api/v1/items/secret-1").status_code == 404
    assert api.delete("/api/v1/end-users/acme-user").status_code == 404
    assert api.get("/api/v1/items").json()["results"] == []
    assert api.get("/api/v1/end-users").json()["results"] == []
    # An events batch naming acme's item is refused: the item is unknown to globex.
    refused = api.post("/api/v1/events", {"events": [
        {"event_id": "x1", "user": "acme-user", "item": "secret-1", "kind": "click"}]},
        format="json")
    assert refused.status_code == 400
    # Upserting the same external ids creates globex's own rows, leaving acme's alone.
    api.post("/api/v1/items", {"items": [item_row("secret-1", "Globex's own")]}, format="json")
    api.post("/api/v1/end-users", {"users": [{"external_id": "acme-user",
                                              "attributes": {"x": 1}}]}, format="json")
    # Serving acme's user id on globex: a cold globex user, globex's catalogue only.
    served = api.get("/api/v1/recommendations/users/acme-user").json()["items"]
    assert [(row["item"], row["title"]) for row in served] == [("secret-1", "Globex's own")]
    rerank = api.post("/api/v1/recommendations/rerank",
                      {"user": "acme-user", "items": ["secret-2"]}, format="json")
    assert rerank.status_code == 400
    assert all(day["impressions"] == 0
               for day in acme.api().get("/api/v1/recommendations/ctr").json())
    assert _snapshot(acme) == before
    assert acme.api().get("/api/v1/items/secret-1").json()["title"] == "Acme secret"


def test_pages_answer_404_for_another_tenants_item(
        acme: TenantSetup, globex: TenantSetup, acme_data: dict[str, Item]) -> None:
    browser = globex.browser()
    item = acme_data["secret-1"]
    assert browser.get(reverse("recs:item", args=[item.pk])).status_code == 404
    catalogue = browser.get(reverse("recs:catalogue"))
    assert catalogue.status_code == 200
    assert b"Acme secret" not in catalogue.content
    preview = browser.get(reverse("recs:preview"), {"user": "acme-user"})
    assert preview.status_code == 200
    assert b"Acme secret" not in preview.content
    assert b"secret-2" not in preview.content
    assert b"unknown user" in preview.content
    overview = browser.get(reverse("recs:overview"))
    assert overview.status_code == 200
    assert acme.browser().get(reverse("recs:item", args=[item.pk])).status_code == 200

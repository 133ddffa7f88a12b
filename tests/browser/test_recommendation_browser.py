"""In a real browser: the recommendation preview of a user (precomputed titles, scores and
reasons), then a cold user's popular fallback, and an item's similar items."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.recommendation.services import item_popularity_record
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import (
    add_events,
    add_items,
    item_row,
    precompute,
    set_embeddings,
)

SCREENSHOT = "/tmp/recommendation-preview.png"  # noqa: S108  (a fixed path, to look at)


@pytest.mark.browser
def test_preview_a_users_recommendations(transactional_db: None, live_server,
                                         acme: TenantSetup, password: str, page) -> None:
    items = add_items(acme, [item_row("b1", "Dune", ["science-fiction"]),
                             item_row("b2", "Hyperion", ["science-fiction"]),
                             item_row("b3", "Emma", ["romance"])])
    set_embeddings(acme, {"b1": [1, 0], "b2": [0.9, 0.1], "b3": [0, 1]})
    with tenant_context(acme.tenant.pk):
        item_popularity_record(popularity={items["b3"].pk: 2.0, items["b1"].pk: 1.0})
    add_events(acme, [("reader-7", "b1", "purchase")])
    precompute(acme, {"reader-7": ["b2"]})

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))

    page.get_by_role("link", name="Recommendations", exact=True).click()
    page.wait_for_url(live_server.url + reverse("recs:overview"))
    page.get_by_role("link", name="Preview a user").click()
    page.get_by_role("link", name="reader-7").click()
    table = page.get_by_test_id("preview")
    expect(table).to_be_visible()
    first = table.locator("tbody tr").first
    expect(first).to_contain_text("Hyperion")
    expect(first).to_contain_text("Because you liked “reader-7”")
    expect(first).to_contain_text("precomputed")
    expect(first).to_contain_text("1.000")
    # The rest of the list comes from the fallbacks; Dune, already read, is left out.
    assert table.locator("tbody td:nth-child(2)").all_inner_texts() == ["Hyperion", "Emma"]
    expect(table.locator("tbody tr").nth(1)).to_contain_text("Because you liked “Dune”")
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_label("User (external id)").fill("someone-new")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("unknown user: cold start")).to_be_visible()
    expect(page.get_by_test_id("preview").locator("tbody tr").first).to_contain_text("Emma")

    page.get_by_role("link", name="Emma").first.click()
    expect(page.get_by_role("heading", name="Emma")).to_be_visible()
    expect(page.get_by_test_id("similar").locator("tbody tr").first).to_contain_text("Hyperion")

"""In a real browser: start an A/B experiment from its page, read the per-arm table, the
intervals chart and the call once the arms have served and been clicked, stop it and promote
the winner."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.recommendation import services
from apps.recommendation.experiments.models import Experiment
from apps.recommendation.models import Item
from jobs.models import ModelVersion
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row
from tests.recommendation.test_experiments import make_version

SCREENSHOT = "/tmp/recommendation-experiment.png"  # noqa: S108  (a fixed path, to look at)


def _serve_and_click(setup: TenantSetup, experiment: Experiment) -> None:
    """150 lists per arm, as the serving path writes them: 15 clicked in A, 45 in B."""
    with tenant_context(setup.tenant.pk):
        item = Item.objects.get(external_id="b1")
        for arm, clicked in (("a", 15), ("b", 45)):
            for index in range(150):
                user = f"{arm}-{index}"
                list_id = services.impressions_log(
                    user_external_id=user, item_ids=[item.pk], source="precomputed",
                    experiment_id=experiment.pk, arm=arm)
                if index < clicked:
                    services.events_ingest(rows=[{
                        "event_id": f"{user}-click", "user": user, "item": "b1",
                        "kind": "click", "recommendation_id": list_id}])


@pytest.mark.browser
def test_run_an_experiment_from_its_page(transactional_db: None, live_server,
                                         acme: TenantSetup, password: str, page) -> None:
    add_items(acme, [item_row("b1", "Dune")])
    add_events(acme, [("reader", "b1", "view")])
    make_version(acme, 1, active=True)
    make_version(acme, 2)

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))

    page.goto(live_server.url + reverse("recs:overview"))
    page.get_by_role("link", name="Experiments").click()
    page.get_by_label("Name").fill("v2 against v1")
    page.get_by_label("Arm A", exact=True).select_option("1")
    page.get_by_label("Arm B", exact=True).select_option("2")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="v2 against v1")).to_be_visible()
    expect(page.get_by_test_id("call-text")).to_have_text("Not enough data yet")
    expect(page.get_by_text("No lists served in this experiment yet.")).to_be_visible()

    with tenant_context(acme.tenant.pk):
        experiment = Experiment.objects.get()
    _serve_and_click(acme, experiment)
    page.reload()
    expect(page.get_by_test_id("call-text")).to_have_text("B is better, 95% confidence")
    rows = page.get_by_test_id("arms").locator("tbody tr")
    expect(rows.nth(0)).to_contain_text("10.00% (6.15%–15.84%)")
    expect(rows.nth(1)).to_contain_text("30.00%")
    expect(page.get_by_test_id("intervals-chart")).to_be_visible()
    assert page.get_by_test_id("intervals-chart").locator("circle").count() == 4
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_role("button", name="Stop experiment").click()
    expect(page.get_by_test_id("experiment-status")).to_have_text("Stopped")
    page.get_by_role("button", name="Promote arm B (v2)").click()
    expect(page.get_by_text("Arm B's model version is now active")).to_be_visible()
    expect(page.get_by_text("winner: arm B")).to_be_visible()
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.get(status="active").version == 2

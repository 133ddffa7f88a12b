"""In a real browser: the rule editor's "Try it" replays the edited (unsaved) rule over the
tenant's history and shows its firings as a chart and a count; nothing is saved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from apps.finance_sentiment.models import Alert, AlertRule
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import doc, ingest, score, watch
from tests.finance.test_alerts import rule

DRY_RUN_SCREENSHOT = "/tmp/finance-dry-run.png"  # noqa: S108  (a fixed path, to look at)


@pytest.mark.browser
@pytest.mark.slow
def test_try_a_rule_before_saving_it(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page,
) -> None:
    watch(acme, "ACME")
    now = timezone.now()
    for days_ago in (5, 12, 40):  # three bad days; the one 40 days ago only in a 90-day run
        ids = ingest(acme, [doc("ACME", now - timedelta(days=days_ago, minutes=i))
                            for i in range(6)])
        score(acme, dict.fromkeys(ids, "negative"))
    the_rule = rule(acme, threshold=0.9, min_volume=20)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))

    page.goto(live_server.url + reverse("finance:rule_edit", args=[the_rule.pk]))
    page.get_by_label("Threshold").fill("0.5")
    page.get_by_label("Minimum volume").fill("5")
    page.get_by_test_id("dry-run-button").click()
    expect(page.get_by_test_id("dry-run-count")).to_have_text("2")
    chart = page.get_by_test_id("dry-run-chart")
    expect(chart).to_be_visible()
    assert chart.get_attribute("data-firings") == "2"
    assert page.locator("svg.firings-chart rect.firing-bar").count() == 2

    page.get_by_label("Try it over").select_option("90")
    page.get_by_test_id("dry-run-button").click()
    expect(page.get_by_test_id("dry-run-count")).to_have_text("3")
    page.screenshot(path=DRY_RUN_SCREENSHOT, full_page=True)

    page.get_by_label("Topic").select_option("Earnings")  # no document has a topic yet
    page.get_by_test_id("dry-run-button").click()
    expect(page.get_by_test_id("dry-run-count")).to_have_text("0")

    page.get_by_label("Threshold").fill("7")  # not a share
    page.get_by_test_id("dry-run-button").click()
    expect(page.get_by_test_id("dry-run-error")).to_contain_text("threshold")

    assert page.url == live_server.url + reverse("finance:rule_edit", args=[the_rule.pk])
    with tenant_context(acme.tenant.pk):
        kept = AlertRule.objects.get()
        assert (kept.threshold, kept.min_volume, kept.topic) == (0.9, 20, "")
        assert not Alert.objects.exists()
    assert not [error for error in errors if "Content Security Policy" in error]

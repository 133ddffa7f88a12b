"""In a real browser: the usage page shows each meter against the plan and draws the period's
chart with its projection; the billing page switches the plan."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import Meter
from billing.periods import month_bounds
from tests.billing.conftest import record_usage
from tests.conftest import TenantSetup

SCREENSHOT = "/tmp/usage.png"  # noqa: S108  (a fixed path, to look at after a run)


@pytest.mark.browser
def test_usage_page_chart_and_plan_switch(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page
) -> None:
    start, _ = month_bounds()
    days = (timezone.now() - start).days + 1
    for day in range(days):
        record_usage(acme, Meter.ITEMS_INFERRED, 200 + 10 * day, key=f"items:{day}",
                     occurred_at=start + timedelta(days=day, hours=1))
    record_usage(acme, Meter.CHAT_MESSAGES, 850, key="chat", occurred_at=start)

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))

    page.get_by_role("link", name="Usage", exact=True).click()
    page.wait_for_url(live_server.url + reverse("billing:usage"))
    expect(page.get_by_role("heading", name="Usage this period")).to_be_visible()
    chat_row = page.locator('tr[data-meter="chat_messages"]')
    expect(chat_row.get_by_test_id("percent")).to_have_text("85.0%")
    expect(chat_row.locator("progress.usage-bar.is-warning")).to_have_count(1)

    chart = page.get_by_test_id("usage-chart")
    expect(chart).to_have_attribute("data-meter", "items_inferred")
    assert int(chart.get_attribute("data-points") or 0) == days
    assert chart.locator("circle.usage-point").count() == days
    expect(chart.get_by_test_id("usage-limit")).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 500
    if days < 28:  # the projection runs from today to the period's end
        expect(chart.get_by_test_id("usage-projection")).to_have_count(1)
    total = sum(200 + 10 * day for day in range(days))
    expect(page.locator('tr[data-meter="items_inferred"]').get_by_test_id("used")).to_have_text(
        f"{total:,}")
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_role("link", name="Chat messages").click()
    expect(page.get_by_test_id("usage-chart")).to_have_attribute("data-meter", "chat_messages")

    page.get_by_role("link", name="Billing", exact=True).click()
    expect(page.get_by_test_id("current-plan")).to_have_text("Free")
    page.get_by_role("button", name="Switch to Pro").click()
    expect(page.get_by_test_id("plan-price")).to_contain_text("49.00")
    page.get_by_role("button", name=re.compile("Upgrade now for")).click()
    expect(page.get_by_test_id("current-plan")).to_have_text("Pro")
    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page.get_by_role("link", name="Pro")).to_be_visible()

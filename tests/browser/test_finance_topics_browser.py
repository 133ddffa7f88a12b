"""In a real browser: a ticker page draws what its news is about (stories per day stacked by
topic, with a legend and a sentiment-per-topic table), a topic row narrows the trend to that
topic, and the topics tab shows which topics turn negative."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import TenantSetup
from tests.finance.test_topics import seed, watch

TOPIC_MIX_SCREENSHOT = "/tmp/finance-topic-mix.png"  # noqa: S108  (a fixed path, to look at)


@pytest.mark.browser
@pytest.mark.slow
def test_topic_mix_chart_and_topics_overview(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page,
) -> None:
    watch(acme, "ACME")
    now = timezone.now()
    for day in range(1, 6):
        seed(acme, "ACME", now - timedelta(days=day), ["positive", "neutral"], "Earnings")
        seed(acme, "ACME", now - timedelta(days=day, hours=3), ["negative"] * (day % 3 + 1),
             "Legal | Regulation")
    seed(acme, "ACME", now - timedelta(hours=2), ["negative"] * 5, "Legal | Regulation")
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))

    page.goto(live_server.url + reverse("finance:ticker", args=["ACME"]))
    chart = page.get_by_test_id("topic-mix-chart")
    expect(chart).to_be_visible()
    assert chart.get_attribute("data-topics") == "2"
    assert chart.locator("rect.mix-bar").count() >= 10
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 500
    assert box["height"] > 80
    expect(page.get_by_test_id("topic-mix")).to_contain_text("Legal | Regulation")
    table = page.get_by_test_id("topic-sentiment")
    expect(table).to_contain_text("Earnings")
    page.screenshot(path=TOPIC_MIX_SCREENSHOT, full_page=True)
    table.locator("tr", has_text="Earnings").get_by_role("link", name="Trend").click()
    expect(page.get_by_test_id("trend-topic")).to_have_text("Earnings")

    page.get_by_role("link", name="Topics", exact=True).click()
    overview = page.get_by_test_id("topics-overview")
    expect(overview).to_be_visible()
    expect(overview.locator("tbody tr").first).to_contain_text("Legal | Regulation")
    assert not errors

"""In a real browser: a story scored after the watchlist page loaded appears at the top of
its headline stream, without a reload (``static/js/finance-stream.js`` polling
``finance:stream``); then an alert channel is added on the channels page and its "send test"
button delivers a Slack message to a local server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from apps.finance_sentiment import views
from tests.conftest import TenantSetup
from tests.finance.conftest import HookServer, doc, hook, ingest, score, watch  # noqa: F401

STREAM_SCREENSHOT = "/tmp/finance-stream.png"  # noqa: S108  (fixed paths, to look at)
CHANNELS_SCREENSHOT = "/tmp/finance-channels.png"  # noqa: S108


@pytest.mark.browser
@pytest.mark.slow
def test_a_new_story_appears_in_the_stream_without_a_reload(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page,
    monkeypatch: pytest.MonkeyPatch, hook: HookServer, settings,  # noqa: F811
) -> None:
    monkeypatch.setattr(views, "STREAM_POLL_MS", 300)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    watch(acme, "ACME", "Acme Corp")
    now = timezone.now()
    [old] = ingest(acme, [doc("ACME", now - timedelta(hours=2), "Acme opens a new plant",
                              url="https://news.example.com/plant")])
    score(acme, {old: "positive"})

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    page.goto(live_server.url + reverse("finance:overview"))
    stream = page.get_by_test_id("headline-stream")
    expect(stream.get_by_test_id("headline")).to_have_count(1)
    expect(stream).to_contain_text("Acme opens a new plant")
    page.evaluate("window.loadedOnce = 'yes'")  # gone if the page reloads

    copies = ingest(acme, [doc("ACME", now - timedelta(minutes=1),
                               "Acme chief executive resigns after accounting probe",
                               url="https://news.example.com/ceo", external_id=f"ceo-{i}")
                           for i in range(3)])
    score(acme, dict.fromkeys(copies, "negative"))

    newest = stream.get_by_test_id("headline").first
    expect(newest).to_contain_text("Acme chief executive resigns", timeout=10_000)
    expect(newest.get_by_test_id("label")).to_have_text("Negative")
    expect(newest.get_by_test_id("similar")).to_have_text("and 2 similar")
    assert newest.get_by_role("link").get_attribute("href") == "https://news.example.com/ceo"
    expect(stream.get_by_test_id("headline")).to_have_count(2)
    assert page.evaluate("window.loadedOnce") == "yes"
    page.screenshot(path=STREAM_SCREENSHOT, full_page=True)

    page.get_by_role("link", name="Channels").click()
    page.wait_for_url(live_server.url + reverse("finance:channels"))
    page.get_by_label("Name").fill("Trading desk")
    page.get_by_label("Kind").select_option("slack")
    page.get_by_label("Webhook URL").fill(hook.url)
    page.get_by_role("button", name="Add channel").click()
    row = page.get_by_test_id("channels").locator("tr", has_text="Trading desk")
    expect(row).to_contain_text("Never")
    row.get_by_role("button", name="Send test").click()
    expect(page.locator("body")).to_contain_text("A test message was delivered")
    expect(page.get_by_test_id("channels").get_by_test_id("last-delivery")
           ).to_contain_text("Delivered")
    assert "blocks" in hook.json()
    page.screenshot(path=CHANNELS_SCREENSHOT, full_page=True)

"""In a real browser, on pages of other origins: the widget keeps its conversation across a
reload (and shows the agent's name on the agent's replies), and on a page whose origin is not
on the allow-list it says so to the visitor and logs the server's reason in the console."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.support_bot import services
from apps.support_bot.models import Conversation
from tenancy.context import tenant_context
from tests.browser.test_bot_browser import shop_page  # noqa: F401  (fixture)
from tests.conftest import TenantSetup

SCREENSHOT = "/tmp/bot-widget-kept.png"  # noqa: S108  (a fixed path, to look at)


def snippet(platform: str, key: str) -> bytes:
    return (f'<!doctype html><html><body><h1>Shop</h1><script src="{platform}/bot/widget.js"'
            f' data-key="{key}" async></script></body></html>').encode()


@pytest.mark.browser
def test_the_widget_keeps_its_conversation_across_a_reload(
    transactional_db: None, live_server, acme: TenantSetup, page,
    shop_page: tuple[str, dict[str, bytes]],  # noqa: F811
) -> None:
    shop_origin, shop_content = shop_page
    with tenant_context(acme.tenant.pk):
        key = services.bot_settings_update(changes={
            "widget_origins": [shop_origin], "widget_greeting": "Hello! How can we help?",
            "widget_colour": "#aa3300", "widget_title": "Acme help",
            "widget_avatar_url": "https://cdn.example.com/sam.png"}).widget_key
    acme.owner.first_name = "Sam"
    acme.owner.save(update_fields=["first_name"])
    shop_content["/"] = snippet(live_server.url, key)

    page.goto(shop_origin + "/")
    widget = page.get_by_test_id("bot-widget")
    widget.get_by_role("button", name="Chat with us").click()
    # The tenant's look: heading, avatar, colour and greeting.
    expect(widget.get_by_test_id("bot-widget-title")).to_have_text("Acme help")
    expect(widget.get_by_test_id("bot-widget-avatar")).to_have_attribute(
        "src", "https://cdn.example.com/sam.png")
    expect(widget.locator('[data-role="greeting"]')).to_have_text("Hello! How can we help?")
    expect(widget.locator("button[aria-expanded]")).to_have_css(
        "background-color", "rgb(170, 51, 0)")
    assert widget.get_by_label("Your message").evaluate(
        "node => parseFloat(getComputedStyle(node).fontSize)") >= 16  # no zoom on phones
    widget.get_by_role("button", name="Talk to a person").click()
    expect(widget.locator('[data-role="bot"]')).to_have_text(
        "A colleague will answer you here shortly.")
    with tenant_context(acme.tenant.pk):
        conversation = Conversation.objects.get(channel="widget")
        services.agent_reply(conversation=conversation, text="I blocked the card.",
                             author_id=acme.owner.pk)

    page.reload()
    widget = page.get_by_test_id("bot-widget")
    widget.get_by_role("button", name="Chat with us").click()
    # The same conversation, shown again: the bot's word and the agent's signed reply.
    expect(widget.locator('[data-role="bot"]')).to_have_text(
        "A colleague will answer you here shortly.")
    agent = widget.locator('[data-role="agent"]')
    expect(agent.locator(".aip-text")).to_have_text("I blocked the card.")
    expect(agent.get_by_test_id("bot-widget-author")).to_have_text("Sam")
    page.screenshot(path=SCREENSHOT, full_page=True)
    with tenant_context(acme.tenant.pk):
        assert Conversation.objects.filter(channel="widget").count() == 1


@pytest.mark.browser
def test_the_widget_says_when_the_pages_origin_is_not_allowed(
    transactional_db: None, live_server, acme: TenantSetup, page,
    shop_page: tuple[str, dict[str, bytes]],  # noqa: F811
) -> None:
    shop_origin, shop_content = shop_page
    with tenant_context(acme.tenant.pk):
        key = services.bot_settings_update(
            changes={"widget_origins": ["https://shop.example.com"]}).widget_key
    shop_content["/"] = snippet(live_server.url, key)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)

    page.goto(shop_origin + "/")
    widget = page.get_by_test_id("bot-widget")
    widget.get_by_role("button", name="Chat with us").click()
    # Said as soon as the chat opens (the script asks for its look when it loads).
    expect(widget.locator('[data-role="error"]')).to_have_text(
        "This chat is not available on this website.")
    expect(widget.get_by_label("Your message")).to_be_disabled()
    # The reason reached the page (the refusal carries the CORS headers): it is in the console.
    assert any(shop_origin in text and "allowed origins" in text for text in errors), errors
    with tenant_context(acme.tenant.pk):
        assert not Conversation.objects.exists()


@pytest.mark.browser
def test_the_settings_preview_follows_the_form_before_saving(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page,
) -> None:
    from django.urls import reverse

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    page.goto(live_server.url + reverse("bot:settings"))
    preview = page.get_by_test_id("widget-preview")
    expect(preview.get_by_test_id("widget-preview-title")).to_have_text(acme.tenant.name)
    page.get_by_label("Widget heading").fill("Acme help")
    page.get_by_label("Greeting").fill("Hello there!")
    page.get_by_label("Widget colour").fill("#aa3300")
    expect(preview.get_by_test_id("widget-preview-title")).to_have_text("Acme help")
    expect(preview.get_by_test_id("widget-preview-greeting")).to_have_text("Hello there!")
    expect(preview.get_by_test_id("widget-preview-toggle")).to_have_css(
        "background-color", "rgb(170, 51, 0)")

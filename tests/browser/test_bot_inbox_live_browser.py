"""In a real browser: the agents' inbox and a conversation's page show what the customer
writes without a reload (they poll the version stamp and swap in their live regions), and a
canned reply goes into the reply box with one click; a visitor's "Talk to a person" in the
embedded widget (a page of another origin) reaches the open inbox the same way. No model is
needed: asking for a person is recognised before any model, and a handed-off conversation's
messages are stored, not answered."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.support_bot import handoff, services
from apps.support_bot.models import Conversation
from tenancy.context import tenant_context
from tests.browser.test_bot_browser import shop_page  # noqa: F401  (fixture)
from tests.conftest import TenantSetup

SCREENSHOT = "/tmp/bot-inbox-live.png"  # noqa: S108  (a fixed path, to look at)


def _customer_writes(setup: TenantSetup, conversation_id: int, text: str) -> None:
    with tenant_context(setup.tenant.pk):
        conversation = Conversation.objects.get(pk=conversation_id)
        services.chat(conversation=conversation, text=text)


@pytest.mark.browser
def test_inbox_and_conversation_update_without_reload(
        transactional_db: None, live_server, acme: TenantSetup, password: str, page) -> None:
    with tenant_context(acme.tenant.pk):
        handoff.canned_reply_create(title="Posted", text="Your card was posted yesterday.")
    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    page.goto(live_server.url + reverse("bot:inbox"))
    expect(page.get_by_text("Nobody is waiting for a person.")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    # A customer asks for a person: the conversation appears in the open inbox.
    with tenant_context(acme.tenant.pk):
        conversation = services.conversation_start(channel=Conversation.Channel.WIDGET,
                                                   external_user_id="visitor-live")
    _customer_writes(acme, conversation.pk, "talk to a human please")
    row = page.get_by_test_id("conversations").locator("tr", has_text="visitor-live")
    expect(row).to_be_visible(timeout=15_000)
    expect(row.get_by_test_id("unread")).to_have_text("1")
    _customer_writes(acme, conversation.pk, "my card never came")
    expect(row.get_by_test_id("unread")).to_have_text("2", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True

    # On the conversation's page, the customer's next message arrives by itself, and what
    # the agent is typing survives the refresh.
    row.get_by_role("link").click()
    page.wait_for_url(live_server.url + reverse("bot:conversation", args=[conversation.pk]))
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Posted").click()
    reply_box = page.get_by_label("Reply", exact=True)
    expect(reply_box).to_have_value("Your card was posted yesterday.")
    _customer_writes(acme, conversation.pk, "hello, anyone?")
    customer = page.locator('[data-testid="chat-message"][data-role="user"]')
    expect(customer).to_have_count(3, timeout=15_000)
    expect(customer.last).to_contain_text("hello, anyone?")
    expect(reply_box).to_have_value("Your card was posted yesterday.")
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=SCREENSHOT, full_page=True)
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator('[data-testid="chat-message"][data-role="agent"]')).to_contain_text(
        "Your card was posted yesterday.")


@pytest.mark.browser
def test_widget_button_reaches_the_open_inbox(
        transactional_db: None, live_server, acme: TenantSetup, password: str, page,
        shop_page: tuple[str, dict[str, bytes]]) -> None:  # noqa: F811
    shop_origin, shop_content = shop_page
    with tenant_context(acme.tenant.pk):
        key = services.bot_settings_update(changes={"widget_origins": [shop_origin]}
                                           ).widget_key
    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    page.goto(live_server.url + reverse("bot:inbox"))
    expect(page.get_by_text("Nobody is waiting for a person.")).to_be_visible()

    shop_content["/"] = (
        "<!doctype html><html><body><h1>Shop</h1>"
        f'<script src="{live_server.url}/bot/widget.js" data-key="{key}" async>'
        "</script></body></html>").encode()
    visitor = page.context.browser.new_page()  # its own context: no agent session
    visitor.goto(shop_origin + "/")
    widget = visitor.get_by_test_id("bot-widget")
    widget.get_by_role("button", name="Chat with us").click()
    widget.get_by_role("button", name="Talk to a person").click()
    expect(widget.locator('[data-role="bot"]')).to_have_text(
        "A colleague will answer you here shortly.")

    expect(page.get_by_test_id("conversations").locator("tr", has_text="Web widget")
           ).to_be_visible(timeout=15_000)
    with tenant_context(acme.tenant.pk):
        conversation = Conversation.objects.get()
        assert conversation.status == Conversation.Status.HANDED_OFF
        services.agent_reply(conversation=conversation, text="Sam here, how can I help?",
                             author_id=acme.owner.pk)
    agent = widget.locator('[data-role="agent"]')
    expect(agent.locator(".aip-text")).to_have_text("Sam here, how can I help?", timeout=15_000)
    if acme.owner.first_name:  # signed with the agent's first name, never the email
        expect(agent.get_by_test_id("bot-widget-author")).to_have_text(acme.owner.first_name)

"""In a real browser, the small fixes of issue #20 (item 6.8) that only layout and focus can
show: the widget snippet stays inside its card and copies, "Always hand over" sits beside its
label, the try-it chat keeps the focus after a send, and "Skip to content" comes first."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.conftest import TenantSetup


def _sign_in(page: Page, live_server: Any, setup: TenantSetup, password: str) -> None:
    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(setup.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))


@pytest.mark.browser
def test_snippet_checkbox_chat_focus_and_skip_link(
    transactional_db: None, live_server: Any, acme: TenantSetup, password: str, page: Page,
    settings: Any,
) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.5  # no worker: the chat answers 503 quickly
    page.set_viewport_size({"width": 900, "height": 860})
    _sign_in(page, live_server, acme, password)

    # Skip to content: the first Tab stop, visible when focused, and it moves the focus.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None
    assert box["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

    # The widget snippet wraps inside its card, and Copy copies it.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live_server.url)
    page.goto(live_server.url + reverse("bot:settings"))
    snippet = page.get_by_test_id("widget-snippet")
    fits = snippet.evaluate(
        "el => { const card = el.closest('.card').getBoundingClientRect();"
        " const box = el.getBoundingClientRect();"
        " return el.scrollWidth <= el.clientWidth + 1 && box.right <= card.right + 0.5; }")
    assert fits
    page.get_by_test_id("copy-snippet").click()
    expect(page.get_by_test_id("copy-snippet")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("<script src=")
    assert 'data-key="wk_' in copied

    # "Always hand over" sits beside its label.
    page.goto(live_server.url + reverse("bot:intents"))
    box_input = page.locator('input[name="handoff"]').bounding_box()
    label = page.get_by_text("Always hand over to a person").bounding_box()
    assert box_input is not None
    assert label is not None
    assert 0 <= label["x"] - (box_input["x"] + box_input["width"]) <= 16
    assert abs((label["y"] + label["height"] / 2)
               - (box_input["y"] + box_input["height"] / 2)) <= 6

    # The chat's message box has the focus again after a send (whatever the answer: with no
    # worker here, the bot is unavailable), ready for the next message.
    page.goto(live_server.url + reverse("bot:try"))
    box_text = page.get_by_label("Message")
    box_text.fill("where is my card?")
    with page.expect_response(lambda response: response.request.method == "POST"
                              and response.url.endswith(reverse("bot:try"))):
        box_text.press("Enter")
    expect(page.get_by_test_id("chat-log")).to_contain_text("where is my card?")
    # The 503 partial is swapped in (htmx 2 drops error responses unless told otherwise).
    expect(page.get_by_test_id("chat-error")).to_contain_text("not available right now")
    expect(page.get_by_label("Message")).to_be_focused()
    expect(page.get_by_label("Message")).to_have_value("")

    # Finance try-it: a paste over the limit is not cut by the browser; the refusal says why.
    page.goto(live_server.url + reverse("finance:try"))
    page.get_by_label("Text to score").fill("x" * 6_200)
    assert len(page.get_by_label("Text to score").input_value()) == 6_200
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_test_id("try-error")).to_contain_text(
        "The text is 6200 characters long; up to 5,000 can be scored here.")

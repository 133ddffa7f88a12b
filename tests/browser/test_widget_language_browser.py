"""In a real browser, on a page of another origin: the embedded widget speaks the visitor's
language (Simplified Chinese for any zh* browser, English otherwise) unless the tenant's bot
settings chose one, which the snippet carries as ``data-lang``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connections
from playwright.sync_api import Browser, expect, sync_playwright

from apps.support_bot import services
from tenancy.context import tenant_context
from tests.browser.conftest import CHROMIUM
from tests.browser.test_bot_browser import shop_page  # noqa: F401  (fixture)
from tests.conftest import TenantSetup


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """The browser itself, so that each visitor gets a context with its own locale."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()
        connections.close_all()


@pytest.mark.browser
def test_the_widget_speaks_the_visitors_language_or_the_tenants(
    transactional_db: None, live_server, acme: TenantSetup, chromium: Browser,
    shop_page: tuple[str, dict[str, bytes]],  # noqa: F811
) -> None:
    shop_origin, shop_content = shop_page
    with tenant_context(acme.tenant.pk):
        key = services.bot_settings_update(changes={"widget_origins": [shop_origin]}).widget_key

    def snippet(lang: str = "") -> bytes:
        data_lang = f' data-lang="{lang}"' if lang else ""
        return (f'<!doctype html><html><body><h1>Shop</h1><script src="{live_server.url}'
                f'/bot/widget.js" data-key="{key}"{data_lang} async></script></body></html>'
                ).encode()

    def visit(locale: str, path: str) -> tuple[str, str | None]:
        context = chromium.new_context(locale=locale)
        page = context.new_page()
        page.goto(shop_origin + path)
        widget = page.get_by_test_id("bot-widget")
        button = widget.locator("button[aria-expanded]")
        expect(button).to_be_visible()
        text = button.inner_text()
        placeholder = widget.locator("input").get_attribute("placeholder")
        context.close()
        return text, placeholder

    shop_content["/"] = snippet()
    shop_content["/en"] = snippet("en")
    shop_content["/zh"] = snippet("zh-hans")
    assert visit("zh-CN", "/") == ("在线咨询", "请输入您的问题…")
    assert visit("zh-TW", "/") == ("在线咨询", "请输入您的问题…")
    assert visit("en-GB", "/") == ("Chat with us", "Ask a question…")
    assert visit("fr-FR", "/") == ("Chat with us", "Ask a question…")
    # The tenant's choice wins over the visitor's browser, both ways.
    assert visit("zh-CN", "/en") == ("Chat with us", "Ask a question…")
    assert visit("en-US", "/zh") == ("在线咨询", "请输入您的问题…")

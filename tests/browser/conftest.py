"""Headless Chromium (Debian's package, driven by Playwright) against pytest-django's live
server. Playwright never downloads a browser here: it launches /usr/bin/chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connections
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    # Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM
    # calls ("You cannot call this from an async context") in the test body, though they are
    # still synchronous. Set for this fixture only: a process-wide setting leaks into the rest
    # of the suite (e.g. `check --deploy` in a subprocess reports async.E001).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # Function-scoped, so that Playwright's event loop never outlives the browser test.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(10_000)
        yield page
        browser.close()
        # While Playwright's loop runs, Django keeps this thread's database connections apart
        # (asgiref stores them per context when a loop is running); close the ones the test
        # opened before the loop stops, or they outlive it and block dropping the test database.
        connections.close_all()

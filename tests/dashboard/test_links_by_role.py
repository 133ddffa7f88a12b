"""No page links a page that the reader's role cannot open (the browser walk's rule,
``tests/browser/test_walk.py``, checked here without a browser where it found links to 403s:
the bot's tabs and the overview's getting-started steps)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from tenancy.models import Role
from tests.conftest import TenantSetup


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith("/"):
            self.hrefs.append(href)


def _page_links(client: Client, path: str) -> set[str]:
    response = client.get(path)
    assert response.status_code == 200, path
    parser = _Links()
    parser.feed(response.content.decode())
    pages = set()
    for href in parser.hrefs:
        try:
            name = resolve(href.split("?")[0]).view_name
        except Resolver404:
            continue
        if not name.startswith("api:"):
            pages.add(href.split("?")[0])
    return pages


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_overview_and_bot_pages_link_only_pages_the_role_opens(
    acme: TenantSetup, role: str,
) -> None:
    client = Client()
    client.force_login(acme.add_member(role).user)
    linked: set[str] = set()
    for path in (reverse("dashboard:home"), reverse("bot:overview"), reverse("bot:intents")):
        linked |= _page_links(client, path)
    assert reverse("bot:intents") in linked  # the tabs are there
    refused = {path for path in linked if client.get(path).status_code == 403}
    assert refused == set()
    assert (reverse("bot:try") in linked) is (role == Role.MEMBER)
    assert reverse("bot:settings") not in linked

"""The shell's signed-in user: no page's context may shadow ``user`` (the account menu with
Sign out and the workspace switcher read it), ``request`` or ``perms``. The recommendation
preview once passed the previewed external id as ``user``, and its page lost both menus."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tenancy.context import tenant_context
from tenancy.models import Membership, Role
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row

SHELL_NAMES = ("user", "request", "perms")


def _page_urls(patterns: list[Any], prefix: str = "", namespace: str = "") -> list[str]:
    """Every dashboard page that takes no URL argument (API, console and sign-in excluded)."""
    found: list[str] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += _page_urls(pattern.url_patterns, route, inner)
        elif (isinstance(pattern, URLPattern) and pattern.name and "<" not in route
              and not route.startswith(("api/", "console/", "accounts/"))
              and route not in ("healthz", "readyz")):
            found.append(reverse(namespace + pattern.name))
    return found


def _join(setup: TenantSetup, other: TenantSetup) -> None:
    """A second membership, so that the switcher has somewhere to go."""
    with tenant_context(other.tenant.pk):
        Membership.objects.create(tenant=other.tenant, user=setup.owner, role=Role.VIEWER)


def _shows_the_signed_in_shell(html: str, setup: TenantSetup) -> bool:
    return ("Sign out" in html and setup.owner.email in html
            and 'aria-label="Switch workspace"' in html)


def test_preview_shows_the_signed_in_users_sign_out_and_switcher(
        acme: TenantSetup, globex: TenantSetup) -> None:
    _join(acme, globex)
    add_items(acme, [item_row("b1", "Dune")])
    add_events(acme, [("reader-7", "b1", "purchase")])
    page = acme.browser().get(reverse("recs:preview"), {"user": "reader-7"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "For reader-7" in html
    assert _shows_the_signed_in_shell(html, acme)
    assert page.context["user"] == acme.owner


def test_no_page_shadows_the_shells_context(acme: TenantSetup, globex: TenantSetup) -> None:
    _join(acme, globex)
    browser = acme.browser()
    urls = _page_urls(get_resolver().url_patterns)
    assert reverse("recs:preview") in urls
    shadowed = []
    for url in urls:
        page = browser.get(url, {name: "shadow" for name in SHELL_NAMES})
        if page.status_code != 200 or "text/html" not in page.get("Content-Type", ""):
            continue
        for name in SHELL_NAMES:
            if page.context is not None and page.context.get(name) == "shadow":
                shadowed.append((url, name))
        if not _shows_the_signed_in_shell(page.content.decode(), acme):
            shadowed.append((url, "shell"))
    assert shadowed == []

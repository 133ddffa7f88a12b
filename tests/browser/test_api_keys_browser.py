"""In a real browser: sign in, create an API key, see its secret once, revoke it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import ApiKey
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

SCREENSHOT = "/tmp/dashboard.png"  # noqa: S108  (a fixed path, to look at after a run)


@pytest.mark.browser
def test_create_see_once_and_revoke_an_api_key(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page
) -> None:
    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    assert page.get_by_role("heading", name="Acme").is_visible()

    page.get_by_role("link", name="API keys").first.click()
    page.wait_for_url(live_server.url + reverse("dashboard:settings_api_keys"))
    page.get_by_label("Name").fill("Browser key")
    page.get_by_label("Write").check()
    page.get_by_role("button", name="Create key").click()

    secret = page.get_by_test_id("new-key-secret")
    raw_key = secret.inner_text().strip()
    assert raw_key.startswith("aip_")
    assert page.get_by_text("won't be shown again").is_visible()
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.reload()
    assert page.get_by_test_id("new-key").count() == 0
    assert raw_key not in page.content()

    status = page.locator("tr", has_text="Browser key").get_by_test_id("status")
    expect(status).to_have_text("Active")
    page.once("dialog", lambda dialog: dialog.accept())  # the "Revoke …?" confirmation
    page.locator("tr", has_text="Browser key").get_by_role("button", name="Revoke").click()
    # expect() retries until the page after the POST and redirect shows the new status.
    expect(page.get_by_text("was revoked")).to_be_visible()
    expect(status).to_have_text("Revoked")

    with tenant_context(acme.tenant.pk):
        key = ApiKey.objects.get(name="Browser key")
    assert key.revoked_at is not None
    assert key.scopes == ["read", "write"]
    assert raw_key.startswith(f"aip_{key.prefix}_")

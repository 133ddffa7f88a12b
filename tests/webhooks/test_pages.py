"""The webhook settings pages: list, create (secret shown once), edit events, rotate the
secret (shown once), delete, and the delivery log with retry; admins change, other members
read; another tenant's endpoint or delivery is a 404 and nothing of it changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup
from webhooks.models import WebhookDelivery, WebhookEndpoint

LOOPBACK = "http://127.0.0.1:9/hook"


@pytest.fixture(autouse=True)
def _allow_private(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    sent: list[tuple] = []
    monkeypatch.setattr("webhooks.services.task_send",
                        lambda name, *args, **kwargs: sent.append((name, *args)))
    return sent


def _endpoint(setup: TenantSetup, **fields: Any) -> WebhookEndpoint:
    with tenant_context(setup.tenant.pk):
        return WebhookEndpoint.objects.create(url=fields.pop("url", LOOPBACK), **fields)


def _delivery(setup: TenantSetup, endpoint: WebhookEndpoint,
              status: str = WebhookDelivery.Status.FAILED) -> WebhookDelivery:
    with tenant_context(setup.tenant.pk):
        return WebhookDelivery.objects.create(endpoint=endpoint, event="job.failed",
                                              payload={"job": 1}, status=status, attempts=6,
                                              error="HTTP 500")


def _stored(setup: TenantSetup, model: type, pk: int) -> Any:
    with tenant_context(setup.tenant.pk):
        return model.objects.filter(pk=pk).first()


def test_create_shows_the_secret_once_then_lists_the_endpoint(acme: TenantSetup) -> None:
    browser = acme.browser()
    assert 'href="/settings/webhooks/"' in browser.get(reverse("dashboard:settings_workspace")
                                                       ).content.decode()
    response = browser.post(reverse("webhooks:endpoints"), {
        "url": LOOPBACK, "description": "CRM", "events": ["job.succeeded", "job.failed"],
        "is_active": "on"}, follow=True)
    html = response.content.decode()
    with tenant_context(acme.tenant.pk):
        endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["job.failed", "job.succeeded"]
    assert endpoint.secret in html
    again = browser.get(reverse("webhooks:endpoint", args=[endpoint.pk])).content.decode()
    assert endpoint.secret not in again  # shown once
    listing = browser.get(reverse("webhooks:endpoints")).content.decode()
    assert LOOPBACK in listing
    assert endpoint.secret not in listing


def test_bad_input_is_named_on_the_form(acme: TenantSetup, settings: Any) -> None:
    browser = acme.browser()
    page = browser.post(reverse("webhooks:endpoints"), {"url": "not a url"})
    assert page.status_code == 200
    assert page.context["form"].errors["url"]
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    page = browser.post(reverse("webhooks:endpoints"), {"url": "https://127.0.0.1/hook"})
    assert page.status_code == 200
    assert page.context["form"].errors["url"]
    page = browser.post(reverse("webhooks:endpoints"), {"url": LOOPBACK,
                                                        "events": ["nonsense"]})
    assert page.context["form"].errors["events"]
    with tenant_context(acme.tenant.pk):
        assert not WebhookEndpoint.objects.exists()


def test_edit_events_rotate_and_delete(acme: TenantSetup) -> None:
    endpoint = _endpoint(acme, events=["job.failed"])
    old_secret = endpoint.secret
    browser = acme.browser()
    url = reverse("webhooks:endpoint", args=[endpoint.pk])
    browser.post(url, {"url": LOOPBACK, "events": ["alert.triggered"], "description": "x"})
    changed = _stored(acme, WebhookEndpoint, endpoint.pk)
    assert changed.events == ["alert.triggered"]
    assert changed.is_active is False  # unticked
    html = browser.post(reverse("webhooks:endpoint_rotate_secret", args=[endpoint.pk]),
                        follow=True).content.decode()
    rotated = _stored(acme, WebhookEndpoint, endpoint.pk)
    assert rotated.secret != old_secret
    assert rotated.secret in html
    assert rotated.secret not in browser.get(url).content.decode()
    browser.post(reverse("webhooks:endpoint_delete", args=[endpoint.pk]))
    assert _stored(acme, WebhookEndpoint, endpoint.pk) is None


def test_delivery_log_and_retry_of_a_failed_delivery(
        acme: TenantSetup, sent_tasks: list[tuple],
        django_capture_on_commit_callbacks: Any) -> None:
    endpoint = _endpoint(acme)
    failed = _delivery(acme, endpoint)
    delivered = _delivery(acme, endpoint, WebhookDelivery.Status.SUCCEEDED)
    browser = acme.browser()
    html = browser.get(reverse("webhooks:endpoint", args=[endpoint.pk])).content.decode()
    assert "HTTP 500" in html
    assert reverse("webhooks:delivery_retry", args=[endpoint.pk, failed.pk]) in html
    assert reverse("webhooks:delivery_retry", args=[endpoint.pk, delivered.pk]) not in html
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(reverse("webhooks:delivery_retry",
                                        args=[endpoint.pk, failed.pk]))
    assert response.status_code == 302
    assert _stored(acme, WebhookDelivery, failed.pk).status == WebhookDelivery.Status.PENDING
    assert sent_tasks == [("webhooks.deliver", failed.pk)]
    refused = browser.post(reverse("webhooks:delivery_retry",
                                   args=[endpoint.pk, delivered.pk]), follow=True)
    assert "Only a failed delivery can be retried" in refused.content.decode()
    assert _stored(acme, WebhookDelivery, delivered.pk).status == "succeeded"


def test_members_read_and_only_admins_change(acme: TenantSetup) -> None:
    endpoint = _endpoint(acme, events=["job.failed"])
    failed = _delivery(acme, endpoint)
    member = Client()
    member.force_login(acme.add_member(Role.MEMBER).user)
    url = reverse("webhooks:endpoint", args=[endpoint.pk])
    page = member.get(url).content.decode()
    assert LOOPBACK in page
    assert endpoint.secret not in page
    assert 'data-testid="endpoint-form"' not in page
    assert member.post(reverse("webhooks:endpoints"), {"url": LOOPBACK}).status_code == 403
    assert member.post(url, {"url": LOOPBACK, "events": []}).status_code == 403
    for name, args in (("webhooks:endpoint_delete", [endpoint.pk]),
                       ("webhooks:endpoint_rotate_secret", [endpoint.pk]),
                       ("webhooks:delivery_retry", [endpoint.pk, failed.pk])):
        assert member.post(reverse(name, args=args)).status_code == 403
    stored = _stored(acme, WebhookEndpoint, endpoint.pk)
    assert (stored.secret, stored.events) == (endpoint.secret, ["job.failed"])
    assert _stored(acme, WebhookDelivery, failed.pk).status == "failed"


def test_another_tenants_endpoint_is_404_and_nothing_changes(
        acme: TenantSetup, globex: TenantSetup, sent_tasks: list[tuple]) -> None:
    endpoint = _endpoint(acme, events=["job.failed"], description="acme secret hook")
    failed = _delivery(acme, endpoint)
    other = globex.browser()
    assert "acme secret hook" not in other.get(reverse("webhooks:endpoints")).content.decode()
    url = reverse("webhooks:endpoint", args=[endpoint.pk])
    assert other.get(url).status_code == 404
    assert other.post(url, {"url": "http://127.0.0.1:9/other",
                            "events": []}).status_code == 404
    assert other.post(reverse("webhooks:endpoint_rotate_secret",
                              args=[endpoint.pk])).status_code == 404
    assert other.post(reverse("webhooks:delivery_retry",
                              args=[endpoint.pk, failed.pk])).status_code == 404
    assert other.post(reverse("webhooks:endpoint_delete", args=[endpoint.pk])).status_code == 404
    # globex's own endpoint with acme's delivery id: still not found.
    own = _endpoint(globex)
    assert other.post(reverse("webhooks:delivery_retry",
                              args=[own.pk, failed.pk])).status_code == 404
    stored = _stored(acme, WebhookEndpoint, endpoint.pk)
    assert (stored.url, stored.secret, stored.events) == (LOOPBACK, endpoint.secret,
                                                          ["job.failed"])
    assert _stored(acme, WebhookDelivery, failed.pk).status == "failed"
    assert sent_tasks == []

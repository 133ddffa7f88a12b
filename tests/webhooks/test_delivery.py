"""Webhook deliveries: signed, replay-safe, retried with backoff, logged; SSRF-safe URLs."""

from __future__ import annotations

import json
import time

import pytest

from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookDelivery
from webhooks.services import MAX_ATTEMPTS, webhook_emit, webhook_endpoint_create
from webhooks.signing import SIGNATURE_HEADER, sign, verify
from webhooks.tasks import _attempt, deliver
from webhooks.urlcheck import UnsafeUrl, check_webhook_url


@pytest.fixture
def allow_loopback(settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def test_delivery_is_signed_and_logged(acme: TenantSetup, receiver: Receiver,
                                       allow_loopback: None) -> None:
    with tenant_context(acme.tenant.pk):
        endpoint = webhook_endpoint_create(url=receiver.url, events=["job.succeeded"])
        [delivery] = webhook_emit(event="job.succeeded", payload={"id": 7})
        assert webhook_emit(event="job.failed", payload={"id": 8}) == []
    assert deliver.apply(args=[delivery.pk]).get() == "succeeded"
    [request] = receiver.requests
    body = request["body"]
    assert json.loads(body)["data"] == {"id": 7}
    assert request["headers"]["Webhook-Event"] == "job.succeeded"
    assert verify(secret=endpoint.secret, header=request["headers"][SIGNATURE_HEADER], body=body)
    assert not verify(secret="whsec_wrong", header=request["headers"][SIGNATURE_HEADER], body=body)
    assert not verify(secret=endpoint.secret, header=request["headers"][SIGNATURE_HEADER],
                      body=body + b" ")
    with tenant_context(acme.tenant.pk):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 1, 200)
    # Delivering again (a duplicated task) sends nothing more.
    assert deliver.apply(args=[delivery.pk]).get() == "succeeded"
    assert len(receiver.requests) == 1


def test_old_signatures_are_refused() -> None:
    body = b'{"x":1}'
    header = sign(secret="s", body=body, timestamp=int(time.time()) - 3600)
    assert not verify(secret="s", header=header, body=body)
    assert verify(secret="s", header=header, body=body, now=time.time() - 3600)
    assert not verify(secret="s", header="garbage", body=body)


def test_failures_are_retried_with_backoff_then_marked_failed(
    acme: TenantSetup, receiver: Receiver, allow_loopback: None
) -> None:
    receiver.status = 500
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url=receiver.url, events=[])
        [delivery] = webhook_emit(event="job.failed", payload={"id": 1})
        delays = []
        for _ in range(MAX_ATTEMPTS):
            delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
            before = time.time()
            assert _attempt(delivery) is False
            if delivery.next_attempt_at:
                delays.append(delivery.next_attempt_at.timestamp() - before)
        delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts == MAX_ATTEMPTS
    assert delivery.response_status == 500
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert all(later > earlier * 1.5 for earlier, later in zip(delays, delays[1:], strict=False))


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/x",
    "https://169.254.169.254/latest/meta-data", "http://example.com/plain-http", "ftp://x/y",
])
def test_private_and_non_https_urls_are_refused(db: None, url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_webhook_url(url)


def test_private_url_refused_at_delivery_time_too(
    acme: TenantSetup, receiver: Receiver, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url=receiver.url, events=[])
        [delivery] = webhook_emit(event="job.failed", payload={})
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    with tenant_context(acme.tenant.pk):
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
        _attempt(delivery)
    assert receiver.requests == []
    assert "private" in delivery.error or "https" in delivery.error


def test_emit_only_reaches_the_current_tenants_endpoints(
    acme: TenantSetup, globex: TenantSetup, receiver: Receiver, allow_loopback: None
) -> None:
    with tenant_context(globex.tenant.pk):
        webhook_endpoint_create(url=receiver.url, events=[])
    with tenant_context(acme.tenant.pk):
        assert webhook_emit(event="job.succeeded", payload={}) == []

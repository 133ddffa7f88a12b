"""Sending webhooks: signed, time-limited HTTP POSTs with retries and a delivery log."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from celery import shared_task
from django.utils import timezone

from tenancy.context import tenant_context, unscoped
from webhooks.models import WebhookDelivery
from webhooks.services import MAX_ATTEMPTS, retry_delay
from webhooks.signing import SIGNATURE_HEADER, sign
from webhooks.urlcheck import UnsafeUrl, check_webhook_url

TIMEOUT_SECONDS = 10


@shared_task(name="webhooks.deliver", bind=True, acks_late=True, max_retries=MAX_ATTEMPTS)
def deliver(self: Any, delivery_id: int) -> str:
    with unscoped():
        tenant_id = WebhookDelivery.objects.values_list("tenant_id", flat=True).get(pk=delivery_id)
    with tenant_context(tenant_id):
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery.status
        ok = _attempt(delivery)
        if ok or delivery.attempts >= MAX_ATTEMPTS:
            return delivery.status
    raise self.retry(countdown=retry_delay(delivery.attempts).total_seconds())


def _attempt(delivery: WebhookDelivery) -> bool:
    body = json.dumps({"id": delivery.pk, "event": delivery.event,
                       "created_at": delivery.created_at.isoformat(),
                       "data": delivery.payload}, separators=(",", ":")).encode()
    endpoint = delivery.endpoint
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    try:
        check_webhook_url(endpoint.url)
        request = urllib.request.Request(  # noqa: S310  (http(s) only, checked above)
            endpoint.url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "AIPlatform-Webhooks/1",
                     "Webhook-Id": str(delivery.pk), "Webhook-Event": delivery.event,
                     SIGNATURE_HEADER: sign(secret=endpoint.secret, body=body)},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            delivery.response_status = response.status
            delivery.response_body = response.read(500).decode(errors="replace")
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = timezone.now()
        delivery.error = ""
    except urllib.error.HTTPError as error:
        delivery.response_status = error.code
        delivery.error = f"HTTP {error.code}"
    except (UnsafeUrl, urllib.error.URLError, TimeoutError, OSError) as error:
        delivery.error = str(error)[:500]
    if delivery.status != WebhookDelivery.Status.SUCCEEDED:
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
    delivery.save()
    return delivery.status == WebhookDelivery.Status.SUCCEEDED

"""Sending webhooks: signed, time-limited HTTP POSTs with retries and a delivery log."""

from __future__ import annotations

import http.client
import json
from typing import Any

from celery import shared_task
from django.utils import timezone

from tenancy.context import tenant_context, unscoped
from webhooks.models import WebhookDelivery
from webhooks.services import MAX_ATTEMPTS, retry_delay
from webhooks.signing import SIGNATURE_HEADER, sign
from webhooks.urlcheck import UnsafeUrl, check_webhook_url, pinned_request

TIMEOUT_SECONDS = 10
# What is kept of a receiver's answer: enough to debug a refusal, too little to read a page
# through (the delivery log is visible in the API).
RESPONSE_PREFIX_BYTES = 200


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
        checked = check_webhook_url(endpoint.url)
        response = pinned_request(
            checked, method="POST", body=body, timeout=TIMEOUT_SECONDS,
            max_bytes=RESPONSE_PREFIX_BYTES,
            headers={"Content-Type": "application/json", "User-Agent": "AIPlatform-Webhooks/1",
                     "Webhook-Id": str(delivery.pk), "Webhook-Event": delivery.event,
                     SIGNATURE_HEADER: sign(secret=endpoint.secret, body=body)})
        delivery.response_status = response.status
        delivery.response_body = response.body.decode(errors="replace")
        if 200 <= response.status < 300:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            delivery.error = ""
        elif 300 <= response.status < 400:
            # Redirects are not followed: the address was checked, its redirect target was not.
            delivery.response_body = ""
            delivery.error = f"HTTP {response.status}: webhook redirects are not followed"
        else:
            delivery.error = f"HTTP {response.status}"
    except (UnsafeUrl, http.client.HTTPException, OSError, ValueError) as error:
        delivery.error = str(error)[:500]
    if delivery.status != WebhookDelivery.Status.SUCCEEDED:
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
    delivery.save()
    return delivery.status == WebhookDelivery.Status.SUCCEEDED

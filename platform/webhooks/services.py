"""Webhook endpoints and deliveries. Deliveries are created in the same transaction as the
event they report, and sent by the ``webhooks.deliver`` task after commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.celery import task_send
from config.errors import ServiceError
from webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint, new_secret
from webhooks.urlcheck import check_webhook_url

MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 10  # 10 s, 20 s, 40 s, ... between attempts


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))


@transaction.atomic
def webhook_endpoint_create(
    *, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise ValueError(
            f"events: unknown event {', '.join(unknown)}; choose from {', '.join(EVENTS)}"
        )
    check_webhook_url(url)
    return WebhookEndpoint.objects.create(url=url, events=sorted(set(events)),
                                          description=description)


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, changes: dict[str, Any]
) -> WebhookEndpoint:
    """Apply validated changes; a new URL is checked like a new endpoint's."""
    if "url" in changes and changes["url"] != endpoint.url:
        check_webhook_url(changes["url"])
    if "events" in changes:
        unknown = sorted(set(changes["events"]) - set(EVENTS))
        if unknown:
            raise ValueError("events: " + _("unknown event %(events)s")
                             % {"events": ", ".join(unknown)})
        changes["events"] = sorted(set(changes["events"]))
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=list(changes))
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new signing secret; the old one stops verifying at once."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret"])
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint and its delivery log; nothing more is sent to it."""
    endpoint.delete()


class WebhookError(ServiceError):
    """A webhook request refused (``conflict``: a delivery that is not failed)."""


@transaction.atomic
def webhook_delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a failed delivery once more, now, with the endpoint's current URL and secret (the
    same ``Webhook-Id``, so a receiver that got it before de-duplicates). A pending delivery
    is still being retried and a delivered one needs nothing: both are refused."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status != WebhookDelivery.Status.FAILED:
        raise WebhookError(_("Only a failed delivery can be retried; this one is %(status)s.")
                           % {"status": str(delivery.get_status_display()).lower()},
                           code="conflict")
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    delivery_id = delivery.pk
    transaction.on_commit(lambda: _send([delivery_id]))
    return delivery


def webhook_emit(*, event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Record a delivery to each active endpoint of the current tenant that wants the event."""
    deliveries = [
        WebhookDelivery.objects.create(endpoint=endpoint, event=event, payload=payload,
                                       next_attempt_at=timezone.now())
        for endpoint in WebhookEndpoint.objects.filter(is_active=True)
        if endpoint.wants(event)
    ]
    ids = [delivery.pk for delivery in deliveries]
    if ids:
        transaction.on_commit(lambda: _send(ids))
    return deliveries


def _send(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        task_send("webhooks.deliver", delivery_id, queue="default")

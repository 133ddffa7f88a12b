"""Tasks of the finance app (queue ``default``): poll due feeds, evaluate alert rules (beat),
deliver an alert to a channel.

Thin and safe to run twice: they call services, which take ids, set the tenant context from
the row they load, and write idempotently (documents on (source, external_id), alerts on
(rule, ticker, window)). Each task imports the service it calls inside its body, as the house
style asks of every task (``STYLE.md``, "Imports and boundaries"): services enqueue tasks by
name and never import this module, and that direction stays cycle-free as they grow.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.finance_sentiment.models import Feed
from tenancy.context import tenant_context


@shared_task(name="finance.poll_feeds", ignore_result=True)
def poll_feeds() -> int:
    """Claim the due feeds of every tenant and send one ``finance.poll_feed`` each: a slow
    feed never holds up the others."""
    from apps.finance_sentiment.services import feeds_due_claim

    due = feeds_due_claim()
    for feed_id, tenant_id in due:
        poll_feed.apply_async(args=[feed_id, tenant_id], queue="default")
    return len(due)


@shared_task(name="finance.poll_feed", ignore_result=True, soft_time_limit=120, time_limit=180)
def poll_feed(feed_id: int, tenant_id: int) -> dict[str, Any]:
    from apps.finance_sentiment.services import feed_poll

    with tenant_context(tenant_id):
        feed = Feed.objects.filter(pk=feed_id, is_active=True).first()
        if feed is None:
            return {"status": "gone"}
        result = feed_poll(feed=feed)
    return {"status": result.status, "created": result.created, "error": result.error}


@shared_task(name="finance.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> int:
    from apps.finance_sentiment.services import alerts_evaluate_all

    return alerts_evaluate_all()


@shared_task(name="finance.deliver_alert", bind=True, acks_late=True, ignore_result=True,
             max_retries=None, soft_time_limit=60, time_limit=90)
def deliver_alert(self: Any, channel_id: int, alert_id: int) -> str:
    """One alert to one channel, retried with backoff up to ``DELIVERY_ATTEMPTS`` times;
    each attempt's outcome is recorded on the channel. A channel deleted or switched off
    meanwhile stops the retries."""
    from apps.finance_sentiment.services import (
        DELIVERY_ATTEMPTS,
        alert_channel_deliver,
        alert_channel_tenant,
    )
    from apps.finance_sentiment.services.delivery import retry_delay

    tenant_id = alert_channel_tenant(channel_id)
    if tenant_id is None:
        return "gone"
    attempt = self.request.retries + 1
    with tenant_context(tenant_id):
        outcome = alert_channel_deliver(channel_id=channel_id, alert_id=alert_id,
                                        attempt=attempt)
    if outcome is None:
        return "gone"
    if outcome.ok:
        return "delivered"
    if attempt >= DELIVERY_ATTEMPTS:
        return "failed"
    raise self.retry(countdown=retry_delay(attempt).total_seconds())

"""Warnings at 80 % and 100 % of a meter's quota, by email (owners and admins) and signed
webhook ``usage.threshold``, once per period."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail

from billing.metering import meter_consume
from billing.models import Meter, UsageWarning
from billing.periods import month_bounds
from billing.services import usage_thresholds_check
from config.redis import redis_client
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.billing.conftest import flush_all, record_usage
from tests.conftest import TenantSetup
from webhooks.models import EVENTS, WebhookDelivery
from webhooks.services import webhook_endpoint_create


def deliveries(setup: TenantSetup) -> list[WebhookDelivery]:
    with tenant_context(setup.tenant.pk):
        return list(WebhookDelivery.objects.filter(event="usage.threshold").order_by("pk"))


def test_the_event_is_registered() -> None:
    assert "usage.threshold" in EVENTS


def test_80_and_100_percent_warn_once_each_by_email_and_webhook(
        acme: TenantSetup, globex: TenantSetup, settings,
        django_capture_on_commit_callbacks) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    admin = acme.add_member(Role.ADMIN)
    acme.add_member(Role.VIEWER)
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url="https://127.0.0.1:9/hook", events=["usage.threshold"])
        # Free: 1,000 chat messages, refused beyond.
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=799)
    with django_capture_on_commit_callbacks(execute=True):
        flush_all()
    assert mail.outbox == []
    assert deliveries(acme) == []

    with tenant_context(acme.tenant.pk):
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        flush_all()
    [warning] = mail.outbox
    assert sorted(warning.to) == sorted([acme.owner.email, admin.user.email])
    assert "80%" in warning.subject
    assert "Chat messages" in warning.subject
    assert "800 of 1000" in warning.body
    [delivery] = deliveries(acme)
    assert delivery.payload == {
        "meter": "chat_messages", "threshold": 80, "used": "800", "limit": "1000",
        "period_start": month_bounds()[0].isoformat()}
    assert redis_client().llen("default") == 1  # the delivery task, sent after commit

    with tenant_context(acme.tenant.pk):
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=150)
    with django_capture_on_commit_callbacks(execute=True):
        flush_all()
    assert len(mail.outbox) == 1  # still 80 %: not again

    with tenant_context(acme.tenant.pk):
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=50)
    with django_capture_on_commit_callbacks(execute=True):
        flush_all()
    assert len(mail.outbox) == 2
    assert "100%" in mail.outbox[1].subject
    assert "refused" in mail.outbox[1].body
    assert [d.payload["threshold"] for d in deliveries(acme)] == [80, 100]
    # The other tenant heard nothing.
    assert deliveries(globex) == []
    assert all(globex.owner.email not in message.to for message in mail.outbox)


def test_warnings_come_again_in_the_next_period_only(acme: TenantSetup) -> None:
    start, end = month_bounds()
    record_usage(acme, Meter.API_CALLS, 9_000, key="this-month", occurred_at=start)
    with tenant_context(acme.tenant.pk):
        assert [w.threshold for w in usage_thresholds_check()] == [80]
        assert usage_thresholds_check() == []
    next_month = end + timedelta(days=2)
    record_usage(acme, Meter.API_CALLS, 8_500, key="next-month", occurred_at=next_month)
    with tenant_context(acme.tenant.pk):
        assert [w.threshold for w in usage_thresholds_check(now=next_month)] == [80]
        assert UsageWarning.objects.count() == 2


def test_job_usage_checks_thresholds_too(acme: TenantSetup) -> None:
    from billing.services import usage_record_many

    with tenant_context(acme.tenant.pk):
        usage_record_many(job_id=None, quantities={Meter.TRAINING_ACCELERATOR_SECONDS: 3600},
                          key_prefix="job:1")
        assert list(UsageWarning.objects.values_list("threshold", flat=True).order_by(
            "threshold")) == [80, 100]

"""Real-time metering: counted in Redis on the hot path, flushed to usage records exactly
once per window, refunded when the request fails, and seeded from the database."""

from __future__ import annotations

from decimal import Decimal

from billing.counters import TENANTS_KEY, taken_key, taken_prefix
from billing.metering import meter_consume
from billing.models import Meter, UsageRecord
from billing.periods import month_bounds
from billing.selectors import meter_usage
from config.redis import redis_client
from tenancy.context import tenant_context, unscoped
from tests.billing.conftest import flush_all, put_on_plan, record_usage
from tests.conftest import TenantSetup


def records(setup: TenantSetup, meter: str) -> list[UsageRecord]:
    with tenant_context(setup.tenant.pk):
        return list(UsageRecord.objects.filter(meter=meter).order_by("pk"))


def test_api_calls_are_counted_in_redis_then_flushed_to_one_record_per_window(
        acme: TenantSetup, globex: TenantSetup) -> None:
    client = acme.api()
    for _ in range(5):
        assert client.get("/api/v1/me").status_code == 200
    assert globex.api().get("/api/v1/me").status_code == 200
    # The hot path wrote no row.
    assert records(acme, Meter.API_CALLS) == []

    assert flush_all() == 2
    [acme_record] = records(acme, Meter.API_CALLS)
    [globex_record] = records(globex, Meter.API_CALLS)
    assert (acme_record.quantity, globex_record.quantity) == (Decimal(5), Decimal(1))
    assert acme_record.idempotency_key.startswith("rt:")
    # Nothing is left to flush: a second run writes nothing.
    assert flush_all() == 0
    assert redis_client().smembers(TENANTS_KEY) == set()


def test_a_retried_flush_bills_the_window_once(acme: TenantSetup) -> None:
    client = acme.api()
    for _ in range(3):
        client.get("/api/v1/me")
    assert flush_all() == 1
    [record] = records(acme, Meter.API_CALLS)
    member = record.idempotency_key.removeprefix("rt:").removesuffix(":api_calls")

    # The flush died after its commit and before dropping the taken window: Redis still
    # holds it when the task runs again.
    redis = redis_client()
    redis.hset(taken_prefix(acme.tenant.pk) + member, mapping={"api_calls": 3})
    redis.sadd(taken_key(acme.tenant.pk), member)
    redis.sadd(TENANTS_KEY, acme.tenant.pk)
    start, end = month_bounds()
    with tenant_context(acme.tenant.pk):
        # Recorded already: not counted twice while it waits either.
        assert meter_usage(meter=Meter.API_CALLS, start=start, end=end) == Decimal(3)
    assert flush_all() == 0

    [record] = records(acme, Meter.API_CALLS)
    assert record.quantity == Decimal(3)
    assert redis.smembers(TENANTS_KEY) == set()


def test_usage_counted_into_a_window_after_it_was_taken_is_not_lost(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=2)
        flush_all()
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=3)  # the same window, taken already
        flush_all()
    assert sorted(r.quantity for r in records(acme, Meter.CHAT_MESSAGES)) == [2, 3]


def test_unflushed_usage_counts_at_once_and_is_not_counted_twice_after_the_flush(
        acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=7)
    usage = acme.api().get("/api/v1/usage").json()
    chat = next(m for m in usage["meters"] if m["meter"] == "chat_messages")
    assert Decimal(chat["used"]) == 7
    flush_all()
    usage = acme.api().get("/api/v1/usage").json()
    chat = next(m for m in usage["meters"] if m["meter"] == "chat_messages")
    assert Decimal(chat["used"]) == 7


def test_a_classification_that_finds_no_worker_is_given_back(acme: TenantSetup,
                                                              settings) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.5
    response = acme.api().post("/api/v1/finance/classify", {"texts": ["a", "b", "c"]},
                               format="json")
    assert response.status_code == 503
    flush_all()
    assert records(acme, Meter.ITEMS_INFERRED) == []
    # The API call itself was made and is billed.
    assert [r.quantity for r in records(acme, Meter.API_CALLS)] == [Decimal(1)]


def test_the_counter_starts_from_recorded_usage(acme: TenantSetup) -> None:
    record_usage(acme, Meter.CHAT_MESSAGES, 40, key="import:1")
    with tenant_context(acme.tenant.pk):
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=2)
    usage = acme.api().get("/api/v1/usage").json()
    chat = next(m for m in usage["meters"] if m["meter"] == "chat_messages")
    assert Decimal(chat["used"]) == 42


def test_metering_off_counts_nothing(acme: TenantSetup, settings) -> None:
    settings.BILLING_METERING_ENABLED = False
    acme.api().get("/api/v1/me")
    flush_all()
    with unscoped():
        assert not UsageRecord.objects.exists()


def test_without_a_hard_limit_only_the_window_counts(acme: TenantSetup) -> None:
    put_on_plan(acme, "enterprise")
    with tenant_context(acme.tenant.pk):
        for _ in range(5):
            meter_consume(meter=Meter.CHAT_MESSAGES)
    assert redis_client().keys("billing:used:*") == []  # no counter seeded from the database
    flush_all()
    assert [r.quantity for r in records(acme, Meter.CHAT_MESSAGES)] == [Decimal(5)]

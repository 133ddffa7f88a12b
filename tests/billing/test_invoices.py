"""Plans, plan changes (upgrade now and prorated, downgrade at period end), period close
(idempotent: closing twice makes one invoice), invoice lines with Decimal money and tax."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import Invoice, Meter, Plan, PlanMeter, Subscription
from billing.services import (
    periods_close_due,
    subscription_change_plan,
    subscription_close_periods,
    subscription_current,
)
from tenancy.context import tenant_context, unscoped
from tests.billing.conftest import put_on_plan, record_usage
from tests.conftest import TenantSetup

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
AFTER_CLOSE = OCTOBER + timedelta(hours=1)


def in_september(setup: TenantSetup, plan_code: str = "pro") -> Subscription:
    """The tenant's subscription moved back to September 2026 (30 days) on ``plan_code``."""
    with tenant_context(setup.tenant.pk):
        subscription = subscription_current()
        Subscription.objects.filter(pk=subscription.pk).update(
            period_start=SEPTEMBER, period_end=OCTOBER, plan=Plan.objects.get(code=plan_code))
        return Subscription.objects.get()


def invoices(setup: TenantSetup) -> list[Invoice]:
    with tenant_context(setup.tenant.pk):
        return list(Invoice.objects.prefetch_related("lines").order_by("period_start"))


def test_the_default_plans_are_seeded_with_terms_for_every_meter(db: None) -> None:
    assert list(Plan.objects.values_list("code", "monthly_fee")) == [
        ("free", Decimal("0.00")), ("pro", Decimal("49.00")), ("enterprise", Decimal("499.00"))]
    for code in ("free", "pro", "enterprise"):
        assert set(PlanMeter.objects.filter(plan__code=code).values_list("meter", flat=True)) \
            == set(Meter.values)
    assert not PlanMeter.objects.filter(plan__code="enterprise", hard_limit__isnull=False).exists()


def test_a_new_tenant_is_on_free_for_the_current_month(acme: TenantSetup) -> None:
    response = acme.api().get("/api/v1/subscription")
    assert response.status_code == 200
    body = response.json()
    assert (body["plan"], body["pending_plan"]) == ("free", None)
    assert body["period_start"].endswith("-01T00:00:00Z")


def test_an_upgrade_takes_effect_at_once_and_the_fee_is_prorated(acme: TenantSetup,
                                                                  settings) -> None:
    settings.BILLING_TAX_RATE = "0.2"
    in_september(acme, "pro")
    with tenant_context(acme.tenant.pk):
        subscription_change_plan(plan_code="enterprise", now=SEPTEMBER + timedelta(days=10))
        assert subscription_current().plan.code == "enterprise"
    # Enterprise includes 20,000,000 API calls, then 0.05 per 1,000.
    record_usage(acme, Meter.API_CALLS, 20_002_000, key="sep",
                 occurred_at=SEPTEMBER + timedelta(days=20))
    record_usage(acme, Meter.API_CALLS, 999, key="oct", occurred_at=OCTOBER + timedelta(days=1))

    assert periods_close_due(now=AFTER_CLOSE) == 1

    [invoice] = invoices(acme)
    lines = list(invoice.lines.all())
    fees = [line for line in lines if not line.meter]
    assert [line.amount for line in fees] == [Decimal("16.33"), Decimal("332.67")]
    assert "Pro plan" in fees[0].description
    assert "10 of 30 days" in fees[0].description
    assert "Enterprise plan" in fees[1].description
    assert "20 of 30 days" in fees[1].description
    api_calls = next(line for line in lines if line.meter == Meter.API_CALLS)
    assert (api_calls.quantity, api_calls.billable_quantity, api_calls.amount) == (
        Decimal(20_002_000), Decimal(2_000), Decimal("0.10"))
    assert (invoice.subtotal, invoice.tax_rate, invoice.tax, invoice.total) == (
        Decimal("349.10"), Decimal("0.2"), Decimal("69.82"), Decimal("418.92"))
    assert (invoice.currency, invoice.plan_name) == ("USD", "Enterprise")
    with tenant_context(acme.tenant.pk):
        subscription = subscription_current()
    assert (subscription.period_start, subscription.plan.code) == (OCTOBER, "enterprise")


def test_a_downgrade_waits_for_the_end_of_the_period(acme: TenantSetup) -> None:
    in_september(acme, "pro")
    with tenant_context(acme.tenant.pk):
        subscription = subscription_change_plan(plan_code="free",
                                                now=SEPTEMBER + timedelta(days=5))
        assert (subscription.plan.code, subscription.pending_plan.code) == ("pro", "free")
    assert acme.api().get("/api/v1/subscription").json()["pending_plan"] == "free"

    periods_close_due(now=AFTER_CLOSE)

    [invoice] = invoices(acme)
    [fee] = [line for line in invoice.lines.all() if not line.meter]
    assert (fee.amount, invoice.plan_name) == (Decimal("49.00"), "Pro")
    with tenant_context(acme.tenant.pk):
        subscription = subscription_current()
    assert (subscription.plan.code, subscription.pending_plan) == ("free", None)
    # October is Free from its first second: no fee line on its invoice.
    periods_close_due(now=datetime(2026, 11, 1, 1, tzinfo=UTC))
    october = invoices(acme)[1]
    assert [line for line in october.lines.all() if not line.meter] == []
    assert october.total == Decimal("0.00")


def test_closing_a_period_twice_makes_one_invoice(acme: TenantSetup, globex: TenantSetup) -> None:
    in_september(acme, "pro")
    in_september(globex, "free")
    assert periods_close_due(now=AFTER_CLOSE) == 2
    assert periods_close_due(now=AFTER_CLOSE) == 0
    with tenant_context(acme.tenant.pk):
        assert subscription_close_periods(now=AFTER_CLOSE) == []
        # Even with the subscription put back (a crash before it moved on), the invoice of
        # the period exists and is not made again.
        Subscription.objects.update(period_start=SEPTEMBER, period_end=OCTOBER)
        assert subscription_close_periods(now=AFTER_CLOSE) == []
    with unscoped():
        assert Invoice.objects.filter(tenant=acme.tenant).count() == 1
        assert Invoice.objects.count() == 2


def test_a_period_is_not_closed_before_its_last_windows_are_flushed(acme: TenantSetup) -> None:
    in_september(acme)
    assert periods_close_due(now=OCTOBER + timedelta(seconds=30)) == 0
    assert periods_close_due(now=OCTOBER + timedelta(minutes=5)) == 1


def test_overage_is_priced_per_unit_block_with_decimal_money(acme: TenantSetup) -> None:
    in_september(acme, "pro")
    # Pro: 1,000,000 items included, then 0.40 per 1,000; 1,001,234 items → 0.4936 → 0.49.
    record_usage(acme, Meter.ITEMS_INFERRED, 1_001_234, key="items", occurred_at=SEPTEMBER)
    # Storage is billed on the period's peak: 50 GB included, 0.10 per GB.
    for day, gigabytes in ((1, 40), (2, 62), (3, 55)):
        record_usage(acme, Meter.STORAGE_BYTES, gigabytes * 10**9, key=f"storage:{day}",
                     occurred_at=SEPTEMBER + timedelta(days=day))
    periods_close_due(now=AFTER_CLOSE)
    [invoice] = invoices(acme)
    by_meter = {line.meter: line for line in invoice.lines.all() if line.meter}
    assert by_meter[Meter.ITEMS_INFERRED].amount == Decimal("0.49")
    assert by_meter[Meter.STORAGE_BYTES].quantity == Decimal(62 * 10**9)
    assert by_meter[Meter.STORAGE_BYTES].amount == Decimal("1.20")
    assert invoice.total == Decimal("50.69")
    assert all(isinstance(line.amount, Decimal) for line in invoice.lines.all())


@pytest.mark.parametrize("body", [{"plan": "platinum"}, {}, {"plan": ""}])
def test_an_unknown_plan_is_400_naming_the_field(acme: TenantSetup, body: dict) -> None:
    response = acme.api().post("/api/v1/subscription", body, format="json")
    assert response.status_code == 400
    assert "plan" in response.json()["error"]["fields"]


def test_changing_the_plan_needs_the_admin_scope(acme: TenantSetup) -> None:
    from accounts.services import api_key_create

    with tenant_context(acme.tenant.pk):
        writer = api_key_create(name="w", scopes=["write"], created_by_id=acme.owner.pk).raw_key
    assert acme.api(writer).post("/api/v1/subscription", {"plan": "pro"},
                                 format="json").status_code == 403
    assert acme.api(writer).get("/api/v1/subscription").status_code == 200
    assert acme.api().post("/api/v1/subscription", {"plan": "pro"},
                           format="json").json()["plan"] == "pro"


def test_plans_are_listed_with_their_terms(acme: TenantSetup) -> None:
    plans = acme.api().get("/api/v1/plans").json()
    assert [plan["code"] for plan in plans] == ["free", "pro", "enterprise"]
    pro = plans[1]
    api_calls = next(m for m in pro["meters"] if m["meter"] == "api_calls")
    assert (pro["monthly_fee"], api_calls["overage_unit_price"], api_calls["overage_unit"]) == (
        "49.00", "0.100000", "1000.000000")


def test_plan_change_on_one_tenant_leaves_the_other(acme: TenantSetup,
                                                    globex: TenantSetup) -> None:
    put_on_plan(acme, "pro")
    assert globex.api().get("/api/v1/subscription").json()["plan"] == "free"
    globex.api().post("/api/v1/subscription", {"plan": "enterprise"}, format="json")
    assert acme.api().get("/api/v1/subscription").json()["plan"] == "pro"


@pytest.mark.django_db(transaction=True)
def test_two_closes_at_once_make_one_invoice(acme: TenantSetup) -> None:
    import threading

    from django.db import connection

    in_september(acme, "pro")
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def close() -> None:
        try:
            barrier.wait()
            counts.append(periods_close_due(now=AFTER_CLOSE))
        finally:
            connection.close()

    threads = [threading.Thread(target=close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(counts) == [0, 1]
    assert len(invoices(acme)) == 1

"""Helpers of the billing tests: plan terms set for a test, usage recorded as the pipeline
and the flush record it, the flush run for windows that have closed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.counters import window_seconds
from billing.models import Plan, PlanMeter, UsageRecord
from billing.plans import install_default_plans
from billing.selectors import plan_limits_forget
from billing.services import meter_flush, subscription_change_plan, subscription_current
from tenancy.context import tenant_context
from tests.conftest import TenantSetup


@pytest.fixture(autouse=True)
def _default_plans_and_fresh_limits(db: None) -> Iterator[None]:
    # A transactional test elsewhere empties every table, the migrated plans included.
    install_default_plans(Plan, PlanMeter)
    plan_limits_forget()
    yield
    plan_limits_forget()


def set_terms(plan_code: str, meter: str, *, hard_limit: Decimal | int | None = None,
              included: Decimal | int | None = None, price: Decimal | str | None = None,
              unit: Decimal | int | None = None) -> PlanMeter:
    """Change one meter's terms of a plan (as staff would in the console)."""
    term = PlanMeter.objects.get(plan__code=plan_code, meter=meter)
    term.hard_limit = None if hard_limit is None else Decimal(hard_limit)
    if included is not None:
        term.included_quantity = Decimal(included)
    if price is not None:
        term.overage_unit_price = Decimal(price)
    if unit is not None:
        term.overage_unit = Decimal(unit)
    term.save()
    plan_limits_forget()
    return term


def put_on_plan(setup: TenantSetup, code: str, *, now: datetime | None = None) -> None:
    with tenant_context(setup.tenant.pk):
        subscription_current()
        subscription_change_plan(plan_code=code, now=now, allow_private=True)


def record_usage(setup: TenantSetup, meter: str, quantity: Decimal | int, *, key: str,
                 occurred_at: datetime | None = None) -> UsageRecord:
    with tenant_context(setup.tenant.pk):
        return UsageRecord.objects.create(meter=meter, quantity=Decimal(quantity),
                                          idempotency_key=key,
                                          occurred_at=occurred_at or timezone.now())


def flush_all() -> int:
    """Flush as the beat task would once the current windows have closed."""
    return meter_flush(now=time.time() + 3 * window_seconds())


def plan(code: str) -> Plan:
    return Plan.objects.get(code=code)

"""Reads of billing: usage per meter and day (records plus counters not yet flushed), the
usage summary of the dashboard and the API, invoices, and the console's staff-wide figures."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from billing.counters import pending_usage
from billing.models import (
    GAUGE_METERS,
    Invoice,
    Meter,
    Plan,
    PlanMeter,
    Subscription,
    UsageRecord,
)
from billing.numbers import quantity as quantity_text
from billing.periods import fraction_elapsed, month_bounds
from billing.plans import default_plan
from tenancy.context import require_tenant_id, unscoped
from tenancy.models import Tenant

ZERO = Decimal("0")


def meter_usage(*, meter: str, start: datetime, end: datetime) -> Decimal:
    """The tenant's usage of one meter in ``[start, end)``: the sum of its records (the peak
    for a gauge such as storage) plus what the real-time counters hold unflushed."""
    return usage_totals(start=start, end=end, meters=[meter])[meter]


def subscription_current() -> Subscription:
    """The tenant's subscription: its plan and current period. Every tenant has one from its
    creation (``billing.services.subscription_ensure``). A read never writes, so a tenant
    made without ``tenancy.services.tenant_create`` (a bare row in a test) reads as what it
    will get: the default plan for the current month, an unsaved row, until a billing write
    (a quota check, a plan change) creates it."""
    subscription = Subscription.objects.select_related("plan", "pending_plan").first()
    if subscription is not None:
        return subscription
    plan = default_plan(Plan)
    if plan is None:
        raise Plan.DoesNotExist("No billing plan exists (billing's migrations install them).")
    start, end = month_bounds()
    return Subscription(tenant_id=require_tenant_id(), plan=plan, period_start=start,
                        period_end=end)


# tenant id → (expires at, meter → hard limit): the hot path reads limits from memory; a plan
# edited in the console applies within BILLING_PLAN_CACHE_SECONDS, a plan change at once in
# the process that made it.
_limits: dict[int, tuple[float, dict[str, Decimal | None]]] = {}


def plan_limit(*, tenant_id: int, meter: str) -> Decimal | None:
    """The hard limit of ``meter`` in the tenant's plan (None: unlimited)."""
    cached = _limits.get(tenant_id)
    if cached is None or cached[0] < time.monotonic():
        terms = plan_terms(plan_id=subscription_current().plan_id)
        cached = (time.monotonic() + settings.BILLING_PLAN_CACHE_SECONDS,
                  {name: term.hard_limit for name, term in terms.items()})
        _limits[tenant_id] = cached
    return cached[1].get(meter)


def plan_limits_forget(*, tenant_id: int | None = None) -> None:
    if tenant_id is None:
        _limits.clear()
    else:
        _limits.pop(tenant_id, None)


def usage_totals(*, start: datetime, end: datetime,
                 meters: list[str] | None = None) -> dict[str, Decimal]:
    meters = list(meters or Meter.values)
    records = UsageRecord.objects.filter(occurred_at__gte=start, occurred_at__lt=end,
                                         meter__in=meters)
    sums = dict(records.exclude(meter__in=GAUGE_METERS).order_by().values("meter")
                .annotate(total=Sum("quantity")).values_list("meter", "total"))
    peaks = dict(records.filter(meter__in=GAUGE_METERS).order_by().values("meter")
                 .annotate(total=Max("quantity")).values_list("meter", "total"))
    pending = pending_usage(tenant_id=require_tenant_id(), start=start, end=end)
    return {meter: (sums.get(meter) or peaks.get(meter) or ZERO) + pending.get(meter, 0)
            for meter in meters}


def usage_daily(*, start: datetime, end: datetime) -> dict[str, dict[date, Decimal]]:
    """meter → day → quantity (UTC days; a gauge's peak of the day). Unflushed counters are
    counted on the current day."""
    rows = (UsageRecord.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
            .annotate(day=TruncDate("occurred_at", tzinfo=UTC)).order_by()
            .values("meter", "day").annotate(total=Sum("quantity"), peak=Max("quantity")))
    daily: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in rows:
        daily[row["meter"]][row["day"]] = (row["peak"] if row["meter"] in GAUGE_METERS
                                           else row["total"])
    today = timezone.now().astimezone(UTC).date()
    for meter, quantity in pending_usage(tenant_id=require_tenant_id(), start=start,
                                         end=end).items():
        daily[meter][today] = daily[meter].get(today, ZERO) + quantity
    return daily


@dataclass
class MeterSummary:
    meter: str
    label: str
    used: Decimal
    included: Decimal
    limit: Decimal | None
    projected: Decimal
    daily: list[tuple[date, Decimal]] = field(default_factory=list)

    @property
    def quota(self) -> Decimal | None:
        """What warnings and bars are measured against: the hard limit, else the included
        quantity (None: unlimited and nothing included)."""
        if self.limit is not None:
            return self.limit
        return self.included if self.included > 0 else None

    @property
    def percent(self) -> float | None:
        quota = self.quota
        return None if not quota else float(self.used / quota * 100)

    @property
    def percent_of_included(self) -> float | None:
        """Used against what the plan includes (what the usage page's bar shows; None when
        nothing is included)."""
        return float(self.used / self.included * 100) if self.included > 0 else None

    @property
    def percent_of_limit(self) -> float | None:
        """Used against the hard limit, shown beside it (None: no hard limit)."""
        return float(self.used / self.limit * 100) if self.limit else None

    @property
    def is_gauge(self) -> bool:
        return self.meter in GAUGE_METERS

    @property
    def is_bytes(self) -> bool:
        return self.meter == Meter.STORAGE_BYTES

    def display(self, value: Decimal | float) -> str:
        return quantity_text(value, is_bytes=self.is_bytes)

    @property
    def used_display(self) -> str:
        return self.display(self.used)

    @property
    def included_display(self) -> str:
        return self.display(self.included)

    @property
    def limit_display(self) -> str | None:
        return None if self.limit is None else self.display(self.limit)

    @property
    def projected_display(self) -> str:
        return self.display(self.projected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "meter": self.meter, "name": self.label, "used": self.used,
            "included": self.included, "limit": self.limit, "projected": self.projected,
            "percent_of_quota": None if self.percent is None else round(self.percent, 1),
            "daily": [{"date": day.isoformat(), "quantity": quantity}
                      for day, quantity in self.daily],
        }


@dataclass
class UsageSummary:
    start: datetime
    end: datetime
    plan_name: str
    plan_code: str
    meters: list[MeterSummary]

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()


def plan_terms(*, plan_id: int) -> dict[str, PlanMeter]:
    return {term.meter: term for term in PlanMeter.objects.filter(plan_id=plan_id)}


def usage_summary(*, start: datetime | None = None, end: datetime | None = None,
                  now: datetime | None = None) -> UsageSummary:
    """Per meter: usage in ``[start, end)`` (default: this month), the plan's terms, the daily
    series and a linear projection to the end of the period."""
    now = now or timezone.now()
    period_start, period_end = month_bounds(now)
    start, end = start or period_start, end or period_end
    subscription = subscription_current()
    terms = plan_terms(plan_id=subscription.plan_id)
    totals = usage_totals(start=start, end=end)
    daily = usage_daily(start=start, end=end)
    elapsed = fraction_elapsed(start, end, now)
    days = [(start + timedelta(days=offset)).date()
            for offset in range(max((end - start).days, 1))]
    meters = []
    for meter, label in Meter.choices:
        term = terms.get(meter)
        used = totals[meter]
        if meter in GAUGE_METERS or elapsed >= 1:
            projected = used
        else:
            projected = (used / Decimal(str(max(elapsed, 1e-6)))).quantize(Decimal("1"))
        meters.append(MeterSummary(
            meter=meter, label=str(label), used=used,
            included=term.included_quantity if term else ZERO,
            limit=term.hard_limit if term else None, projected=projected,
            daily=[(day, daily.get(meter, {}).get(day, ZERO)) for day in days],
        ))
    return UsageSummary(start=start, end=end, plan_name=subscription.plan.name,
                        plan_code=subscription.plan.code, meters=meters)


def invoice_list() -> QuerySet[Invoice]:
    return Invoice.objects.all()


def invoice_with_lines(*, queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    return (queryset if queryset is not None else Invoice.objects.all()).prefetch_related(
        "lines")


# --- Staff-wide (the console) ---------------------------------------------------------------


@dataclass(frozen=True)
class RevenueMonth:
    month: date
    currency: str
    invoices: int
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def revenue_by_month() -> list[RevenueMonth]:
    """Invoiced revenue per period month and currency, newest first (every tenant)."""
    with unscoped():
        rows = (Invoice.objects.annotate(month=TruncMonth("period_start", tzinfo=UTC))
                .order_by().values("month", "currency")
                .annotate(invoices=Count("id"), subtotal=Sum("subtotal"), tax=Sum("tax"),
                          total=Sum("total"))
                .order_by("-month", "currency"))
        return [RevenueMonth(month=row["month"].date(), currency=row["currency"],
                             invoices=row["invoices"], subtotal=row["subtotal"], tax=row["tax"],
                             total=row["total"]) for row in rows]


def usage_by_tenant(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Recorded usage per tenant and meter in ``[start, end)`` (every tenant; the real-time
    counters join within a flush window)."""
    with unscoped():
        records = UsageRecord.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        sums = (records.exclude(meter__in=GAUGE_METERS).order_by()
                .values("tenant_id", "meter").annotate(total=Sum("quantity")))
        peaks = (records.filter(meter__in=GAUGE_METERS).order_by()
                 .values("tenant_id", "meter").annotate(total=Max("quantity")))
        by_tenant: dict[int, dict[str, Decimal]] = defaultdict(dict)
        for row in [*sums, *peaks]:
            by_tenant[row["tenant_id"]][row["meter"]] = row["total"]
        names = dict(Tenant.objects.filter(pk__in=by_tenant).values_list("pk", "name"))
    return [{"tenant_id": tenant_id, "tenant": names.get(tenant_id, str(tenant_id)),
             "usage": [usage.get(meter, ZERO) for meter in Meter.values]}
            for tenant_id, usage in sorted(by_tenant.items(),
                                           key=lambda item: names.get(item[0], ""))]

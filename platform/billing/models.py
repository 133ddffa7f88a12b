"""Billing: meters and usage records, plans and their per-meter prices, one subscription per
tenant, threshold warnings and invoices.

Plans are platform-owned (staff edit them in the console); everything a tenant owns
(subscription, plan changes, warnings, invoices and their lines, usage) is a tenant table with
row-level security. Money is ``Decimal`` everywhere.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tenancy.models import TenantOwnedModel


class Meter(models.TextChoices):
    TRAINING_ACCELERATOR_SECONDS = (
        "training_accelerator_seconds", _("Accelerator seconds (training)")
    )
    INFERENCE_ACCELERATOR_SECONDS = (
        "inference_accelerator_seconds", _("Accelerator seconds (inference)")
    )
    ITEMS_INFERRED = "items_inferred", _("Items inferred")
    CHAT_MESSAGES = "chat_messages", _("Chat messages")
    GENERATED_ANSWERS = "generated_answers", _("Generated answers")
    RECOMMENDATION_REQUESTS = "recommendation_requests", _("Recommendation requests")
    API_CALLS = "api_calls", _("API calls")
    STORAGE_BYTES = "storage_bytes", _("Storage bytes")


# Storage is a level, not a flow: its usage over a period is the peak of the daily snapshots,
# every other meter's is the sum of its records.
GAUGE_METERS = frozenset({Meter.STORAGE_BYTES})


class UsageRecord(TenantOwnedModel):
    """One billable quantity. The idempotency key makes a retried or duplicated writer
    record it once: ``job:<id>:<meter>`` for jobs, ``rt:<window>:<meter>`` for a flushed
    window of real-time counters, ``storage:<date>`` for the daily storage snapshot."""

    meter = models.CharField(max_length=40, choices=Meter.choices)
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="usage_records")
    idempotency_key = models.CharField(max_length=200)
    # When the usage happened (a flushed window's start; a job's finish): periods and days
    # are counted on it, not on when the row was written.
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"],
                                    name="usage_tenant_idempotency_uniq"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "meter", "created_at"], name="usage_tenant_meter_time"),
            models.Index(fields=["tenant", "occurred_at", "meter"],
                         name="usage_tenant_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.meter}={self.quantity}"


class Plan(models.Model):
    """A price list: a monthly fee and, per meter, what is included, the overage price and
    the hard limit. Platform-owned; staff edit plans in the console."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    monthly_fee = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the plans page")
    is_public = models.BooleanField(default=True,
                                    help_text="Tenants may choose it themselves")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering: ClassVar = ["position", "monthly_fee"]

    def __str__(self) -> str:
        return self.name


class PlanMeter(models.Model):
    """A plan's terms for one meter. No row for a meter: nothing included, no overage price,
    no limit (free and unlimited)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="meters")
    meter = models.CharField(max_length=40, choices=Meter.choices)
    included_quantity = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal("0"))
    overage_unit_price = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"),
        help_text="Price of each block of 'overage unit' above the included quantity")
    overage_unit = models.DecimalField(
        max_digits=20, decimal_places=6, default=Decimal("1"),
        help_text="Quantity the unit price is for (e.g. 1000 API calls, 1000000000 bytes)")
    hard_limit = models.DecimalField(
        max_digits=20, decimal_places=6, null=True, blank=True,
        help_text="Usage is refused beyond this in a period; empty means no limit")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["plan", "meter"], name="planmeter_plan_meter_uniq"),
            models.CheckConstraint(condition=models.Q(overage_unit__gt=0),
                                   name="planmeter_overage_unit_positive"),
        ]
        ordering: ClassVar = ["plan", "meter"]

    def __str__(self) -> str:
        return f"{self.plan}: {self.meter}"


class Subscription(TenantOwnedModel):
    """The tenant's plan and current billing period (calendar months, UTC). Its row is the
    lock that serialises quota reservations of the tenant."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # A downgrade waits for the end of the period (see services.subscription_change_plan).
    pending_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    payment_customer_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant"], name="subscription_tenant_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.plan}"


class PlanChange(TenantOwnedModel):
    """A plan change: when it takes effect and from/to which plan. The invoice of the period
    prorates the monthly fee over the time each plan was in force."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE,
                                     related_name="changes")
    from_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    to_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    effective_at = models.DateTimeField()
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering: ClassVar = ["effective_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "effective_at"], name="planchange_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.from_plan} → {self.to_plan} at {self.effective_at:%Y-%m-%d}"


class UsageWarning(TenantOwnedModel):
    """A warning sent (email and webhook ``usage.threshold``); unique per period, meter and
    threshold, so each is sent once per period."""

    meter = models.CharField(max_length=40, choices=Meter.choices)
    period_start = models.DateTimeField()
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the quota")
    used = models.DecimalField(max_digits=20, decimal_places=6)
    limit = models.DecimalField(max_digits=20, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "period_start", "meter", "threshold"],
                                    name="usagewarning_once_per_period"),
        ]
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.meter} {self.threshold}%"


class Invoice(TenantOwnedModel):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("invoice status", "Open")
        SENT = "sent", _("Sent to the payment provider")
        PAID = "paid", _("Paid")

    number = models.CharField(max_length=40)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    plan_name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=14, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=6, decimal_places=4,
                                   help_text="A fraction: 0.2000 is 20 %")
    tax = models.DecimalField(max_digits=14, decimal_places=2)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    provider = models.CharField(max_length=40, blank=True)
    provider_reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            # Closing a period twice cannot make a second invoice.
            models.UniqueConstraint(fields=["tenant", "period_start"],
                                    name="invoice_tenant_period_uniq"),
            models.UniqueConstraint(fields=["tenant", "number"], name="invoice_tenant_number"),
        ]
        ordering: ClassVar = ["-period_start"]

    def __str__(self) -> str:
        return self.number

    @property
    def tax_percent(self) -> str:
        return format((self.tax_rate * 100).normalize(), "f")


class InvoiceLine(TenantOwnedModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=300)
    meter = models.CharField(max_length=40, choices=Meter.choices, blank=True)
    quantity = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal("0"))
    included_quantity = models.DecimalField(max_digits=20, decimal_places=6,
                                            default=Decimal("0"))
    billable_quantity = models.DecimalField(max_digits=20, decimal_places=6,
                                            default=Decimal("0"))
    unit_price = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    unit = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal("1"))
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering: ClassVar = ["invoice", "position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "invoice", "position"],
                                    name="invoiceline_position_uniq"),
        ]

    def __str__(self) -> str:
        return self.description

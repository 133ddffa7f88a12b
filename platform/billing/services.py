"""Writes of billing: subscriptions and plan changes, the job quota check, usage records,
threshold warnings, period close and invoices, storage snapshots.

Also the flush of the real-time counters into usage records (``meter_flush``, see
``billing.counters``): it checks the thresholds of what it recorded.

Plan changes: an **upgrade** (a plan whose monthly fee is at least the current one's) takes
effect at once, with its limits, and the period's invoice prorates the monthly fees by the
time each plan was in force; a **downgrade** waits for the end of the period, so that limits
never shrink under usage already made. Overage is priced with the plan in force at the end of
the period.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.counters import (
    counted_tenants,
    record_key,
    taken_counts,
    taken_drop,
    taken_occurred_at,
    window_of,
    window_seconds,
    windows_take,
)
from billing.exceptions import QuotaExceeded
from billing.models import (
    Invoice,
    InvoiceLine,
    Meter,
    Plan,
    PlanChange,
    PlanMeter,
    Subscription,
    UsageRecord,
    UsageWarning,
)
from billing.numbers import money, plain
from billing.payments import payment_provider
from billing.periods import month_bounds
from billing.plans import default_plan, install_default_plans
from billing.selectors import (
    plan_limits_forget,
    plan_terms,
    subscription_current,
    usage_totals,
)
from billing.sources import reserved_items, stored_bytes
from config.celery import task_send
from config.errors import ServiceError
from tenancy.context import require_tenant_id, tenant_context, unscoped
from tenancy.models import Membership, Role, Tenant
from webhooks.services import webhook_emit

logger = logging.getLogger(__name__)

THRESHOLDS = (80, 100)
FINE_TUNE_KIND = "fine_tune"  # jobs.models.Job.Kind.FINE_TUNE (billing does not import jobs)


class BillingError(ServiceError):
    """A request billing refuses; ``code``, ``status`` and ``fields`` map onto the API's
    error format."""


# --- Subscriptions --------------------------------------------------------------------------


def _default_plan() -> Plan:
    if not Plan.objects.exists():
        install_default_plans(Plan, PlanMeter)  # a database emptied since its migrations
    return default_plan(Plan)  # not None: installed just above if there was none


def subscription_ensure() -> Subscription:
    """The tenant's subscription, created on the default plan (Free) for the current month if
    it has none. Every tenant gets it when it is created (``subscription_for_new_tenant``,
    registered with tenancy's tenant-created hooks; migration 0005 gave the tenants that
    existed before theirs); the billing writes that need the row call this too, for a tenant
    made without ``tenancy.services.tenant_create`` (a bare row in a test). Idempotent, also
    for two concurrent callers."""
    subscription = Subscription.objects.select_related("plan", "pending_plan").first()
    if subscription is not None:
        return subscription
    start, end = month_bounds()
    try:
        with transaction.atomic():
            Subscription.objects.create(plan=_default_plan(), period_start=start,
                                        period_end=end)
    except IntegrityError:
        pass  # created by a concurrent request
    return Subscription.objects.select_related("plan", "pending_plan").get()


def subscription_for_new_tenant(tenant: Tenant) -> None:
    """tenancy's tenant-created hook (see ``BillingConfig.ready``): runs in ``tenant_create``'s
    transaction, in the new tenant's context."""
    subscription_ensure()


def _subscription_locked() -> Subscription:
    """The subscription row, locked until the transaction ends (the tenant's billing lock)."""
    subscription_ensure()
    return (Subscription.objects.select_for_update(of=("self",))
            .select_related("plan", "pending_plan").get())


@transaction.atomic
def subscription_change_plan(*, plan_code: str, now: datetime | None = None,
                             allow_private: bool = False) -> Subscription:
    """Move the tenant to another plan: upgrades now, downgrades at the end of the period."""
    now = now or timezone.now()
    subscription = _subscription_locked()  # first: it also installs the plans if none exist
    plans = Plan.objects.all() if allow_private else Plan.objects.filter(is_public=True)
    plan = plans.filter(code=plan_code).first()
    if plan is None:
        choices = ", ".join(plans.values_list("code", flat=True))
        raise BillingError(_("Unknown plan %(plan)r.") % {"plan": plan_code},
                           fields={"plan": [f"choose one of {choices}"]})
    if plan.pk == subscription.plan_id:
        subscription.pending_plan = None  # staying: cancels a scheduled downgrade
    elif plan.monthly_fee >= subscription.plan.monthly_fee:
        PlanChange.objects.create(subscription=subscription, from_plan=subscription.plan,
                                  to_plan=plan, effective_at=now)
        subscription.plan = plan
        subscription.pending_plan = None
    else:
        subscription.pending_plan = plan
    subscription.save(update_fields=["plan", "pending_plan"])
    _forget_limits(subscription.tenant_id)
    return subscription


def _forget_limits(tenant_id: int) -> None:
    """Drop this process's cached limits now and again after commit (a request in between
    could have cached the old ones)."""
    plan_limits_forget(tenant_id=tenant_id)
    transaction.on_commit(lambda: plan_limits_forget(tenant_id=tenant_id))


# --- Quotas ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    meter: str = ""
    used: Decimal = Decimal(0)
    limit: Decimal | None = None
    requested: Decimal = Decimal(0)
    message: str = ""

    def error(self) -> QuotaExceeded:
        return QuotaExceeded(meter=self.meter, used=self.used, limit=self.limit or Decimal(0),
                             requested=self.requested)


def quota_check(*, tenant_id: int, app: str, kind: str, items: int = 0) -> QuotaDecision:
    """Whether the tenant may queue this job under its plan's hard limits.

    Call it inside the transaction that creates the job: it locks the tenant's subscription
    row until that transaction ends, so concurrent submissions are decided one at a time and
    each sees the jobs the earlier ones created (their items count as used). A fine-tune is
    refused once the training accelerator seconds reach the limit; an inference job when
    its items would pass the items limit or the inference seconds have reached theirs.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota_check must run in the transaction that creates the job.")
    if tenant_id != require_tenant_id():
        raise ValueError("quota_check is for the tenant in context.")
    subscription = _subscription_locked()
    terms = plan_terms(plan_id=subscription.plan_id)
    start, end = month_bounds()
    meters = ([Meter.TRAINING_ACCELERATOR_SECONDS] if kind == FINE_TUNE_KIND
              else [Meter.ITEMS_INFERRED, Meter.INFERENCE_ACCELERATOR_SECONDS])
    limits = {meter: terms[meter].hard_limit for meter in meters if meter in terms}
    limited = {meter: limit for meter, limit in limits.items() if limit is not None}
    if not limited:
        return QuotaDecision(allowed=True)
    totals = usage_totals(start=start, end=end, meters=list(limited))
    for meter, limit in limited.items():
        used, requested = totals[meter], Decimal(0)
        if meter == Meter.ITEMS_INFERRED:
            used += Decimal(reserved_items())
            requested = Decimal(items)
        over = used + requested > limit if requested else used >= limit
        if over:
            refusal = QuotaExceeded(meter=meter, used=used, limit=limit, requested=requested)
            return QuotaDecision(allowed=False, meter=meter, used=used, limit=limit,
                                 requested=requested, message=str(refusal))
    return QuotaDecision(allowed=True)


def storage_quota_check(*, additional_bytes: int) -> QuotaDecision:
    """Whether the tenant may store ``additional_bytes`` more under its storage hard limit.
    Like ``quota_check``, call it in the transaction that stores them (it takes the lock)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("storage_quota_check must run in the transaction that stores.")
    subscription = _subscription_locked()
    term = plan_terms(plan_id=subscription.plan_id).get(Meter.STORAGE_BYTES)
    if term is None or term.hard_limit is None:
        return QuotaDecision(allowed=True)
    used, requested = Decimal(stored_bytes()), Decimal(additional_bytes)
    if used + requested <= term.hard_limit:
        return QuotaDecision(allowed=True)
    refusal = QuotaExceeded(meter=Meter.STORAGE_BYTES, used=used, limit=term.hard_limit,
                            requested=requested)
    return QuotaDecision(allowed=False, meter=Meter.STORAGE_BYTES, used=used,
                         limit=term.hard_limit, requested=requested, message=str(refusal))


# --- Usage records --------------------------------------------------------------------------


def usage_record_many(*, job_id: int | None, quantities: dict[str, Decimal | int | float],
                      key_prefix: str) -> int:
    """Record several meters at once, exactly once each (``<key_prefix>:<meter>`` is unique per
    tenant). Call inside the transaction that commits the billed work; returns rows written."""
    keys = {meter: f"{key_prefix}:{meter}" for meter in quantities}
    existing = set(
        UsageRecord.objects.filter(Q(idempotency_key__in=keys.values()))
        .values_list("idempotency_key", flat=True)
    )
    rows = [
        UsageRecord(meter=meter, quantity=Decimal(str(quantity)), job_id=job_id,
                    idempotency_key=keys[meter])
        for meter, quantity in quantities.items()
        if keys[meter] not in existing and Decimal(str(quantity)) > 0
    ]
    for row in rows:
        row.save()  # a handful of rows per job; save() fills the tenant and checks it
    if rows:
        usage_thresholds_check()
    return len(rows)


@transaction.atomic
def storage_snapshot(*, now: datetime | None = None) -> Decimal:
    """Record the tenant's stored bytes for today (the day's peak: a later, larger snapshot
    raises it). Storage is billed on the period's peak."""
    now = now or timezone.now()
    stored = Decimal(stored_bytes())
    key = f"storage:{now:%Y-%m-%d}"
    record = UsageRecord.objects.select_for_update().filter(idempotency_key=key).first()
    if record is None:
        UsageRecord.objects.create(meter=Meter.STORAGE_BYTES, quantity=stored,
                                   idempotency_key=key, occurred_at=now)
    elif stored > record.quantity:
        record.quantity = stored
        record.save(update_fields=["quantity"])
    return stored


def storage_snapshot_all(*, now: datetime | None = None) -> int:
    """Staff-wide (beat): every active tenant's storage snapshot."""
    with unscoped():
        tenant_ids = list(Tenant.objects.filter(status=Tenant.Status.ACTIVE)
                          .values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            storage_snapshot(now=now)
            usage_thresholds_check(now=now)
    return len(tenant_ids)


# --- The flush of the real-time counters -----------------------------------------------------


def meter_flush(*, now: float | None = None) -> int:
    """Record every closed window of every tenant, and any taken window a crashed flush left;
    returns the records written. The current window and the one before stay open (fewer,
    fuller records; correctness does not depend on it)."""
    last_closed = window_of(time.time() if now is None else now) - 2
    written = 0
    for tenant_id in counted_tenants():
        members = windows_take(tenant_id=tenant_id, last_closed=last_closed)
        if not members:
            continue
        with tenant_context(tenant_id):
            for member in members:
                written += _record_taken(tenant_id=tenant_id, member=member,
                                         counts=taken_counts(tenant_id=tenant_id,
                                                             member=member))
                taken_drop(tenant_id=tenant_id, member=member)
            usage_thresholds_check()
    return written


@transaction.atomic
def _record_taken(*, tenant_id: int, member: str, counts: dict[str, int]) -> int:
    occurred_at = taken_occurred_at(member)
    rows = [
        UsageRecord(tenant_id=tenant_id, meter=meter, quantity=Decimal(count),
                    idempotency_key=record_key(member, meter), occurred_at=occurred_at)
        for meter, count in sorted(counts.items()) if count != 0
    ]
    before = UsageRecord.objects.filter(
        idempotency_key__in=[row.idempotency_key for row in rows]).count()
    UsageRecord.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows) - before


# --- Warnings -------------------------------------------------------------------------------


def usage_thresholds_check(*, now: datetime | None = None) -> list[UsageWarning]:
    """Warn (email to owners and admins, webhook ``usage.threshold``) when a meter reaches 80 %
    and 100 % of its quota (the hard limit, else the included quantity); once per period,
    meter and threshold, whoever checks first (a unique row decides)."""
    subscription = subscription_current()
    start, end = month_bounds(now)
    terms = plan_terms(plan_id=subscription.plan_id)
    quotas = {meter: term.hard_limit if term.hard_limit is not None else term.included_quantity
              for meter, term in terms.items()}
    quotas = {meter: quota for meter, quota in quotas.items() if quota and quota > 0}
    if not quotas:
        return []
    totals = usage_totals(start=start, end=end, meters=list(quotas))
    sent = []
    for meter, quota in quotas.items():
        used = totals[meter]
        for threshold in THRESHOLDS:
            if used * 100 < quota * threshold:
                break
            try:
                with transaction.atomic():
                    warning = UsageWarning.objects.create(
                        meter=meter, period_start=start, threshold=threshold, used=used,
                        limit=quota)
            except IntegrityError:
                continue  # already sent this period
            _notify_threshold(warning)
            sent.append(warning)
    return sent


def _notify_threshold(warning: UsageWarning) -> None:
    label = Meter(warning.meter).label
    payload = {
        "meter": warning.meter, "threshold": warning.threshold,
        "used": plain(warning.used), "limit": plain(warning.limit),
        "period_start": warning.period_start.isoformat(),
    }
    webhook_emit(event="usage.threshold", payload=payload)
    # One email per language: each owner and admin reads it in the language they chose.
    by_language: dict[str, list[str]] = {}
    for email, language in sorted(
            Membership.objects.filter(role__in=[Role.OWNER, Role.ADMIN])
            .values_list("user__email", "user__language")):
        by_language.setdefault(language or settings.LANGUAGE_CODE, []).append(email)
    for language, recipients in by_language.items():
        with translation.override(language):
            subject = _("%(meter)s: %(threshold)s%% of your plan's quota used") % {
                "meter": label, "threshold": warning.threshold}
            body = _("Your workspace has used %(used)s of %(limit)s (%(meter)s) this period, "
                     "%(threshold)s%% of its quota.") % {
                "used": payload["used"], "limit": payload["limit"], "meter": label,
                "threshold": warning.threshold} + "\n"
            if warning.threshold >= 100:
                body += _("Further usage is refused until the next period unless you upgrade "
                          "the plan.") + "\n"
        transaction.on_commit(partial(send_mail, subject, body, None, recipients,
                                      fail_silently=True))


# --- Period close and invoices --------------------------------------------------------------


def close_grace() -> timedelta:
    """After a period ends, its last real-time windows are flushed before it is closed."""
    return timedelta(seconds=3 * window_seconds())


def periods_close_due(*, now: datetime | None = None) -> int:
    """Staff-wide (beat): close every period that has ended; returns invoices created."""
    now = now or timezone.now()
    meter_flush(now=now.timestamp())
    with unscoped():
        due = list(Subscription.objects.filter(period_end__lte=now - close_grace())
                   .values_list("tenant_id", flat=True))
    created = 0
    for tenant_id in due:
        with tenant_context(tenant_id):
            try:
                created += len(subscription_close_periods(now=now))
            except Exception:
                # One tenant's failure must not hold up the others; the next run retries it.
                logger.exception("period close failed", extra={"tenant_id": tenant_id})
    return created


@transaction.atomic
def subscription_close_periods(*, now: datetime | None = None) -> list[Invoice]:
    """Invoice each ended period of the tenant and move the subscription on (applying a
    scheduled downgrade). Under the subscription's lock and keyed (tenant, period start):
    closing twice, or concurrently, makes one invoice."""
    now = now or timezone.now()
    subscription = _subscription_locked()
    created = []
    period_start_before = subscription.period_start
    while subscription.period_end <= now - close_grace():
        start, end = subscription.period_start, subscription.period_end
        if not Invoice.objects.filter(period_start=start).exists():
            created.append(invoice_build(subscription=subscription, start=start, end=end))
        if subscription.pending_plan is not None:
            PlanChange.objects.create(subscription=subscription, from_plan=subscription.plan,
                                      to_plan=subscription.pending_plan, effective_at=end)
            subscription.plan, subscription.pending_plan = subscription.pending_plan, None
        subscription.period_start, subscription.period_end = end, month_bounds(end)[1]
        subscription.save(update_fields=["plan", "pending_plan", "period_start", "period_end"])
    if subscription.period_start != period_start_before:
        _forget_limits(subscription.tenant_id)  # a scheduled downgrade may have applied
    if created:
        ids, tenant_id = [invoice.pk for invoice in created], subscription.tenant_id
        transaction.on_commit(lambda: _submit_after_commit(tenant_id, ids))
    return created


@dataclass(frozen=True)
class PlanSegment:
    plan: Plan
    start: datetime
    end: datetime


def plan_segments(*, subscription: Subscription, start: datetime,
                  end: datetime) -> list[PlanSegment]:
    """The plans in force over ``[start, end)``, from the recorded plan changes."""
    changes = list(PlanChange.objects.filter(subscription=subscription, effective_at__gte=start)
                   .select_related("from_plan", "to_plan").order_by("effective_at", "pk"))
    plan = changes[0].from_plan if changes else subscription.plan
    segments: list[PlanSegment] = []
    moment = start
    for change in changes:
        if change.effective_at >= end:
            break
        if change.effective_at > moment:
            segments.append(PlanSegment(plan=plan, start=moment, end=change.effective_at))
        plan, moment = change.to_plan, max(moment, change.effective_at)
    segments.append(PlanSegment(plan=plan, start=moment, end=end))
    return segments


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.4g}"


@dataclass(frozen=True)
class InvoiceDraft:
    """An invoice's lines and sums before anything is stored (``invoice_build`` stores one;
    ``plan_change_estimate`` shows one)."""

    lines: list[InvoiceLine]
    final_plan: Plan
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax


def invoice_draft(*, segments: list[PlanSegment], start: datetime,
                  end: datetime) -> InvoiceDraft:
    """The lines of ``[start, end)`` under these plan segments: the monthly fee of each plan
    in force, prorated by time, then per meter the usage, what the final plan includes and the
    overage above it."""
    period_seconds = (end - start).total_seconds()
    lines: list[InvoiceLine] = []
    for segment in segments:
        seconds = (segment.end - segment.start).total_seconds()
        if segment.plan.monthly_fee == 0 or seconds <= 0:
            continue
        prorated = seconds < period_seconds
        amount = money(segment.plan.monthly_fee * Decimal(seconds) / Decimal(period_seconds))
        description = f"{segment.plan.name} plan, monthly fee"
        if prorated:
            description += (f" (prorated: {segment.start:%d %b} to {segment.end:%d %b %H:%M}, "
                            f"{_days(seconds)} of {_days(period_seconds)} days)")
        lines.append(InvoiceLine(description=description, quantity=Decimal(1),
                                 billable_quantity=Decimal(1),
                                 unit_price=segment.plan.monthly_fee, amount=amount))
    final_plan = segments[-1].plan
    terms = plan_terms(plan_id=final_plan.pk)
    totals = usage_totals(start=start, end=end)
    for meter, label in Meter.choices:
        term, used = terms.get(meter), totals[meter]
        if term is None and not used:
            continue
        included = term.included_quantity if term else Decimal(0)
        unit_price = term.overage_unit_price if term else Decimal(0)
        unit = term.overage_unit if term else Decimal(1)
        billable = max(used - included, Decimal(0))
        per = "" if unit == 1 else f" per {plain(unit)}"
        lines.append(InvoiceLine(
            description=f"{label}: {plain(used)} used, {plain(included)} included"
                        + (f", overage at {plain(unit_price)}{per}" if billable else ""),
            meter=meter, quantity=used, included_quantity=included, billable_quantity=billable,
            unit_price=unit_price, unit=unit, amount=money(billable / unit * unit_price)))
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax_rate = Decimal(str(settings.BILLING_TAX_RATE))
    return InvoiceDraft(lines=lines, final_plan=final_plan, subtotal=subtotal,
                        tax_rate=tax_rate, tax=money(subtotal * tax_rate))


def invoice_build(*, subscription: Subscription, start: datetime, end: datetime) -> Invoice:
    """The invoice of ``[start, end)`` (see ``invoice_draft``), stored with its lines."""
    draft = invoice_draft(segments=plan_segments(subscription=subscription, start=start,
                                                 end=end), start=start, end=end)
    invoice = Invoice.objects.create(
        number=f"INV-{start:%Y%m}-{subscription.tenant_id:06d}", period_start=start,
        period_end=end, plan_name=draft.final_plan.name, currency=settings.BILLING_CURRENCY,
        subtotal=draft.subtotal, tax_rate=draft.tax_rate, tax=draft.tax, total=draft.total)
    for position, line in enumerate(draft.lines, start=1):
        line.invoice, line.position, line.tenant_id = invoice, position, invoice.tenant_id
    InvoiceLine.objects.bulk_create(draft.lines)
    return invoice


@dataclass(frozen=True)
class PlanChangeEstimate:
    """What a plan change would cost, shown before it is confirmed."""

    current: Plan
    plan: Plan
    pending: Plan | None  # a downgrade already scheduled for the period's end
    is_upgrade: bool  # applies now (else at the period's end)
    period_start: datetime
    period_end: datetime
    prorated_fee: Decimal  # the new plan's fee for the rest of this period (0: a downgrade)
    draft: InvoiceDraft  # this period's invoice with the change, usage so far
    currency: str


def plan_change_estimate(*, plan_code: str, now: datetime | None = None) -> PlanChangeEstimate:
    """The period's invoice as it would stand if the tenant moved to ``plan_code`` now, from
    the same proration as the invoice (``invoice_draft``) and the usage so far. Writes
    nothing; an unknown or private plan is a ``BillingError`` naming the field."""
    now = now or timezone.now()
    subscription = subscription_current()
    plan = Plan.objects.filter(is_public=True, code=plan_code).first()
    if plan is None:
        choices = ", ".join(Plan.objects.filter(is_public=True).values_list("code", flat=True))
        raise BillingError(_("Unknown plan %(plan)r.") % {"plan": plan_code},
                           fields={"plan": [f"choose one of {choices}"]})
    start, end = subscription.period_start, subscription.period_end
    segments = plan_segments(subscription=subscription, start=start, end=end)
    is_upgrade = (plan.pk != subscription.plan_id
                  and plan.monthly_fee >= subscription.plan.monthly_fee)
    prorated_fee = Decimal(0)
    if is_upgrade and start <= now < end:
        kept = [PlanSegment(plan=segment.plan, start=segment.start, end=min(segment.end, now))
                for segment in segments if segment.start < now]
        segments = [*kept, PlanSegment(plan=plan, start=now, end=end)]
        prorated_fee = money(plan.monthly_fee * Decimal((end - now).total_seconds())
                             / Decimal((end - start).total_seconds()))
    return PlanChangeEstimate(
        current=subscription.plan, plan=plan, pending=subscription.pending_plan,
        is_upgrade=is_upgrade, period_start=start,
        period_end=end, prorated_fee=prorated_fee,
        draft=invoice_draft(segments=segments, start=start, end=end),
        currency=settings.BILLING_CURRENCY)


# --- Payment provider -----------------------------------------------------------------------


def _submit_after_commit(tenant_id: int, invoice_ids: list[int]) -> None:
    if not settings.BILLING_PAYMENT_PROVIDER:
        return
    for invoice_id in invoice_ids:
        task_send("billing.submit_invoice", invoice_id, tenant_id, queue="default")


def invoice_submit(*, invoice_id: int) -> Invoice:
    """Send an invoice to the payment provider once (a sent invoice is left alone; the
    provider's idempotency keys cover a retry after a lost answer)."""
    provider = payment_provider()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().prefetch_related("lines").get(
            pk=invoice_id)
        if invoice.provider_reference:
            return invoice
        subscription = _subscription_locked()
        result = provider.submit_invoice(invoice=invoice,
                                         customer_id=subscription.payment_customer_id)
        if result.customer_id != subscription.payment_customer_id:
            subscription.payment_customer_id = result.customer_id
            subscription.save(update_fields=["payment_customer_id"])
        invoice.provider = provider.name
        invoice.provider_reference = result.reference
        invoice.status = Invoice.Status.SENT
        invoice.save(update_fields=["provider", "provider_reference", "status"])
    return invoice

"""Metering and the quota hook. Plans, quotas and invoices arrive with the billing issue;
until then every job is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from billing.models import UsageRecord


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    meter: str = ""
    used: Decimal = Decimal(0)
    limit: Decimal | None = None
    message: str = ""


def quota_check(*, tenant_id: int, app: str, kind: str, items: int = 0) -> QuotaDecision:
    """Whether the tenant may start this job. Always allows until plans exist."""
    return QuotaDecision(allowed=True)


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
    return len(rows)

"""The console's tenant health page: one tenant's plan, usage against its quotas, failing
jobs and last activity, read under that tenant's context (the console runs unscoped; every
read here is the tenant's own, through the same selectors as its dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from accounts.models import ApiKey
from audit.models import AuditEvent
from billing.models import Subscription, UsageRecord
from billing.selectors import MeterSummary, subscription_current, usage_summary
from jobs.models import Job
from tenancy.context import tenant_context
from tenancy.models import Tenant

FAILING_WINDOW = timedelta(days=7)
FAILING_SHOWN = 10


@dataclass(frozen=True)
class TenantHealth:
    tenant: Tenant
    subscription: Subscription
    meters: list[MeterSummary]  # only those with usage or a quota
    failed_jobs: list[Job]  # the latest failures within FAILING_WINDOW
    failed_count: int
    unfinished_count: int
    last_activity: datetime | None
    last_activity_what: str


def tenant_health(*, tenant: Tenant, now: datetime | None = None) -> TenantHealth:
    now = now or timezone.now()
    with tenant_context(tenant.pk):
        subscription = subscription_current()
        meters = [meter for meter in usage_summary(now=now).meters
                  if meter.used > 0 or meter.included > 0 or meter.limit is not None]
        failed = Job.objects.filter(status=Job.Status.FAILED,
                                    finished_at__gte=now - FAILING_WINDOW).order_by("-finished_at")
        unfinished = Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
        moments = {
            "job submitted": Job.objects.aggregate(at=Max("created_at"))["at"],
            "usage recorded": UsageRecord.objects.aggregate(at=Max("occurred_at"))["at"],
            "API key used": ApiKey.objects.aggregate(at=Max("last_used_at"))["at"],
        }
        failed_jobs, failed_count = list(failed[:FAILING_SHOWN]), failed.count()
        unfinished_count = unfinished.count()
    moments["audited action"] = (AuditEvent.objects.filter(tenant=tenant)
                                 .aggregate(at=Max("created_at"))["at"])
    known = {what: at for what, at in moments.items() if at is not None}
    last_what = max(known, key=lambda what: known[what]) if known else ""
    return TenantHealth(tenant=tenant, subscription=subscription, meters=meters,
                        failed_jobs=failed_jobs, failed_count=failed_count,
                        unfinished_count=unfinished_count,
                        last_activity=known.get(last_what), last_activity_what=last_what)

"""Console (staff) pages for the job pipeline: jobs with their events and retry/cancel
actions, datasets, model versions, usage records, and a "Queues and workers" page.

Console requests run ``unscoped()`` (staff-wide, see ``accounts.middleware``); every action
that writes calls the service inside the job's own ``tenant_context`` so that the service's
scoped queries, row-level security and webhooks behave exactly as for the tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from billing.models import UsageRecord
from jobs import selectors
from jobs.models import Dataset, Job, JobEvent, ModelVersion
from jobs.services import JobError, job_cancel, job_retry, model_version_activate
from tenancy.context import tenant_context


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the pipeline's services: staff look, and act through actions."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _per_job(request: HttpRequest, modeladmin: admin.ModelAdmin, queryset: QuerySet[Any],
             service: Callable[..., Any], verb: str) -> None:
    """Run ``service`` for each selected job under that job's tenant; report both the jobs
    done and the ones the service refused (e.g. retrying a job that succeeded)."""
    done: list[str] = []
    refused: list[str] = []
    for job in queryset.order_by("pk"):
        with tenant_context(job.tenant_id):
            try:
                service(job=job)
            except JobError as error:
                refused.append(f"#{job.pk}: {error}")
            else:
                done.append(f"#{job.pk}")
    if done:
        modeladmin.message_user(request, f"{verb}: {', '.join(done)}.", messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, f"Not {verb.lower()}: {'; '.join(refused)}",
                                messages.WARNING)


class JobEventInline(admin.TabularInline):
    model = JobEvent
    fields = ("created_at", "kind", "message", "data")
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "tenant", "app", "kind", "status", "progress_display", "attempts",
                    "worker", "created_at", "finished_at")
    list_filter = ("status", "app", "kind", "tenant")
    search_fields = ("=id", "tenant__slug", "tenant__name", "worker", "idempotency_key", "error")
    list_select_related = ("tenant",)
    date_hierarchy = "created_at"
    inlines = (JobEventInline,)
    actions = ("retry_jobs", "cancel_jobs")
    fieldsets = (
        (None, {"fields": ("tenant", "app", "kind", "status", "params", "dataset",
                           "model_version", "created_by", "idempotency_key")}),
        ("Progress", {"fields": ("items_done", "items_total", "metrics", "error", "attempts",
                                 "max_attempts", "cancel_requested", "worker")}),
        ("Timings and usage", {"fields": ("created_at", "enqueued_at", "started_at",
                                          "heartbeat_at", "finished_at",
                                          "accelerator_seconds")}),
    )

    @admin.display(description="Progress")
    def progress_display(self, job: Job) -> str:
        if not job.items_total:
            return f"{job.items_done}" if job.items_done else "—"
        return f"{job.items_done} / {job.items_total} ({(job.progress or 0) * 100:.0f}%)"

    @admin.action(description="Retry selected jobs (failed or cancelled)")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        _per_job(request, self, queryset, job_retry, "Retried")

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        _per_job(request, self, queryset, job_cancel, "Cancelled")

    def get_urls(self) -> list[URLPattern]:
        queues = path("queues/", self.admin_site.admin_view(self.queues_view),
                      name="jobs_job_queues")
        return [queues, *super().get_urls()]

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}),
                         "queues_url": reverse(f"{self.admin_site.name}:jobs_job_queues")}
        return super().changelist_view(request, extra_context)

    def queues_view(self, request: HttpRequest) -> TemplateResponse:
        """Queue depths in Redis, live workers and what they run, unfinished jobs in the
        database (the source of truth; the sweeper re-enqueues what Redis lost)."""
        unfinished = dict(
            Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
            .order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
        )
        return TemplateResponse(request, "admin/jobs/queues.html", {
            **self.admin_site.each_context(request),
            "title": "Queues and workers",
            "opts": self.model._meta,
            "overview": selectors.queue_overview(),
            "queued_jobs": unfinished.get(Job.Status.QUEUED, 0),
            "running_jobs": unfinished.get(Job.Status.RUNNING, 0),
            "changelist_url": reverse(f"{self.admin_site.name}:jobs_job_changelist"),
        })


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "app", "purpose", "format", "row_count", "size_bytes",
                    "created_at")
    list_filter = ("app", "purpose", "format", "tenant")
    search_fields = ("name", "sha256", "tenant__slug")
    list_select_related = ("tenant",)
    date_hierarchy = "created_at"


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "tenant", "status", "base_model", "method", "macro_f1",
                    "artifact_bytes", "created_at", "activated_at")
    list_filter = ("status", "app", "method", "tenant")
    search_fields = ("app", "tenant__slug", "base_model")
    list_select_related = ("tenant",)
    actions = ("activate_versions",)

    @admin.display(description="Macro-F1")
    def macro_f1(self, version: ModelVersion) -> str:
        value = (version.metrics or {}).get("macro_f1")
        return f"{value:.3f}" if isinstance(value, int | float) else "—"

    @admin.action(description="Activate selected versions (one per tenant and app)")
    def activate_versions(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        versions = list(queryset)
        targets = {(version.tenant_id, version.app) for version in versions}
        if len(targets) != len(versions):
            self.message_user(request, "Select at most one version per tenant and app: only "
                              "one can be active.", messages.ERROR)
            return
        for version in versions:
            with tenant_context(version.tenant_id):
                model_version_activate(version=version,
                                       note=f"Activated by staff ({request.user})")
        self.message_user(request, f"Activated: {', '.join(str(v) for v in versions)}.",
                          messages.SUCCESS)


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "tenant", "meter", "quantity", "job_link", "idempotency_key")
    list_filter = ("meter", "tenant")
    search_fields = ("idempotency_key", "tenant__slug", "=job__id")
    list_select_related = ("tenant",)
    date_hierarchy = "created_at"

    @admin.display(description="Job")
    def job_link(self, record: UsageRecord) -> str:
        if record.job_id is None:
            return "—"
        url = reverse(f"{self.admin_site.name}:jobs_job_change", args=[record.job_id])
        return format_html('<a href="{}">#{}</a>', url, record.job_id)

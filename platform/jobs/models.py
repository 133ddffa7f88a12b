"""Datasets, jobs, their event logs and the model versions that fine-tunes produce.

PostgreSQL is the source of truth: a job exists because its row exists; Celery only carries
its id. Every index and unique constraint starts with ``tenant`` (ready for sharding on it).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenancy.models import TenantOwnedModel


class Dataset(TenantOwnedModel):
    class Format(models.TextChoices):
        CSV = "csv", _("CSV")
        JSONL = "jsonl", _("JSON lines")

    app = models.CharField(max_length=40)
    purpose = models.CharField(max_length=40, help_text="Which of the app's schemas it follows")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to="datasets/%Y/%m/", max_length=300)
    format = models.CharField(max_length=8, choices=Format.choices)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    row_count = models.IntegerField()
    columns = models.JSONField(default=list)
    label_counts = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "app", "-created_at"], name="dataset_tenant_app_time"),
        ]

    def __str__(self) -> str:
        return self.name


class ModelVersion(TenantOwnedModel):
    class Status(models.TextChoices):
        READY = "ready", _("Ready")
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    app = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    base_model = models.CharField(max_length=200)
    method = models.CharField(max_length=16, default="lora")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    label_map = models.JSONField(default=list, help_text="Labels in the head's output order")
    metrics = models.JSONField(default=dict, blank=True)
    artifact = models.FileField(upload_to="models/", max_length=300)
    artifact_bytes = models.BigIntegerField(default=0)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    promotion_note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "app", "version"],
                                    name="modelversion_tenant_app_version_uniq"),
            models.UniqueConstraint(fields=["tenant", "app"], condition=Q(status="active"),
                                    name="modelversion_one_active_per_app"),
        ]

    def __str__(self) -> str:
        return f"{self.app} v{self.version}"


class Job(TenantOwnedModel):
    class Kind(models.TextChoices):
        FINE_TUNE = "fine_tune", _("Fine-tune")
        BATCH_INFERENCE = "batch_inference", _("Batch inference")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    app = models.CharField(max_length=40)
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="jobs")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="jobs",
                                      help_text="The version an inference job runs")
    items_done = models.IntegerField(default=0)
    items_total = models.IntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    dataset_check = models.JSONField(
        default=dict, blank=True,
        help_text="A fine-tune's dataset check, before training (jobs.dataset_check)")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    accelerator_seconds = models.FloatField(default=0)
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering: ClassVar = ["-created_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"],
                                    condition=~Q(idempotency_key=""),
                                    name="job_tenant_idempotency_uniq"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "-created_at"], name="job_tenant_time"),
            models.Index(fields=["tenant", "app", "status"], name="job_tenant_app_status"),
            # The sweeper's scan across tenants: only unfinished jobs, so the index stays small.
            models.Index(fields=["status", "heartbeat_at"], name="job_unfinished",
                         condition=Q(status__in=["queued", "running"])),
        ]

    def __str__(self) -> str:
        return f"{self.app}/{self.kind} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress(self) -> float | None:
        if not self.items_total:
            return None
        return min(1.0, self.items_done / self.items_total)


class JobEvent(TenantOwnedModel):
    """Append-only log of a job: state changes, training loss, validation metrics, warnings."""

    class Kind(models.TextChoices):
        STATUS = "status", _("Status")
        LOSS = "loss", _("Training loss")
        METRICS = "metrics", _("Validation metrics")
        PROGRESS = "progress", _("Progress")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["id"]
        indexes: ClassVar = [models.Index(fields=["tenant", "job", "id"], name="jobevent_job_id")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class JobResult(TenantOwnedModel):
    """Base of the tables that jobs fill through ``jobs.writeback``: a row per item, often
    hundreds of thousands per job, each keyed by a unique key that starts with (tenant, job).

    The tenant and the job are one key, ``(tenant_id, job_id)`` to ``jobs_job (tenant_id,
    id)``, checked once per statement by triggers that each table's migration adds
    (``jobs.constraints.JobResultKey``), instead of Django's two plain foreign keys:

    - a result can only name a job of its own tenant (a plain ``job_id`` key accepts another
      tenant's job);
    - a plain key probes the job's index for every written row, and those probes were about
      half the time of a bulk write (``bench/writeback.py``); a statement checks its distinct
      (tenant, job) pairs, usually one;
    - the tenant exists because the job's own key to it holds.

    Neither column has an index of its own: the table's unique key, led by (tenant, job),
    serves both, and the check when a job is deleted.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, editable=False,
                               db_constraint=False, db_index=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+",
                            db_constraint=False, db_index=False)

    class Meta:
        abstract = True


class Prediction(JobResult):
    """A batch-inference result for one row of an input dataset, identified by (job, row).

    Applications with their own result tables (sentiment scores, intents) write those too;
    this one backs the generic "classify a file" flow and its CSV export. Its primary key is
    its natural key: nothing refers to a prediction, so a surrogate id would only cost a
    second index on every write.
    """

    pk = models.CompositePrimaryKey("tenant_id", "job_id", "item")
    item = models.IntegerField(help_text="Row number in the input, from 1")
    label = models.CharField(max_length=100)
    confidence = models.FloatField()
    probabilities = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.job_id}/{self.item}: {self.label}"

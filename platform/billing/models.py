from __future__ import annotations

from typing import ClassVar

from django.db import models

from tenancy.models import TenantOwnedModel


class Meter(models.TextChoices):
    TRAINING_ACCELERATOR_SECONDS = "training_accelerator_seconds", "Accelerator seconds (training)"
    INFERENCE_ACCELERATOR_SECONDS = (
        "inference_accelerator_seconds", "Accelerator seconds (inference)"
    )
    ITEMS_INFERRED = "items_inferred", "Items inferred"
    CHAT_MESSAGES = "chat_messages", "Chat messages"
    RECOMMENDATION_REQUESTS = "recommendation_requests", "Recommendation requests"
    API_CALLS = "api_calls", "API calls"
    STORAGE_BYTES = "storage_bytes", "Storage bytes"


class UsageRecord(TenantOwnedModel):
    """One billable quantity. The idempotency key makes a retried or duplicated writer
    (a task that runs twice) record it once: ``job:<id>:<meter>`` for jobs."""

    meter = models.CharField(max_length=40, choices=Meter.choices)
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="usage_records")
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"],
                                    name="usage_tenant_idempotency_uniq"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "meter", "created_at"], name="usage_tenant_meter_time"),
        ]

    def __str__(self) -> str:
        return f"{self.meter}={self.quantity}"

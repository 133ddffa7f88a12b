"""The experiment table. Invariant: at most one *running* experiment per tenant (a partial
unique constraint, checked again by ``services.experiment_create`` to answer a readable 400):
with two running, a user would be in two arms at once and a served list could only record
one of them, so attribution would be wrong for the other.

An arm is a model version or, when its version is null, popularity (the cold-start list). The
experiment's impressions carry ``experiment`` and ``arm`` (``models.Impression``).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenancy.models import TenantOwnedModel

MIN_TRAFFIC_B = 1
MAX_TRAFFIC_B = 99


class Arm(models.TextChoices):
    A = "a", "A"
    B = "b", "B"


class ExperimentMetric(models.TextChoices):
    CTR = "ctr", _("Click-through rate")
    CONVERSION = "conversion", _("Conversion rate")


class Experiment(TenantOwnedModel):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")

    name = models.CharField(max_length=200)
    # Null: the arm serves popularity (no model). RESTRICT: a version under test cannot be
    # deleted on its own, while deleting the tenant takes both (PROTECT would block that).
    arm_a_version = models.ForeignKey("jobs.ModelVersion", null=True, blank=True,
                                      on_delete=models.RESTRICT, related_name="+")
    arm_b_version = models.ForeignKey("jobs.ModelVersion", null=True, blank=True,
                                      on_delete=models.RESTRICT, related_name="+")
    traffic_b = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(MIN_TRAFFIC_B),
                                MaxValueValidator(MAX_TRAFFIC_B)],
        help_text="Percent of end users in arm B")
    metric = models.CharField(max_length=16, choices=ExperimentMetric.choices,
                              default=ExperimentMetric.CTR)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=1, choices=Arm.choices, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant"], condition=models.Q(status="running"),
                                    name="recs_experiment_one_running"),
            models.CheckConstraint(condition=models.Q(traffic_b__gte=MIN_TRAFFIC_B,
                                                      traffic_b__lte=MAX_TRAFFIC_B),
                                   name="recs_experiment_traffic_b_range"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "status"], name="recs_experiment_status"),
        ]

    def __str__(self) -> str:
        return self.name

    def arm_version_id(self, arm: str) -> int | None:
        return self.arm_a_version_id if arm == Arm.A else self.arm_b_version_id

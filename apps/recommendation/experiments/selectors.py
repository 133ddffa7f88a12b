"""Reads of the A/B tests: the running experiment, a user's arm, and each arm's results.

**Assignment** is a stable hash of (tenant, experiment, end user's external id): the same user
is always in the same arm of an experiment, without storing the assignment, and a new
experiment shuffles users afresh (its id is in the hash).

**Attribution**: a served list (the impressions sharing a ``request_id``, which the response
returns as its recommendation id) is *clicked* when a ``click`` event carries its id, or, for
an event without one, when the same user clicks one of its items within a day after it was
served; *converted* likewise with a ``purchase`` event within seven days. The unit of each
rate is the list: CTR = clicked lists / lists served to the arm.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from apps.recommendation.experiments import stats
from apps.recommendation.experiments.models import Arm, Experiment, ExperimentMetric
from apps.recommendation.models import Impression, Interaction, InteractionKind
from tenancy.context import require_tenant_id

CLICK_WINDOW = timedelta(days=1)
CONVERSION_WINDOW = timedelta(days=7)
HASH_BUCKETS = 10_000

CALL_TEXT = {
    "b_better": _("B is better, %(confidence)s confidence"),
    "a_better": _("A is better, %(confidence)s confidence"),
    "no_difference": _("No clear difference yet"),
    "not_enough_data": _("Not enough data yet"),
}


def experiment_list() -> QuerySet[Experiment]:
    return Experiment.objects.select_related("arm_a_version", "arm_b_version")


def running_experiment() -> Experiment | None:
    return (Experiment.objects.filter(status=Experiment.Status.RUNNING)
            .only("id", "name", "traffic_b", "arm_a_version_id", "arm_b_version_id").first())


def arm_assign(*, tenant_id: int, experiment_id: int, external_id: str, traffic_b: int) -> str:
    """The user's arm: a stable hash into 10,000 buckets; the first ``traffic_b`` percent
    of them are arm B."""
    digest = hashlib.sha256(f"{tenant_id}:{experiment_id}:{external_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % HASH_BUCKETS
    return Arm.B if bucket < traffic_b * HASH_BUCKETS // 100 else Arm.A


@dataclass(frozen=True)
class ServingArm:
    """How to serve a user: ``sources`` narrows ``selectors.recommendations_for``."""

    experiment_id: int | None = None
    arm: str = ""
    sources: dict[str, object] = field(default_factory=dict)


NO_EXPERIMENT = ServingArm()


def serving_arm(*, external_id: str) -> ServingArm:
    """The user's arm of the running experiment (one indexed query), or no experiment."""
    experiment = running_experiment()
    if experiment is None:
        return NO_EXPERIMENT
    arm = arm_assign(tenant_id=require_tenant_id(), experiment_id=experiment.pk,
                     external_id=external_id, traffic_b=experiment.traffic_b)
    version_id = experiment.arm_version_id(arm)
    sources: dict[str, object] = ({"version_id": version_id} if version_id is not None
                                  else {"popular_only": True})
    return ServingArm(experiment_id=experiment.pk, arm=arm, sources=sources)


def arm_source(experiment: Experiment, arm: str) -> str:
    """``v3`` or ``popularity``, as the API and the pages name an arm."""
    version = experiment.arm_a_version if arm == Arm.A else experiment.arm_b_version
    return f"v{version.version}" if version is not None else "popularity"


# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmResult:
    arm: str
    source: str
    lists: int
    impressions: int
    ctr: stats.Proportion
    conversion: stats.Proportion


@dataclass(frozen=True)
class MetricResult:
    metric: str
    comparison: stats.Comparison

    @property
    def call_text(self) -> str:
        return str(CALL_TEXT[self.comparison.call]) % {"confidence": f"{stats.CONFIDENCE:.0%}"}


@dataclass(frozen=True)
class Results:
    arms: tuple[ArmResult, ArmResult]
    ctr: MetricResult
    conversion: MetricResult
    primary: MetricResult
    min_lists: int


def _attributed(kind: str, window: timedelta) -> Exists:
    by_id = Q(recommendation_id=OuterRef("request_id"))
    by_time = Q(recommendation_id="", user__external_id=OuterRef("user_external_id"),
                item_id=OuterRef("item_id"), occurred_at__gte=OuterRef("served_at"),
                occurred_at__lt=OuterRef("served_at") + window)
    return Exists(Interaction.objects.filter(by_id | by_time, kind=kind))


def experiment_results(*, experiment: Experiment) -> Results:
    """Per arm: lists served, items shown, clicked and converted lists with their Wilson
    intervals; B against A for both rates, and the call on the experiment's metric."""
    rows = (Impression.objects.filter(experiment=experiment)
            .annotate(clicked=_attributed(InteractionKind.CLICK, CLICK_WINDOW),
                      converted=_attributed(InteractionKind.PURCHASE, CONVERSION_WINDOW))
            .values("arm")
            .annotate(lists=Count("request_id", distinct=True), impressions=Count("id"),
                      clicked_lists=Count("request_id", distinct=True,
                                          filter=Q(clicked=True)),
                      converted_lists=Count("request_id", distinct=True,
                                            filter=Q(converted=True)))
            .order_by())
    by_arm: dict[str, dict[str, Any]] = {row["arm"]: dict(row) for row in rows}
    arms = []
    for arm in (Arm.A, Arm.B):
        row: dict[str, Any] = by_arm.get(arm, {})
        lists = row.get("lists", 0)
        arms.append(ArmResult(arm=arm, source=arm_source(experiment, arm), lists=lists,
                              impressions=row.get("impressions", 0),
                              ctr=stats.wilson(row.get("clicked_lists", 0), lists),
                              conversion=stats.wilson(row.get("converted_lists", 0), lists)))
    a, b = arms
    ctr = MetricResult(ExperimentMetric.CTR, stats.compare(a.ctr, b.ctr))
    conversion = MetricResult(ExperimentMetric.CONVERSION,
                              stats.compare(a.conversion, b.conversion))
    return Results(arms=(a, b), ctr=ctr, conversion=conversion,
                   primary=conversion if experiment.metric == ExperimentMetric.CONVERSION
                   else ctr, min_lists=stats.MIN_LISTS)

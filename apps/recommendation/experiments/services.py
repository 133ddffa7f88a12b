"""Writes of the A/B tests: start an experiment, stop it, promote its winner.

An arm is named by a model version *number* of the recommendation app (``3``) or ``None`` for
popularity. A version arm serves that version's precomputed lists, so starting an experiment
submits a ``recommend`` job for each version arm that has none yet (until it has run, that
arm's users get the content and popularity fallbacks). Promoting the winner activates its
version through the platform's promotion service (``jobs.services.model_version_activate``:
audited like a promotion by hand) and submits its ``recommend`` job, so every user's latest
list is the winner's again.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.recommendation.experiments import selectors
from apps.recommendation.experiments.models import (
    MAX_TRAFFIC_B,
    MIN_TRAFFIC_B,
    Arm,
    Experiment,
    ExperimentMetric,
)
from apps.recommendation.models import Recommendation
from apps.recommendation.spec import APP
from config.errors import ServiceError
from jobs.models import Job, ModelVersion
from jobs.services import job_submit, model_version_activate

logger = logging.getLogger(__name__)

NAME_LENGTH = 200


class ExperimentError(ServiceError):
    """An experiment the app refuses to start, stop or promote (a 400 naming the field)."""


def _version(number: int | None, field_name: str) -> ModelVersion | None:
    if number is None:
        return None
    version = ModelVersion.objects.filter(app=APP, version=number).first()
    if version is None or version.status == ModelVersion.Status.ARCHIVED:
        raise ExperimentError(f"There is no model version v{number} to test.",
                              fields={field_name: [f"unknown model version v{number}"]})
    return version


def _lists_ensure(version: ModelVersion | None, created_by_id: int | None) -> None:
    """Submit a ``recommend`` job for ``version`` unless it has lists or one is on its way;
    a refusal (a quota) leaves the arm on its fallbacks and is logged, not raised."""
    if version is None or Recommendation.objects.filter(model_version=version).exists():
        return
    if Job.objects.filter(app=APP, kind="recommend", model_version=version).exclude(
            status__in=Job.FINISHED).exists():
        return
    try:
        job_submit(app=APP, kind="recommend", params={}, model_version_id=version.pk,
                   created_by_id=created_by_id)
    except ServiceError as error:
        logger.warning("experiment arm lists not submitted", extra={
            "version": version.pk, "error": str(error)})


@transaction.atomic
def experiment_create(*, name: str, arm_a: int | None, arm_b: int | None, traffic_b: int = 50,
                      metric: str = ExperimentMetric.CTR,
                      created_by_id: int | None = None) -> Experiment:
    """Start an experiment between two different arms (a version number, or None for
    popularity). Refused while another experiment runs: a user would be in two arms."""
    name = (name or "").strip()
    if not name or len(name) > NAME_LENGTH:
        raise ExperimentError("Name the experiment.",
                              fields={"name": [f"1 to {NAME_LENGTH} characters"]})
    if not MIN_TRAFFIC_B <= traffic_b <= MAX_TRAFFIC_B:
        raise ExperimentError("Arm B's share of users is out of range.", fields={
            "traffic_b": [f"from {MIN_TRAFFIC_B} to {MAX_TRAFFIC_B} percent"]})
    if metric not in ExperimentMetric.values:
        raise ExperimentError("Unknown metric.", fields={
            "metric": [f"one of {', '.join(ExperimentMetric.values)}"]})
    if arm_a == arm_b:
        raise ExperimentError("The two arms are the same: an experiment compares two "
                              "different sources.",
                              fields={"arm_b": ["must differ from arm A"]})
    version_a, version_b = _version(arm_a, "arm_a"), _version(arm_b, "arm_b")
    running = selectors.running_experiment()
    if running is not None:
        raise _overlapping(running)
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(
                name=name, arm_a_version=version_a, arm_b_version=version_b,
                traffic_b=traffic_b, metric=metric, started_at=timezone.now(),
                created_by_id=created_by_id)
    except IntegrityError:  # another request started one meanwhile
        raise _overlapping(selectors.running_experiment()) from None
    for version in (version_a, version_b):
        _lists_ensure(version, created_by_id)
    return experiment


def _overlapping(running: Experiment | None) -> ExperimentError:
    label = f"“{running.name}”" if running is not None else "another experiment"
    return ExperimentError(
        f"Experiment {label} is running; stop it before starting another (a user can be in "
        "one experiment at a time).", code="experiment_running",
        fields={"experiment": ["another experiment is running"]},
        details={"running": running.pk if running is not None else None})


@transaction.atomic
def experiment_stop(*, experiment: Experiment) -> Experiment:
    """Stop serving the arms (idempotent: a stopped experiment stays as it was)."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.status == Experiment.Status.RUNNING:
        experiment.status = Experiment.Status.STOPPED
        experiment.stopped_at = timezone.now()
        experiment.save(update_fields=["status", "stopped_at"])
    return experiment


@transaction.atomic
def experiment_promote(*, experiment: Experiment, arm: str | None = None,
                       actor_id: int | None = None, actor: str = "",
                       request: Any = None) -> Experiment:
    """Stop the experiment and promote ``arm``'s model version (by default the arm that the
    experiment's metric calls better at 95% confidence). A popularity arm has no version to
    promote, and without a clear winner the arm must be named."""
    experiment = experiment_stop(experiment=experiment)
    if arm is None:
        call = selectors.experiment_results(experiment=experiment).primary.comparison.call
        if call not in ("a_better", "b_better"):
            raise ExperimentError("Neither arm is better at 95% confidence yet; name the arm "
                                  "to promote.", fields={"arm": ["no winner yet"]})
        arm = Arm.A if call == "a_better" else Arm.B
    if arm not in Arm.values:
        raise ExperimentError("Unknown arm.", fields={"arm": ["a or b"]})
    version_id = experiment.arm_version_id(arm)
    if version_id is None:
        raise ExperimentError(f"Arm {arm.upper()} serves popularity: there is no model version "
                              "to promote.", fields={"arm": ["serves popularity"]})
    version = ModelVersion.objects.get(pk=version_id)
    model_version_activate(
        version=version, actor_id=actor_id, actor=actor, request=request,
        note=f"Promoted as the winner of experiment “{experiment.name}”"[:300])
    experiment.winner = arm
    experiment.save(update_fields=["winner"])
    job_submit(app=APP, kind="recommend", params={}, model_version_id=version.pk,
               created_by_id=actor_id)
    return experiment

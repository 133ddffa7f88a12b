"""Writes on datasets, jobs and model versions: submission, dispatch, the worker-side state
machine (claim → progress → finish) and the sweeper.

State machine::

    queued ──claim──► running ──finish──► succeeded | failed | cancelled
      ▲                  │ heartbeat stale (worker lost) and attempts left
      └──── sweeper ─────┘

A job is enqueued only after its row commits (``transaction.on_commit``); Redis losing the
message, or a worker dying, costs time but never the job: the sweeper re-enqueues it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.services import audit_record
from billing.models import Meter
from billing.services import (
    QuotaDecision,
    quota_check,
    storage_quota_check,
    usage_record_many,
)
from config.celery import task_send
from config.errors import ServiceError
from jobs.datasets import ParsedDataset, dataset_parse
from jobs.gate import gate_decide, gate_figures
from jobs.liveness import worker_alive, worker_mark_alive, workers_alive
from jobs.models import Dataset, Job, JobEvent, ModelVersion
from jobs.params import unknown_params
from jobs.registry import AppSpec, JobKind, UnknownApp, all_apps, get_app
from tenancy.context import require_tenant_id, tenant_context, unscoped
from webhooks.services import webhook_emit

logger = logging.getLogger(__name__)


class JobError(ServiceError):
    """A request the pipeline refuses; ``code`` and ``status`` map onto the API error format."""

    default_code = "invalid"


def _app(label: str) -> AppSpec:
    try:
        return get_app(label)
    except UnknownApp:
        names = ", ".join(spec.label for spec in all_apps())
        raise JobError(f"Unknown application {label!r}.",
                       fields={"app": [f"choose one of {names}"]}) from None


# --- Datasets -------------------------------------------------------------------------------


@transaction.atomic
def dataset_create(*, app: str, purpose: str, name: str, filename: str, data: bytes,
                   created_by_id: int | None) -> Dataset:
    """Validate a whole upload against the app's schema, then store it; on any problem raise
    ``DatasetInvalid`` and store nothing."""
    schema = _app(app).datasets.get(purpose)
    if schema is None:
        raise JobError(f"The {app} app has no dataset purpose {purpose!r}.",
                       fields={"purpose": [f"choose one of {', '.join(get_app(app).datasets)}"]})
    parsed: ParsedDataset = dataset_parse(data=data, filename=filename, schema=schema,
                                          max_bytes=settings.DATASET_MAX_BYTES)
    dataset = Dataset(
        app=app, purpose=purpose, name=(name or filename)[:200], format=parsed.format,
        size_bytes=parsed.size_bytes, sha256=parsed.sha256, row_count=parsed.row_count,
        columns=parsed.columns, label_counts=parsed.label_counts, created_by_id=created_by_id,
    )
    storage = storage_quota_check(additional_bytes=parsed.size_bytes)
    if not storage.allowed:
        raise _quota_refused(storage)
    extension = "jsonl" if parsed.format == "jsonl" else "csv"
    # The file is written first; if the row then fails to save, the transaction rolls back
    # and the orphan file is removed below, so nothing is half-written either way.
    dataset.file.save(f"{require_tenant_id()}-{parsed.sha256[:16]}.{extension}",
                      ContentFile(data), save=False)
    try:
        dataset.save()
    except Exception:
        dataset.file.delete(save=False)
        raise
    return dataset


def dataset_rows(dataset: Dataset) -> list[dict[str, Any]]:
    """The dataset's rows, typed by its schema (validated at upload, so parsing succeeds)."""
    schema = get_app(dataset.app).datasets[dataset.purpose]
    with dataset.file.open("rb") as handle:
        data = handle.read()
    return dataset_parse(data=data, filename=dataset.file.name or "", schema=schema,
                         max_bytes=max(len(data), settings.DATASET_MAX_BYTES)).rows


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    if dataset.jobs.exclude(status__in=Job.FINISHED).exists():
        raise JobError(_("This dataset is used by a job that has not finished."), code="conflict")
    # As a fine-tune's validation or test set it is named in the job's parameters.
    named = Job.objects.filter(Q(params__validation_dataset=dataset.pk)
                               | Q(params__test_dataset=dataset.pk))
    if dataset.jobs.exists() or named.exists():
        raise JobError(_("This dataset is referenced by past jobs; it is kept for their record."),
                       code="conflict")
    file = dataset.file
    dataset.delete()
    transaction.on_commit(lambda: file.delete(save=False))


# --- Submission -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool  # False when an idempotency key returned an earlier job


def _request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def job_submit(*, app: str, kind: str, params: dict[str, Any], dataset_id: int | None = None,
               model_version_id: int | None = None, idempotency_key: str = "",
               created_by_id: int | None = None) -> Submission:
    """Validate, check quota, create and enqueue a job (after commit).

    The same idempotency key with the same request returns the first job; with a different
    request it is a 409 conflict.
    """
    spec = _app(app)
    job_kind = spec.job_kinds.get(kind)
    if job_kind is None:
        raise JobError(f"The {spec.name} app has no job kind {kind!r}.",
                       fields={"kind": [f"choose one of {', '.join(spec.job_kinds)}"]})
    request = {"app": app, "kind": kind, "params": params, "dataset": dataset_id,
               "model_version": model_version_id}
    request_hash = _request_hash(request)
    if idempotency_key:
        earlier = Job.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is not None:
            return _replay(earlier, request_hash)

    serializer = job_kind.params(data=params)
    errors = {**unknown_params(serializer, params),
              **({} if serializer.is_valid() else serializer.errors)}
    if errors:
        raise JobError(_("Some parameters are invalid."),
                       fields={f"params.{k}": [str(e) for e in v] for k, v in errors.items()})
    dataset = _dataset_for(job_kind, app, dataset_id)
    _evaluation_datasets_check(job_kind, app, dataset, serializer.validated_data)
    version = _version_for(job_kind, app, model_version_id)
    _precondition_check(job_kind, serializer.validated_data)
    try:
        with transaction.atomic():
            # Locks the tenant's subscription until this transaction commits: concurrent
            # submissions near the limit are decided one at a time (nothing queued if refused).
            decision = quota_check(tenant_id=require_tenant_id(), app=app, kind=kind,
                                   items=dataset.row_count if dataset else 0)
            if not decision.allowed:
                raise _quota_refused(decision)
            job = Job.objects.create(
                app=app, kind=kind, params=serializer.validated_data, dataset=dataset,
                model_version=version, idempotency_key=idempotency_key,
                request_hash=request_hash, created_by_id=created_by_id,
                # The dataset's rows are the total of a job counting rows (inference; billing
                # reserves them); a fine-tune counts epochs, which its worker reports.
                items_total=(dataset.row_count if dataset and job_kind.progress_unit != "epochs"
                             else None),
                max_attempts=settings.JOB_MAX_ATTEMPTS,
            )
            job_event_add(job=job, kind=JobEvent.Kind.STATUS, message="Queued")
            _enqueue_on_commit(job)
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race.
        earlier = Job.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is None:
            raise
        return _replay(earlier, request_hash)
    return Submission(job=job, created=True)


def _precondition_check(job_kind: JobKind, params: dict[str, Any]) -> None:
    """The kind's own refusal of a job that could only fail (``JobKind.precondition``)."""
    if job_kind.precondition:
        import_string(job_kind.precondition)(params=params)


def _quota_refused(decision: QuotaDecision) -> JobError:
    """A 402 in the API's error format, naming the meter, the usage and the limit."""
    refusal = decision.error()
    return JobError(decision.message, code=refusal.code,
                    details=refusal.details)


def _replay(earlier: Job, request_hash: str) -> Submission:
    if earlier.request_hash != request_hash:
        raise JobError(_("This idempotency key was already used for a different request."),
                       code="idempotency_conflict")
    return Submission(job=earlier, created=False)


def _dataset_for(job_kind: Any, app: str, dataset_id: int | None) -> Dataset | None:
    if not job_kind.dataset_purposes:
        return None
    if dataset_id is None:
        if job_kind.dataset_required:
            raise JobError(_("This job needs a dataset."), fields={"dataset": [_("is required")]})
        return None
    dataset = Dataset.objects.filter(pk=dataset_id, app=app).first()
    if dataset is None:
        raise JobError(_("Dataset not found."), fields={"dataset": [_("not found")]})
    if dataset.purpose not in job_kind.dataset_purposes:
        raise JobError(
            f"This job needs a dataset of purpose {' or '.join(job_kind.dataset_purposes)}.",
            fields={"dataset": [f"has purpose {dataset.purpose!r}"]},
        )
    return dataset


def _evaluation_datasets_check(job_kind: JobKind, app: str, dataset: Dataset | None,
                               params: dict[str, Any]) -> None:
    """A fine-tune's ``validation_dataset`` and ``test_dataset``: the tenant's own (another
    tenant's id is "not found", as a missing one), of the app and a training purpose, with
    rows, and no label the training dataset lacks (the model could never predict it). The
    worker's dataset check repeats the label test on the rows it trains on."""
    for name in ("validation_dataset", "test_dataset"):
        dataset_id = params.get(name)
        if dataset_id is None:
            continue
        field = f"params.{name}"
        other = Dataset.objects.filter(pk=dataset_id, app=app).first()
        if other is None:
            raise JobError("Dataset not found.", fields={field: ["not found"]})
        if other.purpose not in job_kind.dataset_purposes:
            raise JobError(
                f"A {name.replace('_', ' ')} must have purpose "
                f"{' or '.join(job_kind.dataset_purposes)}.",
                fields={field: [f"has purpose {other.purpose!r}"]})
        if other.row_count < 1:
            raise JobError(f"The {name.replace('_', ' ')} is empty.",
                           fields={field: ["has no rows"]})
        if dataset is not None and dataset.label_counts and other.label_counts:
            unseen = sorted(set(other.label_counts) - set(dataset.label_counts))
            if unseen:
                raise JobError(
                    f"The {name.replace('_', ' ')} has labels the training dataset lacks.",
                    fields={field: [f"labels not in the training dataset: {', '.join(unseen)}"]})
        if dataset is not None and other.pk == dataset.pk:
            raise JobError("Validating or testing on the training dataset measures nothing.",
                           fields={field: ["is the training dataset"]})


def _version_for(job_kind: Any, app: str, model_version_id: int | None) -> ModelVersion | None:
    if model_version_id is not None:
        version = ModelVersion.objects.filter(pk=model_version_id, app=app).first()
        if version is None:
            raise JobError(_("Model version not found."),
                           fields={"model_version": [_("not found")]})
        return version
    if job_kind.needs_model_version:
        return active_version(app=app)  # None: the worker falls back to the platform default
    return None


def active_version(*, app: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(app=app, status=ModelVersion.Status.ACTIVE).first()


def _queue_for(job: Job) -> str:
    return get_app(job.app).job_kinds[job.kind].queue


def _enqueue_on_commit(job: Job) -> None:
    job_id, queue = job.pk, _queue_for(job)
    job.enqueued_at = timezone.now()
    Job.objects.filter(pk=job_id).update(enqueued_at=job.enqueued_at)
    transaction.on_commit(lambda: enqueue(job_id=job_id, queue=queue))


def enqueue(*, job_id: int, queue: str) -> None:
    """Send the job's id to the workers. By task name: the web tier never imports workers."""
    task_send("jobs.run", job_id, queue=queue)


# A whole sentence per end state, so that each language words it its own way.
ALREADY_FINISHED = {
    Job.Status.SUCCEEDED: gettext_lazy("The job has already succeeded."),
    Job.Status.FAILED: gettext_lazy("The job has already failed."),
    Job.Status.CANCELLED: gettext_lazy("The job has already cancelled."),
}


@transaction.atomic
def job_cancel(*, job: Job) -> Job:
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.is_finished:
        raise JobError(str(ALREADY_FINISHED[Job.Status(job.status)]), code="conflict")
    if job.status == Job.Status.QUEUED:
        job.status = Job.Status.CANCELLED
        job.finished_at = timezone.now()
        job.cancel_requested = True
        job.save(update_fields=["status", "finished_at", "cancel_requested"])
        job_event_add(job=job, kind=JobEvent.Kind.STATUS, message="Cancelled before it started")
        _notify_finished(job)
    else:
        # The worker checks between batches and stops there.
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested"])
        job_event_add(job=job, kind=JobEvent.Kind.STATUS, message="Cancellation requested")
    return job


@transaction.atomic
def job_retry(*, job: Job) -> Job:
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        raise JobError(_("Only failed or cancelled jobs can be retried."), code="conflict")
    # A retry that would fail the same way (a recommender with no events yet) is refused.
    _precondition_check(get_app(job.app).job_kinds[job.kind], job.params)
    job.status = Job.Status.QUEUED
    job.error = ""
    job.cancel_requested = False
    job.finished_at = None
    job.max_attempts = job.attempts + settings.JOB_MAX_ATTEMPTS
    job.save(update_fields=["status", "error", "cancel_requested", "finished_at", "max_attempts"])
    job_event_add(job=job, kind=JobEvent.Kind.STATUS, message="Retried")
    _enqueue_on_commit(job)
    return job


# --- Events ---------------------------------------------------------------------------------


def job_dataset_check_record(*, job: Job, report: dict[str, Any]) -> None:
    """Store the dataset check's report on the job (before training; also when it refuses)."""
    Job.objects.filter(pk=job.pk).update(dataset_check=report)
    job.dataset_check = report


def job_event_add(*, job: Job, kind: str, message: str = "",
                  data: dict[str, Any] | None = None) -> JobEvent:
    return JobEvent.objects.create(job=job, kind=kind, message=message[:500], data=data or {})


# --- Worker side ----------------------------------------------------------------------------


def heartbeat_stale_after() -> timedelta:
    return timedelta(seconds=settings.JOB_HEARTBEAT_STALE_SECONDS)


@transaction.atomic
def job_claim(*, job_id: int, worker: str) -> Job | None:
    """Take the job for this worker, or None if there is nothing to do: it finished, was
    cancelled, or another live worker holds it (a duplicate delivery)."""
    job = Job.objects.select_for_update().get(pk=job_id)
    now = timezone.now()
    if job.is_finished:
        return None
    if job.status == Job.Status.RUNNING:
        # A duplicate delivery while its worker lives is dropped; a redelivery after the
        # worker died (no liveness key, or a heartbeat past the long threshold) resumes it.
        fresh = job.heartbeat_at and now - job.heartbeat_at < heartbeat_stale_after()
        if fresh and worker_alive(job.worker):
            return None
        job_event_add(job=job, kind=JobEvent.Kind.WARNING,
                      message=f"Worker {job.worker or '?'} was lost; resuming")
    if job.cancel_requested:
        _finish(job, Job.Status.CANCELLED, message="Cancelled")
        return None
    if job.attempts >= job.max_attempts:
        _finish(job, Job.Status.FAILED, error=f"Gave up after {job.attempts} attempts "
                "(the worker was lost each time).")
        return None
    job.status = Job.Status.RUNNING
    job.attempts = F("attempts") + 1
    job.worker = worker[:200]
    job.heartbeat_at = now
    job.started_at = job.started_at or now
    job.save(update_fields=["status", "attempts", "worker", "heartbeat_at", "started_at"])
    worker_mark_alive(job.worker)
    job.refresh_from_db()
    job_event_add(job=job, kind=JobEvent.Kind.STATUS,
                  message=f"Running on {job.worker} (attempt {job.attempts})")
    return job


def job_progress(*, job_id: int, items_done: int | None = None, items_total: int | None = None,
                 accelerator_seconds: float = 0.0) -> bool:
    """Record progress and a heartbeat; returns whether cancellation was requested."""
    updates: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if items_done is not None:
        updates["items_done"] = items_done
    if items_total is not None:
        updates["items_total"] = items_total
    if accelerator_seconds:
        updates["accelerator_seconds"] = F("accelerator_seconds") + accelerator_seconds
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(**updates)
    return bool(Job.objects.filter(pk=job_id, cancel_requested=True).exists())


@transaction.atomic
def job_finish(*, job_id: int, status: str, metrics: dict[str, Any] | None = None,
               error: str = "", items: int = 0, accelerator_seconds: float = 0.0) -> Job | None:
    """Final status, metrics and usage in one transaction: exactly once per job, even if the
    task runs twice (the second finds the job finished and changes nothing)."""
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.is_finished:
        return None
    if accelerator_seconds:
        job.accelerator_seconds += accelerator_seconds
    if metrics is not None:
        job.metrics = metrics
    if status == Job.Status.SUCCEEDED and job.items_total is not None:
        job.items_done = job.items_total
    _finish(job, status, error=error)
    meter = (Meter.TRAINING_ACCELERATOR_SECONDS if job.kind == Job.Kind.FINE_TUNE
             else Meter.INFERENCE_ACCELERATOR_SECONDS)
    quantities: dict[str, Any] = {meter: round(job.accelerator_seconds, 3)}
    if items and job.kind != Job.Kind.FINE_TUNE:
        quantities[Meter.ITEMS_INFERRED] = items
    usage_record_many(job_id=job.pk, quantities=quantities, key_prefix=f"job:{job.pk}")
    return job


def _finish(job: Job, status: str, *, error: str = "", message: str = "") -> None:
    job.status = status
    job.error = error[:5000]
    job.finished_at = timezone.now()
    job.save()
    job_event_add(job=job, kind=JobEvent.Kind.ERROR if error else JobEvent.Kind.STATUS,
                  message=message or error or status.capitalize())
    _notify_finished(job)


def _notify_finished(job: Job) -> None:
    if job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
        webhook_emit(event=f"job.{job.status}", payload=job_payload(job))


def job_payload(job: Job) -> dict[str, Any]:
    return {
        "id": job.pk, "app": job.app, "kind": job.kind, "status": job.status,
        "items_done": job.items_done, "items_total": job.items_total, "metrics": job.metrics,
        "error": job.error, "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


# --- Sweeper --------------------------------------------------------------------------------


def job_sweep() -> dict[str, int]:
    """Staff-wide housekeeping (beat, every 15 s): re-enqueue queued jobs whose message seems
    lost and running jobs whose worker died (``jobs.liveness``) or stopped heartbeating; fail
    those out of attempts."""
    now = timezone.now()
    counts = {"requeued": 0, "recovered": 0, "failed": 0}
    with unscoped():
        lost_messages = list(Job.objects.filter(
            status=Job.Status.QUEUED,
            enqueued_at__lt=now - timedelta(seconds=settings.JOB_QUEUED_STALE_SECONDS),
        ).values_list("pk", "tenant_id"))
        # Lost: no heartbeat for the long threshold, or a worker whose liveness key is gone
        # (checked for jobs quiet for longer than the key lives, so a job just claimed by a
        # worker whose first beat is in flight is never taken for lost).
        running = list(Job.objects.filter(
            status=Job.Status.RUNNING,
            heartbeat_at__lt=now - timedelta(seconds=settings.JOB_LIVENESS_TTL_SECONDS),
        ).values_list("pk", "tenant_id", "worker", "heartbeat_at"))
    alive = workers_alive(sorted({worker for _, _, worker, _ in running}))
    lost_workers = [(job_id, tenant_id) for job_id, tenant_id, worker, heartbeat in running
                    if not alive.get(worker) or heartbeat is None
                    or heartbeat < now - heartbeat_stale_after()]
    for job_id, tenant_id in lost_messages:
        with tenant_context(tenant_id), transaction.atomic():
            job = Job.objects.select_for_update(skip_locked=True).filter(
                pk=job_id, status=Job.Status.QUEUED).first()
            if job is not None:
                _enqueue_on_commit(job)
                counts["requeued"] += 1
    for job_id, tenant_id in lost_workers:
        with tenant_context(tenant_id), transaction.atomic():
            job = Job.objects.select_for_update(skip_locked=True).filter(
                pk=job_id, status=Job.Status.RUNNING).first()
            if job is None or (job.heartbeat_at is not None
                               and job.heartbeat_at >= now - heartbeat_stale_after()
                               and worker_alive(job.worker)):
                continue
            if job.attempts >= job.max_attempts:
                _finish(job, Job.Status.FAILED, error=f"The worker was lost {job.attempts} "
                        "times; giving up. Retry the job to try again.")
                counts["failed"] += 1
            else:
                job.status = Job.Status.QUEUED
                job.save(update_fields=["status"])
                job_event_add(job=job, kind=JobEvent.Kind.WARNING,
                              message=f"Worker {job.worker} stopped responding; re-queued")
                _enqueue_on_commit(job)
                counts["recovered"] += 1
    if any(counts.values()):
        logger.warning("job sweep", extra=counts)
    return counts


# --- Model versions -------------------------------------------------------------------------


@transaction.atomic
def model_version_create(*, job: Job, label_map: list[str], metrics: dict[str, Any],
                         artifact_name: str, artifact: bytes, base_model: str, method: str,
                         force: bool = False, metric: str = "macro_f1",
                         margin: float = 0.0) -> ModelVersion:
    """Store a fine-tune's artefact as a new version and promote it when the gate lets it
    (``jobs.gate``: at least as good, by ``margin``, as the better of the active version and
    the platform default on the same validation data, ``metrics['gate']``), or forced.
    ``metric`` names the figure compared (higher is better)."""
    number = (ModelVersion.objects.filter(app=job.app).aggregate(n=Max("version"))["n"] or 0) + 1
    version = ModelVersion(
        app=job.app, version=number, base_model=base_model, method=method, label_map=label_map,
        metrics=metrics, job=job, artifact_bytes=len(artifact),
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
    )
    version.artifact.save(f"{require_tenant_id()}/{job.app}/v{number}-{artifact_name}",
                          ContentFile(artifact), save=False)
    version.save()
    current = active_version(app=job.app)
    candidate, active, default = gate_figures(metrics, metric)
    if current is None:
        active = None
    label = {"macro_f1": "macro-F1", "ndcg_at_10": "NDCG@10"}.get(metric, metric)
    decision = gate_decide(candidate=candidate, active=active,
                           active_name=f"v{current.version}" if current else "active version",
                           default=default, margin=margin, metric_label=label)
    if decision.promote:
        model_version_activate(version=version, note=decision.note)
    elif force:
        model_version_activate(version=version,
                               note=f"Promoted by request (forced); {decision.note[0].lower()}"
                                    f"{decision.note[1:]}"[:300])
    else:
        version.promotion_note = decision.note[:300]
        version.save(update_fields=["promotion_note"])
    return version


@transaction.atomic
def model_version_activate(*, version: ModelVersion, note: str = "",
                           actor_id: int | None = None, actor: str = "",
                           request: Any = None) -> ModelVersion:
    """Make ``version`` the app's active version. By a person (``actor_id`` or ``actor``, an
    API key's name): audited, and the note says whether it overrode the gate's refusal or
    rolled back to an earlier version."""
    if actor_id is not None or actor:
        current = active_version(app=version.app)
        who = actor or "an admin"
        if current is not None and current.pk != version.pk and current.version > version.version:
            note = f"Rolled back from v{current.version} by {who}"
        elif version.promotion_note.startswith("Not promoted"):
            note = f"Activated by {who} despite the gate ({version.promotion_note})"
        else:
            note = note or f"Activated by {who}"
        audit_record(action="model_version.activate", tenant_id=require_tenant_id(),
                     actor_id=actor_id, target=f"{version.app} v{version.version}",
                     request=request,
                     details={"version": version.pk, "app": version.app, "by": who,
                              "previous": current.version if current else None,
                              "gate_note": version.promotion_note})
    ModelVersion.objects.filter(app=version.app, status=ModelVersion.Status.ACTIVE).exclude(
        pk=version.pk).update(status=ModelVersion.Status.READY)
    version.status = ModelVersion.Status.ACTIVE
    version.activated_at = timezone.now()
    version.promotion_note = (note or version.promotion_note or "Activated")[:300]
    version.save(update_fields=["status", "activated_at", "promotion_note"])
    return version

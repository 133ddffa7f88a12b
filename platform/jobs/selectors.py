"""Reads on datasets, jobs, events, predictions and model versions.

Everything tenant-owned goes through the tenant-scoped managers, so it only ever sees the
current tenant's rows; ``queue_overview`` is the one staff-wide read (Redis and Celery, no
tenant data).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from config.celery import app as celery_app
from config.csvexport import csv_writer
from config.default_models import default_model_location
from config.redis import redis_client
from jobs.datasets import DatasetInvalid, Problem
from jobs.models import Dataset, Job, JobEvent, ModelVersion, Prediction
from jobs.progress import live_progress_get
from jobs.registry import AppSpec, DatasetSchema, UnknownApp, all_apps, get_app
from tenancy.context import tenant_context

logger = logging.getLogger(__name__)

QUEUES = ("default", "gpu", "online")
EVENTS_PAGE_SIZE = 200
CSV_CHUNK_ROWS = 2000


# --- Registry ---------------------------------------------------------------------------------


def stored_bytes() -> int:
    """Bytes the tenant stores: its datasets and model artefacts (billing's storage meter,
    registered in ``JobsConfig.ready``)."""
    datasets = Dataset.objects.aggregate(total=Coalesce(Sum("size_bytes"), 0))["total"]
    models = ModelVersion.objects.aggregate(total=Coalesce(Sum("artifact_bytes"), 0))["total"]
    return int(datasets) + int(models)


def reserved_items() -> int:
    """Items of the tenant's unfinished inference jobs: not recorded yet, but promised
    (billing's items quota counts them as used; registered in ``JobsConfig.ready``)."""
    return int(Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
               .exclude(kind=Job.Kind.FINE_TUNE)
               .aggregate(total=Coalesce(Sum("items_total"), 0))["total"])


def dataset_schemas() -> list[tuple[AppSpec, DatasetSchema]]:
    """Every (app, dataset schema) pair, for upload forms and their column reference."""
    return [(spec, schema) for spec in all_apps() for schema in spec.datasets.values()]


def job_kind_names() -> list[str]:
    return sorted({kind for spec in all_apps() for kind in spec.job_kinds})


# --- Datasets --------------------------------------------------------------------------------


def dataset_too_large(size: int) -> DatasetInvalid:
    """The refusal for an upload over ``DATASET_MAX_BYTES``, checked by the views before the
    file is read into memory (the service checks again)."""
    limit = settings.DATASET_MAX_BYTES
    return DatasetInvalid([Problem(
        _("the file is %(size)s; the limit is %(limit)s")
        % {"size": human_bytes(size), "limit": human_bytes(limit)}
    )])


def human_bytes(size: int) -> str:
    if size < 1024:
        return ngettext("%(size)d byte", "%(size)d bytes", size) % {"size": size}
    scaled, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


def dataset_list(*, app: str | None = None, purpose: str | None = None) -> QuerySet[Dataset]:
    datasets = Dataset.objects.all()
    if app:
        datasets = datasets.filter(app=app)
    if purpose:
        datasets = datasets.filter(purpose=purpose)
    return datasets.order_by("-created_at", "-id")


def dataset_list_for_kind(*, kind: str) -> QuerySet[Dataset]:
    """Datasets that a job of ``kind`` accepts, in any app that has that kind."""
    accepted = Q(pk__in=[])
    for spec in all_apps():
        job_kind = spec.job_kinds.get(kind)
        if job_kind is not None and job_kind.dataset_purposes:
            accepted |= Q(app=spec.label, purpose__in=job_kind.dataset_purposes)
    return Dataset.objects.filter(accepted).order_by("-created_at", "-id")


# --- Jobs ------------------------------------------------------------------------------------


def job_list(*, app: str | None = None, kind: str | None = None,
             status: str | None = None) -> QuerySet[Job]:
    jobs = Job.objects.select_related("dataset", "model_version")
    if app:
        jobs = jobs.filter(app=app)
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return jobs.order_by("-created_at", "-id")


def job_events_after(*, job: Job, after: int = 0,
                     limit: int = EVENTS_PAGE_SIZE) -> list[JobEvent]:
    """The job's events with an id above ``after``, oldest first: a poller passes the last id
    it has seen and gets only what is new."""
    return list(JobEvent.objects.filter(job=job, id__gt=after).order_by("id")[:limit])


def job_events_recent(*, job: Job, limit: int = 100) -> list[JobEvent]:
    """The last ``limit`` events, oldest first (the dashboard's live log)."""
    newest = list(JobEvent.objects.filter(job=job).order_by("-id")[:limit])
    return newest[::-1]


def scalar_metrics(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """The single-number entries of a metrics dict, formatted (nested ones, such as the
    confusion matrix, have their own displays)."""
    return [
        (name, f"{value:.4f}" if isinstance(value, float) else str(value))
        for name, value in (metrics or {}).items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    ]


def job_model_version(*, job: Job) -> ModelVersion | None:
    """The version a fine-tune produced, if any."""
    return ModelVersion.objects.filter(job=job).first()


def prediction_list(*, job: Job) -> QuerySet[Prediction]:
    return Prediction.objects.filter(job=job)


def prediction_labels(*, job: Job) -> list[str]:
    """Column order of the probabilities: the model's label map when known."""
    if job.model_version_id is not None and job.model_version and job.model_version.label_map:
        return list(job.model_version.label_map)
    first = Prediction.objects.filter(job=job).order_by("item").first()
    return sorted(first.probabilities) if first is not None else []


def prediction_csv_chunks(*, job: Job) -> Iterator[str]:
    """The job's predictions as CSV text, in chunks read by keyset (memory stays flat).

    A streamed response is consumed after the request's tenant context has closed, so the
    header is prepared here, eagerly, and each later chunk is read inside its own
    ``tenant_context``; the context never spans a ``yield``.
    """
    labels = prediction_labels(job=job)
    return _prediction_csv_stream(tenant_id=job.tenant_id, job_id=job.pk, labels=labels)


def _csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv_writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _prediction_csv_stream(*, tenant_id: int, job_id: int, labels: list[str]) -> Iterator[str]:
    yield _csv_text([["item", "label", "confidence", *(f"p_{label}" for label in labels)]])
    last_item = 0
    while True:
        with tenant_context(tenant_id):
            chunk = list(
                Prediction.objects.filter(job_id=job_id, item__gt=last_item)
                .order_by("item")
                .values_list("item", "label", "confidence", "probabilities")[:CSV_CHUNK_ROWS]
            )
        if not chunk:
            return
        yield _csv_text([
            [item, label, f"{confidence:.6f}",
             *(f"{probabilities.get(name, 0.0):.6f}" for name in labels)]
            for item, label, confidence, probabilities in chunk
        ])
        last_item = chunk[-1][0]


# --- Model versions --------------------------------------------------------------------------


def model_version_list(*, app: str | None = None,
                       status: str | None = None) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.all()
    if app:
        versions = versions.filter(app=app)
    if status:
        versions = versions.filter(status=status)
    return versions.order_by("-created_at", "-id")


@dataclass(frozen=True)
class Serving:
    """What answers an application's predictions for the tenant right now: its active
    version, else the platform default (``config.default_models``: the one installed in
    ``DEFAULT_MODELS_DIR/<app>``, else the one shipped in the repository; ``default_origin``
    says which), with the test figures of its ``default_model_report.json`` when present,
    else nothing."""

    app: str
    app_name: str
    source: str  # "version" | "default" | "none"
    version: ModelVersion | None = None
    base_model: str = ""
    method: str = ""
    accuracy: float | None = None
    macro_f1: float | None = None
    test_rows: int | None = None
    default_origin: str = ""  # "installed" | "shipped" for a platform default


def _read_json(path: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def platform_default(*, app: str, app_name: str = "") -> Serving | None:
    location = default_model_location(app)
    if location is None:
        return None
    origin, directory = location
    manifest = _read_json(directory / "manifest.json")
    if manifest is None:
        return None
    test = (_read_json(directory / "default_model_report.json") or {}).get("test")
    test = test if isinstance(test, dict) else {}
    rows = test.get("rows")
    return Serving(app=app, app_name=app_name or app, source="default",
                   base_model=str(manifest.get("base", "")),
                   method=str(manifest.get("method", "")),
                   accuracy=_number(test.get("accuracy")), macro_f1=_number(test.get("macro_f1")),
                   test_rows=rows if isinstance(rows, int) else None, default_origin=origin)


def serving_models() -> list[Serving]:
    """Per registered application, what serves it (see ``Serving``)."""
    active = {version.app: version for version in
              ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)}
    serving = []
    for spec in all_apps():
        version = active.get(spec.label)
        if version is not None:
            metrics = model_version_metrics(version=version)
            serving.append(Serving(app=spec.label, app_name=spec.name, source="version",
                                   version=version, base_model=version.base_model,
                                   method=version.method, accuracy=metrics.accuracy,
                                   macro_f1=metrics.macro_f1))
        else:
            serving.append(platform_default(app=spec.label, app_name=spec.name)
                           or Serving(app=spec.label, app_name=spec.name, source="none"))
    return serving


@dataclass(frozen=True)
class ClassMetrics:
    label: str
    precision: float | None
    recall: float | None
    f1: float | None
    support: int | None


@dataclass(frozen=True)
class ModelMetrics:
    """A version's validation metrics shaped for a page: the confusion matrix as rows of
    (true label, counts per predicted label, share of the row for shading)."""

    accuracy: float | None
    macro_f1: float | None
    validation_size: int | None
    baseline_macro_f1: float | None
    labels: list[str] = field(default_factory=list)
    per_class: list[ClassMetrics] = field(default_factory=list)
    matrix: list[tuple[str, list[tuple[int, float]]]] = field(default_factory=list)
    # Confidence calibration fitted on the validation rows (workers.runtime.calibration).
    calibration_method: str = ""
    temperature: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    top_confusions: list[dict[str, Any]] = field(default_factory=list)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def model_version_metrics(*, version: ModelVersion) -> ModelMetrics:
    return classification_metrics_view(metrics=version.metrics or {},
                                       label_map=list(version.label_map or []))


def job_evaluation(*, job: Job) -> ModelMetrics | None:
    """A batch job's report on its labelled dataset (accuracy, macro-F1, per class, confusion:
    ``workers.runtime.evaluation``), shaped like a version's metrics; None when its dataset
    had no label column or the job has not finished."""
    report = (job.metrics or {}).get("evaluation")
    if not isinstance(report, dict):
        return None
    return classification_metrics_view(metrics=report, label_map=[])


def classification_metrics_view(*, metrics: dict[str, Any], label_map: list[str]
                                ) -> ModelMetrics:
    """Classification metrics (a version's validation metrics, or a labelled report) for a
    page; the matrix is ``confusion_matrix`` (versions) or ``confusion`` (reports)."""
    labels = list(metrics.get("labels") or label_map or [])
    raw_per_class = metrics.get("per_class") or {}
    # jsonb does not keep key order: list the classes in the label map's order.
    ordered = [label for label in labels if label in raw_per_class]
    ordered += sorted(set(raw_per_class) - set(ordered))
    per_class = [
        ClassMetrics(label=label, precision=_number(values.get("precision")),
                     recall=_number(values.get("recall")), f1=_number(values.get("f1")),
                     support=values.get("support"))
        for label in ordered
        if isinstance(values := raw_per_class[label], dict)
    ]
    matrix: list[tuple[str, list[tuple[int, float]]]] = []
    raw_matrix = metrics.get("confusion_matrix", metrics.get("confusion"))
    if isinstance(raw_matrix, list) and len(raw_matrix) == len(labels):
        for label, row in zip(labels, raw_matrix, strict=True):
            total = sum(row) or 1
            matrix.append((label, [(int(count), count / total) for count in row]))
    baseline = metrics.get("baseline")
    if not isinstance(baseline, dict):
        baseline = {}
    calibration = metrics.get("calibration")
    if not isinstance(calibration, dict):
        calibration = {}
    confusions = metrics.get("top_confusions")
    return ModelMetrics(
        accuracy=_number(metrics.get("accuracy")),
        macro_f1=_number(metrics.get("macro_f1")),
        validation_size=metrics.get("validation_size", metrics.get("rows")),
        baseline_macro_f1=_number(baseline.get("macro_f1")),
        labels=labels,
        per_class=per_class,
        matrix=matrix,
        calibration_method=str(calibration.get("method") or ""),
        temperature=_number(calibration.get("temperature")),
        ece_before=_number(calibration.get("ece_before")),
        ece_after=_number(calibration.get("ece_after")),
        top_confusions=[cell for cell in confusions if isinstance(cell, dict)]
        if isinstance(confusions, list) else [],
    )


@dataclass(frozen=True)
class JobProgress:
    """A job's progress for the pages and the API: in its kind's unit (rows, epochs, ...),
    from the running attempt's live view when there is one (exact, with the throughput the
    worker measured and the ETA it gives; a phase may count in its own unit, such as the texts
    a head embeds), else from the row's whole units."""

    unit: str
    done: float
    total: float | None
    fraction: float | None
    phase: str = ""
    rate: float | None = None  # units per second
    eta_seconds: float | None = None


def job_progress_view(*, job: Job) -> JobProgress:
    """``JobProgress`` of a job loaded through the tenant-scoped manager (its live view is
    read only for an unfinished job: one Redis GET)."""
    spec_unit = _progress_unit(job)
    live = None if job.is_finished else live_progress_get(job_id=job.pk)
    if live is not None:
        eta = live.eta_now()
        return JobProgress(unit=live.unit, done=live.done, total=live.total,
                           fraction=live.fraction, phase=live.phase, rate=live.rate,
                           eta_seconds=None if eta is None else round(eta, 1))
    return JobProgress(unit=spec_unit, done=job.items_done, total=job.items_total,
                       fraction=job.progress)


def _progress_unit(job: Job) -> str:
    try:
        return get_app(job.app).job_kinds[job.kind].progress_unit
    except (UnknownApp, KeyError):  # an application or kind since removed
        return "rows"


@dataclass(frozen=True)
class GateRow:
    """One model the gate compared on the same validation rows."""

    role: str  # "candidate" | "active" | "default"
    name: str
    macro_f1: float | None
    accuracy: float | None
    test_macro_f1: float | None
    rows: int | None


@dataclass(frozen=True)
class ModelEvaluation:
    """What a version's page shows beyond the validation metrics: the test figures, the
    gate's comparison, the training chart's history and how the method was chosen."""

    test: ModelMetrics | None
    gate: list[GateRow]
    history: list[dict[str, Any]]
    best_epoch: int | None
    method_choice: dict[str, Any]
    sources: dict[str, str]


def model_version_evaluation(*, version: ModelVersion) -> ModelEvaluation:
    metrics = version.metrics or {}
    test = metrics.get("test")
    raw_gate = metrics.get("gate")
    gate: dict[str, Any] = raw_gate if isinstance(raw_gate, dict) else {}
    rows = []
    for role in ("candidate", "active", "default"):
        entry = gate.get(role)
        if isinstance(entry, dict):
            rows.append(GateRow(role=role, name=str(entry.get("version") or f"v{version.version}"),
                                macro_f1=_number(entry.get("macro_f1")),
                                accuracy=_number(entry.get("accuracy")),
                                test_macro_f1=_number(entry.get("test_macro_f1")),
                                rows=entry.get("rows")))
    history = metrics.get("history")
    best = metrics.get("best_epoch")
    choice = metrics.get("method_choice")
    sources = metrics.get("evaluation_sources")
    return ModelEvaluation(
        test=(classification_metrics_view(metrics=test, label_map=list(version.label_map or []))
              if isinstance(test, dict) else None),
        gate=rows, history=history if isinstance(history, list) else [],
        best_epoch=best if isinstance(best, int) else None,
        method_choice=choice if isinstance(choice, dict) else {},
        sources=sources if isinstance(sources, dict) else {})


# --- Queues and workers (console, staff-wide) ------------------------------------------------


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    active_tasks: list[dict[str, Any]]


@dataclass(frozen=True)
class QueueOverview:
    depths: dict[str, int | None]  # None: Redis did not answer
    workers: list[WorkerStatus]
    redis_error: str = ""
    workers_error: str = ""


def queue_overview(*, timeout: float = 1.0) -> QueueOverview:
    """Messages waiting per Celery queue (``LLEN`` on the broker's lists) and the workers that
    answer a ping within ``timeout``, with their running tasks. Never raises: a broker or
    worker that does not answer shows as an error on the page."""
    depths: dict[str, int | None] = dict.fromkeys(QUEUES)
    redis_error = workers_error = ""
    try:
        pipe = redis_client().pipeline()
        for queue in QUEUES:
            pipe.llen(queue)
        depths = dict(zip(QUEUES, (int(n) for n in pipe.execute()), strict=True))
    except Exception as error:  # a console page must render whatever Redis does
        logger.warning("queue depths unavailable: %s", error)
        redis_error = str(error) or error.__class__.__name__

    workers: list[WorkerStatus] = []
    try:
        replies = celery_app.control.inspect(timeout=timeout).ping() or {}
        names = sorted(replies)
        active: dict[str, list[dict[str, Any]]] = {}
        if names:
            # Addressed to the workers that just answered, so it returns as soon as they all
            # reply instead of waiting out the timeout.
            active = celery_app.control.inspect(
                destination=names, timeout=timeout, limit=len(names)).active() or {}
        workers = [WorkerStatus(name=name, active_tasks=active.get(name, [])) for name in names]
    except Exception as error:
        logger.warning("worker inspection failed: %s", error)
        workers_error = str(error) or error.__class__.__name__
    return QueueOverview(depths=depths, workers=workers, redis_error=redis_error,
                         workers_error=workers_error)

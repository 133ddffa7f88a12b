"""Fine-tuning and batch inference for the text-classifier applications (finance sentiment,
support-bot intents). The application says what (labels, datasets, where results go); the
runtime says how."""

from __future__ import annotations

import io
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Max

from config import default_models
from jobs.method_choice import method_choose, training_settings
from jobs.models import Job, JobEvent, ModelVersion, Prediction
from jobs.registry import get_app
from jobs.services import active_version, dataset_rows, model_version_create
from jobs.writeback import bulk_insert_ignore
from workers import runtime
from workers.execution import Cancelled, JobContext, Outcome, ProgressUnit
from workers.handlers import model_evaluation
from workers.runtime.base_models import register_base
from workers.runtime.evaluation import classification_report

PREDICTION_COLUMNS = ("job_id", "item", "label", "confidence", "probabilities")


def _register_configured_bases() -> None:
    for name, target in settings.BASE_MODELS.items():
        register_base(name, target)


def _work_dir(*parts: str) -> Path:
    path = Path(settings.MODEL_WORK_DIR).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _zip_dir(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(directory))
    return buffer.getvalue()


def classifier_for(version: ModelVersion) -> runtime.Classifier:
    """The version's classifier, unpacked once per worker into the local model directory and
    cached in memory (LoRA adapters share the base model). A version's artefact never
    changes, so a cached one is returned without looking at the disk (real-time requests
    ask for it every message)."""
    cached = runtime.cached_classifier(("version", version.pk))
    if cached is not None:
        return cached
    _register_configured_bases()
    target = _work_dir("versions") / f"{version.pk}-{version.artifact_sha256[:12]}"
    if not (target / "manifest.json").exists():
        # A staging folder of its own: concurrent first requests (threads of an online worker,
        # or worker processes sharing the folder) may unpack the same version at once.
        staging = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.partial")
        with version.artifact.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            archive.extractall(staging)  # noqa: S202  (our own artefact, written by fine_tune)
        try:
            staging.rename(target)
        except OSError:  # another one was first: its copy is the same artefact
            shutil.rmtree(staging, ignore_errors=True)
            if not (target / "manifest.json").exists():
                raise
    return runtime.load_classifier(
        target, key=("version", version.pk), precision=settings.INFERENCE_PRECISION,
        validation_rows=lambda: model_evaluation.version_test_rows(version.job))


def fine_tune(job: Job, context: JobContext) -> Outcome:
    rows = dataset_rows(job.dataset) if job.dataset else []
    return fine_tune_on(job, context, [row["text"] for row in rows],
                        [row["label"] for row in rows])


@dataclass(frozen=True)
class TrainedSplit:
    """What an ``after_training`` hook sees: the artefact folder (files written there go
    into the version's artefact), the trained classifier and the rows of each split."""

    output: Path
    classifier: runtime.Classifier
    train_texts: list[str]
    train_labels: list[str]
    validation_texts: list[str]
    validation_labels: list[str]


AfterTraining = Callable[[TrainedSplit], dict[str, Any]]


def fine_tune_on(job: Job, context: JobContext, texts: list[str], labels: list[str], *,
                 after_training: AfterTraining | None = None) -> Outcome:
    """Fine-tune ``job.app``'s classifier on these rows (labels: the app's fixed set, else the
    distinct labels found) with the job's evaluation data (``model_evaluation``), store the
    version with its test figures and promote it if the gate lets it (``jobs.gate``).
    ``after_training`` may add files to the artefact; the metrics it returns join the
    version's."""
    _register_configured_bases()
    params = job.params
    spec = get_app(job.app)
    rows = model_evaluation.evaluation_rows(job, context, texts, labels)
    train_texts = [text for text, _ in rows.train]
    train_labels = [label for _, label in rows.train]
    val_texts = [text for text, _ in rows.validation]
    val_labels = [label for _, label in rows.validation]
    label_names = list(spec.labels or sorted(set(train_labels)))
    choice = method_choose(requested=params.get("method", "auto"), rows=len(train_texts),
                           classes=len(set(train_labels)))
    settings_used = training_settings(params, choice.method)
    context.event(JobEvent.Kind.STATUS, f"Method: {choice.method} ({choice.reason})",
                  method=choice.method, chosen_by=choice.chosen_by, **settings_used)
    context.progress(0, items_total=settings_used["epochs"], unit=ProgressUnit.EPOCHS,
                     force=True)

    def on_step(step: int, loss: float) -> None:
        context.event(JobEvent.Kind.LOSS, f"step {step}: loss {loss:.4f}", step=step, loss=loss)

    def on_epoch(epoch: int, metrics: dict[str, Any]) -> None:
        summary = {key: metrics[key] for key in ("accuracy", "macro_f1", "train_loss")
                   if key in metrics}
        context.event(JobEvent.Kind.METRICS, f"epoch {epoch}: " + ", ".join(
            f"{key} {value:.4f}" for key, value in summary.items()), epoch=epoch, **summary)

    def on_progress(done: float, total: float, unit: str) -> None:
        # Epochs (the job row's unit), or the texts a head embeds before its first epoch.
        context.progress(done, items_total=total, unit=unit,
                         phase="embedding" if unit == ProgressUnit.TEXTS else "training")

    output = _work_dir(f"job-{job.pk}") / "artifact"
    shutil.rmtree(output, ignore_errors=True)
    try:
        config = runtime.FineTuneConfig(
            output_dir=output, label_names=label_names, base=params["base_model"],
            method=choice.method, epochs=settings_used["epochs"],  # type: ignore[arg-type]
            batch_size=settings_used["batch_size"],
            learning_rate=settings_used["learning_rate"], seed=params["seed"],
            max_length=params["max_length"],
            early_stopping_patience=settings_used["early_stopping_patience"] or None,
            # Jobs submitted before calibration existed have no such parameter.
            calibration=params.get("calibration", "temperature"),
            checkpoint_dir=_work_dir(f"job-{job.pk}", "checkpoints"),
        )
        result = runtime.fine_tune_classifier(
            train_texts, train_labels, config, validation_texts=val_texts,
            validation_labels=val_labels, on_step=on_step, on_epoch=on_epoch,
            on_progress=on_progress, should_cancel=context.should_cancel,
        )
    except runtime.Cancelled:
        raise Cancelled from None
    current = active_version(app=job.app)
    candidate = result.classifier
    if candidate is None:  # every method returns its in-memory model; a guard for mypy
        raise RuntimeError("the fine-tune returned no classifier")
    extra: dict[str, Any] = {}
    try:
        if after_training is not None:
            extra = after_training(TrainedSplit(
                output=output, classifier=candidate, train_texts=train_texts,
                train_labels=train_labels, validation_texts=val_texts,
                validation_labels=val_labels))
        scores = model_evaluation.gate_scores(candidate, {
            "active": (f"v{current.version}", classifier_for(current)) if current else ("", None),
            "default": ("platform default", _default_or_none(job.app)),
        }, rows, label_names)
    finally:
        candidate.release()

    metrics: dict[str, Any] = dict(result.metrics)
    metrics.update(extra)
    metrics.update(train_size=result.train_size, validation_size=result.validation_size,
                   training_seconds=round(result.training_seconds, 2),
                   epochs_run=result.epochs_run, best_epoch=result.best_epoch,
                   stopped_early=result.stopped_early, artifact_bytes=result.artifact_bytes,
                   history=result.history, method_choice={
                       "method": choice.method, "reason": choice.reason,
                       "chosen_by": choice.chosen_by, **settings_used},
                   evaluation_sources=rows.sources, **scores)
    if scores["gate"].get("active"):
        metrics["baseline"] = scores["gate"]["active"]
    version = model_version_create(
        job=job, label_map=label_names, metrics=metrics, artifact_name="artifact.zip",
        artifact=_zip_dir(output), base_model=params["base_model"], method=choice.method,
        force=params["force"], margin=float(params.get("gate_margin") or 0.0),
    )
    context.event(JobEvent.Kind.STATUS, f"Model v{version.version}: {version.promotion_note}",
                  version=version.version, status=version.status)
    shutil.rmtree(_work_dir(f"job-{job.pk}"), ignore_errors=True)
    return Outcome(metrics={**metrics, **version_ran(version)}, items=len(train_texts))


def _default_or_none(app: str) -> runtime.Classifier | None:
    """The platform default of ``app`` for the gate; None when none is installed."""
    try:
        return default_classifier(app)
    except NoModelAvailable:
        return None


def batch_inference(job: Job, context: JobContext) -> Outcome:
    classifier, version = classifier_for_job(job)
    return classify_rows(job, context, classifier, version)


def version_ran(version: ModelVersion | None) -> dict[str, Any]:
    """Which model answered, recorded alike by every job and real-time answer: ``model_version``
    is the version's id (what ``/api/v1/models/<id>`` and a job's ``model_version`` name), None
    when the platform default ran; ``model_version_number`` is its number within the app
    (``v3`` on the pages)."""
    return {"model_version": version.pk if version is not None else None,
            "model_version_number": version.version if version is not None else None}


def _label_column(job: Job) -> str | None:
    """The dataset's label column (a ``label``-typed column of its schema), if it has one."""
    if job.dataset is None:
        return None
    schema = get_app(job.app).datasets.get(job.dataset.purpose)
    columns = schema.columns if schema is not None else ()
    return next((column.name for column in columns if column.type == "label"), None)


def classify_rows(job: Job, context: JobContext, classifier: runtime.Classifier,
                  version: ModelVersion | None) -> Outcome:
    """Classify the job's dataset rows into ``Prediction`` rows, resuming after the last one
    written; the outcome counts the labels and, when the dataset has a label column, holds
    the labelled report (``evaluation``: accuracy, macro-F1, per class, confusion)."""
    rows = dataset_rows(job.dataset) if job.dataset else []
    # Resume: rows written by an earlier attempt stay (each item is written once anyway).
    done_before = Prediction.objects.filter(job=job).aggregate(last=Max("item"))["last"] or 0
    todo = [(number, row["text"]) for number, row in enumerate(rows, start=1)
            if number > done_before]
    done = done_before
    context.progress(done, items_total=len(rows), unit=ProgressUnit.ROWS, force=True)
    for chunk in classifier.classify([text for _, text in todo],
                                     batch_size=job.params.get("batch_size", 64),
                                     chunk_size=256):
        context.check_cancelled()
        records = []
        for prediction in chunk:
            item = todo[prediction.index][0]
            confidence = max(prediction.probabilities.values())
            records.append((job.pk, item, prediction.label, confidence,
                            {k: round(v, 6) for k, v in prediction.probabilities.items()}))
        bulk_insert_ignore(Prediction, PREDICTION_COLUMNS, records)
        done += len(records)
        context.progress(done)
    context.progress(done, force=True)
    counts = dict(Prediction.objects.filter(job=job).values("label")
                  .annotate(n=Count("item")).values_list("label", "n"))
    metrics: dict[str, Any] = {"items": done, "label_counts": counts, **version_ran(version)}
    label_column = _label_column(job)
    if label_column is not None and rows:
        # Read back: the rows an earlier attempt predicted are not in memory.
        predicted = dict(Prediction.objects.filter(job=job).values_list("item", "label"))
        metrics["evaluation"] = classification_report(
            [row[label_column] for row in rows],
            [predicted[number] for number in range(1, len(rows) + 1)], classifier.labels)
    return Outcome(metrics=metrics, items=done)


class NoModelAvailable(RuntimeError):
    """The tenant has no active version and no platform default is installed for the app."""


def default_model_dir(app: str) -> Path | None:
    """Where the platform default model of ``app`` lives: the one installed in
    ``DEFAULT_MODELS_DIR/<app>`` by ``manage.py train_default_model``, else the one shipped in
    the repository (``config.default_models``); None when there is neither."""
    return default_models.default_model_dir(app)


def default_classifier(app: str) -> runtime.Classifier:
    """The platform default classifier of ``app``, for tenants without a fine-tune of their
    own."""
    cached = runtime.cached_classifier(("default", app))
    if cached is not None:
        return cached
    directory = default_model_dir(app)
    if directory is None:
        raise NoModelAvailable(
            f"No model is available for {app}: fine-tune one, or install the platform default "
            f"with `python manage.py train_default_model {app}`."
        )
    return runtime.load_classifier(directory, key=("default", app),
                                   precision=settings.INFERENCE_PRECISION,
                                   validation_rows=lambda: default_test_rows(app))


def default_test_rows(app: str) -> tuple[list[str], list[str]] | None:
    """``(texts, labels)`` of the test file ``train_default_model`` scores ``app``'s default
    model on (in ``DATASETS_DIR``); None when the app has none or the file is missing."""
    from workers.management.commands.train_default_model import SOURCES, read_labelled

    source = SOURCES.get(app)
    if source is None or not Path(source["test"]).is_file():
        return None
    return read_labelled(Path(source["test"]), source)


def classifier_for_app(app: str) -> tuple[runtime.Classifier, ModelVersion | None]:
    """The tenant's active version of ``app``, else the platform default (real-time
    inference)."""
    version = active_version(app=app)
    if version is not None:
        return classifier_for(version), version
    return default_classifier(app), None


def classifier_for_job(job: Job) -> tuple[runtime.Classifier, ModelVersion | None]:
    """What a batch job runs: the version it was submitted with, else what real-time
    inference would use now (the tenant's active version, else the platform default)."""
    if job.model_version is not None:
        return classifier_for(job.model_version), job.model_version
    return classifier_for_app(job.app)

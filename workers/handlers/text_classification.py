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

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from jobs.models import Job, JobEvent, ModelVersion, Prediction
from jobs.registry import get_app
from jobs.services import active_version, dataset_rows, model_version_create
from jobs.writeback import bulk_insert_ignore
from workers import runtime
from workers.execution import Cancelled, JobContext, Outcome
from workers.runtime.base_models import register_base
from workers.runtime.metrics import classification_metrics

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
    return runtime.load_classifier(target, key=("version", version.pk))


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
    distinct labels found), store the version and promote it if it is at least as good.
    ``after_training`` may add files to the artefact; the metrics it returns join the
    version's."""
    _register_configured_bases()
    params = job.params
    spec = get_app(job.app)
    label_names = list(spec.labels or sorted(set(labels)))
    label_ids = np.array([label_names.index(label) for label in labels])
    # The split is made here (not inside the runtime) so that the active version can be
    # scored on exactly the same validation rows before the new one may replace it.
    train_idx, val_idx = runtime.stratified_split(label_ids, params["validation_fraction"],
                                                  params["seed"])
    train_texts = [texts[i] for i in train_idx]
    train_labels = [labels[i] for i in train_idx]
    val_texts = [texts[i] for i in val_idx]
    val_labels = [labels[i] for i in val_idx]
    total = params["epochs"] * len(train_texts)
    context.progress(0, items_total=total, force=True)

    def on_step(step: int, loss: float) -> None:
        context.event(JobEvent.Kind.LOSS, f"step {step}: loss {loss:.4f}", step=step, loss=loss)

    def on_epoch(epoch: int, metrics: dict[str, Any]) -> None:
        summary = {key: metrics[key] for key in ("accuracy", "macro_f1", "train_loss")
                   if key in metrics}
        context.event(JobEvent.Kind.METRICS, f"epoch {epoch}: " + ", ".join(
            f"{key} {value:.4f}" for key, value in summary.items()), epoch=epoch, **summary)

    def on_progress(done: int, units: int) -> None:
        # The runtime counts its own units (optimiser steps; for a head: texts embedded,
        # then epochs): report the same fraction of the job's items.
        context.progress(min(total, round(total * done / max(units, 1))))

    output = _work_dir(f"job-{job.pk}") / "artifact"
    shutil.rmtree(output, ignore_errors=True)
    try:
        config = runtime.FineTuneConfig(
            output_dir=output, label_names=label_names, base=params["base_model"],
            method=params["method"], epochs=params["epochs"], batch_size=params["batch_size"],
            learning_rate=params["learning_rate"], seed=params["seed"],
            max_length=params["max_length"],
            early_stopping_patience=params["early_stopping_patience"] or None,
            checkpoint_dir=_work_dir(f"job-{job.pk}", "checkpoints"),
        )
        result = runtime.fine_tune_classifier(
            train_texts, train_labels, config, validation_texts=val_texts,
            validation_labels=val_labels, on_step=on_step, on_epoch=on_epoch,
            on_progress=on_progress, should_cancel=context.should_cancel,
        )
    except runtime.Cancelled:
        raise Cancelled from None
    extra: dict[str, Any] = {}
    if result.classifier is not None:
        if after_training is not None:
            extra = after_training(TrainedSplit(
                output=output, classifier=result.classifier, train_texts=train_texts,
                train_labels=train_labels, validation_texts=val_texts,
                validation_labels=val_labels))
        result.classifier.release()

    metrics: dict[str, Any] = dict(result.metrics)
    metrics.update(extra)
    metrics.update(train_size=result.train_size, validation_size=result.validation_size,
                   training_seconds=round(result.training_seconds, 2),
                   epochs_run=result.epochs_run, best_epoch=result.best_epoch,
                   stopped_early=result.stopped_early, artifact_bytes=result.artifact_bytes)
    current = active_version(app=job.app)
    if current is not None and val_texts:
        metrics["baseline"] = _score(current, val_texts, val_labels, label_names)
    version = model_version_create(
        job=job, label_map=label_names, metrics=metrics, artifact_name="artifact.zip",
        artifact=_zip_dir(output), base_model=params["base_model"], method=params["method"],
        force=params["force"],
    )
    context.event(JobEvent.Kind.STATUS, f"Model v{version.version}: {version.promotion_note}",
                  version=version.version, status=version.status)
    shutil.rmtree(_work_dir(f"job-{job.pk}"), ignore_errors=True)
    return Outcome(metrics={**metrics, "model_version": version.pk}, items=len(train_texts))


def _score(version: ModelVersion, texts: list[str], labels: list[str],
           label_names: list[str]) -> dict[str, Any]:
    """The version's accuracy and macro-F1 on the given rows."""
    classifier = classifier_for(version)
    predicted = [p.label for chunk in classifier.classify(texts) for p in chunk]
    # A label the new label set lacks (an intent since removed) counts as a wrong answer.
    names = [*label_names, *sorted(set(predicted) - set(label_names))]
    y_true = [names.index(label) for label in labels]
    y_pred = [names.index(label) for label in predicted]
    scored = classification_metrics(y_true, y_pred, names)
    return {"version": version.version, "accuracy": scored["accuracy"],
            "macro_f1": scored["macro_f1"]}


def batch_inference(job: Job, context: JobContext) -> Outcome:
    version = job.model_version
    if version is None:
        raise ValueError("No model version to run: fine-tune one or activate a version first.")
    return classify_rows(job, context, classifier_for(version), version)


def classify_rows(job: Job, context: JobContext, classifier: runtime.Classifier,
                  version: ModelVersion | None) -> Outcome:
    """Classify the job's dataset rows into ``Prediction`` rows, resuming after the last one
    written; the outcome counts the labels."""
    rows = dataset_rows(job.dataset) if job.dataset else []
    # Resume: rows written by an earlier attempt stay (each item is written once anyway).
    done_before = Prediction.objects.filter(job=job).aggregate(last=Max("item"))["last"] or 0
    todo = [(number, row["text"]) for number, row in enumerate(rows, start=1)
            if number > done_before]
    done = done_before
    context.progress(done, items_total=len(rows), force=True)
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
    return Outcome(metrics={"items": done, "label_counts": counts,
                            "model_version": version.version if version else "default"},
                   items=done)


class NoModelAvailable(RuntimeError):
    """The tenant has no active version and no platform default is installed for the app."""


def default_model_dir(app: str) -> Path:
    """Where the platform default model of ``app`` lives: ``DEFAULT_MODELS_DIR/<app>``
    (written by ``manage.py train_default_model``)."""
    return Path(settings.DEFAULT_MODELS_DIR) / app


def default_classifier(app: str) -> runtime.Classifier:
    """The platform default classifier of ``app``, for tenants without a fine-tune of their
    own."""
    cached = runtime.cached_classifier(("default", app))
    if cached is not None:
        return cached
    directory = default_model_dir(app)
    if not (directory / "manifest.json").exists():
        raise NoModelAvailable(
            f"No model is available for {app}: fine-tune one, or install the platform default "
            f"with `python manage.py train_default_model {app}`."
        )
    return runtime.load_classifier(directory, key=("default", app))


def classifier_for_app(app: str) -> tuple[runtime.Classifier, ModelVersion | None]:
    """The tenant's active version of ``app``, else the platform default."""
    version = active_version(app=app)
    if version is not None:
        return classifier_for(version), version
    return default_classifier(app), None

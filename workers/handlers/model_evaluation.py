"""A fine-tune's evaluation data and the figures of the promotion gate, for every classifier
application: which rows train, which validate (the gate's rows) and which test (the figures
stored with the version), and the scores of the candidate, the tenant's active version and
the platform default on them.

Validation and test rows are the job's ``validation_dataset`` and ``test_dataset`` when given
(the tenant's own, checked at submission), else stratified splits of the training dataset
(validation first, then test from what is left, each ``validation_fraction`` with the job's
seed), made after exact duplicates are dropped so that no copy of a training row is held out.
The dataset check (``jobs.dataset_check``) then runs, its report goes on the job, and a
refusal fails the job before any training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.dataset_check import DatasetRefused, DatasetReport, Row, dataset_check, deduplicate
from jobs.models import Dataset, Job, JobEvent
from jobs.registry import get_app
from jobs.services import dataset_rows, job_dataset_check_record
from workers import runtime
from workers.execution import JobContext
from workers.runtime.evaluation import evaluate_classifier


@dataclass(frozen=True)
class EvaluationRows:
    train: list[Row]
    validation: list[Row]
    test: list[Row]
    report: DatasetReport
    sources: dict[str, str]  # "validation"/"test" -> "dataset <name>" | "split"


def _labelled_rows(job: Job, dataset_id: int) -> tuple[list[Row], str]:
    dataset = Dataset.objects.get(pk=dataset_id, app=job.app)
    schema = get_app(job.app).datasets[dataset.purpose]
    label = next(column.name for column in schema.columns if column.type == "label")
    return ([(str(row["text"]), str(row[label])) for row in dataset_rows(dataset)],
            f"dataset {dataset.name}")


def _split(rows: list[Row], fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """(kept, held out): a stratified ``fraction`` of each label held out."""
    if not rows:
        return [], []
    names = sorted({label for _, label in rows})
    ids = np.array([names.index(label) for _, label in rows])
    kept, held = runtime.stratified_split(ids, fraction, seed)
    return [rows[i] for i in kept], [rows[i] for i in held]


def evaluation_rows(job: Job, context: JobContext, texts: Sequence[str],
                    labels: Sequence[str]) -> EvaluationRows:
    """The job's train, validation and test rows after the dataset check (its report stored
    on the job, its warnings as events); ``DatasetRefused`` when it refuses."""
    params = job.params
    rows, duplicates = deduplicate([(str(t), str(y)) for t, y in zip(texts, labels, strict=True)])
    fraction, seed = float(params.get("validation_fraction", 0.1)), int(params.get("seed", 42))
    sources = {"validation": "split", "test": "split"}
    validation: list[Row]
    test: list[Row]
    if params.get("validation_dataset"):
        validation, sources["validation"] = _labelled_rows(job, params["validation_dataset"])
    else:
        rows, validation = _split(rows, fraction, seed)
    if params.get("test_dataset"):
        test, sources["test"] = _labelled_rows(job, params["test_dataset"])
    else:
        rows, test = _split(rows, fraction, seed + 1)
    train, report = dataset_check(train=rows, validation=validation, test=test,
                                  duplicates_removed=duplicates)
    job_dataset_check_record(job=job, report={**report.as_dict(), "sources": sources})
    for warning in report.warnings:
        context.event(JobEvent.Kind.WARNING, f"Dataset check: {warning}")
    if report.refused:
        raise DatasetRefused(report)
    context.event(JobEvent.Kind.STATUS,
                  f"Dataset check passed: {report.train_rows} training, "
                  f"{report.validation_rows} validation ({sources['validation']}), "
                  f"{report.test_rows} test rows ({sources['test']})",
                  warnings=len(report.warnings))
    return EvaluationRows(train, validation, test, report, sources)


def version_test_rows(job: Job | None) -> tuple[list[str], list[str]] | None:
    """``(texts, labels)`` of the test rows a version was scored on, recomputed from the job
    that trained it as ``evaluation_rows`` chose them: the job's test dataset, else the same
    stratified splits of its training dataset. None when there is no job or dataset left, or
    the rows did not come from a dataset (the bot's utterances): int8 validation
    (``workers.runtime.quantization``) then keeps the version in fp32."""
    if job is None:
        return None
    params = job.params
    try:
        if params.get("test_dataset"):
            test, _ = _labelled_rows(job, params["test_dataset"])
        elif job.dataset_id is not None:
            rows, _ = deduplicate(_labelled_rows(job, job.dataset_id)[0])
            fraction, seed = float(params.get("validation_fraction", 0.1)), int(
                params.get("seed", 42))
            if not params.get("validation_dataset"):
                rows, _ = _split(rows, fraction, seed)
            _, test = _split(rows, fraction, seed + 1)
        else:
            return None
    except (Dataset.DoesNotExist, KeyError, StopIteration):
        return None
    return [text for text, _ in test], [label for _, label in test]


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    return {"accuracy": round(figures["accuracy"], 6), "macro_f1": round(figures["macro_f1"], 6),
            "rows": figures["rows"]}


def gate_scores(candidate: runtime.Classifier, references: dict[str, tuple[Any, Any]],
                rows: EvaluationRows, label_names: list[str]) -> dict[str, Any]:
    """Every model's figures on the same validation and test rows: ``gate`` (the candidate's,
    and each reference's, ``{"version": name, "accuracy", "macro_f1", "rows",
    "test_macro_f1"}``; a reference that does not exist is None) and ``test`` (the
    candidate's full figures on the test rows, with its top confusions)."""
    val_texts, val_labels = [t for t, _ in rows.validation], [y for _, y in rows.validation]
    test_texts, test_labels = [t for t, _ in rows.test], [y for _, y in rows.test]
    candidate_test = evaluate_classifier(candidate, test_texts, test_labels, label_names)
    gate: dict[str, Any] = {"candidate": {
        **_summary(evaluate_classifier(candidate, val_texts, val_labels, label_names)),
        "test_macro_f1": round(candidate_test["macro_f1"], 6)}}
    for key, (name, classifier) in references.items():
        if classifier is None:
            gate[key] = None
            continue
        gate[key] = {"version": name,
                     **_summary(evaluate_classifier(classifier, val_texts, val_labels,
                                                    label_names)),
                     "test_macro_f1": round(evaluate_classifier(
                         classifier, test_texts, test_labels, label_names)["macro_f1"], 6)}
    return {"gate": gate, "test": candidate_test}

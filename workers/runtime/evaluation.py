"""Scoring a classifier on labelled rows, by label name: accuracy, macro-F1, per class, the
confusion matrix and the top confusions ("A confused with B, n times").

Labels are compared by name, so any classifier can be scored on a tenant's rows: a label it
predicts that the rows' label set lacks (a platform default's intent the tenant does not
have, an intent since removed), or a row labelled with a class the model does not know, gets
its own column, appended after the given order, instead of being dropped: such a row is an
error the figures must count.

- ``evaluate_labels`` / ``evaluate_classifier``: a version's validation and test figures and
  the promotion gate's comparisons (``classification_metrics`` keys, ``top_confusions``).
- ``classification_report``: a batch-inference job's report on a labelled dataset, with the
  label order fixed by the caller (the model's label map, so every report of one version lists
  the classes alike) and the matrix under ``confusion``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workers.runtime.classifier.model import Classifier
from workers.runtime.metrics import classification_metrics

TOP_CONFUSIONS = 5
REPORT_TOP_CONFUSIONS = 10


def top_confusions(matrix: Sequence[Sequence[int]], labels: Sequence[str],
                   limit: int = TOP_CONFUSIONS) -> list[dict[str, Any]]:
    """The largest off-diagonal cells: ``{"true": A, "predicted": B, "count": n}``, most
    frequent first (ties by label order)."""
    cells = [(int(count), i, j) for i, row in enumerate(matrix) for j, count in enumerate(row)
             if i != j and count]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [{"true": labels[i], "predicted": labels[j], "count": count}
            for count, i, j in cells[:limit]]


def _scored(true_labels: Sequence[str], predicted: Sequence[str], order: Sequence[str]
            ) -> tuple[list[str], dict[str, Any]]:
    if len(true_labels) != len(predicted):
        raise ValueError(f"{len(true_labels)} labels but {len(predicted)} predictions")
    names = list(dict.fromkeys(order))
    names += sorted({*true_labels, *predicted} - set(names))
    index = {name: i for i, name in enumerate(names)}
    return names, classification_metrics([index[label] for label in true_labels],
                                         [index[label] for label in predicted], names)


def evaluate_labels(true_labels: Sequence[str], predicted: Sequence[str],
                    label_names: Sequence[str]) -> dict[str, Any]:
    """``classification_metrics`` by name, with ``top_confusions`` and ``rows``."""
    names, metrics = _scored(true_labels, predicted, label_names)
    metrics["top_confusions"] = top_confusions(metrics["confusion_matrix"], names)
    metrics["rows"] = len(true_labels)
    return metrics


def evaluate_classifier(classifier: Classifier, texts: Sequence[str], labels: Sequence[str],
                        label_names: Sequence[str], *, batch_size: int = 64) -> dict[str, Any]:
    """The classifier's figures on these rows (see ``evaluate_labels``)."""
    predicted = [p.label for chunk in classifier.classify(list(texts), batch_size=batch_size)
                 for p in chunk]
    return evaluate_labels(labels, predicted, label_names)


def classification_report(labels: Sequence[str], predictions: Sequence[str],
                          label_order: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, ``per_class`` {label: precision, recall, f1, support}, ``confusion``
    (rows true, columns predicted, in ``labels``: ``label_order`` plus any other label met,
    sorted), ``top_confusions`` (the ``REPORT_TOP_CONFUSIONS`` largest off-diagonal cells,
    largest first) and ``rows``."""
    order, scored = _scored(labels, predictions, label_order)
    matrix: list[list[int]] = scored["confusion_matrix"]
    return {
        "accuracy": scored["accuracy"],
        "macro_f1": scored["macro_f1"],
        "per_class": scored["per_class"],
        "labels": order,
        "confusion": matrix,
        "top_confusions": top_confusions(matrix, order, REPORT_TOP_CONFUSIONS),
        "rows": len(labels),
    }

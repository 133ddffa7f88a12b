"""Scoring a classifier on labelled rows: accuracy, macro-F1, per class, the confusion matrix
and the top confusions ("A confused with B, n times"), by label name.

Labels are compared by name, so any classifier can be scored on a tenant's rows: a label it
predicts that the rows' label set lacks (a platform default's intent the tenant does not
have, an intent since removed) counts as a wrong answer and gets its own column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workers.runtime.classifier.model import Classifier
from workers.runtime.metrics import classification_metrics

TOP_CONFUSIONS = 5


def top_confusions(matrix: Sequence[Sequence[int]], labels: Sequence[str],
                   limit: int = TOP_CONFUSIONS) -> list[dict[str, Any]]:
    """The largest off-diagonal cells: ``{"true": A, "predicted": B, "count": n}``, most
    frequent first (ties by label order)."""
    cells = [(int(count), i, j) for i, row in enumerate(matrix) for j, count in enumerate(row)
             if i != j and count]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [{"true": labels[i], "predicted": labels[j], "count": count}
            for count, i, j in cells[:limit]]


def evaluate_labels(true_labels: Sequence[str], predicted: Sequence[str],
                    label_names: Sequence[str]) -> dict[str, Any]:
    """``classification_metrics`` by name, with ``top_confusions``."""
    names = [*label_names, *sorted(set(predicted) - set(label_names))]
    index = {name: i for i, name in enumerate(names)}
    metrics = classification_metrics([index[label] for label in true_labels],
                                     [index[label] for label in predicted], names)
    metrics["top_confusions"] = top_confusions(metrics["confusion_matrix"], names)
    metrics["rows"] = len(true_labels)
    return metrics


def evaluate_classifier(classifier: Classifier, texts: Sequence[str], labels: Sequence[str],
                        label_names: Sequence[str], *, batch_size: int = 64) -> dict[str, Any]:
    """The classifier's figures on these rows (see ``evaluate_labels``)."""
    predicted = [p.label for chunk in classifier.classify(list(texts), batch_size=batch_size)
                 for p in chunk]
    return evaluate_labels(labels, predicted, label_names)

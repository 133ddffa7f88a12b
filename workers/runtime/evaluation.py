"""Labelled-data reports by label name: what a model's predictions on rows with known labels
amount to (a batch-inference job over a labelled dataset, a version's test set).

``classification_report`` is ``metrics.classification_metrics`` keyed by names instead of ids,
with the label order fixed by the caller (the model's label map, so every report of one
version lists the classes alike) and the most frequent confusions spelled out. A label that is
not in ``label_order`` (a row labelled with a class the model does not know, or an intent the
model still predicts but the caller no longer lists) is appended, sorted, instead of being
dropped: such a row is an error the report must count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workers.runtime.metrics import classification_metrics

TOP_CONFUSIONS = 10


def classification_report(labels: Sequence[str], predictions: Sequence[str],
                          label_order: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, ``per_class`` {label: precision, recall, f1, support}, ``confusion``
    (rows true, columns predicted, in ``labels_order``: ``label_order`` plus any other label
    met, sorted), ``top_confusions`` (the ``TOP_CONFUSIONS`` largest off-diagonal cells,
    ``{"true", "predicted", "count"}``, largest first) and ``rows``."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    order = list(dict.fromkeys(label_order))
    known = set(order)
    order += sorted({*labels, *predictions} - known)
    index = {label: position for position, label in enumerate(order)}
    scored = classification_metrics([index[label] for label in labels],
                                    [index[label] for label in predictions], order)
    matrix: list[list[int]] = scored["confusion_matrix"]
    cells = sorted(
        ((count, order[row], order[column])
         for row, counts in enumerate(matrix) for column, count in enumerate(counts)
         if row != column and count),
        key=lambda cell: (-cell[0], cell[1], cell[2]))
    confusions = [{"true": true, "predicted": predicted, "count": count}
                  for count, true, predicted in cells]
    return {
        "accuracy": scored["accuracy"],
        "macro_f1": scored["macro_f1"],
        "per_class": scored["per_class"],
        "labels": order,
        "confusion": matrix,
        "top_confusions": confusions[:TOP_CONFUSIONS],
        "rows": len(labels),
    }

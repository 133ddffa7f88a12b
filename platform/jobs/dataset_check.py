"""The check a fine-tune's rows pass before any training: duplicates, rows shared between the
training rows and the validation or test rows, class balance, labels with too few examples.

Invariant: training never sees a validation or test text. Exact duplicates (same text, same
label) are dropped from the training rows, and training rows whose text is also a validation
or test row are dropped from training, each with a warning; so the gate's comparison and the
test figures are on rows the model has not learnt. What would make training meaningless is a
refusal, and the job fails before training with every reason listed: fewer than two classes
left to learn, no validation or test rows, a validation or test label the training rows lack
(the model could never predict it, so its recall is 0 by construction).

The report (``DatasetReport.as_dict``) is stored on the job (``Job.dataset_check``) whether it
refuses or not. Pure Python: the worker runs it on the rows it loaded, and it needs no model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Row = tuple[str, str]  # (text, label)

# Below this many training rows a class draws a warning (its recall is noise at best).
FEW_EXAMPLES = 10
# A largest class more than this many times the smallest draws a class-balance warning.
IMBALANCE_RATIO = 10.0


@dataclass
class DatasetReport:
    train_rows: int = 0
    validation_rows: int = 0
    test_rows: int = 0
    duplicates_removed: int = 0
    conflicting_texts: int = 0  # texts that appear with two or more labels in training
    shared_with_validation: int = 0
    shared_with_test: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def as_dict(self) -> dict[str, Any]:
        return {"train_rows": self.train_rows, "validation_rows": self.validation_rows,
                "test_rows": self.test_rows, "duplicates_removed": self.duplicates_removed,
                "conflicting_texts": self.conflicting_texts,
                "shared_with_validation": self.shared_with_validation,
                "shared_with_test": self.shared_with_test, "class_counts": self.class_counts,
                "warnings": list(self.warnings), "refusals": list(self.refusals)}


class DatasetRefused(ValueError):
    """The rows cannot train a meaningful model; ``report`` says why."""

    def __init__(self, report: DatasetReport) -> None:
        super().__init__("The dataset check refused this training: " + "; ".join(report.refusals))
        self.report = report


def deduplicate(rows: Sequence[Row]) -> tuple[list[Row], int]:
    """The rows without exact repeats (the first of each kept, order kept) and how many went."""
    seen: set[Row] = set()
    kept: list[Row] = []
    for row in rows:
        if row not in seen:
            seen.add(row)
            kept.append(row)
    return kept, len(rows) - len(kept)


def dataset_check(*, train: Sequence[Row], validation: Sequence[Row], test: Sequence[Row],
                  duplicates_removed: int = 0) -> tuple[list[Row], DatasetReport]:
    """The training rows to use (duplicates and rows shared with validation or test removed)
    and the report; raises nothing (``report.refused`` says whether to stop).
    ``duplicates_removed``: repeats the caller already dropped (it deduplicates a dataset
    before splitting it, so that no copy of a training row lands in validation)."""
    report = DatasetReport()
    rows, removed = deduplicate(train)
    report.duplicates_removed = removed + duplicates_removed
    if report.duplicates_removed:
        report.warnings.append(f"{report.duplicates_removed} duplicate training rows were "
                               "removed.")
    labels_of: dict[str, set[str]] = {}
    for text, label in rows:
        labels_of.setdefault(text, set()).add(label)
    report.conflicting_texts = sum(1 for labels in labels_of.values() if len(labels) > 1)
    if report.conflicting_texts:
        report.warnings.append(f"{report.conflicting_texts} texts appear in training with "
                               "different labels.")
    validation_texts = {text for text, _ in validation}
    test_texts = {text for text, _ in test}
    report.shared_with_validation = sum(1 for text, _ in rows if text in validation_texts)
    report.shared_with_test = sum(1 for text, _ in rows if text in test_texts)
    if report.shared_with_validation or report.shared_with_test:
        rows = [(text, label) for text, label in rows
                if text not in validation_texts and text not in test_texts]
        report.warnings.append(
            f"{report.shared_with_validation} training rows were also validation rows and "
            f"{report.shared_with_test} test rows; they were removed from training.")
    report.train_rows, report.validation_rows, report.test_rows = (
        len(rows), len(validation), len(test))
    counts = Counter(label for _, label in rows)
    report.class_counts = dict(sorted(counts.items()))
    _judge(report, counts, validation, test)
    return rows, report


def _judge(report: DatasetReport, counts: Counter[str], validation: Sequence[Row],
           test: Sequence[Row]) -> None:
    if len(counts) < 2:
        report.refusals.append(f"training needs rows of at least two labels; "
                               f"{len(counts)} left after the check")
    for name, rows in (("validation", validation), ("test", test)):
        if not rows:
            report.refusals.append(f"the {name} set is empty")
            continue
        unseen = sorted({label for _, label in rows} - set(counts))
        if unseen:
            report.refusals.append(f"the {name} set has labels the training rows lack: "
                                   f"{', '.join(unseen)}")
    few = sorted(label for label, count in counts.items() if count < FEW_EXAMPLES)
    if few:
        report.warnings.append(f"labels with fewer than {FEW_EXAMPLES} training rows: "
                               f"{', '.join(few)}.")
    if len(counts) >= 2:
        largest, smallest = max(counts.values()), min(counts.values())
        if largest > IMBALANCE_RATIO * smallest:
            report.warnings.append(f"classes are imbalanced: the largest has {largest} rows, "
                                   f"the smallest {smallest}.")

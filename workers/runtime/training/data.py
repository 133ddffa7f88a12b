"""Training data: labels to ids, the train/validation split and the run's fingerprint.

Labels are names from ``label_names`` (default: the sorted distinct labels) or their ids; an
unknown name or an id out of range is refused with its row number rather than trained on.
Validation rows are the caller's when given (a job scores the new and the active model on the
very same rows), else a stratified fraction chosen with the run's seed, so that a resumed run
splits exactly as the interrupted one did (its fingerprint would differ otherwise).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)  # arrays: equality would be ambiguous
class TrainingData:
    names: list[str]  # label names, in id order
    train_texts: list[str]
    y_train: np.ndarray
    val_texts: list[str]
    y_val: np.ndarray
    label_map: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_map", {name: i for i, name in enumerate(self.names)})

    @property
    def has_validation(self) -> bool:
        return len(self.val_texts) > 0


def training_data(texts: Sequence[str], labels: Sequence[str | int], *,
                  label_names: Sequence[str] | None,
                  validation_texts: Sequence[str] | None,
                  validation_labels: Sequence[str | int] | None,
                  validation_fraction: float, seed: int) -> TrainingData:
    """Checked label ids and the split (``texts`` and ``labels`` already of one length)."""
    texts = [str(t) for t in texts]
    names = (list(label_names) if label_names is not None
             else sorted({str(label) for label in labels}))
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError("label_names must hold at least two distinct labels")
    label_map = {name: i for i, name in enumerate(names)}
    y_all = label_ids(labels, label_map, "training")

    if validation_texts is not None:
        if validation_labels is None or len(validation_labels) != len(validation_texts):
            raise ValueError("validation_texts and validation_labels differ in length")
        return TrainingData(names, texts, y_all, [str(t) for t in validation_texts],
                            label_ids(validation_labels, label_map, "validation"))
    train_rows, val_rows = stratified_split(y_all, validation_fraction, seed)
    return TrainingData(names, [texts[i] for i in train_rows], y_all[train_rows],
                        [texts[i] for i in val_rows], y_all[val_rows])


def label_ids(labels: Sequence[str | int], label_map: dict[str, int], what: str) -> np.ndarray:
    out = np.empty(len(labels), dtype=np.int64)
    n = len(label_map)
    for i, label in enumerate(labels):
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= int(label) < n:
                raise ValueError(f"{what} row {i}: label id {label} out of range")
            out[i] = int(label)
        elif str(label) in label_map:
            out[i] = label_map[str(label)]
        else:
            raise ValueError(f"{what} row {i}: unknown label {label!r}")
    return out


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` positions: ``fraction`` of each class (at least one when the
    class has two or more rows) goes to validation; reproducible for a seed."""
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for cls in np.unique(y):
        rows = np.flatnonzero(y == cls)
        rng.shuffle(rows)
        k = round(len(rows) * fraction)
        k = min(max(k, 1), len(rows) - 1) if len(rows) >= 2 and fraction > 0 else 0
        val.append(rows[:k])
        train.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def fingerprint(config: dict[str, Any], texts: Sequence[str], y: np.ndarray,
                val_texts: Sequence[str], val_y: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for part in (texts, val_texts):
        for text in part:
            digest.update(text.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        digest.update(b"\x01")
    digest.update(y.tobytes())
    digest.update(val_y.tobytes())
    return digest.hexdigest()

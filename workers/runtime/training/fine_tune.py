"""``fine_tune_classifier``: check the inputs, split the data, and run the method's training.

The artefact it writes is described in ``workers.runtime.classifier.artifacts``, checkpoints in
``checkpoints``, the kept epoch and early stopping in ``state``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from workers.runtime.calibration import CALIBRATION_METHODS
from workers.runtime.training.config import METHODS, FineTuneConfig
from workers.runtime.training.data import training_data
from workers.runtime.training.head import train_head
from workers.runtime.training.hooks import TrainingHooks
from workers.runtime.training.loop import train_encoder
from workers.runtime.training.result import FineTuneResult


def fine_tune_classifier(
    texts: Sequence[str],
    labels: Sequence[str | int],
    config: FineTuneConfig,
    *,
    validation_texts: Sequence[str] | None = None,
    validation_labels: Sequence[str | int] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
    on_progress: Callable[[float, float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> FineTuneResult:
    """Fine-tune a text classifier on ``config.base`` and save its artefact to
    ``config.output_dir``.

    ``labels`` are names from ``label_names`` (default: the sorted distinct labels) or their
    ids. Validation data: ``validation_texts``/``validation_labels`` when given, else a
    stratified ``validation_fraction`` of the rows chosen with ``seed`` (0: no validation, no
    early stopping). The kept weights are those of the epoch with the best validation
    macro-F1; training stops after ``early_stopping_patience`` epochs without improvement.
    ``learning_rate`` applies to the adapter (LoRA, default 1e-3) or the encoder (full,
    default 5e-5), ``head_learning_rate`` (default 2e-3) to the head; AdamW, linear warm-up
    and decay. ``layer_decay`` < 1 (full fine-tune) scales each encoder layer's learning rate
    by that factor per layer below the top, the embeddings lowest; ``label_smoothing`` is
    cross-entropy's. ``average_last_epochs`` = k > 1 also averages the weights at the end of
    the last k epochs (checkpoint averaging) and keeps the average when it scores at least as
    well on validation as the best epoch. ``method="head"`` (see ``training.head``) trains
    the head alone with ``learning_rate`` (default 1e-2) and keeps no checkpoints.
    ``on_step(step, mean loss)`` every ``log_every`` optimiser steps, ``on_progress(done,
    total, unit)`` every step in epochs (fractional; a head: after each epoch, and first
    "texts" as it embeds them), ``on_epoch(epoch, metrics)`` after each epoch's checkpoint;
    ``should_cancel()`` is checked before every batch and raises ``Cancelled``. The kept
    weights' validation logits fit ``calibration`` (default: temperature scaling), stored in
    the artefact and applied by every loader; its ECE before and after is in the metrics.
    """
    if config.method not in METHODS:
        raise ValueError(f"method must be 'lora', 'full' or 'head', not {config.method!r}")
    if config.calibration not in CALIBRATION_METHODS:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATION_METHODS)}, "
                         f"not {config.calibration!r}")
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    if not texts:
        raise ValueError("no training rows")
    if config.epochs < 1 or config.batch_size < 1:
        raise ValueError("epochs and batch_size must be positive")
    data = training_data(texts, labels, label_names=config.label_names,
                         validation_texts=validation_texts, validation_labels=validation_labels,
                         validation_fraction=config.validation_fraction, seed=config.seed)
    hooks = TrainingHooks(on_step=on_step, on_epoch=on_epoch, on_progress=on_progress,
                          should_cancel=should_cancel)
    if config.method == "head":
        return train_head(data, config, hooks)
    return train_encoder(data, config, hooks)

"""``TrainState``: what a fine-tune has learnt about itself so far (epochs done, the best epoch
and its weights, early stopping, the running weight average, the history), saved in every
checkpoint so that a resumed run ends exactly where an uninterrupted one would.

One rule keeps an epoch, for every method (``end_epoch``): its validation macro-F1 beats the
best so far by more than 1e-9 (without validation, every epoch beats the one before, so the
last is kept); after ``early_stopping_patience`` epochs without that, training stops. Averaged
weights (``average_last_epochs``) replace the best epoch when they score at least as well (a tie
goes to the average).

A checkpoint holds the state as a plain dict (``to_checkpoint``) with the keys the 14-key dict
it replaced had, because ``torch.load(weights_only=True)`` refuses to rebuild classes, and so
that checkpoints written before this class still resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import torch

# A tie (up to float noise) is not an improvement: the earlier epoch is kept.
IMPROVEMENT = 1e-9


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed, all calls together
    global_step: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None  # trainable weights of the kept epoch
    best_metrics: dict[str, Any] = field(default_factory=dict)
    bad_epochs: int = 0  # epochs since the best one
    history: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    stopped_early: bool = False
    seconds: float = 0.0  # training time of earlier calls
    average: dict[str, torch.Tensor] | None = None  # running mean of the last epochs' weights
    averaged: int = 0

    def end_epoch(self, *, epoch: int, epochs: int, train_loss: float,
                  validation: dict[str, Any] | None,
                  weights: Callable[[], dict[str, torch.Tensor]],
                  early_stopping_patience: int | None) -> dict[str, Any]:
        """Record epoch ``epoch`` (1-based) of ``epochs``: its history row (returned), whether
        it is the best so far (then ``weights()`` is kept) and whether training stops here
        (``finished``). ``validation``: the epoch's validation metrics (with ``loss``), None
        without validation rows."""
        row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss}
        has_validation = validation is not None
        if validation is not None:
            row.update(val_loss=validation["loss"], accuracy=validation["accuracy"],
                       macro_f1=validation["macro_f1"])
            score = float(validation["macro_f1"])
        else:
            validation = {"validation_size": 0}
            score = float(epoch)  # no validation: keep the last epoch
        if score > self.best_score + IMPROVEMENT:
            self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
            self.best_state = weights()
            self.best_metrics = {k: v for k, v in validation.items() if k != "loss"}
        else:
            self.bad_epochs += 1
        self.history.append(row)
        self.epoch = epoch
        stop = (has_validation and early_stopping_patience is not None
                and self.bad_epochs >= early_stopping_patience)
        self.stopped_early = bool(stop and epoch < epochs)
        self.finished = bool(stop or epoch == epochs)
        return row

    def accumulate_average(self, weights: dict[str, torch.Tensor]) -> None:
        """Fold one epoch's weights into the running mean (``average``, ``averaged``)."""
        count = int(self.averaged) + 1
        if self.average is None:
            self.average = {name: tensor.clone() for name, tensor in weights.items()}
        else:
            for name, tensor in self.average.items():
                tensor.add_(weights[name] - tensor, alpha=1 / count)
        self.averaged = count

    def consider_average(self, validation: dict[str, Any]) -> None:
        """Record the averaged weights' ``validation`` metrics; keep them instead of the best
        epoch's when they score at least as well."""
        self.history.append({"epoch": int(self.epoch), "averaged_epochs": self.averaged,
                             "val_loss": validation["loss"], "accuracy": validation["accuracy"],
                             "macro_f1": validation["macro_f1"]})
        if float(validation["macro_f1"]) >= self.best_score - IMPROVEMENT:
            self.best_state = self.average
            self.best_epoch = int(self.epoch)
            self.best_metrics = {**{k: v for k, v in validation.items() if k != "loss"},
                                 "averaged_epochs": self.averaged}

    def to_checkpoint(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any]) -> TrainState:
        return cls(**saved)

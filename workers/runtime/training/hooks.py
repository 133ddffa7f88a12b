"""The caller's view of a running fine-tune: progress callbacks and cancellation.

``should_cancel()`` is polled before every batch (and before each chunk of texts a head-only
run embeds); it raises ``Cancelled`` between two optimiser steps, never inside one, so the
checkpoints already written stay valid and a later call with the same inputs resumes from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Cancelled(Exception):  # noqa: N818 - the name callers catch
    """Training stopped because ``should_cancel()`` returned True (checkpoints are kept)."""


@dataclass(frozen=True)
class TrainingHooks:
    on_step: Callable[[int, float], None] | None = None  # (step, mean loss)
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None  # (epoch, history row)
    # (done, in all, unit): "texts" embedded (a head's first pass), then "epochs", fractional
    # for full and LoRA training (an epoch's share of its optimiser steps).
    on_progress: Callable[[float, float, str], None] | None = None
    should_cancel: Callable[[], bool] | None = None

    def check_cancelled(self, message: str) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled(message)

    def progress(self, done: float, total: float, unit: str = "epochs") -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, unit)

    def epoch_done(self, epoch: int, metrics: dict[str, Any]) -> None:
        if self.on_epoch is not None:
            self.on_epoch(epoch, metrics)

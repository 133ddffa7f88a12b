"""``FineTuneConfig``: every setting of a fine-tune, in one frozen value (it replaced the 33
keyword parameters of ``fine_tune_classifier``; the data and the callbacks stay arguments).

Invariant: ``fingerprint_settings`` holds exactly the settings that change the trained weights,
with the keys and value shapes they had before the config existed. A checkpoint records their
hash, and a resumed run with other settings (or another dataset) is refused; paths, the number
of checkpoints kept and the logging interval are not part of it, so a run may resume from a
moved checkpoint folder, and checkpoints written before this class resume as they did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from workers.runtime.base_models import DEFAULT_BASE

Method = Literal["lora", "full", "head"]
METHODS: tuple[Method, ...] = ("lora", "full", "head")
StoredDtype = Literal["float32", "float16"]
STORED_DTYPES: tuple[StoredDtype, ...] = ("float32", "float16")
DEFAULT_LEARNING_RATES: dict[str, float] = {"lora": 1e-3, "full": 5e-5, "head": 1e-2}
DEFAULT_HEAD_LEARNING_RATE = 2e-3


@dataclass(frozen=True, kw_only=True)
class FineTuneConfig:
    """How to fine-tune (see ``fine_tune_classifier`` for what each setting does)."""

    output_dir: str | Path
    label_names: Sequence[str] | None = None
    base: str = DEFAULT_BASE
    method: Method = "lora"
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float | None = None
    head_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    seed: int = 0
    validation_fraction: float = 0.1
    max_length: int = 128
    early_stopping_patience: int | None = 2
    class_weighting: bool = False
    label_smoothing: float = 0.0
    layer_decay: float = 1.0
    average_last_epochs: int = 0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_target_modules: Sequence[str] = ("query", "value")
    #: how the adapter and the head are stored ("float16": half the bytes; loaded back to
    #: float32). The kept weights are rounded to it before the in-memory classifier is made,
    #: so that it predicts what the loaded artefact will. Not part of the fingerprint: it
    #: changes the stored copy, not the training.
    stored_dtype: StoredDtype = "float32"
    checkpoint_dir: str | Path | None = None
    keep_checkpoints: int = 1
    log_every: int = 10
    # How confidences are calibrated on the validation rows (``workers.runtime.calibration``);
    # not in the fingerprint: it is fitted after training and changes no weight.
    calibration: str = "temperature"

    @property
    def lr(self) -> float:
        """The adapter's (LoRA), the encoder's (full) or the head's (head only) rate."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATES[self.method]

    @property
    def head_lr(self) -> float:
        """The head's rate beside an adapter or a trained encoder."""
        if self.head_learning_rate is not None:
            return self.head_learning_rate
        return DEFAULT_HEAD_LEARNING_RATE

    def lora_manifest(self) -> dict[str, Any] | None:
        """The artefact manifest's ``lora`` entry."""
        if self.method != "lora":
            return None
        return {"r": self.lora_r, "alpha": self.lora_alpha,
                "target_modules": list(self.lora_target_modules)}

    def fingerprint_settings(self, label_names: list[str]) -> dict[str, Any]:
        """The settings a checkpoint must have been written with to be resumed."""
        return {
            "base": self.base, "method": self.method, "epochs": self.epochs,
            "batch_size": self.batch_size, "lr": self.lr, "head_lr": self.head_lr,
            "weight_decay": self.weight_decay, "warmup": self.warmup_fraction,
            "seed": self.seed, "max_length": self.max_length, "labels": label_names,
            "class_weighting": self.class_weighting, "label_smoothing": self.label_smoothing,
            "layer_decay": self.layer_decay, "average_last_epochs": self.average_last_epochs,
            "lora": [self.lora_r, self.lora_alpha, self.lora_dropout,
                     list(self.lora_target_modules)],
        }

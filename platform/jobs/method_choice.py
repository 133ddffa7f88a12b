"""The default fine-tune method of a job whose ``method`` is ``auto``, from the training rows
and classes (after the dataset check), and each method's default settings.

The rule, measured with ``bench/method_choice.py`` (all-MiniLM-L6-v2, max_length 64, each
method at its defaults below, model selection on a 10% split, test
macro-F1 on the same 600 held-out rows; CPU, one thread per run, December 2026)::

    twitter_fin_sentiment, 3 classes         head    LoRA    full
     160 rows                               0.478   0.268   0.268   LoRA and full predict the
     600 rows                               0.587   0.268   0.557   majority class (cf. issue
    1000 rows                               0.633   0.632     -     15: 0.394 on 160 rows)
    2000 rows                               0.656   0.767     -
    9,938 rows (platform default, full, 5 epochs, bench/finetune.py --quality)    0.841
    banking77, 77 classes
     770 rows (10 per class)                0.773   0.459     -
    10,003 rows                             0.922 (bench/bot.py, head)

- ``head`` below ``HEAD_BELOW_ROWS`` rows, or with more than ``HEAD_ABOVE_CLASSES`` classes,
  or fewer than ``HEAD_BELOW_ROWS_PER_CLASS`` rows per class: an encoder trained on so few
  examples learns the majority class (LoRA at 600 rows, and at 10 rows per class of 77), a
  head on the frozen embeddings does not (the 100 rows per class is a judgement between the
  10 per class measured and the 667 per class of the 2,000-row line, not a measurement);
- ``lora`` from there (0.767 against the head's 0.656 at 2,000 rows; a ~300 KB artefact);
- ``full`` from ``FULL_FROM_ROWS`` rows, the platform default's recipe (0.841 on ~10k rows).

Not measured (CPU time): full fine-tuning between 2,000 and 10,000 rows (so the LoRA/full
boundary is the platform default's size, not a measured crossing), and any other base model
or dataset. At 1,000 rows head and LoRA tie (0.633, 0.632): that is the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEAD_BELOW_ROWS = 1000
HEAD_ABOVE_CLASSES = 20
HEAD_BELOW_ROWS_PER_CLASS = 100
FULL_FROM_ROWS = 8000

METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "head": {"epochs": 60, "batch_size": 64, "learning_rate": 1e-2, "early_stopping_patience": 8},
    "lora": {"epochs": 3, "batch_size": 32, "learning_rate": 1e-3, "early_stopping_patience": 2},
    "full": {"epochs": 3, "batch_size": 32, "learning_rate": 5e-5, "early_stopping_patience": 2},
}


@dataclass(frozen=True)
class MethodChoice:
    method: str
    reason: str
    chosen_by: str  # "rule" | "request"


def method_choose(*, requested: str, rows: int, classes: int) -> MethodChoice:
    """The method to train with: the requested one, or for ``auto`` the rule above."""
    if requested != "auto":
        return MethodChoice(requested, f"{requested} was requested", "request")
    per_class = rows / max(classes, 1)
    if classes > HEAD_ABOVE_CLASSES:
        return MethodChoice("head", f"{classes} classes (more than {HEAD_ABOVE_CLASSES}): a "
                                    "head on the frozen embeddings", "rule")
    if rows < HEAD_BELOW_ROWS:
        return MethodChoice("head", f"{rows} training rows (fewer than {HEAD_BELOW_ROWS}): an "
                                    "encoder trained on so few learns the majority class",
                            "rule")
    if per_class < HEAD_BELOW_ROWS_PER_CLASS:
        return MethodChoice("head", f"{per_class:.0f} rows per class (fewer than "
                                    f"{HEAD_BELOW_ROWS_PER_CLASS})", "rule")
    if rows >= FULL_FROM_ROWS:
        return MethodChoice("full", f"{rows} training rows (at least {FULL_FROM_ROWS}): a full "
                                    "fine-tune, the platform default's recipe", "rule")
    return MethodChoice("lora", f"{rows} training rows of {classes} classes: LoRA", "rule")


def training_settings(params: dict[str, Any], method: str) -> dict[str, Any]:
    """``epochs``, ``batch_size``, ``learning_rate`` and ``early_stopping_patience``: the
    job's where it set them, else the method's defaults."""
    return {key: params[key] if params.get(key) is not None else default
            for key, default in METHOD_DEFAULTS[method].items()}

"""The end of every fine-tune, whatever the method: the kept weights become an artefact on disk
(manifest, labels, head, metrics and the method's encoder part) and an in-memory
``Classifier``, described by a ``FineTuneResult``.

Invariant: the artefact holds the weights and metrics of the kept epoch (``TrainState``'s best
or average), and the returned classifier predicts exactly what ``load_classifier`` of that
artefact will (``test_loaded_classifier_predicts_like_the_in_memory_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workers.runtime.base_models import Encoder, SharedBase
from workers.runtime.calibration import calibration_report, fit_calibrator
from workers.runtime.classifier.artifacts import (
    STORED_DTYPES,
    artifact_manifest,
    directory_bytes,
    write_artifact,
)
from workers.runtime.classifier.model import ClassificationHead, Classifier
from workers.runtime.training.config import FineTuneConfig
from workers.runtime.training.data import TrainingData
from workers.runtime.training.state import TrainState


@dataclass
class FineTuneResult:
    output_dir: Path
    label_map: dict[str, int]
    metrics: dict[str, Any]  # validation metrics of the kept epoch (see metrics.py)
    history: list[dict[str, Any]]  # per-epoch train loss and validation metrics
    method: str
    base: str
    epochs_run: int  # epochs completed in total (all calls)
    best_epoch: int
    stopped_early: bool
    resumed_from_epoch: int  # 0 when this call started from scratch
    train_size: int
    validation_size: int
    training_seconds: float  # all calls, interrupted ones included
    artifact_bytes: int
    classifier: Classifier | None = field(default=None, repr=False)  # the in-memory model


def save_fine_tune(*, config: FineTuneConfig, data: TrainingData, state: TrainState,
                   head: ClassificationHead, encoder: Encoder, shared: SharedBase,
                   peft_model: Any = None, adapter_name: str | None = None,
                   training_seconds: float, validation_logits: torch.Tensor | None,
                   resumed_from: int = 0) -> FineTuneResult:
    """Write the artefact of a finished run (its weights already the kept ones) and describe
    it. ``shared``: the base the in-memory classifier runs on (with ``adapter_name`` adopted
    for LoRA); ``encoder`` is saved whole for ``method="full"`` only. ``validation_logits``
    (the kept weights', None without validation rows) fit the calibrator."""
    out = Path(config.output_dir)
    metrics = dict(state.best_metrics)
    if validation_logits is None:
        validation_logits = torch.empty((0, len(data.names)))
    y_val = torch.from_numpy(data.y_val).long()
    calibrator = fit_calibrator(config.calibration, validation_logits, y_val)
    metrics["calibration"] = calibration_report(calibrator, validation_logits, y_val)
    if config.stored_dtype != "float32":
        _round_stored(config.stored_dtype, head, peft_model)
    manifest = artifact_manifest(
        base=config.base, method=config.method, max_length=config.max_length, encoder=encoder,
        labels=data.names, lora=config.lora_manifest(), best_epoch=state.best_epoch,
        seed=config.seed, calibration=calibrator.to_manifest(), stored_dtype=config.stored_dtype)
    write_artifact(out, manifest, data.label_map, head,
                   {"metrics": metrics, "history": state.history},
                   encoder=encoder if config.method == "full" else None, peft_model=peft_model,
                   stored_dtype=config.stored_dtype)
    in_memory = Classifier(shared, head, data.names, max_length=config.max_length,
                           adapter_name=adapter_name, manifest=manifest)
    return FineTuneResult(
        output_dir=out, label_map=data.label_map, metrics=metrics, history=list(state.history),
        method=config.method, base=config.base, epochs_run=int(state.epoch),
        best_epoch=int(state.best_epoch), stopped_early=bool(state.stopped_early),
        resumed_from_epoch=resumed_from, train_size=len(data.train_texts),
        validation_size=len(data.val_texts), training_seconds=round(training_seconds, 3),
        artifact_bytes=directory_bytes(out), classifier=in_memory)


def _round_stored(stored_dtype: str, head: ClassificationHead, peft_model: Any) -> None:
    """Round the head's and the adapter's weights to ``stored_dtype`` in place (they stay
    float32 tensors), so the in-memory classifier predicts what the stored copy will."""
    dtype = STORED_DTYPES[stored_dtype]
    parameters = list(head.parameters())
    if peft_model is not None:
        parameters += [p for name, p in peft_model.named_parameters() if "lora_" in name]
    with torch.no_grad():
        for parameter in parameters:
            parameter.copy_(parameter.to(dtype).to(parameter.dtype))

"""Calibrated confidences: a classifier's softmax says 0.63 where it is right far less often
than 63 % of the time (on BANKING77 an out-of-domain question got 0.63 for one banking intent).
A ``Calibrator`` maps logits to probabilities whose confidence matches the accuracy; it is fitted
once per trained version on the validation rows (never the training rows: their logits are
overconfident by construction) and stored in the artefact's manifest, so every loader of the
artefact, and so every confidence the platform reports (chat, classify, batch, dashboards),
applies it.

The method is pluggable (``CALIBRATORS``, chosen by ``FineTuneConfig.calibration``); the one
implemented is temperature scaling (Guo et al., 2017): ``softmax(logits / T)`` with one scalar
``T`` fitted by minimising the validation negative log-likelihood (L-BFGS on ``log T``, so ``T``
stays positive). One parameter cannot overfit a few hundred rows, and dividing every logit by
the same ``T`` keeps the argmax, so accuracy, macro-F1 and the promotion decision do not change.
An artefact without a ``calibration`` entry (written before this module) keeps ``T = 1``.

``expected_calibration_error`` (15 equal-width confidence bins, the usual choice) is reported
before and after on the version's validation rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

ECE_BINS = 15
# A validation set the model separates perfectly drives the NLL's optimum to T -> 0 (every
# confidence 1.0); the bounds keep a tiny or easy validation set from producing absurd values.
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0


class Calibrator(Protocol):
    """Maps a classifier's logits to calibrated probabilities."""

    method: ClassVar[str]

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities of a ``(rows, classes)`` tensor of logits."""
        ...

    def to_manifest(self) -> dict[str, Any]:
        """The artefact manifest's ``calibration`` entry (``method`` plus its parameters)."""
        ...


@dataclass(frozen=True)
class TemperatureScaling:
    temperature: float = 1.0
    method: ClassVar[str] = "temperature"

    @classmethod
    def fit(cls, logits: torch.Tensor, labels: torch.Tensor) -> TemperatureScaling:
        """The temperature minimising the NLL of ``labels`` under ``softmax(logits / T)``;
        ``T = 1`` without rows."""
        if len(labels) == 0:
            return cls(1.0)
        # Clones: logits made under ``inference_mode`` cannot take part in autograd.
        logits = logits.detach().float().cpu().clone()
        labels = labels.detach().long().cpu().clone()
        log_t = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200,
                                      line_search_fn="strong_wolfe")
        bounds = (math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE))

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(logits / log_t.clamp(*bounds).exp(), labels)
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        fitted = float(log_t.detach().clamp(*bounds).exp())
        return cls(fitted if math.isfinite(fitted) else 1.0)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float() / self.temperature, dim=-1)

    def to_manifest(self) -> dict[str, Any]:
        return {"method": self.method, "temperature": self.temperature}


@dataclass(frozen=True)
class Uncalibrated:
    """The plain softmax: old artefacts, and ``calibration="none"``."""

    method: ClassVar[str] = "none"

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=-1)

    def to_manifest(self) -> dict[str, Any]:
        return {"method": self.method}


IDENTITY = Uncalibrated()
CALIBRATORS: dict[str, type[TemperatureScaling]] = {"temperature": TemperatureScaling}
CALIBRATION_METHODS = ("none", *CALIBRATORS)


def fit_calibrator(method: str, logits: torch.Tensor, labels: torch.Tensor) -> Calibrator:
    """A calibrator of ``method`` (``"none"``: the plain softmax) fitted on validation rows."""
    if method == Uncalibrated.method:
        return IDENTITY
    if method not in CALIBRATORS:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATION_METHODS)}, "
                         f"not {method!r}")
    return CALIBRATORS[method].fit(logits, labels)


def calibrator_from_manifest(manifest: dict[str, Any]) -> Calibrator:
    """The calibrator an artefact's manifest stores; none stored: the plain softmax."""
    entry = manifest.get("calibration")
    if not isinstance(entry, dict) or entry.get("method") not in CALIBRATORS:
        return IDENTITY
    return TemperatureScaling(float(entry.get("temperature", 1.0)))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Rows' share-weighted gap between confidence (the top probability) and accuracy, over
    ``bins`` equal-width confidence bins (upper edges inclusive)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    # Bin b holds confidences in (b/bins, (b+1)/bins]; 0 joins the first bin.
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    error = 0.0
    for index in range(bins):
        members = which == index
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(error)


def calibration_report(calibrator: Calibrator, logits: torch.Tensor, labels: torch.Tensor
                       ) -> dict[str, Any]:
    """What the version page shows: the method, its parameters and the validation ECE and
    NLL before (plain softmax) and after calibration."""
    logits = logits.detach().float().cpu()
    labels = labels.detach().long().cpu()
    y = labels.numpy()
    before = torch.softmax(logits, dim=-1)
    after = calibrator.probabilities(logits)
    rows = len(y)
    return {
        **calibrator.to_manifest(),
        "rows": rows, "bins": ECE_BINS,
        "ece_before": expected_calibration_error(before.numpy(), y) if rows else None,
        "ece_after": expected_calibration_error(after.numpy(), y) if rows else None,
        "nll_before": float(F.nll_loss(before.clamp_min(1e-12).log(), labels)) if rows else None,
        "nll_after": float(F.nll_loss(after.clamp_min(1e-12).log(), labels)) if rows else None,
    }

"""Out-of-scope detection: how close a message is to what the intent model was trained on.

A classifier's softmax is confident far from its training data (it has to pick one of its
intents), so the bot's "is this in scope?" score is not the classifier's probability but the
message's nearness to the training utterances in the retrieval base's embedding space: the
mean cosine similarity to its ``k`` nearest training utterances (L2-normalised vectors, the
very ones ``embed`` gives and the online analysis already computes for article retrieval).
With out-of-scope examples (utterances labelled ``out_of_scope``) the score becomes
``similarity to in-scope - weight * similarity to out-of-scope``: the examples act as a
rejection class in the same space.

Measured with ``bench/bot_oos.py`` (frozen all-MiniLM-L6-v2): BANKING77 in scope, HWU64 out
of domain, the threshold set at the 3rd percentile of BANKING77 validation scores (no HWU64
text seen). See that module's docstring and ``bench/results.json`` for the figures of each
score tried (maximum softmax probability, centroid similarity, Mahalanobis distance, k-NN).

``scope_fit`` chooses ``k`` and the rejection weight on validation: the candidate whose
threshold (the ``target`` quantile of in-scope validation scores) rejects the most held-out
out-of-scope examples; without examples, the default (``DEFAULT_K``, no rejection). The
reference vectors are stored with the version's artefact in float16 (``scope.safetensors``,
~770 bytes per utterance with MiniLM's 384 dimensions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

SCOPE_VECTORS = "scope.safetensors"
SCOPE_CONFIG = "scope.json"
DEFAULT_K = 5
K_CANDIDATES = (1, 5, 10)
WEIGHT_CANDIDATES = (0.0, 0.5, 1.0)
# Coverage points of the coverage-accuracy curve (share of in-scope questions answered).
CURVE_COVERAGES = (1.0, 0.99, 0.98, 0.97, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)
_BLOCK = 2048


def _knn_similarity(reference: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine similarity of each row of ``vectors`` to its ``k`` nearest rows of
    ``reference`` (both L2-normalised); -1 when ``reference`` is empty."""
    if len(reference) == 0:
        return np.full(len(vectors), -1.0, dtype=np.float32)
    k = min(k, len(reference))
    reference32 = reference.astype(np.float32, copy=False)
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), _BLOCK):
        similarity = vectors[start:start + _BLOCK].astype(np.float32) @ reference32.T
        nearest = np.partition(similarity, -k, axis=1)[:, -k:]
        out[start:start + _BLOCK] = nearest.mean(axis=1)
    return out


@dataclass(frozen=True)
class ScopeModel:
    """The training utterances' vectors and how a message is scored against them."""

    in_scope: np.ndarray  # (n, dimensions), float16, L2-normalised
    out_of_scope: np.ndarray  # (m, dimensions), float16, L2-normalised; may be empty
    k: int = DEFAULT_K
    rejection_weight: float = 0.0

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """The in-scope score of each (L2-normalised) vector, clipped to 0-1: higher is
        nearer the intents' utterances."""
        vectors = np.atleast_2d(vectors)
        score = _knn_similarity(self.in_scope, vectors, self.k)
        if self.rejection_weight and len(self.out_of_scope):
            score = score - self.rejection_weight * np.clip(
                _knn_similarity(self.out_of_scope, vectors, self.k), 0.0, None)
        return np.clip(score, 0.0, 1.0)

    def save(self, directory: Path) -> None:
        save_file({"in_scope": np.ascontiguousarray(self.in_scope, dtype=np.float16),
                   "out_of_scope": np.ascontiguousarray(self.out_of_scope, dtype=np.float16)},
                  str(directory / SCOPE_VECTORS))
        (directory / SCOPE_CONFIG).write_text(json.dumps(
            {"k": self.k, "rejection_weight": self.rejection_weight}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> ScopeModel | None:
        """The artefact's scope model; None for an artefact written without one."""
        if not (directory / SCOPE_CONFIG).exists():
            return None
        tensors = load_file(str(directory / SCOPE_VECTORS))
        config = json.loads((directory / SCOPE_CONFIG).read_text(encoding="utf-8"))
        return cls(in_scope=tensors["in_scope"], out_of_scope=tensors["out_of_scope"],
                   k=int(config["k"]), rejection_weight=float(config["rejection_weight"]))


def recommend_threshold(in_scope_scores: np.ndarray, target_false_handoff: float) -> float:
    """The threshold that hands off ``target_false_handoff`` of these in-scope scores (their
    quantile; a score below the threshold is handed off)."""
    if len(in_scope_scores) == 0:
        return 0.0
    return float(np.quantile(np.asarray(in_scope_scores, dtype=np.float64),
                             target_false_handoff, method="lower"))


def scope_report(*, threshold: float, target_false_handoff: float, in_scope_scores: np.ndarray,
                 in_scope_correct: np.ndarray, out_of_scope_scores: np.ndarray
                 ) -> dict[str, Any]:
    """What ``threshold`` does on validation: the in-scope share handed off (false handoff),
    out-of-scope precision and recall (None without out-of-scope examples), the accuracy of
    the answered messages, and the coverage-accuracy curve."""
    in_scores = np.asarray(in_scope_scores, dtype=np.float64)
    correct = np.asarray(in_scope_correct, dtype=bool)
    oos = np.asarray(out_of_scope_scores, dtype=np.float64)
    answered = in_scores >= threshold
    false_handoffs = int((~answered).sum())
    caught = int((oos < threshold).sum())
    recall = caught / len(oos) if len(oos) else None
    precision = (caught / (caught + false_handoffs) if caught + false_handoffs else 1.0) \
        if len(oos) else None
    curve = []
    for coverage in CURVE_COVERAGES:
        point = recommend_threshold(in_scores, 1.0 - coverage) if coverage < 1.0 else 0.0
        kept = in_scores >= point
        curve.append({"threshold": round(point, 4),
                      "coverage": round(float(kept.mean()) if len(kept) else 0.0, 4),
                      "accuracy": round(float(correct[kept].mean()) if kept.any() else 0.0, 4),
                      "oos_recall": (round(float((oos < point).mean()), 4) if len(oos)
                                     else None)})
    return {
        "threshold": round(threshold, 4),
        "target_false_handoff": target_false_handoff,
        "false_handoff": round(false_handoffs / len(in_scores), 4) if len(in_scores) else None,
        "oos_precision": None if precision is None else round(precision, 4),
        "oos_recall": None if recall is None else round(recall, 4),
        "answered_accuracy": (round(float(correct[answered].mean()), 4) if answered.any()
                              else None),
        "validation_in_scope": len(in_scores), "validation_out_of_scope": len(oos),
        "curve": curve,
    }


def scope_fit(*, train_vectors: np.ndarray, validation_vectors: np.ndarray,
              validation_correct: np.ndarray, out_of_scope_vectors: np.ndarray,
              target_false_handoff: float, seed: int = 0
              ) -> tuple[ScopeModel, dict[str, Any]]:
    """The scope model of a version and its report (``scope_report`` plus ``k``, ``method``
    and the candidates tried). Out-of-scope examples are split in two halves: one is the
    rejection class's reference, the other measures every candidate; the chosen one keeps
    the first half (the second stays unseen, so its recall is an honest estimate)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(out_of_scope_vectors))
    half = len(order) // 2
    reference_oos = out_of_scope_vectors[order[:half]]
    held_out = out_of_scope_vectors[order[half:]]
    train16 = train_vectors.astype(np.float16)
    candidates = [(DEFAULT_K, 0.0)]
    if len(held_out):
        candidates = [(k, weight) for k in K_CANDIDATES for weight in WEIGHT_CANDIDATES
                      if weight == 0.0 or len(reference_oos)]
    tried = []
    ranked: list[tuple[tuple[float, float], ScopeModel, float]] = []
    for k, weight in candidates:
        model = ScopeModel(in_scope=train16, out_of_scope=reference_oos.astype(np.float16),
                           k=k, rejection_weight=weight)
        in_scores = model.scores(validation_vectors) if len(validation_vectors) else \
            np.empty(0)
        threshold = recommend_threshold(in_scores, target_false_handoff)
        recall = float((model.scores(held_out) < threshold).mean()) if len(held_out) else 0.0
        tried.append({"k": k, "rejection_weight": weight, "threshold": round(threshold, 4),
                      "oos_recall": round(recall, 4) if len(held_out) else None})
        # Ties go to the simpler candidate: no rejection, the default k.
        ranked.append(((recall, -abs(k - DEFAULT_K) - weight), model, threshold))
    _, chosen, threshold = max(ranked, key=lambda entry: entry[0])
    in_scores = chosen.scores(validation_vectors) if len(validation_vectors) else np.empty(0)
    report = scope_report(threshold=threshold, target_false_handoff=target_false_handoff,
                          in_scope_scores=in_scores, in_scope_correct=validation_correct,
                          out_of_scope_scores=chosen.scores(held_out) if len(held_out)
                          else np.empty(0))
    report.update(score=f"{chosen.k}-nearest similarity", k=chosen.k,
                  rejection_weight=chosen.rejection_weight,
                  method="rejection class" if chosen.rejection_weight else "threshold",
                  out_of_scope_examples=len(out_of_scope_vectors), candidates=tried)
    return chosen, report

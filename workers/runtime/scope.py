"""Out-of-scope detection: how close a message is to what the intent model was trained on.

A classifier's softmax is confident far from its training data (it has to pick one of its
intents), so the bot's "is this in scope?" score is not the classifier's probability but the
message's nearness to the training utterances in the retrieval base's embedding space (the
L2-normalised vectors ``embed`` gives, which the online analysis already computes for article
retrieval): the cosine similarity to the nearest intent centroid, or the mean similarity to
the ``k`` nearest training utterances; with out-of-scope examples (utterances labelled
``out_of_scope``) a rejection term subtracts a weight times the similarity to the nearest
examples, so they act as a rejection class in the same space.

``scope_fit`` picks the score on validation (``scope_candidates``): every candidate gets the
threshold that hands off the tenant's target share of in-scope validation questions (their
quantile), and the one that rejects the most held-out out-of-scope examples wins; without
examples, centroid similarity. Measured by ``bench/bot_oos.py`` on frozen all-MiniLM-L6-v2
(BANKING77 in scope): with HWU64 as out-of-domain questions and a 3% target, centroid
similarity catches 0.99 of them at 2.8% false handoff on the test file, where the maximum
softmax probability reaches about 0.64; on the in-domain split (19 unseen BANKING77 intents)
5-nearest similarity with rejection reaches about 0.66 at a 5% target (centroid 0.42,
Mahalanobis 0.38). The reference vectors are stored with the version's artefact in float16
(``scope.safetensors``: ~770 bytes per utterance, or per intent for centroids).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

SCOPE_VECTORS = "scope.safetensors"
SCOPE_CONFIG = "scope.json"
# Rejection by out-of-scope examples: weights above 0.5 fit the examples' own topics and lose
# unseen ones (bench/bot_oos.py: at weight 1, 0.40 recall on unseen intents, against 0.66).
REJECTION_WEIGHTS = (0.25, 0.5)
KNN_CANDIDATES = (1, 5, 10)
REJECTION_K = 5
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


def centroids(vectors: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """One L2-normalised mean vector per label (sorted by label)."""
    names = np.asarray(labels)
    rows = [vectors[names == name].mean(axis=0) for name in sorted(set(labels))]
    if not rows:
        return np.empty((0, vectors.shape[1]), dtype=np.float32)
    matrix = np.stack(rows).astype(np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class ScopeModel:
    """Reference vectors and how a message is scored against them: the mean similarity to
    the ``k`` nearest rows of ``in_scope`` (the intents' centroids with ``k=1``, or their
    training utterances), less ``rejection_weight`` times the similarity to the
    ``rejection_k`` nearest out-of-scope examples."""

    in_scope: np.ndarray  # (n, dimensions), float16, L2-normalised
    out_of_scope: np.ndarray  # (m, dimensions), float16, L2-normalised; may be empty
    k: int = 1
    rejection_weight: float = 0.0
    rejection_k: int = REJECTION_K
    name: str = "centroid similarity"

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """The in-scope score of each (L2-normalised) vector, clipped to 0-1: higher is
        nearer the intents' utterances."""
        vectors = np.atleast_2d(vectors)
        score = _knn_similarity(self.in_scope, vectors, self.k)
        if self.rejection_weight and len(self.out_of_scope):
            score = score - self.rejection_weight * np.clip(
                _knn_similarity(self.out_of_scope, vectors, self.rejection_k), 0.0, None)
        return np.clip(score, 0.0, 1.0)

    def save(self, directory: Path) -> None:
        save_file({"in_scope": np.ascontiguousarray(self.in_scope, dtype=np.float16),
                   "out_of_scope": np.ascontiguousarray(self.out_of_scope, dtype=np.float16)},
                  str(directory / SCOPE_VECTORS))
        (directory / SCOPE_CONFIG).write_text(json.dumps(
            {"k": self.k, "rejection_weight": self.rejection_weight,
             "rejection_k": self.rejection_k, "name": self.name}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> ScopeModel | None:
        """The artefact's scope model; None for an artefact written without one."""
        if not (directory / SCOPE_CONFIG).exists():
            return None
        tensors = load_file(str(directory / SCOPE_VECTORS))
        config = json.loads((directory / SCOPE_CONFIG).read_text(encoding="utf-8"))
        return cls(in_scope=tensors["in_scope"], out_of_scope=tensors["out_of_scope"],
                   k=int(config["k"]), rejection_weight=float(config["rejection_weight"]),
                   rejection_k=int(config["rejection_k"]), name=str(config["name"]))


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


def scope_candidates(*, train_vectors: np.ndarray, train_labels: Sequence[str],
                     out_of_scope_vectors: np.ndarray) -> list[ScopeModel]:
    """The scores ``scope_fit`` chooses from, the default first: centroid similarity (with
    no out-of-scope examples nothing can tell the others apart, and it holds its false-handoff
    rate best on unseen questions: 2.8% for a 3% target on BANKING77 test, where k-NN's
    thresholds, set on validation rows that resemble their neighbours, gave 4.2-4.6%);
    with examples, also k-nearest similarity and both with a rejection term."""
    train16 = train_vectors.astype(np.float16)
    centroid16 = centroids(train_vectors, train_labels).astype(np.float16)
    rejection = out_of_scope_vectors.astype(np.float16)
    candidates = [ScopeModel(in_scope=centroid16, out_of_scope=rejection[:0])]
    if not len(rejection):
        return candidates
    candidates += [ScopeModel(in_scope=train16, out_of_scope=rejection[:0], k=k,
                              name=f"{k}-nearest similarity") for k in KNN_CANDIDATES]
    for weight in REJECTION_WEIGHTS:
        candidates.append(ScopeModel(in_scope=centroid16, out_of_scope=rejection,
                                     rejection_weight=weight,
                                     name="centroid similarity, out-of-scope rejection"))
        candidates += [ScopeModel(in_scope=train16, out_of_scope=rejection, k=k,
                                  rejection_weight=weight,
                                  name=f"{k}-nearest similarity, out-of-scope rejection")
                       for k in KNN_CANDIDATES]
    return candidates


def scope_fit(*, train_vectors: np.ndarray, train_labels: Sequence[str],
              validation_vectors: np.ndarray, validation_correct: np.ndarray,
              out_of_scope_vectors: np.ndarray, target_false_handoff: float, seed: int = 0
              ) -> tuple[ScopeModel, dict[str, Any]]:
    """The scope model of a version and its report (``scope_report`` plus the score's name,
    ``method`` and the candidates tried). Out-of-scope examples are split in two halves: one
    is the rejection reference, the other measures every candidate at its threshold (the
    ``target_false_handoff`` quantile of in-scope validation scores, so every candidate hands
    off the same share of in-scope questions); the one that catches the most wins, ties going
    to the simpler (listed first). The held-out half stays unseen, so its recall is an honest
    estimate for questions like the examples."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(out_of_scope_vectors))
    half = len(order) // 2
    held_out = out_of_scope_vectors[order[half:]]
    candidates = scope_candidates(train_vectors=train_vectors, train_labels=train_labels,
                                  out_of_scope_vectors=out_of_scope_vectors[order[:half]]
                                  if len(held_out) else out_of_scope_vectors[:0])
    tried = []
    best: tuple[float, ScopeModel, float] | None = None
    for model in candidates:
        in_scores = model.scores(validation_vectors) if len(validation_vectors) else \
            np.empty(0)
        threshold = recommend_threshold(in_scores, target_false_handoff)
        recall = float((model.scores(held_out) < threshold).mean()) if len(held_out) else 0.0
        tried.append({"score": model.name, "k": model.k,
                      "rejection_weight": model.rejection_weight,
                      "threshold": round(threshold, 4),
                      "oos_recall": round(recall, 4) if len(held_out) else None})
        if best is None or recall > best[0]:
            best = (recall, model, threshold)
    if best is None:
        raise ValueError("no out-of-scope score to choose from")
    _, chosen, threshold = best
    in_scores = chosen.scores(validation_vectors) if len(validation_vectors) else np.empty(0)
    report = scope_report(threshold=threshold, target_false_handoff=target_false_handoff,
                          in_scope_scores=in_scores, in_scope_correct=validation_correct,
                          out_of_scope_scores=chosen.scores(held_out) if len(held_out)
                          else np.empty(0))
    report.update(score=chosen.name, k=chosen.k, rejection_weight=chosen.rejection_weight,
                  method="rejection class" if chosen.rejection_weight else "threshold",
                  out_of_scope_examples=len(out_of_scope_vectors), candidates=tried)
    return chosen, report

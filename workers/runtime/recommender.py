"""The recommendation model: implicit-feedback ALS on BM25-weighted confidences, blended with
a popularity (and recency) prior and content similarity from the items' text embeddings; the
holdout split and the ranking metrics it is judged by.

The recipe was chosen on a validation split carved from goodbooks-10k's training ratings,
then measured once on the test holdout (``bench/recs.py``): explicit stars become confidences
(a 2-star rating says less than a 5-star one), BM25 weighting damps heavy users and blockbuster
items, and ALS factorises the result. Everything here is numpy/scipy/implicit: no database,
so the benchmark and the worker handler run the very same code.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight
from threadpoolctl import threadpool_limits

# Confidence of one interaction. Ratings by stars; implicit events by how much they commit.
STAR_CONFIDENCE = {5: 1.0, 4: 0.8, 3: 0.4, 2: 0.1, 1: 0.1, 0: 0.1}
KIND_CONFIDENCE = {"view": 0.2, "click": 0.4, "cart": 0.7, "purchase": 1.0}
POSITIVE_STARS = 4.0  # ratings at or above: a relevant held-out item
K = 10


def confidence(kind: str, value: float | None) -> float:
    if kind == "rating":
        return STAR_CONFIDENCE.get(int(round(value or 0.0)), 0.1)
    return KIND_CONFIDENCE.get(kind, 0.2)


def is_positive(kind: str, value: float | None) -> bool:
    """What counts as relevant in the holdout: 4-5 stars, a cart or a purchase."""
    if kind == "rating":
        return (value or 0.0) >= POSITIVE_STARS
    return kind in ("cart", "purchase")


@dataclass(frozen=True)
class Recipe:
    factors: int = 128
    iterations: int = 15
    regularization: float = 0.05
    alpha: float = 1.0
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    popularity_weight: float = 0.0
    content_weight: float = 0.05
    seed: int = 42

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Recipe:
        names = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in params.items() if key in names})


PLAIN_ALS = Recipe(factors=64, iterations=15, regularization=0.01, alpha=1.0, bm25_k1=0.0,
                   content_weight=0.0)


@dataclass
class Interactions:
    """Interactions as index arrays: ``users`` and ``items`` are positions in ``user_ids`` and
    ``item_ids`` (the database ids)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    positive: np.ndarray
    times: np.ndarray | None = None  # epoch seconds, when the events carry real times

    @classmethod
    def from_rows(cls, user_ids: Sequence[int], item_ids: Sequence[int],
                  weights: Sequence[float], positive: Sequence[bool],
                  times: Sequence[float] | np.ndarray | None = None) -> Interactions:
        user_keys, users = np.unique(np.asarray(user_ids, dtype=np.int64), return_inverse=True)
        item_keys, items = np.unique(np.asarray(item_ids, dtype=np.int64), return_inverse=True)
        return cls(user_ids=user_keys, item_ids=item_keys, users=users, items=items,
                   weights=np.asarray(weights, dtype=np.float32),
                   positive=np.asarray(positive, dtype=bool),
                   times=None if times is None else np.asarray(times, dtype=np.float64))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def matrix(self, mask: np.ndarray | None = None, *, binary: bool = False) -> sp.csr_matrix:
        """Users × items; repeated events of a pair keep the strongest confidence."""
        mask = np.ones(len(self.users), dtype=bool) if mask is None else mask
        users, items = self.users[mask], self.items[mask]
        values = np.ones(len(users), np.float32) if binary else self.weights[mask]
        order = np.lexsort((values, items, users))  # per pair, the strongest last
        users, items, values = users[order], items[order], values[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
        return sp.csr_matrix((values[last], (users[last], items[last])), shape=self.shape)


def holdout_split(data: Interactions, *, fraction: float = 0.2, seed: int = 42,
                  min_interactions: int = 10,
                  base: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` masks over ``data``'s rows (within ``base`` when given). For each user
    with at least ``min_interactions`` events, ``fraction`` of their positive events are held
    out: the latest when the events carry times, else a fixed-seed random share."""
    rows = np.flatnonzero(base) if base is not None else np.arange(len(data.users))
    rng = np.random.default_rng(seed)
    test = np.zeros(len(data.users), dtype=bool)
    order = rows[np.argsort(data.users[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(data.users[order])) + 1
    for user_rows in np.split(order, bounds):
        if len(user_rows) < min_interactions:
            continue
        positives = user_rows[data.positive[user_rows]]
        count = int(round(fraction * len(positives)))
        if not count:
            continue
        if data.times is not None:
            chosen = positives[np.argsort(data.times[positives], kind="stable")[-count:]]
        else:
            chosen = rng.choice(positives, count, replace=False)
        test[chosen] = True
    train = np.zeros(len(data.users), dtype=bool)
    train[rows] = True
    train &= ~test
    return train, test


def popularity_prior(data: Interactions, mask: np.ndarray | None = None, *,
                     half_life_days: float = 90.0, now: float | None = None) -> np.ndarray:
    """log(1 + recency-weighted event count) per item: an event counts half after
    ``half_life_days`` (events without times count fully)."""
    mask = np.ones(len(data.users), dtype=bool) if mask is None else mask
    weights = np.ones(int(mask.sum()))
    if data.times is not None and len(weights):
        reference = now if now is not None else float(data.times[mask].max())
        age_days = np.maximum(reference - data.times[mask], 0.0) / 86400.0
        weights = 0.5 ** (age_days / half_life_days)
    counts = np.bincount(data.items[mask], weights=weights, minlength=data.shape[1])
    return np.log1p(counts).astype(np.float32)


def _zscore(scores: np.ndarray) -> np.ndarray:
    """Per-row standardisation, so that blended signals weigh what their weights say."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True) + 1e-9
    return (scores - mean) / std


@dataclass
class HybridModel:
    recipe: Recipe
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    popularity: np.ndarray
    # Item embeddings (rows L2-normalised, zeros when missing) and each user's content
    # profile; only kept when the recipe gives content a weight.
    item_embeddings: np.ndarray | None = None
    user_profiles: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # The learned ranker's LightGBM booster, as text (``workers.runtime.ranker``); its
    # features, importances and validation figures are in ``metadata["ranker"]``.
    ranker: str | None = None

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Blended scores of every item for the users at positions ``users``."""
        blended = _zscore(self.user_factors[users] @ self.item_factors.T)
        if self.recipe.popularity_weight:
            blended += self.recipe.popularity_weight * _zscore(self.popularity[None, :])
        if (self.recipe.content_weight and self.item_embeddings is not None
                and self.user_profiles is not None):
            content = self.user_profiles[users] @ self.item_embeddings.T
            blended += self.recipe.content_weight * _zscore(content)
        return blended

    def item_similarity(self, item: int, others: np.ndarray) -> np.ndarray:
        """Cosine similarity of item factors: what explains a recommendation."""
        vectors = self.item_factors[others]
        target = self.item_factors[item]
        norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(target) + 1e-9) + 1e-9
        return np.asarray((vectors @ target) / norms)

    def to_bytes(self) -> bytes:
        arrays = {"user_ids": self.user_ids, "item_ids": self.item_ids,
                  "user_factors": self.user_factors, "item_factors": self.item_factors,
                  "popularity": self.popularity}
        if self.item_embeddings is not None and self.user_profiles is not None:
            arrays |= {"item_embeddings": self.item_embeddings.astype(np.float16),
                       "user_profiles": self.user_profiles.astype(np.float16)}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            arrays_buffer = io.BytesIO()
            np.savez(arrays_buffer, **arrays)  # type: ignore[arg-type]
            archive.writestr("arrays.npz", arrays_buffer.getvalue())
            archive.writestr("manifest.json", json.dumps(
                {"recipe": asdict(self.recipe), "metadata": self.metadata}, indent=2))
            if self.ranker is not None:
                archive.writestr("ranker.txt", self.ranker)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> HybridModel:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            arrays = np.load(io.BytesIO(archive.read("arrays.npz")))
            embeddings = arrays.get("item_embeddings")
            profiles = arrays.get("user_profiles")
            ranker = (archive.read("ranker.txt").decode() if "ranker.txt" in archive.namelist()
                      else None)
            return cls(recipe=Recipe(**manifest["recipe"]), user_ids=arrays["user_ids"],
                       item_ids=arrays["item_ids"], user_factors=arrays["user_factors"],
                       item_factors=arrays["item_factors"], popularity=arrays["popularity"],
                       item_embeddings=None if embeddings is None else
                       embeddings.astype(np.float32),
                       user_profiles=None if profiles is None else profiles.astype(np.float32),
                       metadata=manifest.get("metadata", {}), ranker=ranker)


def _content_profiles(matrix: sp.csr_matrix, embeddings: np.ndarray) -> np.ndarray:
    """Each user's confidence-weighted mean of their items' embeddings, L2-normalised."""
    profiles = np.asarray(matrix @ embeddings, dtype=np.float32)
    norms = np.linalg.norm(profiles, axis=1, keepdims=True)
    return profiles / np.maximum(norms, 1e-9)


def fit(data: Interactions, recipe: Recipe, mask: np.ndarray | None = None, *,
        item_embeddings: np.ndarray | None = None, popularity: np.ndarray | None = None,
        binary: bool = False) -> HybridModel:
    """Fit on ``data``'s rows in ``mask`` (all rows by default). ``binary`` ignores the
    confidences (the plain-ALS baseline)."""
    matrix = data.matrix(mask, binary=binary)
    weighted = (bm25_weight(matrix, K1=recipe.bm25_k1, B=recipe.bm25_b).tocsr()
                if recipe.bm25_k1 > 0 else matrix)
    # implicit parallelises itself; BLAS threads inside its loops only contend (and warn).
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(factors=recipe.factors, iterations=recipe.iterations,
                                      regularization=recipe.regularization, alpha=recipe.alpha,
                                      random_state=recipe.seed, calculate_training_loss=False)
        als.fit(weighted.astype(np.float32), show_progress=False)
    profiles = None
    if item_embeddings is not None and recipe.content_weight:
        profiles = _content_profiles(matrix, item_embeddings)
    return HybridModel(
        recipe=recipe, user_ids=data.user_ids, item_ids=data.item_ids,
        user_factors=np.asarray(als.user_factors, dtype=np.float32),
        item_factors=np.asarray(als.item_factors, dtype=np.float32),
        popularity=popularity if popularity is not None else popularity_prior(data, mask),
        item_embeddings=item_embeddings if profiles is not None else None,
        user_profiles=profiles)


def top_k(scores: np.ndarray, exclude: sp.csr_matrix | None, rows: np.ndarray, k: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` item positions and scores per row of ``scores`` (best first), leaving out
    the items of ``exclude``'s rows ``rows``."""
    scores = scores.astype(np.float32, copy=True)
    if exclude is not None:
        sub = exclude[rows]
        scores[np.repeat(np.arange(len(rows)), np.diff(sub.indptr)), sub.indices] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


@dataclass(frozen=True)
class RankingMetrics:
    ndcg_at_10: float
    recall_at_10: float
    coverage: float
    users: int

    def as_dict(self) -> dict[str, float]:
        return {key: round(float(value), 6) for key, value in asdict(self).items()}


def evaluate(score_fn: Any, train: sp.csr_matrix, test: sp.csr_matrix, *, k: int = K,
             batch: int = 512) -> RankingMetrics:
    """NDCG@k and recall@k (hits / min(k, held-out items)) over the users with held-out items,
    excluding their training items; catalogue coverage = distinct recommended items / items.
    ``score_fn(user_positions)`` returns their scores of every item."""
    users = np.flatnonzero(np.diff(test.indptr))
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, recall, seen = [], [], np.zeros(train.shape[1], dtype=bool)
    for start in range(0, len(users), batch):
        chunk = users[start:start + batch]
        top, _ = top_k(score_fn(chunk), train, chunk, k)
        seen[top.ravel()] = True
        for row, user in zip(top, chunk, strict=True):
            held = test.indices[test.indptr[user]:test.indptr[user + 1]]
            hits = np.isin(row, held)
            ideal = discounts[:min(len(held), k)].sum()
            ndcg.append(float((hits * discounts).sum() / ideal))
            recall.append(float(hits.sum() / min(len(held), k)))
    return RankingMetrics(ndcg_at_10=float(np.mean(ndcg)) if ndcg else 0.0,
                          recall_at_10=float(np.mean(recall)) if recall else 0.0,
                          coverage=float(seen.mean()), users=len(users))


def popularity_scores(popularity: np.ndarray) -> Any:
    return lambda users: np.broadcast_to(popularity, (len(users), len(popularity)))

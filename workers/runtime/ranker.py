"""The learned ranker: candidates from ALS (the hybrid blend), the text model and popularity,
ordered by a LightGBM LambdaRank model over per-(user, item) features.

It is trained on a validation split carved from the training interactions: the hybrid model
is fitted on the rest, each validation user's candidates are labelled by their held-out
positives, and LambdaRank learns the order. Half of the validation users train it, the other
half judge it against the hand-weighted blend on the same candidates: the ranker is kept only
when it wins there (``Ranker.validation``). Serving scores every item of a user's candidate
set and gives the others ``-inf``, so ``recommender.top_k`` and ``recommender.evaluate`` work
on ranked scores as on blended ones.

Numpy, scipy and LightGBM only (no database): the benchmark and the worker run this code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from workers.runtime import recommender

FEATURES = ("als_score", "als_rank", "blend_rank", "content_score", "neighbour_max",
            "neighbour_mean", "popularity", "recency_days", "category_match", "user_activity")
BLEND_CANDIDATES = 100
CONTENT_CANDIDATES = 30
POPULAR_CANDIDATES = 30
MAX_USERS = 20_000  # validation users whose candidates the ranker learns from, at most
PARAMS: dict[str, Any] = {
    "objective": "lambdarank", "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31,
    "min_child_samples": 50, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.9,
    "lambdarank_truncation_level": 20, "verbose": -1,
}


@dataclass
class Context:
    """What the features need besides the hybrid model, in the model's positions:
    ``history`` (users × items, what each user interacted with: excluded from candidates,
    their count is the user's activity, their categories the user's taste), each item's
    categories (items × categories, binary) and days since its latest event."""

    history: sp.csr_matrix
    item_categories: sp.csr_matrix | None = None
    recency_days: np.ndarray | None = None
    _taste: np.ndarray | None = field(default=None, repr=False)

    @property
    def taste(self) -> np.ndarray | None:
        """Users × categories: the L2-normalised category counts of each user's history."""
        if self.item_categories is None:
            return None
        if self._taste is None:
            counts = np.asarray((self.history @ self.item_categories).todense(), np.float32)
            self._taste = counts / np.maximum(np.linalg.norm(counts, axis=1, keepdims=True),
                                              1e-9)
        return self._taste


def category_matrix(categories: Sequence[Sequence[str]], *, limit: int = 300
                    ) -> sp.csr_matrix:
    """Items × the ``limit`` most frequent categories, rows L2-normalised."""
    counts: dict[str, int] = {}
    for names in categories:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    kept = {name: column for column, name in enumerate(
        sorted(counts, key=lambda name: (-counts[name], name))[:limit])}
    rows, cols = [], []
    for row, names in enumerate(categories):
        for name in set(names):
            if name in kept:
                rows.append(row)
                cols.append(kept[name])
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                           shape=(len(categories), max(len(kept), 1)))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-9)) @ matrix)


def recency_days(data: recommender.Interactions, mask: np.ndarray | None = None,
                 now: float | None = None) -> np.ndarray | None:
    """Days since each item's latest event in ``mask`` (None without event times)."""
    if data.times is None:
        return None
    mask = np.ones(len(data.users), dtype=bool) if mask is None else mask
    latest = np.full(data.shape[1], -np.inf)
    np.maximum.at(latest, data.items[mask], data.times[mask])
    reference = now if now is not None else float(data.times[mask].max())
    days = (reference - latest) / 86400.0
    return np.where(np.isfinite(days), days, 10_000.0).astype(np.float32)


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    count = min(count, scores.shape[1])
    return np.argpartition(-scores, count - 1, axis=1)[:, :count]


def candidates_and_features(model: recommender.HybridModel, context: Context,
                            users: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Each user's candidate items (positions) and their feature rows, stacked in order."""
    sub = context.history[users]
    rows = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
    als = model.user_factors[users] @ model.item_factors.T
    blend = model.scores(users)
    content = None
    if model.item_embeddings is not None and model.user_profiles is not None:
        content = model.user_profiles[users] @ model.item_embeddings.T
    popularity = np.broadcast_to(model.popularity, als.shape)
    chosen = np.zeros(als.shape, dtype=bool)
    for scores, count in ((blend, BLEND_CANDIDATES), (content, CONTENT_CANDIDATES),
                          (popularity, POPULAR_CANDIDATES)):
        if scores is None:
            continue
        masked = np.array(scores, dtype=np.float32)
        masked[rows, sub.indices] = -np.inf
        np.put_along_axis(chosen, _top(masked, count), True, axis=1)
    chosen[rows, sub.indices] = False
    user_rows, items = np.nonzero(chosen)
    starts = np.searchsorted(user_rows, np.arange(len(users)))
    bounds = starts[1:]

    def within(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per user: each candidate's rank (0 = best) and z-score among the candidates."""
        order = np.lexsort((-values, user_rows))
        rank = np.empty(len(values), np.float32)
        rank[order] = np.arange(len(values)) - starts[user_rows[order]]
        counts = np.maximum(np.bincount(user_rows, minlength=len(users)), 1)
        mean = np.bincount(user_rows, values, len(users)) / counts
        spread = np.sqrt(np.bincount(user_rows, (values - mean[user_rows]) ** 2, len(users))
                         / counts) + 1e-9
        return rank, ((values - mean[user_rows]) / spread[user_rows]).astype(np.float32)

    als_rank, als_z = within(als[user_rows, items])
    blend_rank, _ = within(blend[user_rows, items])
    content_z = (np.zeros(len(items), np.float32) if content is None
                 else within(content[user_rows, items])[1])
    taste = context.taste
    category = (np.zeros(len(items), np.float32) if taste is None or
                context.item_categories is None else
                np.asarray(context.item_categories[items].multiply(
                    taste[users[user_rows]]).sum(axis=1)).ravel())
    neighbour_max, neighbour_mean = _neighbours(model, sub, user_rows, items, starts)
    activity = np.log1p(np.diff(context.history.indptr)[users])
    features = np.column_stack([
        als_z, als_rank, blend_rank, content_z, neighbour_max, neighbour_mean,
        model.popularity[items],
        np.zeros(len(items)) if context.recency_days is None else context.recency_days[items],
        category, activity[user_rows]]).astype(np.float32)
    return np.split(items, bounds), features


def _neighbours(model: recommender.HybridModel, history: sp.csr_matrix, user_rows: np.ndarray,
                items: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: the highest and the mean cosine similarity of its item factors to those
    of the user's history (an item-to-item signal beside ALS's user-item one)."""
    factors = model.item_factors / np.maximum(
        np.linalg.norm(model.item_factors, axis=1, keepdims=True), 1e-9)
    best = np.zeros(len(items), np.float32)
    mean = np.zeros(len(items), np.float32)
    ends = np.append(starts[1:], len(items))
    for row in range(history.shape[0]):
        seen = history.indices[history.indptr[row]:history.indptr[row + 1]]
        span = slice(starts[row], ends[row])
        if not len(seen) or starts[row] == ends[row]:
            continue
        similarity = factors[items[span]] @ factors[seen].T
        best[span] = similarity.max(axis=1)
        mean[span] = similarity.mean(axis=1)
    return best, mean


@dataclass
class Ranker:
    """A trained LambdaRank booster and what it was judged by."""

    booster: Any  # lightgbm.Booster
    validation: dict[str, float] = field(default_factory=dict)

    @property
    def importances(self) -> dict[str, float]:
        """Each feature's share of the total split gain."""
        gains = self.booster.feature_importance(importance_type="gain")
        total = float(gains.sum()) or 1.0
        shares = {name: round(float(gain) / total, 4)
                  for name, gain in zip(FEATURES, gains, strict=True)}
        return dict(sorted(shares.items(), key=lambda pair: -pair[1]))  # the largest first

    def score_fn(self, model: recommender.HybridModel, context: Context
                 ) -> Callable[[np.ndarray], np.ndarray]:
        """``users -> users × items`` ranked scores: the ranker's over each user's candidates,
        ``-inf`` elsewhere."""
        def scores(users: np.ndarray) -> np.ndarray:
            candidates, features = candidates_and_features(model, context, users)
            predicted = self.booster.predict(features, num_threads=1)
            out = np.full((len(users), len(model.item_ids)), -np.inf, np.float32)
            start = 0
            for row, items in enumerate(candidates):
                out[row, items] = predicted[start:start + len(items)]
                start += len(items)
            return out
        return scores

    def to_text(self) -> str:
        return str(self.booster.model_to_string())

    def describe(self) -> dict[str, Any]:
        """What the model version records: the features, their importances, the judgement."""
        return {"features": list(FEATURES), "importances": self.importances,
                "validation": self.validation}

    @classmethod
    def from_text(cls, text: str, validation: dict[str, float] | None = None) -> Ranker:
        import lightgbm

        return cls(booster=lightgbm.Booster(model_str=text), validation=validation or {})

    @property
    def beats_blend(self) -> bool:
        """Whether it ordered the judging users' candidates better than the blend did."""
        return (self.validation.get("ranker_ndcg_at_10", 0.0)
                > self.validation.get("blend_ndcg_at_10", 0.0))


@dataclass
class Frame:
    """The candidates of users with held-out positives: features, labels (1 = held out),
    each user's number of candidates and of held-out positives."""

    features: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray
    held: np.ndarray

    def take(self, groups: np.ndarray) -> Frame:
        starts = np.concatenate([[0], np.cumsum(self.sizes)])
        rows = np.concatenate([np.arange(starts[g], starts[g + 1]) for g in groups]
                              or [np.zeros(0, np.int64)])
        return Frame(self.features[rows], self.labels[rows], self.sizes[groups],
                     self.held[groups])

    def ndcg(self, scores: np.ndarray, k: int = recommender.K) -> float:
        """Mean NDCG@k when each user's candidates are ordered by ``scores`` (best first)."""
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        values, start = [], 0
        for size, held in zip(self.sizes.tolist(), self.held.tolist(), strict=True):
            top = np.argsort(-scores[start:start + size], kind="stable")[:k]
            gains = self.labels[start:start + size][top]
            values.append(float((gains * discounts[:len(top)]).sum())
                          / discounts[:min(held, k)].sum())
            start += size
        return float(np.mean(values)) if values else 0.0


def frame(model: recommender.HybridModel, context: Context, positives: sp.csr_matrix,
          users: np.ndarray, batch: int = 512) -> Frame:
    """The labelled candidates of ``users`` (each with at least one held-out positive)."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    sizes, held_counts = [], []
    for start in range(0, len(users), batch):
        chunk = users[start:start + batch]
        candidates, features = candidates_and_features(model, context, chunk)
        labels = []
        for user, items in zip(chunk, candidates, strict=True):
            held = positives.indices[positives.indptr[user]:positives.indptr[user + 1]]
            labels.append(np.isin(items, held).astype(np.int32))
            sizes.append(len(items))
            held_counts.append(len(held))
        parts.append((features, np.concatenate(labels)))
    return Frame(np.concatenate([part[0] for part in parts]),
                 np.concatenate([part[1] for part in parts]),
                 np.asarray(sizes), np.asarray(held_counts))


def _fit(data: Frame, seed: int, overrides: dict[str, Any]) -> Any:
    import lightgbm

    useful = np.flatnonzero([labels.any() for labels in np.split(
        data.labels, np.cumsum(data.sizes)[:-1])])
    part = data.take(useful)
    booster = lightgbm.LGBMRanker(**{**PARAMS, "random_state": seed, "n_jobs": 1,
                                     **overrides})
    booster.fit(part.features, part.labels, group=part.sizes, feature_name=list(FEATURES))
    return booster.booster_


def train(model: recommender.HybridModel, context: Context, positives: sp.csr_matrix, *,
          seed: int = 42, max_users: int = MAX_USERS, **overrides: Any) -> Ranker | None:
    """LambdaRank over the candidates of the users with held-out ``positives`` (``model``
    and ``context`` saw none of them). Judged first: fitted on half of the users and scored
    on the other half against the blend's order of the same candidates; then fitted on all of
    them. None when there is too little to learn from."""
    users = np.flatnonzero(np.diff(positives.indptr))
    users = np.sort(np.random.default_rng(seed).permutation(users)[:max_users])
    if len(users) < 4:
        return None
    data = frame(model, context, positives, users)
    if int(data.labels.sum()) < 2:
        return None
    order = np.random.default_rng(seed + 1).permutation(len(users))
    fitting, judging = order[:len(order) // 2], order[len(order) // 2:]
    judged = data.take(judging)
    half = _fit(data.take(fitting), seed, overrides)
    ranked = judged.ndcg(half.predict(judged.features, num_threads=1))
    # The blend's order: its rank among the candidates (0 = best).
    blended = judged.ndcg(-judged.features[:, FEATURES.index("blend_rank")])
    ranker = Ranker(booster=_fit(data, seed, overrides))
    ranker.validation = {"ranker_ndcg_at_10": round(ranked, 6),
                         "blend_ndcg_at_10": round(blended, 6),
                         "users": int(len(judging)), "candidates": int(len(data.labels))}
    return ranker

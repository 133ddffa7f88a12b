"""The learned ranker on a small synthetic catalogue: candidates and features, LambdaRank
trained on a validation split, judged against the blend, used only where it wins, and the
booster's text round trip."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from workers.runtime import ranker, recommender

CATEGORIES = 4
ITEMS_PER_CATEGORY = 40
POPULAR = np.array([0, 1, 40, 41, 80, 81, 120, 121])


def catalogue(users: int = 240, seed: int = 0) -> tuple[recommender.Interactions, list[list[str]]]:
    """Users who read a random dozen of their favourite category's books and a few popular
    ones from anywhere: taste is the category, which a two-factor ALS barely sees and the
    ranker's category-match feature sees at once."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int]] = []
    for user in range(users):
        category = user % CATEGORIES
        own = rng.choice(ITEMS_PER_CATEGORY, 12, replace=False) + category * ITEMS_PER_CATEGORY
        popular = rng.choice(POPULAR, 2, replace=False)
        rows += [(user, int(item), int(rng.choice([4, 5]))) for item in {*own, *popular}]
    users_, items, stars = zip(*rows, strict=True)
    data = recommender.Interactions.from_rows(
        users_, items, [recommender.confidence("rating", s) for s in stars],
        [recommender.is_positive("rating", s) for s in stars])
    names = [[f"c{item // ITEMS_PER_CATEGORY}"] for item in data.item_ids.tolist()]
    return data, names


WEAK = recommender.Recipe(factors=2, iterations=2, content_weight=0.0, bm25_k1=0.0)


def _trained() -> tuple[recommender.Interactions, list[list[str]], np.ndarray, np.ndarray,
                        ranker.Ranker]:
    data, names = catalogue()
    train, test = recommender.holdout_split(data, seed=42)
    fit_rows, validation = recommender.holdout_split(data, seed=7, base=train)
    model = recommender.fit(data, WEAK, fit_rows)
    context = ranker.Context(history=data.matrix(fit_rows, binary=True),
                             item_categories=ranker.category_matrix(names))
    trained = ranker.train(model, context, data.matrix(validation, binary=True),
                           n_estimators=60, min_child_samples=5)
    assert trained is not None
    return data, names, train, test, trained


def test_candidates_leave_out_the_history_and_come_with_every_feature() -> None:
    data, names = catalogue(users=40)
    model = recommender.fit(data, WEAK)
    history = data.matrix(binary=True)
    context = ranker.Context(history=history, item_categories=ranker.category_matrix(names))
    users = np.arange(5)
    candidates, features = ranker.candidates_and_features(model, context, users)
    assert features.shape == (sum(len(items) for items in candidates), len(ranker.FEATURES))
    for user, items in zip(users, candidates, strict=True):
        seen = history.indices[history.indptr[user]:history.indptr[user + 1]]
        assert len(items)
        assert not np.isin(items, seen).any()
    ranks = features[:len(candidates[0]), ranker.FEATURES.index("als_rank")]
    assert sorted(ranks.tolist()) == list(range(len(candidates[0])))
    # The user's own category matches: the feature is 1 for it, 0 elsewhere.
    match = features[:len(candidates[0]), ranker.FEATURES.index("category_match")]
    own = np.array([names[item] == ["c0"] for item in candidates[0]])
    assert match[own].min() > 0.8 > 0.2 > match[~own].max()


def test_the_ranker_learns_what_the_blend_misses_and_wins_on_the_test_holdout() -> None:
    data, names, train, test, trained = _trained()
    assert trained.beats_blend, trained.validation
    importances = trained.importances
    # The two signals that tell the held-out books: the user's category and popularity.
    assert set(sorted(importances, key=lambda name: -importances[name])[:2]) == {
        "category_match", "popularity"}, importances
    assert abs(sum(importances.values()) - 1.0) < 1e-3
    model = recommender.fit(data, WEAK, train)
    context = ranker.Context(history=data.matrix(train, binary=True),
                             item_categories=ranker.category_matrix(names))
    test_matrix = data.matrix(test, binary=True)
    blended = recommender.evaluate(model.scores, context.history, test_matrix)
    ranked = recommender.evaluate(trained.score_fn(model, context), context.history,
                                  test_matrix)
    assert ranked.ndcg_at_10 > blended.ndcg_at_10 + 0.05, (ranked, blended)


def test_ranked_scores_are_minus_infinity_outside_the_candidates_and_survive_a_round_trip(
) -> None:
    data, names, train, _, trained = _trained()
    model = recommender.fit(data, WEAK, train)
    context = ranker.Context(history=data.matrix(train, binary=True),
                             item_categories=ranker.category_matrix(names))
    users = np.arange(6)
    scores = trained.score_fn(model, context)(users)
    candidates, _ = ranker.candidates_and_features(model, context, users)
    for row, items in enumerate(candidates):
        finite = np.flatnonzero(np.isfinite(scores[row]))
        assert sorted(finite.tolist()) == sorted(items.tolist())
    again = ranker.Ranker.from_text(trained.to_text(), trained.validation)
    assert np.array_equal(again.score_fn(model, context)(users), scores)
    assert again.beats_blend == trained.beats_blend
    # Stored with the hybrid model's artefact.
    model.ranker, model.metadata["ranker"] = trained.to_text(), trained.describe()
    loaded = recommender.HybridModel.from_bytes(model.to_bytes())
    assert loaded.ranker == trained.to_text()
    assert loaded.metadata["ranker"]["importances"] == trained.importances


def test_too_little_to_learn_from_gives_no_ranker() -> None:
    data, names = catalogue(users=8)
    model = recommender.fit(data, WEAK)
    context = ranker.Context(history=data.matrix(binary=True),
                             item_categories=ranker.category_matrix(names))
    assert ranker.train(model, context, sp.csr_matrix(data.shape, dtype=np.float32)) is None


def test_recency_is_days_since_each_items_latest_event() -> None:
    data = recommender.Interactions.from_rows(
        [1, 1, 2], [10, 11, 10], [1.0, 1.0, 1.0], [True, True, True],
        times=[0.0, 86400.0, 3 * 86400.0])
    assert ranker.recency_days(data).tolist() == [0.0, 2.0]
    assert ranker.recency_days(recommender.Interactions.from_rows(
        [1], [1], [1.0], [True])) is None

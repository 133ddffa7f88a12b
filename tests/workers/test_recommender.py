"""The recommendation model's pieces on small synthetic data: confidences, the holdout split
(latest positives when events carry times, a fixed-seed random share otherwise), the ranking
metrics on a hand-checked case, and the hybrid model beating popularity where taste exists."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from workers.runtime import recommender


def clustered(users_per_group: int = 60, items_per_group: int = 30, groups: int = 3,
              seed: int = 0) -> recommender.Interactions:
    """Users who mostly read one group's items (plus a few popular items from anywhere)."""
    rng = np.random.default_rng(seed)
    users, items, stars = [], [], []
    for user in range(users_per_group * groups):
        group = user % groups
        own = rng.choice(items_per_group, 14, replace=False) + group * items_per_group
        popular = rng.choice(3, 2, replace=False) + ((group + 1) % groups) * items_per_group
        for item in [*own, *popular]:
            users.append(user)
            items.append(int(item))
            stars.append(int(rng.choice([3, 4, 5])))
    return recommender.Interactions.from_rows(
        users, items, [recommender.confidence("rating", s) for s in stars],
        [recommender.is_positive("rating", s) for s in stars])


def test_confidence_and_relevance() -> None:
    assert recommender.confidence("rating", 5) > recommender.confidence("rating", 3) > \
        recommender.confidence("rating", 1)
    assert recommender.confidence("purchase", None) > recommender.confidence("view", None)
    assert recommender.is_positive("rating", 4)
    assert not recommender.is_positive("rating", 3.5)
    assert recommender.is_positive("purchase", None)
    assert not recommender.is_positive("view", 1)


def test_random_holdout_takes_a_fixed_seed_share_of_positives() -> None:
    data = clustered()
    train, test = recommender.holdout_split(data, fraction=0.2, seed=42)
    assert not (train & test).any()
    assert (train | test).all()
    assert data.positive[test].all()
    for user in range(5):
        positives = int((data.positive & (data.users == user)).sum())
        assert int((test & (data.users == user)).sum()) == round(0.2 * positives)
    again = recommender.holdout_split(data, fraction=0.2, seed=42)[1]
    other = recommender.holdout_split(data, fraction=0.2, seed=7)[1]
    assert (again == test).all()
    assert not (other == test).all()


def test_timed_holdout_takes_each_users_latest_positives() -> None:
    users = [1] * 10 + [2] * 3  # user 2 has too few events to be evaluated
    items = list(range(10)) + [0, 1, 2]
    positive = [True] * 13
    times = [float(t) for t in range(10)] + [1.0, 2.0, 3.0]
    data = recommender.Interactions.from_rows(users, items, [1.0] * 13, positive, times=times)
    _, test = recommender.holdout_split(data, fraction=0.2, min_interactions=10)
    assert sorted(np.asarray(items)[test].tolist()) == [8, 9]


def test_ndcg_and_recall_on_a_hand_checked_case() -> None:
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1, 0, 1]], dtype=np.float32))
    scores = np.array([[9.0, 5.0, 4.0, 3.0, 1.0]])  # item 0 is excluded (seen in training)
    metrics = recommender.evaluate(lambda users: scores[users], train, test, k=2)
    # Top 2 after exclusion: items 1, 2 → one hit at rank 2 of two held-out items.
    assert metrics.ndcg_at_10 == (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert metrics.recall_at_10 == 0.5
    assert metrics.coverage == 2 / 5


def test_the_hybrid_model_beats_popularity_where_taste_exists() -> None:
    data = clustered()
    train, test = recommender.holdout_split(data, seed=1)
    train_matrix = data.matrix(train, binary=True)
    test_matrix = data.matrix(test, binary=True)
    recipe = recommender.Recipe(factors=8, iterations=10, regularization=0.1)
    model = recommender.fit(data, recipe, train)
    ours = recommender.evaluate(model.scores, train_matrix, test_matrix)
    popular = recommender.evaluate(recommender.popularity_scores(
        recommender.popularity_prior(data, train)), train_matrix, test_matrix)
    assert ours.ndcg_at_10 > 2 * popular.ndcg_at_10
    assert ours.coverage > popular.coverage
    restored = recommender.HybridModel.from_bytes(model.to_bytes())
    users = np.arange(5)
    assert np.allclose(restored.scores(users), model.scores(users))


def test_content_weight_uses_the_item_embeddings() -> None:
    data = clustered()
    groups = data.item_ids // 30
    embeddings = np.eye(3, dtype=np.float32)[groups]
    recipe = recommender.Recipe(factors=4, iterations=2, content_weight=5.0)
    model = recommender.fit(data, recipe, item_embeddings=embeddings)
    scores = model.scores(np.arange(3))
    for user in range(3):
        top = np.argsort(-scores[user])[:10]
        assert (groups[top] == user % 3).mean() >= 0.8
    restored = recommender.HybridModel.from_bytes(model.to_bytes())
    assert restored.item_embeddings is not None
    assert np.allclose(restored.scores(np.arange(3)), scores, atol=1e-2)


def test_top_k_excludes_consumed_items() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    consumed = sp.csr_matrix(np.array([[1, 0, 1, 0]], dtype=np.float32))
    top, values = recommender.top_k(scores, consumed, np.array([0]), 2)
    assert top.tolist() == [[1, 3]]
    assert values.tolist() == [[np.float32(0.8), np.float32(0.1)]]

"""``workers.runtime.scope``: the in-scope score, the recommended threshold, the choice between
a plain threshold and a rejection class on validation, and the artefact round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.runtime.scope import ScopeModel, recommend_threshold, scope_fit, scope_report


def _cluster(rng: np.random.Generator, centre: np.ndarray, count: int, spread: float
             ) -> np.ndarray:
    points = centre + spread * rng.standard_normal((count, len(centre)))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def _axis(index: int, dimensions: int = 16) -> np.ndarray:
    vector = np.zeros(dimensions)
    vector[index] = 1.0
    return vector


def test_the_recommended_threshold_hands_off_the_target_share() -> None:
    scores = np.linspace(0.0, 1.0, 1001)
    threshold = recommend_threshold(scores, 0.03)
    assert (scores < threshold).mean() == pytest.approx(0.03, abs=0.002)


def test_a_plain_threshold_without_examples_catches_far_questions() -> None:
    rng = np.random.default_rng(0)
    train = np.concatenate([_cluster(rng, _axis(i), 40, 0.2) for i in range(3)])
    labels = [name for name in ("a", "b", "c") for _ in range(40)]
    validation = np.concatenate([_cluster(rng, _axis(i), 20, 0.2) for i in range(3)])
    far = _cluster(rng, _axis(9), 30, 0.2)
    model, report = scope_fit(train_vectors=train, train_labels=labels,
                              validation_vectors=validation,
                              validation_correct=np.ones(60, dtype=bool),
                              out_of_scope_vectors=train[:0], target_false_handoff=0.05)
    assert report["method"] == "threshold"
    assert report["oos_recall"] is None  # nothing to measure on
    assert report["false_handoff"] <= 0.05
    assert (model.scores(far) < report["threshold"]).mean() == 1.0
    assert 0.0 <= model.scores(far).min()
    assert model.scores(validation).max() <= 1.0
    assert [point["coverage"] for point in report["curve"]][0] == 1.0


def test_examples_near_the_intents_make_a_rejection_class_win() -> None:
    rng = np.random.default_rng(1)
    # Out-of-scope questions sit between intents a and b: close to both, far from neither.
    between = _axis(0) + _axis(1)
    train = np.concatenate([_cluster(rng, _axis(0), 60, 0.4), _cluster(rng, _axis(1), 60, 0.4)])
    labels = ["a"] * 60 + ["b"] * 60
    validation = np.concatenate([_cluster(rng, _axis(0), 30, 0.4),
                                 _cluster(rng, _axis(1), 30, 0.4)])
    examples = _cluster(rng, between, 80, 0.15)
    model, report = scope_fit(train_vectors=train, train_labels=labels,
                              validation_vectors=validation,
                              validation_correct=np.ones(60, dtype=bool),
                              out_of_scope_vectors=examples, target_false_handoff=0.05)
    plain = [c for c in report["candidates"] if c["rejection_weight"] == 0.0]
    assert report["method"] == "rejection class"
    assert model.rejection_weight > 0
    assert report["oos_recall"] > max(c["oos_recall"] for c in plain)
    assert report["oos_precision"] is not None


def test_the_report_counts_false_handoffs_precision_and_recall() -> None:
    report = scope_report(threshold=0.5, target_false_handoff=0.25,
                          in_scope_scores=np.array([0.9, 0.8, 0.7, 0.4]),
                          in_scope_correct=np.array([True, True, False, True]),
                          out_of_scope_scores=np.array([0.1, 0.2, 0.6]))
    assert report["false_handoff"] == 0.25
    assert report["oos_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["oos_precision"] == pytest.approx(2 / 3, abs=1e-4)  # 2 caught, 1 wrong
    assert report["answered_accuracy"] == pytest.approx(2 / 3, abs=1e-4)


def test_a_scope_model_round_trips_through_its_artefact_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    model = ScopeModel(in_scope=_cluster(rng, _axis(0), 10, 0.3).astype(np.float16),
                       out_of_scope=_cluster(rng, _axis(5), 4, 0.3).astype(np.float16),
                       k=5, rejection_weight=0.5, name="5-nearest similarity")
    model.save(tmp_path)
    loaded = ScopeModel.load(tmp_path)
    assert loaded is not None
    queries = _cluster(rng, _axis(0), 6, 0.5)
    assert np.allclose(loaded.scores(queries), model.scores(queries))
    assert (loaded.k, loaded.rejection_weight, loaded.name) == (5, 0.5, "5-nearest similarity")
    assert ScopeModel.load(tmp_path / "missing") is None

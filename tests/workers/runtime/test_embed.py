from __future__ import annotations

import numpy as np
import pytest

from workers.runtime import ModelCache, embed
from workers.runtime.batching import grouped_shuffled_batches, padding_fraction, sorted_batches
from workers.runtime.metrics import classification_metrics


def test_embeddings_are_unit_norm_and_in_input_order(tiny_base: str) -> None:
    texts = [f"text number {i} " + "word " * (i % 9) for i in range(23)]
    texts[17] = texts[3]
    chunks = list(embed(iter(texts), base=tiny_base, batch_size=4, chunk_size=10,
                        cache=ModelCache(2)))
    assert [len(idx) for idx, _ in chunks] == [10, 10, 3]
    indices = np.concatenate([idx for idx, _ in chunks])
    vectors = np.concatenate([v for _, v in chunks])
    assert indices.tolist() == list(range(23))
    assert vectors.dtype == np.float32
    assert vectors.shape == (23, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[17], vectors[3], atol=1e-5)
    assert not np.allclose(vectors[1], vectors[2])


def test_sorting_by_token_count_removes_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=1000).tolist()
    unsorted = [np.arange(i, min(i + 32, 1000)) for i in range(0, 1000, 32)]
    assert padding_fraction(lengths, sorted_batches(lengths, 32)) < 0.04
    assert padding_fraction(lengths, unsorted) > 0.3
    shuffled = grouped_shuffled_batches(lengths, 32, rng)
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(1000))
    assert padding_fraction(lengths, shuffled) < 0.08


def test_metrics_match_a_hand_computed_example() -> None:
    metrics = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0,
                                         "f1": pytest.approx(0.8), "support": 2}
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


@pytest.mark.slow
def test_real_minilm_places_paraphrases_closer_than_unrelated_text() -> None:
    texts = ["How do I reset my password?", "I forgot my password, how can I change it?",
             "The stock market fell sharply today."]
    (_, vectors), = embed(texts, base="all-MiniLM-L6-v2", cache=ModelCache(1))
    assert vectors.shape == (3, 384)
    paraphrase = float(vectors[0] @ vectors[1])
    unrelated = max(float(vectors[0] @ vectors[2]), float(vectors[1] @ vectors[2]))
    assert paraphrase > 0.6 > unrelated + 0.3


def test_padded_batches_split_by_length_within_the_padding_budget() -> None:
    from workers.runtime.batching import padded_batches

    lengths = [12, 40, 11, 38, 13, 10, 39, 25, 12]
    batches = padded_batches(lengths, max_batch=32, max_padding=0.2)
    # Every position once, longest first, each batch within 20% padding.
    assert sorted(int(i) for batch in batches for i in batch) == list(range(len(lengths)))
    assert [lengths[int(batch[0])] for batch in batches] == sorted(
        (lengths[int(batch[0])] for batch in batches), reverse=True)
    assert all(padding_fraction(lengths, [batch]) <= 0.2 for batch in batches)
    assert padding_fraction(lengths, batches) < padding_fraction(lengths, sorted_batches(
        lengths, 32))
    # 25 joins the long ones (12% padding); 13 would pad that batch to 30%.
    assert [sorted(lengths[int(i)] for i in batch) for batch in batches] == [
        [25, 38, 39, 40], [10, 11, 12, 12, 13]]
    # The size limit still holds, and one text is one batch.
    assert [len(b) for b in padded_batches([10] * 7, max_batch=3)] == [3, 3, 1]
    assert [list(b) for b in padded_batches([7], max_batch=4)] == [[0]]
    assert padded_batches([], max_batch=4) == []

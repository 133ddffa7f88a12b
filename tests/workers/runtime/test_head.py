"""``method="head"``: only a linear head trained on the frozen base's embeddings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.workers.runtime.conftest import LABELS, Task, make_task
from workers.runtime import (
    Cancelled,
    ModelCache,
    classify_and_embed_many,
    fine_tune_classifier,
    load_classifier,
)
from workers.runtime.base_models import get_base
from workers.runtime.training import FineTuneConfig, FineTuneResult


@pytest.fixture(scope="module")
def trained_head(tiny_base: str, task: Task, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[FineTuneResult, Path]:
    out = tmp_path_factory.mktemp("head") / "artifact"
    result = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=LABELS, base=tiny_base, method="head", output_dir=out, epochs=60,
        batch_size=32, learning_rate=3e-2, validation_fraction=0.2, max_length=32, seed=3,
        early_stopping_patience=10))
    return result, out


def test_head_learns_a_separable_task_without_touching_the_base(
        trained_head: tuple[FineTuneResult, Path], tiny_base: str) -> None:
    result, _ = trained_head
    assert result.method == "head"
    assert result.metrics["accuracy"] >= 0.8  # chance is 1/3
    assert result.train_size == 360
    assert result.validation_size == 90
    assert 1 <= result.best_epoch <= result.epochs_run <= 60
    base = get_base(tiny_base)
    assert not any(parameter.grad is not None for parameter in base.model.parameters())
    assert result.classifier is not None
    assert result.classifier.base is base


def test_head_artifact_is_head_and_metadata_only(trained_head: tuple[FineTuneResult, Path]
                                                 ) -> None:
    result, out = trained_head
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["head.safetensors", "labels.json", "manifest.json", "metrics.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["method"], manifest["labels"], manifest["lora"]) == ("head", LABELS, None)
    # 32 hidden units x 3 labels + bias, float32, plus small JSON files
    assert result.artifact_bytes < 10_000


def test_loaded_head_shares_the_base_and_predicts_like_the_trained_one(
        trained_head: tuple[FineTuneResult, Path], tiny_base: str) -> None:
    result, out = trained_head
    cache = ModelCache(4)
    loaded = load_classifier(out, cache=cache, key="head-v1")
    again = load_classifier(out, cache=cache, key="head-v1")
    assert again is loaded
    assert loaded.adapter_name is None
    assert loaded.base is get_base(tiny_base, cache=cache)
    texts = make_task(30, seed=9).texts
    assert result.classifier is not None
    expected = result.classifier.probabilities(texts)
    assert torch.allclose(torch.from_numpy(loaded.probabilities(texts)),
                          torch.from_numpy(expected), atol=1e-5)


def test_head_training_can_be_cancelled(tiny_base: str, tmp_path: Path) -> None:
    task = make_task(60, seed=4)
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
            label_names=LABELS, base=tiny_base, method="head", output_dir=tmp_path / "out",
            epochs=50), should_cancel=lambda: next(calls) >= 3)
    assert not (tmp_path / "out").exists()


def _separately(classifier: Any, texts: list[str], base: str) -> tuple[list[Any], np.ndarray]:
    from workers.runtime import embed

    predictions = [p for chunk in classifier.classify(texts) for p in chunk]
    [(_, vectors)] = list(embed(texts, base))
    return predictions, vectors


def _assert_same(both: tuple[list[Any], np.ndarray], expected: tuple[list[Any], np.ndarray]
                 ) -> None:
    predictions, vectors = both
    separately, embedded = expected
    assert [p.index for p in predictions] == list(range(len(separately)))
    assert [p.label for p in predictions] == [p.label for p in separately]
    for mine, theirs in zip(predictions, separately, strict=True):
        assert mine.probabilities == pytest.approx(theirs.probabilities, abs=1e-5)
    assert vectors.shape == embedded.shape
    assert torch.allclose(torch.from_numpy(vectors), torch.from_numpy(embedded), atol=1e-5)


def test_one_pass_gives_what_classify_and_embed_give(
        trained_head: tuple[FineTuneResult, Path], tiny_base: str) -> None:
    result, _ = trained_head
    classifier = result.classifier
    assert classifier is not None
    texts = make_task(12, seed=5).texts
    _assert_same(classify_and_embed_many([(classifier, t) for t in texts], tiny_base),
                 _separately(classifier, texts, tiny_base))


def test_texts_one_pass_cannot_serve_exactly_take_the_two_calls(
        trained_head: tuple[FineTuneResult, Path], tiny_base: str, tmp_path: Path) -> None:
    result, _ = trained_head
    classifier = result.classifier
    assert classifier is not None
    # A text that the classifier's max length (32) truncates, in a batch of short ones.
    texts = [*make_task(5, seed=7).texts, "word " * 40, *make_task(3, seed=8).texts]
    _assert_same(classify_and_embed_many([(classifier, t) for t in texts], tiny_base),
                 _separately(classifier, texts, tiny_base))
    # Retrieval on another base model (wider, other weights): its vectors, not the
    # classifier's pooled ones.
    from transformers import BertConfig, BertModel

    other = tmp_path / "other-base"
    shutil.copytree(tiny_base, other)
    config = BertConfig.from_pretrained(tiny_base)
    config.hidden_size = 48
    torch.manual_seed(1)
    BertModel(config).save_pretrained(other)
    _assert_same(classify_and_embed_many([(classifier, t) for t in texts], str(other)),
                 _separately(classifier, texts, str(other)))


def test_the_same_inputs_give_the_same_head(tiny_base: str, tmp_path: Path) -> None:
    task = make_task(90, seed=6)
    runs = [fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=LABELS, base=tiny_base, method="head", output_dir=tmp_path / f"run{i}",
        epochs=5, seed=11, early_stopping_patience=None)) for i in range(2)]
    assert [h["train_loss"] for h in runs[0].history] == [h["train_loss"] for h in
                                                          runs[1].history]
    assert (tmp_path / "run0" / "head.safetensors").read_bytes() == \
        (tmp_path / "run1" / "head.safetensors").read_bytes()


def test_a_cached_classifier_is_found_without_its_artefact(
        trained_head: tuple[FineTuneResult, Path], tmp_path: Path) -> None:
    from workers.runtime.classifier import cached_classifier, unload_classifier

    _, out = trained_head
    copy = tmp_path / "artifact"
    shutil.copytree(out, copy)
    cache = ModelCache(4)
    assert cached_classifier("head-v9", cache=cache) is None
    loaded = load_classifier(copy, cache=cache, key="head-v9")
    shutil.rmtree(copy)  # a real-time request must not need the disk once it is loaded
    assert cached_classifier("head-v9", cache=cache) is loaded
    assert unload_classifier("head-v9", cache=cache)
    assert cached_classifier("head-v9", cache=cache) is None


def test_two_tenants_heads_share_one_forward_and_each_gets_its_own_answer(
        trained_head: tuple[FineTuneResult, Path], tiny_base: str, tmp_path: Path) -> None:
    from workers.runtime import embed
    from workers.runtime.classifier import classify_and_embed_many

    first = trained_head[0].classifier
    assert first is not None
    # Another tenant's head on the same base, with intents of its own.
    task = make_task(90, seed=12)
    renamed = {"billing": "refunds", "shipping": "parcels", "login": "accounts"}
    other = fine_tune_classifier(task.texts, [renamed[label] for label in task.labels],
                                 FineTuneConfig(label_names=sorted(renamed.values()),
                                                base=tiny_base, method="head",
                                                output_dir=tmp_path / "other", epochs=5,
                                                max_length=32, early_stopping_patience=None,
                                                seed=2)).classifier
    assert other is not None
    assert other.base is first.base

    # Nine texts of one token count (one padded batch), and one the classifiers truncate.
    words = ["invoice", "refund", "parcel", "courier", "password", "account", "please", "help"]
    texts = [" ".join(words[(i + k) % len(words)] for k in range(5)) for i in range(9)]
    texts.append("word " * 40)
    owners = [first, other, None, first, other, other, None, first, other, first]
    calls: list[int] = []
    original = first.base.pooled

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[0]))
        return original(*args, **kwargs)

    first.base.pooled = counting  # type: ignore[method-assign]
    try:
        predictions, vectors = classify_and_embed_many(list(zip(owners, texts, strict=True)),
                                                       embedding_base=tiny_base)
    finally:
        del first.base.pooled
    # The nine short texts in one forward pass (the long one goes through classify + embed).
    assert calls[0] == 9

    [(_, embedded)] = list(embed(texts, tiny_base))
    assert torch.allclose(torch.from_numpy(vectors), torch.from_numpy(embedded), atol=1e-5)
    for index, (owner, text) in enumerate(zip(owners, texts, strict=True)):
        prediction = predictions[index]
        if owner is None:
            assert prediction is None
            continue
        assert prediction is not None
        [[alone]] = list(owner.classify([text]))
        assert prediction.index == index
        assert set(prediction.probabilities) == set(owner.labels)  # its own tenant's intents
        assert prediction.label == alone.label
        assert prediction.probabilities == pytest.approx(alone.probabilities, abs=1e-5)

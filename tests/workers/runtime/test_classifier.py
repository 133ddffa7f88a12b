from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tests.workers.runtime.conftest import LABELS, TRAIN_KW, Task, Trained, make_task
from workers.runtime import Cancelled, ModelCache, fine_tune_classifier, load_classifier
from workers.runtime.training import FineTuneConfig, FineTuneResult, stratified_split


def _result(trained: Trained) -> FineTuneResult:
    assert isinstance(trained.result, FineTuneResult)
    return trained.result


def test_lora_fine_tune_learns_a_separable_task(trained_lora: Trained) -> None:
    result = _result(trained_lora)
    metrics = result.metrics
    assert metrics["accuracy"] >= 0.75  # chance is 1/3; LoRA on a random tiny base
    assert metrics["macro_f1"] >= 0.7
    assert result.validation_size == metrics["validation_size"] == 90
    assert result.train_size == 360
    assert sum(map(sum, metrics["confusion_matrix"])) == 90
    assert set(metrics["per_class"]) == set(LABELS)
    assert {"precision", "recall", "f1", "support"} <= set(metrics["per_class"]["login"])
    assert result.label_map == {"billing": 0, "shipping": 1, "login": 2}
    assert [h["epoch"] for h in result.history] == list(range(1, len(result.history) + 1))
    assert result.training_seconds > 0


def test_lora_artifact_holds_only_adapter_head_and_metadata(trained_lora: Trained,
                                                            tiny_base: str) -> None:
    out = trained_lora.output_dir
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "adapter/adapter_model.safetensors" in files
    assert {"head.safetensors", "labels.json", "manifest.json", "metrics.json"} <= set(files)
    assert not any(f.endswith("model.safetensors") and "adapter" not in f for f in files)
    with safe_open(str(out / "adapter" / "adapter_model.safetensors"), "pt") as adapter:
        keys = list(adapter.keys())
    assert keys
    assert all("lora_" in key for key in keys)
    assert all(("query" in key) or ("value" in key) for key in keys)
    base_bytes = (Path(tiny_base) / "model.safetensors").stat().st_size
    assert _result(trained_lora).artifact_bytes < base_bytes / 20
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "lora"
    assert manifest["max_length"] == TRAIN_KW["max_length"]
    assert manifest["labels"] == LABELS


def test_loaded_classifier_predicts_like_the_in_memory_model(trained_lora: Trained,
                                                             task: Task) -> None:
    in_memory = _result(trained_lora).classifier
    assert in_memory is not None
    loaded = load_classifier(trained_lora.output_dir, cache=ModelCache(4))
    texts = task.texts[:60]
    np.testing.assert_allclose(loaded.probabilities(texts), in_memory.probabilities(texts),
                               atol=1e-5)
    predictions = [p for chunk in loaded.classify(texts) for p in chunk]
    accuracy = np.mean([p.label == label for p, label in zip(predictions, task.labels[:60],
                                                             strict=True)])
    assert accuracy > 0.7


def test_classify_keeps_input_order_across_chunks(trained_lora: Trained) -> None:
    classifier = load_classifier(trained_lora.output_dir, cache=ModelCache(4))
    rng = np.random.default_rng(0)
    words = "invoice parcel password the a my refund courier email please".split()
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(1, 25, size=53)]
    reference = classifier.probabilities(texts)

    chunks = list(classifier.classify(iter(texts), batch_size=4, chunk_size=10))
    assert [len(c) for c in chunks] == [10, 10, 10, 10, 10, 3]
    flat = [p for chunk in chunks for p in chunk]
    assert [p.index for p in flat] == list(range(len(texts)))
    for prediction in flat:
        row = reference[prediction.index]
        assert prediction.label == LABELS[int(row.argmax())]
        assert list(prediction.probabilities) == LABELS
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(list(prediction.probabilities.values()), row, atol=1e-5)
    assert list(classifier.classify([])) == []


def test_inference_runs_in_inference_mode_sorted_by_token_count(
        trained_lora: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    classifier = load_classifier(trained_lora.output_dir, cache=ModelCache(4))
    seen: list[tuple[int, int, bool]] = []
    original = classifier.base.pooled

    def spy(input_ids: torch.Tensor, mask: torch.Tensor, adapter: str | None) -> torch.Tensor:
        seen.append((int(mask.sum()), mask.numel(), torch.is_inference_mode_enabled()))
        return original(input_ids, mask, adapter)

    monkeypatch.setattr(classifier.base, "pooled", spy)
    texts = [("word " * n).strip() for n in (1, 20, 3, 18, 2, 19, 4, 17)]  # lengths interleaved
    list(classifier.classify(texts, batch_size=2, chunk_size=100))
    assert all(inference for _, _, inference in seen)
    real, padded = sum(s[0] for s in seen), sum(s[1] for s in seen)
    assert 1 - real / padded < 0.06  # unsorted batches would be ~40% padding


def test_full_fine_tune_saves_the_whole_model(tiny_base: str, task: Task,
                                              tmp_path: Path) -> None:
    result = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=LABELS, base=tiny_base, method="full", output_dir=tmp_path / "full",
        **{**TRAIN_KW, "learning_rate": 5e-3, "epochs": 2}))
    assert result.metrics["accuracy"] >= 0.9
    assert (tmp_path / "full" / "model" / "model.safetensors").is_file()
    assert not (tmp_path / "full" / "adapter").exists()
    base_bytes = (Path(tiny_base) / "model.safetensors").stat().st_size
    assert result.artifact_bytes > 0.5 * base_bytes
    loaded = load_classifier(tmp_path / "full", cache=ModelCache(2))
    assert result.classifier is not None
    np.testing.assert_allclose(loaded.probabilities(task.texts[:20]),
                               result.classifier.probabilities(task.texts[:20]), atol=1e-5)


def test_cancel_then_resume_ends_like_an_uninterrupted_run(tiny_base: str,
                                                            tmp_path: Path) -> None:
    task = make_task(120, seed=5)
    kw: dict[str, Any] = {**TRAIN_KW, "epochs": 3, "early_stopping_patience": None,
                          "label_names": LABELS, "base": tiny_base}
    straight = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        output_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ckpt-a", **kw))

    epochs_seen: list[int] = []
    cancel = {"now": False}

    def on_epoch(epoch: int, metrics: dict[str, Any]) -> None:
        epochs_seen.append(epoch)
        cancel["now"] = epoch == 1

    with pytest.raises(Cancelled):
        fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
            output_dir=tmp_path / "b", checkpoint_dir=tmp_path / "ckpt-b", **kw),
            on_epoch=on_epoch, should_cancel=lambda: cancel["now"])
    assert epochs_seen == [1]
    assert [p.name for p in (tmp_path / "ckpt-b").glob("epoch-*.pt")] == ["epoch-001.pt"]
    assert not (tmp_path / "b").exists()

    cancel["now"] = False
    steps: list[int] = []
    resumed = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        output_dir=tmp_path / "b", checkpoint_dir=tmp_path / "ckpt-b", log_every=1, **kw),
        on_epoch=on_epoch, on_step=lambda step, loss: steps.append(step))
    assert epochs_seen == [1, 2, 3]
    assert resumed.resumed_from_epoch == 1
    assert resumed.epochs_run == 3
    steps_per_epoch = int(np.ceil(96 / TRAIN_KW["batch_size"]))
    assert steps[0] == steps_per_epoch + 1
    assert steps[-1] == 3 * steps_per_epoch
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["accuracy"] == pytest.approx(b["accuracy"])
    assert straight.classifier is not None
    assert resumed.classifier is not None
    np.testing.assert_allclose(resumed.classifier.probabilities(task.texts[:16]),
                               straight.classifier.probabilities(task.texts[:16]), atol=1e-4)

    again = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        output_dir=tmp_path / "b", checkpoint_dir=tmp_path / "ckpt-b", **kw))
    assert again.resumed_from_epoch == 3
    assert again.history == resumed.history


def test_checkpoint_of_other_inputs_is_refused(tiny_base: str, tmp_path: Path) -> None:
    task = make_task(60, seed=6)
    kw: dict[str, Any] = {**TRAIN_KW, "epochs": 1, "label_names": LABELS, "base": tiny_base,
                          "checkpoint_dir": tmp_path / "ckpt"}
    fine_tune_classifier(task.texts, task.labels, FineTuneConfig(output_dir=tmp_path / "a", **kw))
    with pytest.raises(ValueError, match="other inputs"):
        fine_tune_classifier(task.texts[::-1], task.labels[::-1], FineTuneConfig(
            output_dir=tmp_path / "b", **kw))


def test_early_stopping_keeps_the_best_epoch(tiny_base: str, tmp_path: Path) -> None:
    task = make_task(90, seed=7)
    result = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=LABELS, base=tiny_base, output_dir=tmp_path / "out",
        early_stopping_patience=1,
        **{**TRAIN_KW, "epochs": 12, "learning_rate": 1e-5, "head_learning_rate": 1e-5}))
    best = max(h["macro_f1"] for h in result.history)
    assert result.stopped_early
    assert result.epochs_run < 12
    assert result.metrics["macro_f1"] == pytest.approx(best)
    assert result.history[result.best_epoch - 1]["macro_f1"] == pytest.approx(best)


def test_stratified_split_is_seeded_and_keeps_every_class() -> None:
    y = np.array([0] * 50 + [1] * 30 + [2] * 4)
    train, val = stratified_split(y, 0.2, seed=1)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(y)))
    assert np.bincount(y[val]).tolist() == [10, 6, 1]
    again = stratified_split(y, 0.2, seed=1)
    assert np.array_equal(val, again[1])
    assert not np.array_equal(val, stratified_split(y, 0.2, seed=2)[1])


def test_bad_labels_are_refused(tiny_base: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown label"):
        fine_tune_classifier(["a", "b", "c"], ["billing", "login", "nope"], FineTuneConfig(
            label_names=LABELS, base=tiny_base, output_dir=tmp_path / "x"))


def test_classify_streams_without_reading_the_whole_input(trained_lora: Trained) -> None:
    classifier = load_classifier(trained_lora.output_dir, cache=ModelCache(4))
    endless = (f"invoice number {i}" for i in itertools.count())
    stream = classifier.classify(endless, batch_size=4, chunk_size=8)
    first, second = next(stream), next(stream)
    assert [p.index for p in first + second] == list(range(16))
    assert next(endless) == "invoice number 16"  # nothing read beyond the second chunk


def test_layer_decay_gives_each_depth_its_rate_and_keeps_every_parameter(
        tiny_base: str) -> None:
    from workers.runtime.base_models import load_encoder
    from workers.runtime.device import select_device
    from workers.runtime.training.optim import encoder_param_groups

    encoder = load_encoder(tiny_base, select_device())
    layers = int(encoder.model.config.num_hidden_layers)
    groups = encoder_param_groups(encoder, 1e-3, 0.5)
    rates = [group["lr"] for group in groups]
    # embeddings, each layer, then what sits above the layers: each depth half the next's
    assert len(groups) == layers + 2
    assert rates == pytest.approx([1e-3 * 0.5 ** (layers + 1 - d) for d in range(layers + 2)])
    embedding = encoder.model.embeddings.word_embeddings.weight
    top_layer = next(encoder.model.encoder.layer[layers - 1].parameters())
    assert any(p is embedding for p in groups[0]["params"])
    assert any(p is top_layer for p in groups[layers]["params"])
    grouped = [id(p) for group in groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in encoder.parameters())
    single = encoder_param_groups(encoder, 1e-3, 1.0)
    assert len(single) == 1
    assert len(single[0]["params"]) == len(grouped)


def test_label_smoothing_and_layer_decay_change_the_training(tiny_base: str, task: Task,
                                                              tmp_path: Path) -> None:
    kw = {**TRAIN_KW, "learning_rate": 5e-3, "epochs": 1, "early_stopping_patience": None}
    runs = {}
    for name, extra in (("plain", {}), ("smoothed", {"label_smoothing": 0.2}),
                        ("decayed", {"layer_decay": 0.5})):
        runs[name] = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
            label_names=LABELS, base=tiny_base, method="full", output_dir=tmp_path / name, **kw,
            **extra))
    loss = {name: run.history[-1]["train_loss"] for name, run in runs.items()}
    # smoothing's targets can never be met exactly: the loss stays above the plain run's
    assert loss["smoothed"] > loss["plain"]
    assert loss["decayed"] != pytest.approx(loss["plain"], rel=1e-6)


def test_averaging_the_last_epochs_keeps_the_mean_weights_when_they_validate(
        tiny_base: str, task: Task, tmp_path: Path) -> None:
    from workers.runtime.training.state import TrainState

    state = TrainState()
    for value in (1.0, 2.0, 6.0):
        state.accumulate_average({"w": torch.full((2,), value)})
    assert state.averaged == 3
    assert state.average["w"].tolist() == pytest.approx([3.0, 3.0])

    kw = {**TRAIN_KW, "learning_rate": 5e-3, "epochs": 3, "early_stopping_patience": None}
    result = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=LABELS, base=tiny_base, method="full", output_dir=tmp_path / "avg",
        checkpoint_dir=tmp_path / "ckpt", keep_checkpoints=2, average_last_epochs=2, **kw))
    averaged = result.history[-1]
    assert averaged["averaged_epochs"] == 2
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 3]
    # this task validates perfectly from epoch 2, so the average ties the best and is kept
    assert averaged["macro_f1"] >= max(h["macro_f1"] for h in result.history[:-1])
    assert result.metrics["averaged_epochs"] == 2
    # what was saved is the mean of epochs 2 and 3
    epochs = [torch.load(tmp_path / "ckpt" / f"epoch-00{n}.pt", weights_only=True)["weights"]
              for n in (2, 3)]
    with safe_open(str(tmp_path / "avg" / "head.safetensors"), "pt") as saved:
        for name in saved.keys():  # noqa: SIM118 (safe_open is not a mapping)
            mean = (epochs[0][f"head.{name}"] + epochs[1][f"head.{name}"]) / 2
            torch.testing.assert_close(saved.get_tensor(name), mean)
    assert not torch.equal(epochs[0]["head.linear.weight"], epochs[1]["head.linear.weight"])
    loaded = load_classifier(tmp_path / "avg", cache=ModelCache(2))
    assert result.classifier is not None
    np.testing.assert_allclose(loaded.probabilities(task.texts[:10]),
                               result.classifier.probabilities(task.texts[:10]), atol=1e-5)

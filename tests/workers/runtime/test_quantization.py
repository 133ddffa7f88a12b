"""Int8 inference (``workers.runtime.quantization``) on tiny randomly initialised BERTs: it
agrees with fp32, is built once beside the artefact's files, and a quantized model that does
not match fp32 never serves."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.workers.runtime.conftest import Task, Trained
from workers.runtime import ModelCache, load_classifier
from workers.runtime.quantization import (
    INFO_FILE,
    INT8_DIR,
    MODEL_FILE,
    VALIDATION_FILE,
    fingerprint,
)


@pytest.fixture
def artefact(trained_lora: Trained, tmp_path: Path) -> Path:
    """A copy of the session's LoRA artefact (the int8 model is written beside its files)."""
    copy = tmp_path / "artifact"
    shutil.copytree(trained_lora.output_dir, copy)
    return copy


def rows_of(task: Task, count: int = 150) -> tuple[list[str], list[str]]:
    return task.texts[:count], task.labels[:count]


def test_int8_predicts_like_fp32_on_a_tiny_model(artefact: Path, task: Task) -> None:
    fp32 = load_classifier(artefact, cache=ModelCache(4))
    int8 = load_classifier(artefact, cache=ModelCache(4), precision="int8",
                           validation_rows=lambda: rows_of(task))
    assert fp32.int8 is None
    assert int8.int8 is not None  # it passed validation and serves
    texts = task.texts[150:350]
    expected, got = fp32.probabilities(texts), int8.probabilities(texts)
    assert np.mean(expected.argmax(axis=1) == got.argmax(axis=1)) >= 0.97
    assert np.abs(expected - got).max() < 0.1
    assert not np.allclose(expected, got, atol=1e-6)  # it is another forward pass
    predictions = [p for chunk in int8.classify(texts, batch_size=16, chunk_size=64)
                   for p in chunk]
    assert [p.index for p in predictions] == list(range(len(texts)))
    # Activations are quantized per batch, so other batches give slightly other figures;
    # the labels still agree with fp32's.
    assert np.mean([p.label == fp32.labels[i] for p, i in zip(
        predictions, expected.argmax(axis=1), strict=True)]) >= 0.95
    verdict = json.loads((artefact / INT8_DIR / VALIDATION_FILE).read_text())
    assert verdict["passed"] is True
    assert verdict["rows"] == 150
    assert verdict["agreement"] >= 0.97
    assert abs(verdict["int8_macro_f1"] - verdict["fp32_macro_f1"]) <= 0.005


def test_the_int8_model_is_built_once_beside_the_artefact(artefact: Path, task: Task) -> None:
    load_classifier(artefact, cache=ModelCache(4), precision="int8",
                    validation_rows=lambda: rows_of(task))
    model = artefact / INT8_DIR / MODEL_FILE
    info = json.loads((artefact / INT8_DIR / INFO_FILE).read_text())
    assert info["source"] == fingerprint(artefact)
    assert model.stat().st_size > 0
    # Only the int8 folder was added: no temporary folder, no fp32 export left behind.
    assert sorted(p.name for p in (artefact / INT8_DIR).iterdir()) == [
        INFO_FILE, MODEL_FILE, VALIDATION_FILE]
    assert not [p for p in artefact.iterdir() if p.name.startswith(".")]
    built = model.stat().st_mtime_ns

    # Another process (a fresh cache) reuses the model and the stored verdict.
    again = load_classifier(artefact, cache=ModelCache(4), precision="int8",
                            validation_rows=lambda: rows_of(task))
    assert again.int8 is not None
    assert model.stat().st_mtime_ns == built

    # A changed artefact (another head) is rebuilt, not served stale.
    head = load_file(str(artefact / "head.safetensors"))
    save_file({name: tensor * 1.5 for name, tensor in head.items()},
              str(artefact / "head.safetensors"))
    load_classifier(artefact, cache=ModelCache(4), precision="int8",
                    validation_rows=lambda: rows_of(task))
    assert json.loads((artefact / INT8_DIR / INFO_FILE).read_text())["source"] == fingerprint(
        artefact) != info["source"]


def test_a_quantized_model_that_fails_validation_serves_fp32(
        artefact: Path, task: Task, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The int8 model of another classifier (the same encoder, a different head) stands in
    # for this one's: a stale or broken copy that claims to be made from these files.
    other = tmp_path / "other"
    shutil.copytree(artefact, other)
    head = load_file(str(other / "head.safetensors"))
    generator = torch.Generator().manual_seed(7)
    save_file({name: torch.randn(tensor.shape, generator=generator).to(tensor.dtype)
               for name, tensor in head.items()}, str(other / "head.safetensors"))
    load_classifier(other, cache=ModelCache(4), precision="int8",
                    validation_rows=lambda: rows_of(task))
    shutil.copytree(other / INT8_DIR, artefact / INT8_DIR)
    (artefact / INT8_DIR / VALIDATION_FILE).unlink()
    info = json.loads((artefact / INT8_DIR / INFO_FILE).read_text())
    (artefact / INT8_DIR / INFO_FILE).write_text(json.dumps(
        {**info, "source": fingerprint(artefact)}))

    fp32 = load_classifier(artefact, cache=ModelCache(4))
    with caplog.at_level(logging.WARNING, logger="workers.runtime.quantization"):
        classifier = load_classifier(artefact, cache=ModelCache(4), precision="int8",
                                     validation_rows=lambda: rows_of(task))
    assert classifier.int8 is None
    assert "failed validation" in caplog.text
    assert "serving fp32" in caplog.text
    texts = task.texts[150:250]
    np.testing.assert_allclose(classifier.probabilities(texts), fp32.probabilities(texts),
                               atol=1e-6)
    verdict = json.loads((artefact / INT8_DIR / VALIDATION_FILE).read_text())
    assert verdict["passed"] is False
    assert verdict["agreement"] < 0.97


def test_without_rows_to_validate_on_int8_does_not_serve(
        artefact: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="workers.runtime.quantization"):
        classifier = load_classifier(artefact, cache=ModelCache(4), precision="int8",
                                     validation_rows=lambda: None)
    assert classifier.int8 is None
    assert "no labelled rows" in caplog.text
    assert not (artefact / INT8_DIR).exists()


def test_a_head_only_classifier_runs_in_int8(tiny_base: str, task: Task, tmp_path: Path
                                             ) -> None:
    from workers.runtime import FineTuneConfig, fine_tune_classifier

    out = tmp_path / "head"
    fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=sorted(set(task.labels)), base=tiny_base, method="head", output_dir=out,
        epochs=30, batch_size=32, learning_rate=5e-2, validation_fraction=0.2, max_length=32,
        seed=0))
    fp32 = load_classifier(out, cache=ModelCache(4))
    int8 = load_classifier(out, cache=ModelCache(4), precision="int8",
                           validation_rows=lambda: rows_of(task))
    assert int8.int8 is not None
    texts = task.texts[150:300]
    assert np.mean(fp32.probabilities(texts).argmax(axis=1)
                   == int8.probabilities(texts).argmax(axis=1)) >= 0.97


def test_an_unknown_precision_is_refused(artefact: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        load_classifier(artefact, cache=ModelCache(4), precision="int4")

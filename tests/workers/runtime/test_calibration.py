"""Calibrated confidences (``workers.runtime.calibration``): temperature scaling fitted on the
validation rows, stored in the artefact, applied by every loader; and the labelled report
(``workers.runtime.evaluation``) and the training's progress units."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.workers.runtime.conftest import LABELS, Task
from workers.runtime import ModelCache, fine_tune_classifier, load_classifier
from workers.runtime.calibration import (
    IDENTITY,
    TemperatureScaling,
    calibration_report,
    calibrator_from_manifest,
    expected_calibration_error,
    fit_calibrator,
)
from workers.runtime.classifier.embedding import pooled_embeddings
from workers.runtime.evaluation import classification_report
from workers.runtime.training import FineTuneConfig, FineTuneResult


def _sampled(temperature: float, rows: int = 4000, classes: int = 5, seed: int = 0
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels drawn from ``softmax(logits / temperature)``: the true temperature."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, classes, generator=generator) * 4
    labels = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1,
                               generator=generator).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_temperature_scaling_recovers_the_temperature_the_labels_were_drawn_with(
        true_temperature: float) -> None:
    logits, labels = _sampled(true_temperature)
    fitted = TemperatureScaling.fit(logits, labels)
    assert fitted.temperature == pytest.approx(true_temperature, rel=0.1)


def test_calibration_lowers_the_error_of_overconfident_logits_and_keeps_the_argmax() -> None:
    logits, labels = _sampled(3.0)
    calibrator = fit_calibrator("temperature", logits, labels)
    report = calibration_report(calibrator, logits, labels)
    assert report["method"] == "temperature"
    assert report["ece_before"] > 0.1  # the logits are three times too sharp
    assert report["ece_after"] < report["ece_before"] / 3
    assert report["nll_after"] < report["nll_before"]
    assert torch.equal(calibrator.probabilities(logits).argmax(dim=1), logits.argmax(dim=1))


def test_no_rows_and_none_give_the_plain_softmax() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    assert TemperatureScaling.fit(torch.empty((0, 3)), torch.empty(0)).temperature == 1.0
    assert fit_calibrator("none", logits, torch.tensor([0])) is IDENTITY
    assert torch.allclose(IDENTITY.probabilities(logits), torch.softmax(logits, dim=-1))
    with pytest.raises(ValueError, match="'platt'"):
        fit_calibrator("platt", logits, torch.tensor([0]))


def test_a_separable_validation_set_cannot_drive_the_temperature_to_zero() -> None:
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]] * 20)
    labels = torch.tensor([0, 1] * 20)
    assert TemperatureScaling.fit(logits, labels).temperature >= 0.05


def test_expected_calibration_error_by_hand() -> None:
    # Always 0.9 sure, right 9 times in 10: calibrated.
    probabilities = np.array([[0.9, 0.1]] * 10)
    labels = np.array([0] * 9 + [1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)
    # Certain and right half the time: off by 0.5.
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 4),
                                      np.array([0, 1, 0, 1])) == pytest.approx(0.5)
    # Two bins, each half the rows: 0.6 sure and always right (gap 0.4), 0.95 sure, right
    # half the time (gap 0.45): 0.5 * 0.4 + 0.5 * 0.45.
    mixed = np.array([[0.6, 0.4], [0.6, 0.4], [0.95, 0.05], [0.95, 0.05]])
    assert expected_calibration_error(mixed, np.array([0, 0, 0, 1])) == pytest.approx(0.425)
    assert expected_calibration_error(np.empty((0, 2)), np.empty(0)) == 0.0


def test_manifest_without_calibration_reads_as_the_plain_softmax() -> None:
    assert calibrator_from_manifest({}) is IDENTITY
    assert calibrator_from_manifest({"calibration": {"method": "unknown"}}) is IDENTITY
    stored = calibrator_from_manifest({"calibration": {"method": "temperature",
                                                       "temperature": 2.0}})
    assert stored == TemperatureScaling(2.0)


@pytest.fixture(scope="module")
def calibrated_head(tiny_base: str, task: Task, tmp_path_factory: pytest.TempPathFactory
                    ) -> tuple[FineTuneResult, Path, list[tuple[float, float, str]]]:
    out = tmp_path_factory.mktemp("calibrated") / "artifact"
    progress: list[tuple[float, float, str]] = []
    result = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=LABELS, base=tiny_base, method="head", output_dir=out, epochs=40,
        batch_size=32, learning_rate=3e-2, validation_fraction=0.2, max_length=32, seed=3,
        early_stopping_patience=None), on_progress=lambda *report: progress.append(report))
    return result, out, progress


def test_every_loader_applies_the_temperature_fitted_on_the_validation_rows(
        calibrated_head: tuple[FineTuneResult, Path, list[tuple[float, float, str]]],
        task: Task, tmp_path: Path) -> None:
    result, out, _ = calibrated_head
    manifest = json.loads((out / "manifest.json").read_text())
    temperature = manifest["calibration"]["temperature"]
    assert manifest["calibration"]["method"] == "temperature"
    assert temperature != pytest.approx(1.0, abs=1e-3)
    report = result.metrics["calibration"]
    assert report["temperature"] == temperature
    assert report["rows"] == result.validation_size == 90
    assert report["ece_after"] <= report["ece_before"]

    loaded = load_classifier(out, cache=ModelCache(4))
    texts = task.texts[:20]
    pooled = pooled_embeddings(loaded.base, texts, max_length=32, batch_size=32)
    with torch.inference_mode():
        logits = loaded.head(pooled)
    expected = torch.softmax(logits / temperature, dim=-1).numpy()
    assert np.allclose(loaded.probabilities(texts), expected, atol=1e-5)
    [chunk] = list(loaded.classify(texts))
    assert np.allclose([[p.probabilities[label] for label in LABELS] for p in chunk], expected,
                       atol=1e-5)
    assert result.classifier is not None
    assert np.allclose(result.classifier.probabilities(texts), expected, atol=1e-5)

    # An artefact written before calibration existed keeps the plain softmax.
    old = tmp_path / "old"
    shutil.copytree(out, old)
    old_manifest = {k: v for k, v in manifest.items() if k != "calibration"}
    (old / "manifest.json").write_text(json.dumps(old_manifest))
    plain = load_classifier(old, cache=ModelCache(4)).probabilities(texts)
    assert np.allclose(plain, torch.softmax(logits, dim=-1).numpy(), atol=1e-5)
    assert not np.allclose(plain, expected, atol=1e-3)


def test_a_head_reports_its_texts_then_its_epochs_each_in_its_own_unit(
        calibrated_head: tuple[FineTuneResult, Path, list[tuple[float, float, str]]]) -> None:
    _, _, progress = calibrated_head
    units = [unit for _, _, unit in progress]
    first_epoch = units.index("epochs")
    assert set(units[:first_epoch]) == {"texts"}
    assert set(units[first_epoch:]) == {"epochs"}
    assert progress[first_epoch - 1][:2] == (450, 450)  # every text embedded
    assert [done for done, _, unit in progress if unit == "epochs"] == list(range(1, 41))
    assert {total for _, total, unit in progress if unit == "epochs"} == {40}


def test_calibration_none_stores_the_plain_softmax_and_a_bad_method_is_refused(
        tiny_base: str, task: Task, tmp_path: Path) -> None:
    config = FineTuneConfig(label_names=LABELS, base=tiny_base, method="head",
                            output_dir=tmp_path / "plain", epochs=2, max_length=32,
                            calibration="none")
    result = fine_tune_classifier(task.texts[:60], task.labels[:60], config)
    manifest = json.loads((tmp_path / "plain" / "manifest.json").read_text())
    assert manifest["calibration"] == {"method": "none"}
    assert result.metrics["calibration"]["ece_after"] == result.metrics["calibration"][
        "ece_before"]
    with pytest.raises(ValueError, match="calibration must be one of none, temperature"):
        fine_tune_classifier(task.texts[:60], task.labels[:60], FineTuneConfig(
            label_names=LABELS, base=tiny_base, method="head", output_dir=tmp_path / "bad",
            calibration="platt"))


def test_classification_report_by_label_name() -> None:
    truth = ["a", "a", "a", "b", "b", "c", "c", "x"]
    predicted = ["a", "b", "b", "b", "a", "c", "c", "c"]
    report = classification_report(truth, predicted, ["c", "b", "a"])
    # "x" is not in the model's labels: appended, and its row counts as an error.
    assert report["labels"] == ["c", "b", "a", "x"]
    assert report["rows"] == 8
    assert report["accuracy"] == pytest.approx(4 / 8)
    assert report["confusion"] == [[2, 0, 0, 0], [0, 1, 1, 0], [0, 2, 1, 0], [1, 0, 0, 0]]
    assert report["per_class"]["a"] == {"precision": 0.5, "recall": pytest.approx(1 / 3),
                                        "f1": pytest.approx(0.4), "support": 3}
    assert report["top_confusions"] == [{"true": "a", "predicted": "b", "count": 2},
                                        {"true": "b", "predicted": "a", "count": 1},
                                        {"true": "x", "predicted": "c", "count": 1}]
    f1 = [report["per_class"][label]["f1"] for label in report["labels"]]
    assert report["macro_f1"] == pytest.approx(sum(f1) / 4)
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        classification_report(["a", "b", "c"], ["a", "b"], ["a", "b", "c"])

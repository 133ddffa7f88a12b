"""Customer-service bot: the intent model on BANKING77 (77 intents).

Trains ``method="head"`` (the frozen all-MiniLM-L6-v2 embeds every text once; only the
dropout + linear head is trained) on the official train file, with a stratified 10 %
validation split for early stopping, and scores the official test file::

    python bench/bot.py            # records bot.banking77_accuracy, macro-F1, training seconds

Quality bar: accuracy ≥ 0.90 on the test file.

Calibration: the version's temperature is fitted on the validation split (as every fine-tune
does, ``workers.runtime.calibration``) and the expected calibration error (15 bins) of the
test file's confidences is recorded after it (``bot.calibration_ece``) with the plain softmax's
of the same logits beside it, as its baseline (``bot.calibration_ece_uncalibrated``). Bar:
``bot.calibration_ece`` ≤ 0.05.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import DATASETS, read_csv, record  # noqa: E402

from workers.runtime import FineTuneConfig, fine_tune_classifier  # noqa: E402
from workers.runtime.calibration import IDENTITY, expected_calibration_error  # noqa: E402
from workers.runtime.classifier.embedding import pooled_embeddings  # noqa: E402
from workers.runtime.metrics import classification_metrics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    labels = json.loads((DATASETS / "banking77" / "categories.json").read_text())
    train = read_csv("banking77/train.csv")
    test = read_csv("banking77/test.csv")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = fine_tune_classifier(
            [row["text"] for row in train], [row["category"] for row in train], FineTuneConfig(
                output_dir=Path(folder) / "artifact", label_names=labels, method="head",
                epochs=args.epochs, batch_size=args.batch_size,
                learning_rate=args.learning_rate, seed=args.seed, validation_fraction=0.1,
                max_length=64, early_stopping_patience=8))
        training_seconds = time.perf_counter() - started
        classifier = result.classifier
        assert classifier is not None
        # One pass for both: the head's logits of the test texts, read through the version's
        # calibrator and through the plain softmax (its argmax is what ``classify`` predicts).
        pooled = pooled_embeddings(classifier.base, [row["text"] for row in test],
                                   max_length=classifier.max_length, batch_size=64)
        with torch.inference_mode():
            logits = classifier.head(pooled)
        calibrated = classifier.calibrator.probabilities(logits).numpy()
        uncalibrated = IDENTITY.probabilities(logits).numpy()
        predicted = [labels[i] for i in logits.argmax(dim=1).tolist()]
    y_test = [labels.index(row["category"]) for row in test]
    ece_after = expected_calibration_error(calibrated, y_test)
    ece_before = expected_calibration_error(uncalibrated, y_test)
    test_metrics = classification_metrics([labels.index(row["category"]) for row in test],
                                          [labels.index(label) for label in predicted], labels)
    print(f"train {result.train_size} rows, validation {result.validation_size}; best epoch "
          f"{result.best_epoch} of {result.epochs_run}; artefact {result.artifact_bytes:,} "
          f"bytes; validation accuracy {result.metrics['accuracy']:.4f}", flush=True)
    record("bot.banking77_accuracy", test_metrics["accuracy"], "accuracy", baseline=0.90,
           ratio=test_metrics["accuracy"] / 0.90)
    record("bot.banking77_macro_f1", test_metrics["macro_f1"], "macro-F1")
    record("bot.banking77_training_seconds", training_seconds, "s")
    record("bot.intent_artifact_bytes", result.artifact_bytes, "bytes")
    validation = result.metrics["calibration"]
    print(f"temperature {validation.get('temperature')}; validation ECE "
          f"{validation['ece_before']:.4f} -> {validation['ece_after']:.4f}", flush=True)
    record("bot.calibration_ece_uncalibrated", ece_before, "ECE")
    record("bot.calibration_ece", ece_after, "ECE", baseline=ece_before,
           ratio=ece_after / ece_before if ece_before else None)
    record("bot.calibration_temperature", float(validation.get("temperature", 1.0)), "T")


if __name__ == "__main__":
    main()

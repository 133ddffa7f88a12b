"""Customer-service bot: the intent model on BANKING77 (77 intents).

Trains ``method="head"`` (the frozen all-MiniLM-L6-v2 embeds every text once; only the
dropout + linear head is trained) on the official train file, with a stratified 10 %
validation split for early stopping, and scores the official test file::

    python bench/bot.py            # records bot.banking77_accuracy, macro-F1, training seconds

Quality bar: accuracy ≥ 0.90 on the test file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, read_csv, record  # noqa: E402

from workers.runtime import FineTuneConfig, fine_tune_classifier  # noqa: E402
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
        assert result.classifier is not None
        predicted = [p.label for chunk in result.classifier.classify(
            [row["text"] for row in test]) for p in chunk]
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


if __name__ == "__main__":
    main()

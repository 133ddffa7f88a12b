"""The measurements behind the default fine-tune method (``jobs.method_choice``): head-only,
LoRA and full fine-tuning of all-MiniLM-L6-v2 on slices of the shipped datasets of several
sizes, each scored on the same held-out rows (figures, not a test).

For each (dataset, rows, method): test macro-F1 and training seconds. The rows are a
stratified-by-seed random slice of the training file; the test rows are the first
``--test-rows`` of the held-out file (twitter_fin_sentiment ``sent_valid.csv``, banking77
``test.csv``). Settings are the jobs' defaults per method (head: 60 epochs, lr 1e-2, patience
8; LoRA: 3 epochs, lr 1e-3; full: 3 epochs, lr 5e-5), max_length 64, seed 0.

Records ``method_choice.<dataset>_<rows>_<method>_macro_f1`` with the head-only figure of the
same slice as the baseline, so a ratio above 1 says the method beat a head.

    HF_HUB_OFFLINE=1 PYTHONPATH=platform:. .venv/bin/python bench/method_choice.py \
        --plan finance:160:head,lora,full finance:600:head,lora banking77:770:head,lora
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FINANCE_LABELS, finance_rows, read_csv, record  # noqa: E402

from workers.runtime import FineTuneConfig, fine_tune_classifier  # noqa: E402
from workers.runtime.metrics import classification_metrics  # noqa: E402

SETTINGS = {"head": {"epochs": 60, "lr": 1e-2, "patience": 8, "batch_size": 64},
            "lora": {"epochs": 3, "lr": 1e-3, "patience": 2, "batch_size": 32},
            "full": {"epochs": 3, "lr": 5e-5, "patience": 2, "batch_size": 32}}


def _data(dataset: str) -> tuple[list[str], list[int], list[str], list[int], list[str]]:
    if dataset == "finance":
        texts, labels = finance_rows("train")
        test_texts, test_labels = finance_rows("valid")
        return texts, labels, test_texts, test_labels, FINANCE_LABELS
    train = read_csv("banking77/train.csv")
    test = read_csv("banking77/test.csv")
    names = sorted({r["category"] for r in train})
    index = {n: i for i, n in enumerate(names)}
    return ([r["text"] for r in train], [index[r["category"]] for r in train],
            [r["text"] for r in test], [index[r["category"]] for r in test], names)


def measure(dataset: str, rows: int, methods: list[str], test_rows: int) -> dict[str, float]:
    texts, labels, test_texts, test_labels, names = _data(dataset)
    order = list(range(len(texts)))
    random.Random(1).shuffle(order)
    picked = order[:rows]
    train_texts = [texts[i] for i in picked]
    train_labels = [labels[i] for i in picked]
    test_order = list(range(len(test_texts)))
    random.Random(2).shuffle(test_order)
    test_texts = [test_texts[i] for i in test_order[:test_rows]]
    test_labels = [test_labels[i] for i in test_order[:test_rows]]
    scores: dict[str, float] = {}
    for method in methods:
        setting = SETTINGS[method]
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = fine_tune_classifier(train_texts, train_labels, FineTuneConfig(
                output_dir=Path(tmp) / "artifact", label_names=names, method=method,  # type: ignore[arg-type]
                epochs=setting["epochs"], batch_size=setting["batch_size"],
                learning_rate=setting["lr"], early_stopping_patience=setting["patience"],
                max_length=64, seed=0, validation_fraction=0.1))
            seconds = time.perf_counter() - started
            assert result.classifier is not None
            probabilities = result.classifier.probabilities(test_texts)
            result.classifier.release()
        metrics = classification_metrics(test_labels, probabilities.argmax(axis=1).tolist(),
                                         names)
        scores[method] = metrics["macro_f1"]
        print(json.dumps({"dataset": dataset, "rows": rows, "classes": len(set(train_labels)),
                          "method": method, "test_rows": len(test_texts),
                          "macro_f1": round(metrics["macro_f1"], 4),
                          "accuracy": round(metrics["accuracy"], 4),
                          "seconds": round(seconds, 1)}), flush=True)
    for method, score in scores.items():
        head = scores.get("head")
        record(f"method_choice.{dataset}_{rows}_{method}_macro_f1", score, "macro-F1",
               baseline=head, ratio=None if not head else score / head)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plan", nargs="+",
                        default=["finance:160:head,lora,full", "finance:600:head,lora,full",
                                 "finance:2000:head,lora", "banking77:770:head,lora"])
    parser.add_argument("--test-rows", type=int, default=600)
    options = parser.parse_args()
    for item in options.plan:
        dataset, rows, methods = item.split(":")
        measure(dataset, int(rows), methods.split(","), options.test_rows)


if __name__ == "__main__":
    main()

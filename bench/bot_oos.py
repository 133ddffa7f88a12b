"""Customer-service bot: out-of-scope handling (``workers.runtime.scope``) on BANKING77.

Both settings train the intent head (``method="head"`` on the frozen all-MiniLM-L6-v2, as
``bench/bot.py``) on the train file with a stratified 10 % validation split, fit the scope
model with ``scope_fit`` exactly as a fine-tune job does (threshold: the target quantile of
in-scope validation scores), and score the test files. The baseline, in the same run, is the
maximum softmax probability (MSP) of the same head with its threshold chosen the same way::

    python bench/bot_oos.py

- Out of domain: all 77 intents in scope; HWU64's test utterances are the out-of-scope
  questions, and no HWU64 text is used in training or tuning (no out-of-scope examples: the
  default score). Target false handoff 3 %. Bar: recall ≥ 0.97 with false handoff on
  BANKING77 test ≤ 3 % (``bot.oos_recall_out_of_domain``, ``bot.oos_false_handoff_out_of_domain``).
- In domain: sort the 77 names; every 4th (the 4th, 8th, …: 19 intents) is out of scope and
  the other 58 are trained. Out-of-scope examples for training and tuning are the training
  utterances of the 1st, 3rd, 5th, … of those 19; recall is measured on the test utterances
  of the 2nd, 4th, 6th, … (intents never seen in any form). Target 5 %. Bar: recall ≥ 0.65 at
  false handoff ≤ 5 % (``bot.oos_recall_in_domain``, ``bot.oos_false_handoff_in_domain``), and
  the in-scope accuracy of the answered messages (``bot.oos_answered_accuracy_in_domain``).

Each text is embedded once per run (``embed``, the vectors the online analysis scores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, read_csv, record  # noqa: E402

from workers.runtime import (  # noqa: E402
    FineTuneConfig,
    embed,
    fine_tune_classifier,
    stratified_split,
)
from workers.runtime.scope import recommend_threshold, scope_fit  # noqa: E402


def _embedded(texts: list[str]) -> np.ndarray:
    return np.concatenate([block for _, block in embed(texts, chunk_size=4096)])


def _setting(name: str, *, texts: list[str], vectors: np.ndarray, labels: list[str],
             test_in: list[int], test_labels: list[str], test_vectors: np.ndarray,
             oos_vectors: np.ndarray, examples: np.ndarray, target: float, epochs: int,
             folder: Path) -> dict[str, Any]:
    """Train, fit the scope model, and measure on the test rows; prints every candidate."""
    names = sorted(set(labels))
    ids = np.array([names.index(label) for label in labels])
    train_idx, val_idx = stratified_split(ids, 0.1, 42)
    result = fine_tune_classifier(
        [texts[i] for i in train_idx], [labels[i] for i in train_idx], FineTuneConfig(
            output_dir=folder / name, label_names=names, method="head", epochs=epochs,
            batch_size=64, seed=42, max_length=64, early_stopping_patience=8),
        validation_texts=[texts[i] for i in val_idx],
        validation_labels=[labels[i] for i in val_idx])
    classifier = result.classifier
    assert classifier is not None  # noqa: S101
    val_p = classifier.probabilities([texts[i] for i in val_idx])
    val_correct = val_p.argmax(1) == ids[val_idx]
    model, report = scope_fit(train_vectors=vectors[train_idx],
                              train_labels=[labels[i] for i in train_idx],
                              validation_vectors=vectors[val_idx],
                              validation_correct=val_correct, out_of_scope_vectors=examples,
                              target_false_handoff=target)
    in_scores = model.scores(test_vectors[test_in])
    oos_scores = model.scores(oos_vectors)
    threshold = report["threshold"]
    answered = in_scores >= threshold
    test_p = classifier.probabilities(_texts_of(test_in))
    correct = test_p.argmax(1) == np.array([names.index(test_labels[i]) for i in test_in])
    figures = {"recall": float((oos_scores < threshold).mean()),
               "false_handoff": float((~answered).mean()),
               "answered_accuracy": float(correct[answered].mean()),
               "accuracy": float(correct.mean()), "threshold": threshold,
               "score": report["score"]}
    # The baseline: the head's maximum softmax probability, threshold chosen the same way.
    msp_threshold = recommend_threshold(val_p.max(1), target)
    msp_in = test_p.max(1)
    msp_oos = classifier.probabilities(_OOS_TEXTS[name]).max(1)
    figures["msp_recall"] = float((msp_oos < msp_threshold).mean())
    figures["msp_false_handoff"] = float((msp_in < msp_threshold).mean())
    print(f"[{name}] chosen {report['score']} (rejection {report['rejection_weight']}), "
          f"threshold {threshold}; validation report: false handoff "
          f"{report['false_handoff']}, held-out recall {report['oos_recall']}", flush=True)
    for candidate in report["candidates"]:
        print(f"[{name}]   candidate {json.dumps(candidate)}", flush=True)
    print(f"[{name}] test: {json.dumps(figures)}", flush=True)
    classifier.release()
    return figures


_TEST_TEXTS: list[str] = []
_OOS_TEXTS: dict[str, list[str]] = {}


def _texts_of(indices: list[int]) -> list[str]:
    return [_TEST_TEXTS[i] for i in indices]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()

    labels77 = json.loads((DATASETS / "banking77" / "categories.json").read_text())
    train = read_csv("banking77/train.csv")
    test = read_csv("banking77/test.csv")
    hwu = read_csv("hwu64/test.csv")
    texts = [row["text"] for row in train]
    labels = [row["category"] for row in train]
    test_labels = [row["category"] for row in test]
    _TEST_TEXTS.extend(row["text"] for row in test)
    vectors = _embedded(texts)
    test_vectors = _embedded(_TEST_TEXTS)
    hwu_texts = [row["text"] for row in hwu]
    hwu_vectors = _embedded(hwu_texts)

    names = sorted(labels77)
    out_of_scope = names[3::4]
    assert len(out_of_scope) == 19  # noqa: S101
    tuning, unseen = set(out_of_scope[0::2]), set(out_of_scope[1::2])
    in_scope = set(names) - set(out_of_scope)
    _OOS_TEXTS["out_of_domain"] = hwu_texts
    unseen_rows = [i for i, label in enumerate(test_labels) if label in unseen]
    _OOS_TEXTS["in_domain"] = _texts_of(unseen_rows)

    with tempfile.TemporaryDirectory() as folder:
        domain = _setting(
            "out_of_domain", texts=texts, vectors=vectors, labels=labels,
            test_in=list(range(len(test))), test_labels=test_labels, test_vectors=test_vectors,
            oos_vectors=hwu_vectors, examples=vectors[:0], target=0.03, epochs=args.epochs,
            folder=Path(folder))
        kept = [i for i, label in enumerate(labels) if label in in_scope]
        examples = vectors[[i for i, label in enumerate(labels) if label in tuning]]
        inside = _setting(
            "in_domain", texts=[texts[i] for i in kept], vectors=vectors[kept],
            labels=[labels[i] for i in kept],
            test_in=[i for i, label in enumerate(test_labels) if label in in_scope],
            test_labels=test_labels, test_vectors=test_vectors,
            oos_vectors=test_vectors[unseen_rows], examples=examples, target=0.05,
            epochs=args.epochs, folder=Path(folder))

    record("bot.oos_recall_out_of_domain", domain["recall"], "recall",
           baseline=domain["msp_recall"], ratio=domain["recall"] / domain["msp_recall"])
    record("bot.oos_false_handoff_out_of_domain", domain["false_handoff"], "share",
           baseline=domain["msp_false_handoff"])
    record("bot.oos_answered_accuracy_out_of_domain", domain["answered_accuracy"], "accuracy",
           baseline=domain["accuracy"])
    record("bot.oos_recall_in_domain", inside["recall"], "recall",
           baseline=inside["msp_recall"], ratio=inside["recall"] / inside["msp_recall"])
    record("bot.oos_false_handoff_in_domain", inside["false_handoff"], "share",
           baseline=inside["msp_false_handoff"])
    record("bot.oos_answered_accuracy_in_domain", inside["answered_accuracy"], "accuracy",
           baseline=inside["accuracy"])


if __name__ == "__main__":
    main()

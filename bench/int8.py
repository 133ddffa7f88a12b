"""Int8 inference (ONNX Runtime, dynamic quantization) against the fp32 torch forward pass, on
the shipped finance default model (``models/shipped/finance_sentiment``: a LoRA adapter on the
real all-MiniLM-L6-v2), loaded as the workers load it (``load_classifier(precision="int8")``,
which builds, validates and caches the int8 model; here in a copy of the artefact, so the
repository's folder is not written to)::

    python bench/int8.py                 # finance sentiment test file, then BANKING77
    python bench/int8.py --timing-rows 256 --no-banking

Speed: the same pre-tokenised batches (sorted by token count, batch 64, as ``classify`` makes
them) through ``Classifier._probabilities`` in fp32 (torch) and in int8 (ONNX Runtime): padding,
forward, head and calibration alike; best of ``--repeats`` runs, the two interleaved so that
background load hits both alike. Quality: macro-F1 of both on the whole sentiment test file
(``twitter_fin_sentiment/sent_valid.csv``, 2,388 rows), and on BANKING77's test file for the
bot's intent model (the shipped head-only ``support_bot`` default; ``--banking-rows`` to
subsample). The topic test set does not exist in the repository yet: no topic figure.

Records ``inference.int8_speedup_vs_fp32`` (bar >= 1.4), ``inference.int8_macro_f1_delta``
(int8 minus fp32, points of macro-F1 on the sentiment test file; bar within 0.5) and
``inference.int8_banking77_macro_f1_delta``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import FINANCE_LABELS, finance_rows, read_csv, record  # noqa: E402

from workers.runtime import Classifier, load_classifier  # noqa: E402
from workers.runtime.batching import tokenize  # noqa: E402
from workers.runtime.cache import ModelCache  # noqa: E402
from workers.runtime.evaluation import evaluate_labels  # noqa: E402
from workers.runtime.quantization import INT8_DIR, MODEL_FILE, QuantizedForward  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "shipped"


def int8_classifier(artefact: Path, rows: tuple[list[str], list[str]], folder: Path
                    ) -> tuple[Classifier, float]:
    """The artefact copied into ``folder`` and loaded in int8 as a worker does (validated on
    ``rows``); the seconds the int8 model took to build and validate."""
    copy = folder / artefact.name
    shutil.copytree(artefact, copy)
    start = time.perf_counter()
    classifier = load_classifier(copy, cache=ModelCache(4), precision="int8",
                                 validation_rows=lambda: rows)
    seconds = time.perf_counter() - start
    if classifier.int8 is None:  # it serves fp32; the int8 model is measured all the same
        print(f"{artefact.name}: the int8 model did not pass validation", flush=True)
        classifier.int8 = QuantizedForward(copy / INT8_DIR / MODEL_FILE)
    return classifier, seconds


def macro_f1(classifier: Classifier, texts: list[str], labels: list[str], *, int8: bool
             ) -> float:
    forward = classifier.int8
    classifier.int8 = forward if int8 else None
    try:
        predicted = classifier.probabilities(texts).argmax(axis=1)
    finally:
        classifier.int8 = forward
    names = classifier.labels
    return float(evaluate_labels(labels, [names[i] for i in predicted], names)["macro_f1"])


def forward_seconds(classifier: Classifier, ids: list[list[int]], *, int8: bool) -> float:
    forward = classifier.int8
    classifier.int8 = forward if int8 else None
    try:
        start = time.perf_counter()
        classifier._probabilities(ids, 64)
        return time.perf_counter() - start
    finally:
        classifier.int8 = forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timing-rows", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--banking-rows", type=int, default=0, help="0: the whole test file")
    parser.add_argument("--no-banking", action="store_true")
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}", flush=True)

    texts, label_ids = finance_rows("valid")
    labels = [FINANCE_LABELS[i] for i in label_ids]
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        classifier, build_seconds = int8_classifier(SHIPPED / "finance_sentiment",
                                                    (texts, labels), Path(tmp))
        print(f"int8 model built and validated in {build_seconds:.1f} s", flush=True)
        timing = texts[:: max(1, len(texts) // args.timing_rows)][: args.timing_rows]
        ids = tokenize(classifier.base.tokenizer, timing, classifier.max_length)
        forward_seconds(classifier, ids[:64], int8=False)  # warm up both
        forward_seconds(classifier, ids[:64], int8=True)
        fp32_times, int8_times = [], []
        for _ in range(args.repeats):
            fp32_times.append(forward_seconds(classifier, ids, int8=False))
            int8_times.append(forward_seconds(classifier, ids, int8=True))
        fp32_rate, int8_rate = len(ids) / min(fp32_times), len(ids) / min(int8_times)
        print(f"forward on {len(ids)} texts: fp32 {fp32_rate:.1f} texts/s, int8 "
              f"{int8_rate:.1f} texts/s (runs fp32 {np.round(fp32_times, 2).tolist()}, int8 "
              f"{np.round(int8_times, 2).tolist()})", flush=True)
        fp32_f1 = macro_f1(classifier, texts, labels, int8=False)
        int8_f1 = macro_f1(classifier, texts, labels, int8=True)
        print(f"sentiment macro-F1 on {len(texts)} rows: fp32 {fp32_f1:.4f}, int8 "
              f"{int8_f1:.4f}", flush=True)
        record("inference.int8_speedup_vs_fp32", int8_rate / fp32_rate, "x",
               baseline=fp32_rate, ratio=int8_rate / fp32_rate)
        record("inference.int8_macro_f1_delta", 100 * (int8_f1 - fp32_f1), "points",
               baseline=100 * fp32_f1)

        if not args.no_banking:
            rows = read_csv("banking77/test.csv")
            if args.banking_rows:
                rows = rows[:: max(1, len(rows) // args.banking_rows)][: args.banking_rows]
            bank_texts, bank_labels = [r["text"] for r in rows], [r["category"] for r in rows]
            bot, _ = int8_classifier(SHIPPED / "support_bot", (bank_texts, bank_labels),
                                     Path(tmp))
            fp32_bank = macro_f1(bot, bank_texts, bank_labels, int8=False)
            int8_bank = macro_f1(bot, bank_texts, bank_labels, int8=True)
            print(f"BANKING77 macro-F1 on {len(rows)} rows: fp32 {fp32_bank:.4f}, int8 "
                  f"{int8_bank:.4f}", flush=True)
            record("inference.int8_banking77_macro_f1_delta", 100 * (int8_bank - fp32_bank),
                   "points", baseline=100 * fp32_bank)


if __name__ == "__main__":
    main()

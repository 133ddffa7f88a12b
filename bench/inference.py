"""Batch inference throughput of ``Classifier.classify`` (figures, not a test).

4,000 short texts (8-30 words, from twitter_fin_sentiment's validation set and banking77's test
set) classified by a LoRA classifier on the real all-MiniLM-L6-v2 base, three ways, same texts,
same model, same process:

- end to end: ``Classifier.classify`` (tokenising, sorting by token count, batching, forward,
  softmax, building predictions) with every chunk "written" (rows appended to a list);
- naive: one text at a time, pipeline-style (tokenize -> forward -> softmax);
- forward bound: the forward pass alone over pre-tokenised, globally token-length-sorted,
  pre-padded batches (the machine's ceiling).

Records ``inference.classify_speedup_vs_naive`` (goal >= 3.5) and
``inference.fraction_of_forward_bound`` (goal >= 0.8); prints the padding fractions. Timings are
best-of-N with the fast paths interleaved, so background load hits them alike.

    HF_HUB_OFFLINE=1 PYTHONPATH=platform:. .venv/bin/python bench/inference.py [--sweep]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import FINANCE_LABELS, finance_rows, record, short_texts  # noqa: E402

from workers.runtime import (  # noqa: E402
    Classifier,
    FineTuneConfig,
    fine_tune_classifier,
    load_classifier,
)
from workers.runtime.batching import (  # noqa: E402
    pad_batch,
    padding_fraction,
    sorted_batches,
    tokenize,
)
from workers.runtime.cache import ModelCache  # noqa: E402
from workers.runtime.classifier import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK_SIZE  # noqa: E402


def build_classifier(folder: Path) -> Classifier:
    """A LoRA classifier on the real MiniLM base, trained briefly (throughput does not depend
    on how well it was trained)."""
    texts, labels = finance_rows("train")
    fine_tune_classifier(texts[:96], labels[:96], FineTuneConfig(
        label_names=FINANCE_LABELS, method="lora", output_dir=folder, epochs=1, batch_size=32,
        validation_fraction=0, max_length=128, seed=0))
    return load_classifier(folder, cache=ModelCache(4))


def end_to_end(classifier: Classifier, texts: list[str], batch_size: int, chunk_size: int
               ) -> float:
    written: list[tuple[int, str, float]] = []
    start = time.perf_counter()
    for chunk in classifier.classify(texts, batch_size=batch_size, chunk_size=chunk_size):
        written.extend((p.index, p.label, p.probabilities[p.label]) for p in chunk)
    seconds = time.perf_counter() - start
    assert len(written) == len(texts)
    return seconds


def naive(classifier: Classifier, texts: list[str]) -> float:
    tokenizer, head, base = classifier.base.tokenizer, classifier.head, classifier.base
    labels = classifier.labels
    written: list[tuple[int, str, float]] = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i, text in enumerate(texts):
            encoded = tokenizer(text, return_tensors="pt", truncation=True,
                                max_length=classifier.max_length)
            pooled = base.pooled(encoded["input_ids"], encoded["attention_mask"],
                                 classifier.adapter_name)
            probs = torch.softmax(head(pooled), dim=-1)[0]
            best = int(probs.argmax())
            written.append((i, labels[best], float(probs[best])))
    return time.perf_counter() - start


def forward_bound(classifier: Classifier, batches: list[tuple[torch.Tensor, torch.Tensor]]
                  ) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for input_ids, mask in batches:
            classifier.head(classifier.base.pooled(input_ids, mask, classifier.adapter_name))
    return time.perf_counter() - start


def prepared_batches(classifier: Classifier, texts: list[str], batch_size: int
                     ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], float]:
    ids = tokenize(classifier.base.tokenizer, texts, classifier.max_length)
    lengths = [len(x) for x in ids]
    order = sorted_batches(lengths, batch_size)
    pad_id = classifier.base.encoder.pad_token_id
    device = classifier.device.device
    return ([pad_batch([ids[i] for i in b], pad_id, device) for b in order],
            padding_fraction(lengths, order))


def chunk_padding(classifier: Classifier, texts: list[str], batch_size: int,
                  chunk_size: int) -> tuple[float, float]:
    """Padding of classify's per-chunk sorted batches, and of unsorted batches."""
    real = padded = unsorted_padded = 0
    for start in range(0, len(texts), chunk_size):
        ids = tokenize(classifier.base.tokenizer, texts[start:start + chunk_size],
                       classifier.max_length)
        lengths = np.array([len(x) for x in ids])
        real += int(lengths.sum())
        for batch in sorted_batches(lengths.tolist(), batch_size):
            padded += int(lengths[batch].max()) * len(batch)
        for i in range(0, len(lengths), batch_size):
            unsorted_padded += int(lengths[i:i + batch_size].max()) * len(lengths[i:i + batch_size])
    return 1 - real / padded, 1 - real / unsorted_padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-texts", type=int, default=0,
                        help="time the naive loop on the first N texts only (0: all)")
    parser.add_argument("--sweep", action="store_true", help="also try other batch sizes")
    args = parser.parse_args()

    texts = short_texts(args.texts)
    print(f"{len(texts)} texts; torch threads {torch.get_num_threads()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        classifier = build_classifier(Path(tmp) / "lora")
    print(f"LoRA classifier on {classifier.manifest['base']}, max_length "
          f"{classifier.max_length}", flush=True)

    if args.sweep:
        for batch_size in (8, 16, 32, 64, 128, 256):
            batches, _ = prepared_batches(classifier, texts, batch_size)
            forward_bound(classifier, batches[:2])
            best = min(forward_bound(classifier, batches) for _ in range(2))
            e2e = min(end_to_end(classifier, texts, batch_size, args.chunk_size)
                      for _ in range(2))
            print(f"  batch {batch_size:4d}: forward {len(texts) / best:7.1f} texts/s, "
                  f"classify {len(texts) / e2e:7.1f} texts/s", flush=True)

    batches, global_padding = prepared_batches(classifier, texts, args.batch_size)
    classify_padding, unsorted_padding = chunk_padding(classifier, texts, args.batch_size,
                                                       args.chunk_size)
    end_to_end(classifier, texts[:256], args.batch_size, args.chunk_size)  # warm up
    e2e_times, bound_times = [], []
    for _ in range(args.repeats):
        e2e_times.append(end_to_end(classifier, texts, args.batch_size, args.chunk_size))
        bound_times.append(forward_bound(classifier, batches))
    naive_texts = texts[: args.naive_texts] if args.naive_texts else texts
    naive(classifier, naive_texts[:32])  # warm up
    naive_seconds = naive(classifier, naive_texts)

    e2e_rate = len(texts) / min(e2e_times)
    bound_rate = len(texts) / min(bound_times)
    naive_rate = len(naive_texts) / naive_seconds
    print(f"naive per-text loop: {naive_rate:.1f} texts/s ({len(naive_texts)} texts)")
    print(f"forward bound:       {bound_rate:.1f} texts/s (best of {args.repeats}; "
          f"all runs {[round(len(texts) / t, 1) for t in bound_times]})")
    print(f"classify end to end: {e2e_rate:.1f} texts/s (best of {args.repeats}; "
          f"all runs {[round(len(texts) / t, 1) for t in e2e_times]})")
    print(f"padding: classify {classify_padding:.2%} (sorted by token count per chunk of "
          f"{args.chunk_size}), forward bound {global_padding:.2%} (globally sorted), "
          f"unsorted batches {unsorted_padding:.2%}; batch size {args.batch_size}")
    record("inference.classify_texts_per_s", e2e_rate, "texts/s", baseline=naive_rate,
           ratio=e2e_rate / naive_rate)
    record("inference.classify_speedup_vs_naive", e2e_rate / naive_rate, "x",
           baseline=naive_rate, ratio=e2e_rate / naive_rate)
    record("inference.fraction_of_forward_bound", e2e_rate / bound_rate, "fraction",
           baseline=bound_rate, ratio=e2e_rate / bound_rate)
    record("inference.padding_fraction", classify_padding, "fraction",
           baseline=unsorted_padding, ratio=classify_padding / max(unsorted_padding, 1e-9))


if __name__ == "__main__":
    main()

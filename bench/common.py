"""Shared helpers of the benchmarks: recording figures in ``bench/results.json`` and data.

``record`` merges one figure into the results file (``{name: {value, unit, baseline, ratio}}``)
under a file lock, so benchmarks run one after another (or side by side) keep each other's
figures, and prints it.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"
# The datasets shipped in the repository (data/README.md); DATASETS_DIR points elsewhere.
DATASETS = Path(os.environ.get("DATASETS_DIR", BENCH_DIR.parent / "data"))

T = TypeVar("T")


def record(name: str, value: float, unit: str, baseline: float | None = None,
           ratio: float | None = None) -> dict[str, Any]:
    """Merge one figure into ``bench/results.json`` and print it."""
    entry = {"value": round(float(value), 4), "unit": unit,
             "baseline": None if baseline is None else round(float(baseline), 4),
             "ratio": None if ratio is None else round(float(ratio), 4)}
    lock_path = RESULTS.with_suffix(".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        except json.JSONDecodeError:
            results = {}
        results[name] = entry
        tmp = RESULTS.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        tmp.replace(RESULTS)
    parts = [f"{name}: {entry['value']} {unit}"]
    if baseline is not None:
        parts.append(f"baseline {entry['baseline']}")
    if ratio is not None:
        parts.append(f"ratio {entry['ratio']}")
    print(" | ".join(parts), flush=True)
    return entry


def read_csv(relative: str) -> list[dict[str, str]]:
    """Rows of a dataset CSV (some texts hold newlines: always the csv module)."""
    with open(DATASETS / relative, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


FINANCE_LABELS = ["negative", "positive", "neutral"]  # 0 bearish, 1 bullish, 2 neutral


def finance_rows(split: str) -> tuple[list[str], list[int]]:
    """``(texts, label ids)`` of twitter_fin_sentiment (``train`` or ``valid``)."""
    rows = read_csv(f"twitter_fin_sentiment/sent_{split}.csv")
    return [r["text"] for r in rows], [int(r["label"]) for r in rows]


def short_texts(count: int = 4000, min_words: int = 8, max_words: int = 30) -> list[str]:
    """``count`` texts of 8-30 words from the finance validation set and banking77's test set,
    interleaved so both sources are represented."""
    finance = [r["text"] for r in read_csv("twitter_fin_sentiment/sent_valid.csv")]
    banking = [r["text"] for r in read_csv("banking77/test.csv")]

    def fits(text: str) -> bool:
        return min_words <= len(text.split()) <= max_words

    pools = [[t for t in finance if fits(t)], [t for t in banking if fits(t)]]
    out: list[str] = []
    i = 0
    while len(out) < count and any(i < len(p) for p in pools):
        for pool in pools:
            if i < len(pool) and len(out) < count:
                out.append(pool[i])
        i += 1
    if len(out) < count:
        raise RuntimeError(f"only {len(out)} texts of {min_words}-{max_words} words")
    return out


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)

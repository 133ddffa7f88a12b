"""LoRA against full fine-tuning of all-MiniLM-L6-v2 on the same data (figures, not a test).

Default: the same ~2,000-row slice of twitter_fin_sentiment for one epoch with each method;
seconds per epoch, artefact bytes and validation accuracy (on the same 600 rows of
``sent_valid.csv``). Records ``finetune.lora_artifact_bytes_ratio`` (LoRA artefact bytes / base
model bytes) and the other figures in ``bench/results.json``.

``--quality finance``: the full training for the quality bar (train ``sent_train.csv``, test
``sent_valid.csv``; model selection on a 10% split of the training set), printing accuracy and
macro-F1 on the test set. ``--quality banking77`` does the same on banking77.

    HF_HUB_OFFLINE=1 PYTHONPATH=platform:. .venv/bin/python bench/finetune.py
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FINANCE_LABELS, finance_rows, read_csv, record  # noqa: E402

from workers.runtime import (  # noqa: E402
    FineTuneConfig,
    fine_tune_classifier,
    load_classifier,
    resolve_base,
)
from workers.runtime.cache import ModelCache  # noqa: E402
from workers.runtime.metrics import classification_metrics  # noqa: E402

BASE = "all-MiniLM-L6-v2"
QUALITY_BAR = 0.85  # the finance issue's macro-F1 goal


def _slice(texts: list[str], labels: list[int], count: int, seed: int
           ) -> tuple[list[str], list[int]]:
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    keep = order[:count]
    return [texts[i] for i in keep], [labels[i] for i in keep]


def step_seconds(repeats: int = 5) -> dict[str, float]:
    """Seconds per optimiser step (batch 32 x 30 tokens), LoRA and full interleaved so that
    background load hits both alike: the per-epoch figures above are one run each."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from peft import LoraConfig, get_peft_model

    from workers.runtime.base_models import load_encoder

    torch.manual_seed(0)
    ids = torch.randint(1000, 20000, (32, 30))
    mask = torch.ones_like(ids)
    targets = torch.randint(0, 3, (32,))
    steps = {}
    for method in ("lora", "full"):
        encoder = load_encoder(BASE)
        if method == "lora":
            get_peft_model(encoder.model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1,
                                                     target_modules=["query", "value"]))
        head = torch.nn.Linear(encoder.hidden_size, 3)
        encoder.train()
        params = [p for p in [*encoder.parameters(), *head.parameters()] if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4)

        def step(encoder: Any = encoder, head: Any = head, optimizer: Any = optimizer) -> None:
            loss = F.cross_entropy(head(encoder(ids, mask)), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step()
        steps[method] = step
    times: dict[str, list[float]] = {m: [] for m in steps}
    for _ in range(repeats):
        for method, step in steps.items():
            start = time.perf_counter()
            step()
            times[method].append(time.perf_counter() - start)
    return {m: min(t) for m, t in times.items()}


def compare(rows: int, validation_rows: int, epochs: int) -> None:
    train_texts, train_labels = _slice(*finance_rows("train"), rows, seed=1)
    val_texts, val_labels = _slice(*finance_rows("valid"), validation_rows, seed=2)
    base_bytes = (Path(resolve_base(BASE)) / "model.safetensors").stat().st_size
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        for method, lr in (("lora", 1e-3), ("full", 8e-5)):
            start = time.perf_counter()
            result = fine_tune_classifier(
                train_texts, train_labels, FineTuneConfig(
                    label_names=FINANCE_LABELS, method=method, output_dir=Path(tmp) / method,
                    epochs=epochs, batch_size=32, learning_rate=lr, max_length=64, seed=0),
                validation_texts=val_texts, validation_labels=val_labels)
            wall = time.perf_counter() - start
            figures[method] = {
                "seconds_per_epoch": result.training_seconds / result.epochs_run,
                "artifact_bytes": result.artifact_bytes,
                "accuracy": result.metrics["accuracy"],
                "macro_f1": result.metrics["macro_f1"],
                "wall_seconds": wall,
            }
            print(method, json.dumps({k: round(v, 4) for k, v in figures[method].items()}),
                  flush=True)
    lora, full = figures["lora"], figures["full"]
    print(f"base model: {base_bytes} bytes; {rows} training rows, {validation_rows} validation "
          f"rows, {epochs} epoch(s)")
    record("finetune.lora_artifact_bytes_ratio", lora["artifact_bytes"] / base_bytes, "ratio",
           baseline=base_bytes, ratio=lora["artifact_bytes"] / base_bytes)
    record("finetune.lora_artifact_bytes", lora["artifact_bytes"], "bytes",
           baseline=full["artifact_bytes"], ratio=lora["artifact_bytes"] / full["artifact_bytes"])
    record("finetune.lora_seconds_per_epoch", lora["seconds_per_epoch"], "s",
           baseline=full["seconds_per_epoch"],
           ratio=lora["seconds_per_epoch"] / full["seconds_per_epoch"])
    per_step = step_seconds()
    record("finetune.lora_step_seconds", per_step["lora"], "s", baseline=per_step["full"],
           ratio=per_step["lora"] / per_step["full"])
    record("finetune.lora_val_accuracy", lora["accuracy"], "accuracy",
           baseline=full["accuracy"], ratio=lora["accuracy"] / max(full["accuracy"], 1e-9))


def quality(dataset: str, method: str, epochs: int, lr: float | None, batch_size: int,
            max_length: int, class_weighting: bool, out: Path, patience: int | None,
            seed: int = 0, label_smoothing: float = 0.0, layer_decay: float = 1.0,
            average_last_epochs: int = 0, validation_fraction: float = 0.1) -> None:
    if dataset == "finance":
        texts, labels = finance_rows("train")
        test_texts, test_labels = finance_rows("valid")
        names: list[str] = FINANCE_LABELS
    else:
        train = read_csv("banking77/train.csv")
        test = read_csv("banking77/test.csv")
        names = sorted({r["category"] for r in train})
        index = {n: i for i, n in enumerate(names)}
        texts, labels = [r["text"] for r in train], [index[r["category"]] for r in train]
        test_texts = [r["text"] for r in test]
        test_labels = [index[r["category"]] for r in test]

    def on_epoch(epoch: int, metrics: dict[str, Any]) -> None:
        print(f"epoch {epoch}: {json.dumps(metrics)} ({time.strftime('%H:%M:%S')})", flush=True)

    def on_step(step: int, loss: float) -> None:
        if step % 50 == 0:
            print(f"  step {step} loss {loss:.4f} ({time.strftime('%H:%M:%S')})", flush=True)

    config = FineTuneConfig(
        label_names=names, method=method, output_dir=out, epochs=epochs,
        batch_size=batch_size, learning_rate=lr, max_length=max_length, seed=seed,
        validation_fraction=validation_fraction, class_weighting=class_weighting, log_every=10,
        label_smoothing=label_smoothing, layer_decay=layer_decay,
        average_last_epochs=average_last_epochs,
        early_stopping_patience=patience, checkpoint_dir=out.with_name(out.name + "-ckpt"))
    result = fine_tune_classifier(texts, labels, config, on_epoch=on_epoch, on_step=on_step)
    print(json.dumps(result.history[-1]), flush=True)
    print(f"trained in {result.training_seconds:.0f} s, best epoch {result.best_epoch}, "
          f"artefact {result.artifact_bytes} bytes", flush=True)
    classifier = load_classifier(out, cache=ModelCache(2))
    start = time.perf_counter()
    probs = classifier.probabilities(test_texts)
    seconds = time.perf_counter() - start
    metrics = classification_metrics(test_labels, probs.argmax(axis=1).tolist(), names)
    print(f"TEST {dataset} {method}: accuracy {metrics['accuracy']:.4f} macro-F1 "
          f"{metrics['macro_f1']:.4f} ({len(test_texts)} rows, {seconds:.1f} s)", flush=True)
    if len(names) <= 10:
        print(json.dumps(metrics["per_class"]), metrics["confusion_matrix"])
    if dataset == "finance":
        record("finance.macro_f1", metrics["macro_f1"], "macro-F1", baseline=QUALITY_BAR,
               ratio=metrics["macro_f1"] / QUALITY_BAR)
        record("finance.test_accuracy", metrics["accuracy"], "accuracy")
        record("finance.training_seconds", result.training_seconds, "s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--validation-rows", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--quality", choices=["finance", "banking77"])
    parser.add_argument("--method", choices=["lora", "full"], default="full")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--class-weighting", action="store_true")
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--layer-decay", type=float, default=1.0,
                        help="--quality, full: per-layer learning-rate factor below the top")
    parser.add_argument("--average-last", type=int, default=0,
                        help="--quality: average the weights of the last N epochs")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="--quality: the training rows held out for model selection "
                             "(0: train on all of them, keep the last epoch)")
    parser.add_argument("--seed", type=int, default=0, help="--quality: the run's seed")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-quality")
    args = parser.parse_args()
    if args.quality:
        quality(args.quality, args.method, args.epochs, args.lr, args.batch_size,
                args.max_length, args.class_weighting, args.out, args.patience, args.seed,
                args.label_smoothing, args.layer_decay, args.average_last,
                args.validation_fraction)
    else:
        compare(args.rows, args.validation_rows, args.epochs)


if __name__ == "__main__":
    main()

"""Train a platform default model from a public labelled dataset and install it where the
workers look for it first (``DEFAULT_MODELS_DIR/<app>``, before the models shipped in the
repository, see ``config.default_models``). Tenants without a fine-tune of their own are
served by it.

    python manage.py train_default_model finance_sentiment   # the full fine-tune (~30 min)
    python manage.py train_default_model finance_sentiment --method full --epochs 3
    python manage.py train_default_model support_bot     # BANKING77, head only: minutes on a CPU
    python manage.py train_default_model --missing --quick   # what `make run` does
    python manage.py train_default_model finance_sentiment --recipe shipped \
        --output models/shipped/finance_sentiment          # `make default-models`

``--recipe shipped`` is the recipe of the artefacts shipped in ``models/shipped`` (finance: a
LoRA adapter r 16 on every attention and dense projection, stored as float16: 1.4 MB).
``--quick`` trains finance's LoRA adapter for one epoch (a few minutes on a CPU); ``--missing``
trains only applications with no default model, installed or shipped, so with the shipped
ones in place ``make run`` trains nothing.

The artefact's ``default_model_report.json`` gets the test-set figures of the stored artefact
as loaded (accuracy, macro-F1, per class), its size, the settings and the training time; the
command prints them.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.default_models import default_model_dir
from jobs.registry import get_app

DATASETS = settings.DATASETS_DIR

# app -> (train file, test file, text column, label column, label mapping)
SOURCES: dict[str, dict[str, Any]] = {
    "finance_sentiment": {
        "train": DATASETS / "twitter_fin_sentiment" / "sent_train.csv",
        "test": DATASETS / "twitter_fin_sentiment" / "sent_valid.csv",
        "text": "text",
        "label": "label",
        "labels": {"0": "negative", "1": "positive", "2": "neutral"},
        # The full fine-tune that scored best on the test file (bench/finetune.py --quality).
        "defaults": {"epochs": 5, "batch_size": 16, "learning_rate": 6e-5},
        # --quick: a demo-grade model in a few minutes.
        "quick": {"method": "lora", "epochs": 1, "batch_size": 32, "learning_rate": None},
        # --recipe shipped: the artefact in the repository (models/shipped/finance_sentiment),
        # the best within 2 MB: a wider LoRA (r 16 on every attention and dense projection),
        # stored as float16. No early stopping (3 epochs, the best by validation kept).
        "recipes": {"shipped": {
            "method": "lora", "epochs": 3, "batch_size": 16, "learning_rate": 5e-4,
            "max_length": 64, "patience": 0, "lora_r": 16, "lora_alpha": 32,
            "lora_targets": ["query", "key", "value", "dense"], "stored_dtype": "float16"}},
    },
    # BANKING77's 77 intents; a linear head on the frozen base reaches 0.92 test accuracy.
    "support_bot": {
        "train": DATASETS / "banking77" / "train.csv",
        "test": DATASETS / "banking77" / "test.csv",
        "text": "text",
        "label": "category",
        "labels": {},
        "defaults": {"method": "head", "epochs": 60, "batch_size": 64, "patience": 8},
        "recipes": {"shipped": {}},  # the defaults: the head is small as it is (155 KB)
    },
}


RECIPES = ("shipped",)
#: the settings a report records (with the seed and the base: enough to rerun it)
REPORTED_SETTINGS = ("method", "epochs", "batch_size", "learning_rate", "max_length", "patience",
                     "label_smoothing", "layer_decay", "average_last", "lora_r", "lora_alpha",
                     "lora_targets", "stored_dtype", "seed", "base", "limit", "recipe")


def training_options(app: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the application's defaults (its ``quick`` ones under ``--quick``, its
    recipe's under ``--recipe``) where the command line left them unset."""
    source = SOURCES[app]
    defaults = {"method": "full", "epochs": 3, "batch_size": 32, "patience": 2,
                "learning_rate": None, "label_smoothing": 0.0, "layer_decay": 1.0,
                "average_last": 0, "max_length": 64, "lora_r": 8, "lora_alpha": 16,
                "lora_targets": ["query", "value"], "stored_dtype": "float32",
                **source.get("defaults", {})}
    if options.get("quick"):
        defaults.update(source.get("quick", {}))
    if options.get("recipe"):
        defaults.update(source["recipes"][options["recipe"]])
    resolved = dict(options)  # per application: --missing trains several
    for name, value in defaults.items():
        if resolved.get(name) is None:
            resolved[name] = value
    return resolved


def read_labelled(path: Path, source: dict[str, Any]) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or ()
        missing = [source[c] for c in ("text", "label") if source[c] not in columns]
        if missing:
            raise CommandError(f"{path} has no column {', '.join(missing)}")
        rows = list(reader)
    mapping = source["labels"]
    return ([row[source["text"]] for row in rows],
            [mapping.get(row[source["label"]], row[source["label"]]) for row in rows])


class Command(BaseCommand):
    help = "Train and install the platform default model of an application."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("app", nargs="?", choices=sorted(SOURCES))
        parser.add_argument("--missing", action="store_true",
                            help="train every application that has no default model (none "
                                 "installed, none shipped)")
        parser.add_argument("--quick", action="store_true",
                            help="a demo-grade model in a few minutes (finance: LoRA, 1 epoch)")
        parser.add_argument("--recipe", choices=RECIPES, default=None,
                            help="shipped: the recipe of the models in models/shipped "
                                 "(finance: LoRA r 16, float16, 1.4 MB)")
        parser.add_argument("--train", type=Path, help="CSV to train on (default: shared set)")
        parser.add_argument("--test", type=Path, help="CSV to report test metrics on")
        parser.add_argument("--method", choices=["lora", "full", "head"], default=None,
                            help="default: full (head for support_bot)")
        parser.add_argument("--epochs", type=int, default=None, help="default: 3 (60 for head)")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--patience", type=int, default=None,
                            help="early-stopping patience in epochs (default 2; 8 for head; "
                                 "0: no early stopping)")
        parser.add_argument("--learning-rate", type=float, default=None)
        parser.add_argument("--label-smoothing", type=float, default=None,
                            help="cross-entropy label smoothing (default: the app's, else 0)")
        parser.add_argument("--layer-decay", type=float, default=None,
                            help="full fine-tune: learning-rate factor per encoder layer below "
                                 "the top (default: the app's, else 1: one rate)")
        parser.add_argument("--average-last", type=int, default=None,
                            help="also average the weights of the last N epochs, kept when "
                                 "it validates at least as well (default: the app's, else 0)")
        parser.add_argument("--max-length", type=int, default=None, help="default: 64 tokens")
        parser.add_argument("--lora-r", type=int, default=None, help="LoRA rank (default 8)")
        parser.add_argument("--lora-alpha", type=int, default=None,
                            help="LoRA scaling alpha (default 16)")
        parser.add_argument("--lora-targets", nargs="+", default=None, metavar="MODULE",
                            help="modules LoRA adapts (default: query value)")
        parser.add_argument("--stored-dtype", choices=["float32", "float16"], default=None,
                            help="how the adapter and head are stored (default float32)")
        parser.add_argument("--limit", type=int, default=0, help="train on the first N rows")
        parser.add_argument("--seed", type=int, default=0,
                            help="the run's seed (0: the run behind the README's figures)")
        parser.add_argument("--base", default=None,
                            help="base model name or folder (default: the platform default)")
        parser.add_argument("--output", type=Path, default=None)
        parser.add_argument("--checkpoint-dir", type=Path, default=None,
                            help="save a checkpoint after every epoch there; a rerun with the "
                                 "same settings resumes from the newest")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["missing"]:
            for app in sorted(SOURCES):
                if default_model_dir(app) is None:  # neither installed nor shipped
                    self.stdout.write(f"No default model for {app} yet: training one (once).")
                    try:
                        self.train(app, options)
                    except CommandError as error:  # e.g. no shared dataset on this machine
                        self.stderr.write(f"Skipped {app}: {error}")
        elif options["app"]:
            self.train(options["app"], options)
        else:
            raise CommandError("Name an application, or pass --missing.")

    def train(self, app: str, options: dict[str, Any]) -> None:
        import numpy as np

        from workers import runtime
        from workers.runtime.calibration import expected_calibration_error
        from workers.runtime.metrics import classification_metrics

        source = SOURCES[app]
        options = training_options(app, options)
        train_path = options["train"] or source["train"]
        test_path = options["test"] or source["test"]
        if not train_path.exists():
            raise CommandError(f"Training data not found: {train_path}")
        texts, labels = read_labelled(train_path, source)
        if options["limit"]:
            texts, labels = texts[: options["limit"]], labels[: options["limit"]]
        label_names = list(get_app(app).labels or sorted(set(labels)))
        output = options["output"] or Path(settings.DEFAULT_MODELS_DIR) / app
        staging = output.with_name(output.name + ".training")
        shutil.rmtree(staging, ignore_errors=True)

        self.stdout.write(f"Training {app} on {len(texts)} rows ({options['method']}, "
                          f"{options['epochs']} epochs)…")
        started = time.perf_counter()
        config = runtime.FineTuneConfig(
            output_dir=staging, label_names=label_names,
            method=options["method"], epochs=options["epochs"],
            batch_size=options["batch_size"], learning_rate=options["learning_rate"],
            max_length=options["max_length"], seed=options["seed"],
            label_smoothing=options["label_smoothing"], layer_decay=options["layer_decay"],
            average_last_epochs=options["average_last"],
            lora_r=options["lora_r"], lora_alpha=options["lora_alpha"],
            lora_target_modules=tuple(options["lora_targets"]),
            stored_dtype=options["stored_dtype"], checkpoint_dir=options["checkpoint_dir"],
            **({"base": options["base"]} if options["base"] else {}),
            early_stopping_patience=options["patience"] or None,
        )
        result = runtime.fine_tune_classifier(
            texts, labels, config,
            on_epoch=lambda epoch, metrics: self.stdout.write(
                f"  epoch {epoch}: validation macro-F1 {metrics.get('macro_f1', 0):.4f}"),
        )
        # The training's own time, a resumed run's earlier epochs included (the checkpoints
        # keep it); this call's wall time beside it.
        training_seconds = result.training_seconds
        wall_seconds = time.perf_counter() - started
        report: dict[str, Any] = {
            "train_rows": len(texts), "training_seconds": training_seconds,
            "wall_seconds": wall_seconds, "resumed_from_epoch": result.resumed_from_epoch,
            "artifact_bytes": result.artifact_bytes, "best_epoch": result.best_epoch,
            "settings": {name: options[name] for name in REPORTED_SETTINGS},
            "validation": result.metrics}
        if result.classifier is not None:
            if result.classifier is not None:
                result.classifier.release()
        if test_path.exists():
            # The stored artefact is what is measured (float16 weights included), as loaded.
            test_texts, test_labels = read_labelled(test_path, source)
            # Scored as stored (float16 adapter and head, if so), not as trained in memory.
            key = ("train_default_model", str(staging))
            classifier = runtime.load_classifier(staging, key=key)
            try:
                scored = [p for chunk in classifier.classify(test_texts) for p in chunk]
            finally:
                runtime.unload_classifier(key)
            y_test = [label_names.index(label) for label in test_labels]
            report["test"] = classification_metrics(
                y_test, [label_names.index(p.label) for p in scored], label_names)
            report["test"]["rows"] = len(test_texts)
            # The confidences it serves are calibrated (``workers.runtime.calibration``).
            report["test"]["calibration_ece"] = expected_calibration_error(
                np.array([[p.probabilities[name] for name in label_names] for p in scored]),
                np.array(y_test))
            if result.classifier is not None:
                result.classifier.release()
        (staging / "default_model_report.json").write_text(json.dumps(report, indent=2))
        shutil.rmtree(output, ignore_errors=True)
        staging.rename(output)
        test = report.get("test", {})
        self.stdout.write(self.style.SUCCESS(
            f"Installed {app} default model in {output} ({result.artifact_bytes:,} bytes); "
            f"test accuracy {test.get('accuracy', float('nan')):.4f}, macro-F1 "
            f"{test.get('macro_f1', float('nan')):.4f}; trained in {training_seconds:.0f} s"))

"""The finance default model shipped in the repository (``models/shipped/finance_sentiment``),
measured by loading it as the workers do (its float16 adapter on the real all-MiniLM-L6-v2)
and scoring the sentiment test file (``twitter_fin_sentiment/sent_valid.csv``, 2,388 rows)::

    python bench/default_models.py                # finance.default_model_macro_f1
    python bench/default_models.py --train-quick  # measure the quick baseline in this run too

Baseline: the full fine-tune when one is installed (``models/finance_sentiment``, its report's
test macro-F1), else the quick LoRA model the first start used to train (``train_default_model
--quick``, measured at 0.751 on the same file; ``--train-quick`` trains and scores it here, a
quarter of an hour on this CPU). Also records the artefact's accuracy and its size on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FINANCE_LABELS, finance_rows, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "shipped" / "finance_sentiment"
INSTALLED = ROOT / "models" / "finance_sentiment"
QUICK_MACRO_F1 = 0.751  # train_default_model finance_sentiment --quick, seed 0, same file


def score(artefact: Path) -> dict[str, float]:
    """Test-file accuracy and macro-F1 of an artefact loaded from disk."""
    from workers.runtime import load_classifier, unload_classifier
    from workers.runtime.classifier.artifacts import directory_bytes
    from workers.runtime.metrics import classification_metrics

    texts, label_ids = finance_rows("valid")
    key = ("bench", str(artefact))
    classifier = load_classifier(artefact, key=key)
    try:
        predicted = [p.label for chunk in classifier.classify(texts) for p in chunk]
    finally:
        unload_classifier(key)
    names = classifier.labels
    metrics = classification_metrics([names.index(FINANCE_LABELS[i]) for i in label_ids],
                                     [names.index(label) for label in predicted], names)
    return {"macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"],
            "bytes": directory_bytes(artefact), "rows": len(texts)}


def quick_baseline() -> tuple[float, str]:
    """The quick first-start model trained now (seed 0) and scored like the shipped one."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "quick"
        env = {**os.environ, "AIPLATFORM_DATA_DIR": str(ROOT / ".data" / "bench"),
               "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}"}
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "train_default_model",  # noqa: S603
                        "finance_sentiment", "--quick", "--output", str(output)],
                       check=True, cwd=ROOT, env=env)
        return score(output)["macro_f1"], "the quick model (trained in this run)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-quick", action="store_true",
                        help="train and score the quick first-start model as the baseline")
    args = parser.parse_args()

    shipped = score(SHIPPED)
    report = INSTALLED / "default_model_report.json"
    if (INSTALLED / "manifest.json").is_file() and report.is_file():
        baseline = float(json.loads(report.read_text())["test"]["macro_f1"])
        source = f"the installed {json.loads((INSTALLED / 'manifest.json').read_text())['method']}"
    elif args.train_quick:
        baseline, source = quick_baseline()
    else:
        baseline, source = QUICK_MACRO_F1, "the quick model (recorded figure)"
    print(f"shipped finance default: {shipped['bytes']:,} bytes, {shipped['rows']} test rows; "
          f"baseline: {source}", flush=True)
    record("finance.default_model_macro_f1", shipped["macro_f1"], "macro-F1", baseline=baseline,
           ratio=shipped["macro_f1"] / baseline)
    record("finance.default_model_accuracy", shipped["accuracy"], "accuracy")
    record("finance.default_model_bytes", shipped["bytes"], "bytes", baseline=2 * 1024 * 1024,
           ratio=shipped["bytes"] / (2 * 1024 * 1024))


if __name__ == "__main__":
    main()

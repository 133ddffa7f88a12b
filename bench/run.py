"""``make bench``: run every benchmark, each in its own process, in a fixed order.

Each writes its figures to ``bench/results.json`` (name → value, unit, baseline, ratio) and
prints them; this runner prints the whole table at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["writeback.py", "metering.py", "inference.py", "int8.py", "finetune.py", "finance.py",
              "finance_dedup.py", "default_models.py", "bot.py", "bot_oos.py",
              "bot_compose.py", "bot_chat.py",
              "recs.py", "recs_serving.py", "reliability.py", "load.py"]
# The finance quality bar: the full fine-tune of the default model (about 20-35 minutes here).
QUALITY = {"finance-quality": ["finetune.py", "--quality", "finance", "--epochs", "5",
                               "--lr", "6e-5", "--batch-size", "16"]}


def main() -> int:
    selected = sys.argv[1:] or [*BENCHMARKS, *QUALITY]
    failed = []
    for name in selected:
        print(f"\n=== {name} ===", flush=True)
        script, *arguments = QUALITY.get(name, [name])
        result = subprocess.run([sys.executable, str(HERE / script), *arguments],  # noqa: S603
                                check=False)
        if result.returncode != 0:
            failed.append(name)
    results_file = HERE / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    print("\n=== bench/results.json ===")
    for key, figure in sorted(results.items()):
        ratio = figure.get("ratio")
        print(f"{key:45s} {figure['value']:>12.4g} {figure['unit']:10s}"
              + (f" ratio {ratio:.3g}" if ratio is not None else ""))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

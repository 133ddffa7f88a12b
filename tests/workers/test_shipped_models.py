"""The default models shipped in the repository (``models/shipped``): small, found when no
model is installed, passed over for an installed one, and good: the real finance artefact on
the real all-MiniLM-L6-v2 reads headlines right."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from safetensors import safe_open

from config.default_models import default_model_apps, default_model_dir, default_model_location
from jobs.selectors import platform_default
from tests.conftest import SHIPPED_MODELS
from tests.workers.conftest import TINY_BASE_NAME, sentiment_rows
from workers import runtime, warmup
from workers.handlers import text_classification
from workers.runtime.base_models import register_base
from workers.runtime.classifier.artifacts import directory_bytes

FINANCE = SHIPPED_MODELS / "finance_sentiment"
BOT = SHIPPED_MODELS / "support_bot"
TWO_MB = 2 * 1024 * 1024


def test_the_shipped_finance_artefact_is_small_and_reports_its_figures() -> None:
    finance = json.loads((FINANCE / "default_model_report.json").read_text())
    assert directory_bytes(FINANCE) <= TWO_MB
    assert finance["artifact_bytes"] <= TWO_MB
    assert finance["test"]["rows"] == 2388
    assert finance["test"]["macro_f1"] >= 0.82
    assert finance["settings"]["recipe"] == "shipped"
    manifest = json.loads((FINANCE / "manifest.json").read_text())
    assert (manifest["method"], manifest["stored_dtype"]) == ("lora", "float16")
    with safe_open(str(FINANCE / "adapter" / "adapter_model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(k).dtype) for k in weights.keys()} == {"torch.float16"}


def test_the_shipped_bot_head_is_small_and_reports_its_figures() -> None:
    bot = json.loads((BOT / "default_model_report.json").read_text())
    assert json.loads((BOT / "manifest.json").read_text())["method"] == "head"
    # The head and its metadata (the report beside it lists 77 intents' figures twice).
    assert sum(f.stat().st_size for f in BOT.iterdir()
               if f.name != "default_model_report.json") <= 200 * 1024
    assert bot["test"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_the_shipped_finance_model_reads_headlines_on_the_real_base() -> None:
    classifier = runtime.load_classifier(FINANCE, key=("test", "shipped-finance"))
    try:
        negative, positive = [p for chunk in classifier.classify([
            "$TSLA shares plunge 12%",
            "Apple beats earnings estimates and shares surge to a record high"]) for p in chunk]
    finally:
        runtime.unload_classifier(("test", "shipped-finance"))
    assert classifier.base.name == "all-MiniLM-L6-v2"
    assert negative.label == "negative"
    assert positive.label == "positive"


def _install(root: Path, app: str, method: str) -> Path:
    folder = root / app
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({
        "format": 1, "base": "all-MiniLM-L6-v2", "method": method, "labels": ["a", "b"]}))
    (folder / "default_model_report.json").write_text(json.dumps(
        {"test": {"accuracy": 0.9, "macro_f1": 0.8 if method == "lora" else 0.84,
                  "rows": 10}}))
    return folder


def test_an_installed_default_model_wins_over_the_shipped_one(settings: Any,
                                                             tmp_path: Path) -> None:
    settings.DEFAULT_MODELS_DIR = tmp_path / "installed"
    settings.SHIPPED_MODELS_DIR = tmp_path / "shipped"
    shipped = _install(tmp_path / "shipped", "finance_sentiment", "lora")
    (tmp_path / "shipped" / "half_written").mkdir()  # no manifest: no model
    assert default_model_location("finance_sentiment") == ("shipped", shipped)
    assert text_classification.default_model_dir("finance_sentiment") == shipped
    assert warmup.installed_default_apps() == ["finance_sentiment"]

    installed = _install(tmp_path / "installed", "finance_sentiment", "full")
    _install(tmp_path / "installed", "support_bot", "head")
    assert default_model_location("finance_sentiment") == ("installed", installed)
    assert text_classification.default_model_dir("finance_sentiment") == installed
    assert default_model_apps() == ["finance_sentiment", "support_bot"]
    serving = platform_default(app="finance_sentiment")
    assert serving is not None
    assert (serving.method, serving.macro_f1, serving.default_origin) == ("full", 0.84,
                                                                         "installed")
    assert default_model_dir("recommendation") is None
    assert platform_default(app="recommendation") is None


def test_missing_trains_nothing_where_a_model_is_shipped(settings: Any, tmp_path: Path) -> None:
    settings.DEFAULT_MODELS_DIR = tmp_path / "installed"
    settings.SHIPPED_MODELS_DIR = tmp_path / "shipped"
    _install(tmp_path / "shipped", "finance_sentiment", "lora")
    _install(tmp_path / "shipped", "support_bot", "head")
    out = io.StringIO()
    call_command("train_default_model", missing=True, quick=True, stdout=out)
    assert out.getvalue() == ""
    assert not (tmp_path / "installed").exists()


def test_make_run_with_the_repository_s_shipped_models_trains_nothing(settings: Any,
                                                                      tmp_path: Path) -> None:
    settings.DEFAULT_MODELS_DIR = tmp_path / "installed"  # a fresh clone: nothing installed
    settings.SHIPPED_MODELS_DIR = SHIPPED_MODELS
    assert default_model_apps() == ["finance_sentiment", "support_bot"]
    out = io.StringIO()
    call_command("train_default_model", missing=True, quick=True, stdout=out)
    assert out.getvalue() == ""


def _probabilities(classifier: runtime.Classifier, texts: list[str]) -> list[dict[str, float]]:
    return [p.probabilities for chunk in classifier.classify(texts) for p in chunk]


def test_float16_storage_halves_the_adapter_and_predicts_as_loaded(tiny_base: Path,
                                                                   tmp_path: Path) -> None:
    register_base(TINY_BASE_NAME, str(tiny_base))
    rows = sentiment_rows(90)
    texts, labels = [t for t, _ in rows], [label for _, label in rows]
    sizes, probabilities = {}, {}
    for dtype in ("float32", "float16"):
        out = tmp_path / dtype
        result = runtime.fine_tune_classifier(texts, labels, runtime.FineTuneConfig(
            output_dir=out, base=TINY_BASE_NAME, method="lora", epochs=2, batch_size=16,
            lora_r=4, lora_target_modules=("query", "key", "value", "dense"),
            stored_dtype=dtype, seed=0))
        assert result.classifier is not None
        in_memory = _probabilities(result.classifier, texts[:12])
        result.classifier.release()
        loaded = runtime.load_classifier(out, key=("test", dtype))
        try:
            as_loaded = _probabilities(loaded, texts[:12])
        finally:
            runtime.unload_classifier(("test", dtype))
        for memory, disk in zip(in_memory, as_loaded, strict=True):
            assert memory == pytest.approx(disk, abs=1e-5)
        sizes[dtype] = ((out / "adapter" / "adapter_model.safetensors").stat().st_size,
                        (out / "head.safetensors").stat().st_size)
        probabilities[dtype] = as_loaded
        with safe_open(str(out / "head.safetensors"), "pt") as head:
            assert {str(head.get_tensor(k).dtype) for k in head.keys()} == {
                f"torch.{dtype}"}
        assert json.loads((out / "manifest.json").read_text())["stored_dtype"] == dtype
    # Half the bytes (the headers aside), and the same model to within rounding.
    assert sizes["float16"][0] < 0.6 * sizes["float32"][0]
    assert sizes["float16"][1] < 0.8 * sizes["float32"][1]
    for wide, narrow in zip(probabilities["float32"], probabilities["float16"], strict=True):
        assert wide == pytest.approx(narrow, abs=5e-3)
    shutil.rmtree(tmp_path / "float32")

"""``manage.py train_default_model``: what ``make run`` calls to install a platform default
model once, quickly, when there is none."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.workers.conftest import sentiment_rows, to_csv


def test_missing_quick_trains_once_and_reports_test_metrics(settings: Any, tmp_path: Path,
                                                           tiny_base: Path) -> None:
    settings.DEFAULT_MODELS_DIR = str(tmp_path / "models")
    rows = sentiment_rows(180)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_bytes(to_csv(rows[:150], "text,label"))
    test.write_bytes(to_csv(rows[150:], "text,label"))
    options = {"missing": True, "quick": True, "train": train, "test": test,
               "base": str(tiny_base)}
    bot = tmp_path / "models" / "support_bot"  # installed already: left alone
    bot.mkdir(parents=True)
    (bot / "manifest.json").write_text("{}")

    out = io.StringIO()
    call_command("train_default_model", stdout=out, **options)
    installed = tmp_path / "models" / "finance_sentiment"
    manifest = json.loads((installed / "manifest.json").read_text())
    report = json.loads((installed / "default_model_report.json").read_text())
    assert manifest["method"] == "lora"
    assert manifest["labels"] == ["negative", "neutral", "positive"]
    assert report["train_rows"] == 150
    assert report["test"]["rows"] == 30
    # Its confidences are calibrated on its validation rows, and its test ECE is reported.
    assert manifest["calibration"]["method"] == "temperature"
    assert report["validation"]["calibration"]["temperature"] == manifest["calibration"][
        "temperature"]
    assert 0 <= report["test"]["calibration_ece"] <= 1
    assert "training one (once)" in out.getvalue()
    assert not (tmp_path / "models" / "finance_sentiment.training").exists()

    again = io.StringIO()
    stamp = (installed / "manifest.json").stat().st_mtime_ns
    call_command("train_default_model", stdout=again, **options)
    assert again.getvalue() == ""
    assert (installed / "manifest.json").stat().st_mtime_ns == stamp


def test_finance_defaults_are_the_quality_recipe_and_quick_stays_lora() -> None:
    from workers.management.commands.train_default_model import training_options

    full = training_options("finance_sentiment", {"quick": False, "epochs": None})
    assert (full["method"], full["epochs"], full["batch_size"], full["learning_rate"]) == (
        "full", 5, 16, 6e-5)
    quick = training_options("finance_sentiment", {"quick": True, "learning_rate": None})
    # LoRA keeps its own learning rate (the runtime's default), not the full fine-tune's.
    assert (quick["method"], quick["epochs"], quick["batch_size"], quick["learning_rate"]) == (
        "lora", 1, 32, None)
    chosen = training_options("finance_sentiment", {"quick": True, "epochs": 2})
    assert chosen["epochs"] == 2  # the command line wins
    bot = training_options("support_bot", {"quick": True})
    assert (bot["method"], bot["epochs"]) == ("head", 60)


def test_the_shipped_recipe_is_the_measured_one_and_flags_still_win() -> None:
    from workers.management.commands.train_default_model import training_options

    shipped = training_options("finance_sentiment", {"recipe": "shipped"})
    assert {name: shipped[name] for name in (
        "method", "epochs", "batch_size", "learning_rate", "max_length", "patience", "lora_r",
        "lora_alpha", "lora_targets", "stored_dtype")} == {
        "method": "lora", "epochs": 3, "batch_size": 16, "learning_rate": 5e-4,
        "max_length": 64, "patience": 0, "lora_r": 16, "lora_alpha": 32,
        "lora_targets": ["query", "key", "value", "dense"], "stored_dtype": "float16"}
    assert training_options("finance_sentiment", {"recipe": "shipped", "lora_r": 8})["lora_r"] == 8
    # The bot's shipped model is its default recipe, the head alone.
    bot = training_options("support_bot", {"recipe": "shipped"})
    assert (bot["method"], bot["epochs"], bot["stored_dtype"]) == ("head", 60, "float32")


def test_the_recipe_s_lora_settings_and_float16_reach_the_artefact(
        settings: Any, tmp_path: Path, tiny_base: Path) -> None:
    rows = sentiment_rows(60)
    train = tmp_path / "train.csv"
    train.write_bytes(to_csv(rows, "text,label"))
    output = tmp_path / "shipped" / "finance_sentiment"
    call_command("train_default_model", "finance_sentiment", recipe="shipped", epochs=1,
                 lora_r=4, train=train, test=train, base=str(tiny_base), output=output,
                 stdout=io.StringIO())
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["lora"] == {"r": 4, "alpha": 32,
                                "target_modules": ["query", "key", "value", "dense"]}
    assert manifest["stored_dtype"] == "float16"
    report = json.loads((output / "default_model_report.json").read_text())
    assert report["settings"]["recipe"] == "shipped"
    assert report["settings"]["lora_r"] == 4
    assert report["test"]["rows"] == 60
    assert report["artifact_bytes"] == sum(
        f.stat().st_size for f in output.rglob("*") if f.is_file()
        and f.name != "default_model_report.json")


def test_an_application_or_missing_is_required() -> None:
    with pytest.raises(CommandError, match="--missing"):
        call_command("train_default_model")


def test_a_training_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("sentence,sentiment\nShares rose,positive\n")
    with pytest.raises(CommandError, match="no column text, label"):
        call_command("train_default_model", "finance_sentiment", train=train)

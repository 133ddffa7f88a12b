"""The default fine-tune method (``jobs.method_choice``): head for few rows, many classes or few
rows per class, full for large sets, LoRA between; a requested method wins; unset settings
take the chosen method's defaults."""

from __future__ import annotations

import pytest

from jobs.method_choice import METHOD_DEFAULTS, method_choose, training_settings


@pytest.mark.parametrize(("rows", "classes", "method", "reason"), [
    (160, 3, "head", "160 training rows (fewer than 1000)"),
    (10_000, 77, "head", "77 classes (more than 20)"),
    (1_500, 20, "head", "75 rows per class (fewer than 100)"),
    (3_000, 3, "lora", "3000 training rows of 3 classes: LoRA"),
    (9_938, 3, "full", "9938 training rows (at least 8000)"),
])
def test_the_rule(rows: int, classes: int, method: str, reason: str) -> None:
    choice = method_choose(requested="auto", rows=rows, classes=classes)
    assert (choice.method, choice.chosen_by) == (method, "rule")
    assert choice.reason.startswith(reason)


def test_a_requested_method_overrides_the_rule() -> None:
    choice = method_choose(requested="lora", rows=160, classes=3)
    assert (choice.method, choice.chosen_by, choice.reason) == ("lora", "request",
                                                                "lora was requested")


def test_unset_settings_take_the_method_s_defaults() -> None:
    params = {"epochs": 7, "batch_size": None, "learning_rate": None}
    assert training_settings(params, "head") == {**METHOD_DEFAULTS["head"], "epochs": 7}
    assert training_settings({}, "full")["learning_rate"] == 5e-5

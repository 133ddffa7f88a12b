"""Parameter schemas shared by the applications' classifier jobs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from api.fields import ChoiceField


def unknown_params(params: serializers.Serializer, data: Any) -> dict[str, list[str]]:
    """The keys of ``data`` that ``params`` (a job kind's parameters) does not declare, each
    with the parameters it does: a misspelt ``epoch`` is refused, not silently ignored."""
    if not isinstance(data, dict):
        return {}
    declared = params.fields
    return {key: [f"unknown parameter; the parameters are: {', '.join(declared)}"]
            for key in data if key not in declared}


def base_model_names() -> list[str]:
    return [settings.DEFAULT_BASE_MODEL, *settings.BASE_MODELS]


class FineTuneParams(serializers.Serializer):
    method = ChoiceField(choices=["lora", "full"], default="lora")
    base_model = serializers.CharField(default="all-MiniLM-L6-v2", max_length=200)
    epochs = serializers.IntegerField(default=3, min_value=1, max_value=50)
    batch_size = serializers.IntegerField(default=32, min_value=1, max_value=512)
    learning_rate = serializers.FloatField(default=5e-4, min_value=1e-7, max_value=1.0)
    max_length = serializers.IntegerField(default=128, min_value=8, max_value=512)
    validation_fraction = serializers.FloatField(default=0.1, min_value=0.05, max_value=0.5)
    early_stopping_patience = serializers.IntegerField(default=2, min_value=0, max_value=20)
    seed = serializers.IntegerField(default=42, min_value=0, max_value=2**32 - 1)
    force = serializers.BooleanField(default=False,
                                     help_text="Promote even if worse than the active version")
    # The methods of workers.runtime.calibration (the web tier does not import the runtime;
    # tests/jobs keep the two lists equal).
    calibration = serializers.ChoiceField(
        choices=["temperature", "none"], default="temperature",
        help_text="How confidences are calibrated on the validation rows: temperature "
                  "scaling, or none (the plain softmax)")

    def validate_base_model(self, value: str) -> str:
        if value not in base_model_names():
            raise serializers.ValidationError(
                f"unknown base model; choose one of {', '.join(base_model_names())}"
            )
        return value


class BatchInferenceParams(serializers.Serializer):
    batch_size = serializers.IntegerField(default=64, min_value=1, max_value=1024)

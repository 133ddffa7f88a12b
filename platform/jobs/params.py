"""Parameter schemas shared by the applications' classifier jobs."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers


def base_model_names() -> list[str]:
    return [settings.DEFAULT_BASE_MODEL, *settings.BASE_MODELS]


class FineTuneParams(serializers.Serializer):
    method = serializers.ChoiceField(choices=["lora", "full"], default="lora")
    base_model = serializers.CharField(default="all-MiniLM-L6-v2", max_length=200)
    epochs = serializers.IntegerField(default=3, min_value=1, max_value=50)
    batch_size = serializers.IntegerField(default=32, min_value=1, max_value=512)
    learning_rate = serializers.FloatField(default=5e-4, min_value=1e-7, max_value=1.0)
    max_length = serializers.IntegerField(default=128, min_value=8, max_value=512)
    validation_fraction = serializers.FloatField(default=0.1, min_value=0.05, max_value=0.5)
    early_stopping_patience = serializers.IntegerField(default=2, min_value=0, max_value=20)
    seed = serializers.IntegerField(default=42)
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

"""Parameter schemas shared by the applications' classifier jobs.

A fine-tune's ``method`` is ``auto`` unless the tenant names one: the worker then picks it from
the training rows and classes (``jobs.method_choice``). ``epochs``, ``batch_size``,
``learning_rate`` and ``early_stopping_patience`` left out (null) take the chosen method's
defaults (``method_choice.METHOD_DEFAULTS``), because what suits a head (60 epochs at 1e-2)
ruins a full fine-tune and the other way round.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
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


METHOD_CHOICES = ["auto", "head", "lora", "full"]


def base_model_names() -> list[str]:
    return [settings.DEFAULT_BASE_MODEL, *settings.BASE_MODELS]


class FineTuneParams(serializers.Serializer):
    method = ChoiceField(
        choices=METHOD_CHOICES, default="auto",
        help_text=_("auto: chosen from the dataset's size and classes; or head, lora, full"))
    base_model = serializers.CharField(default="all-MiniLM-L6-v2", max_length=200)
    epochs = serializers.IntegerField(required=False, allow_null=True, default=None,
                                      min_value=1, max_value=300,
                                      help_text=_("null: the method's default"))
    batch_size = serializers.IntegerField(required=False, allow_null=True, default=None,
                                          min_value=1, max_value=512)
    learning_rate = serializers.FloatField(required=False, allow_null=True, default=None,
                                           min_value=1e-7, max_value=1.0)
    max_length = serializers.IntegerField(default=128, min_value=8, max_value=512)
    validation_fraction = serializers.FloatField(default=0.1, min_value=0.05, max_value=0.5)
    early_stopping_patience = serializers.IntegerField(required=False, allow_null=True,
                                                       default=None, min_value=0, max_value=50)
    seed = serializers.IntegerField(default=42, min_value=0, max_value=2**32 - 1)
    validation_dataset = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1,
        help_text=_("Id of a dataset of the same app and purpose to validate on (the gate's "
                    "rows); none: a stratified split of the training dataset"))
    test_dataset = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=2**63 - 1,
        help_text=_("Id of a dataset of the same app and purpose whose figures are stored "
                    "with the version; none: a stratified split of the training dataset"))
    gate_margin = serializers.FloatField(
        default=0.0, min_value=0.0, max_value=0.5,
        help_text=_("Macro-F1 by which the new version must beat the better of the active "
                    "version and the platform default to be promoted"))
    force = serializers.BooleanField(default=False,
                                     help_text=_("Promote even if worse than the active version"))
    # The methods of workers.runtime.calibration (the web tier does not import the runtime;
    # tests/jobs keep the two lists equal).
    calibration = ChoiceField(
        choices=["temperature", "none"], default="temperature",
        help_text=_("How confidences are calibrated on the validation rows: temperature "
                    "scaling, or none (the plain softmax)"))

    def validate_base_model(self, value: str) -> str:
        if value not in base_model_names():
            raise serializers.ValidationError(
                f"unknown base model; choose one of {', '.join(base_model_names())}"
            )
        return value


class BatchInferenceParams(serializers.Serializer):
    batch_size = serializers.IntegerField(default=64, min_value=1, max_value=1024)

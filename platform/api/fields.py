"""Serializer fields whose refusals tell the caller what would do."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ChoiceField(serializers.ChoiceField):
    """DRF's choice field, whose "not a valid choice" lists the valid ones."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            choices = ", ".join(str(choice) for choice in self.choices)
            raise serializers.ValidationError(
                f'"{data}" is not a valid choice; choose one of: {choices}.',
                code="invalid_choice") from None

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


class BlankAsNullMixin:
    """Serves a model's blank string as null: a blank ``URLField`` or choice is not a URI or
    one of the choices, so the schema (nullable) and the value (null) agree."""

    def to_representation(self, value: Any) -> Any:
        if value in ("", None):
            return None
        return super().to_representation(value)  # type: ignore[misc]


class BlankAsNullURLField(BlankAsNullMixin, serializers.URLField):
    pass


class BlankAsNullChoiceField(BlankAsNullMixin, serializers.ChoiceField):
    pass

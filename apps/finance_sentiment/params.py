"""Parameters of the finance app's own job kind, ``score_documents``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rest_framework import serializers

from api.fields import ChoiceField

SELECTIONS = ("unscored", "range", "dataset")


# The widest offsets in use (UTC-12:00 to UTC+14:00). Python accepts up to 24 hours, PostgreSQL
# refuses past 15:59: "+20:00" was a database error.
MAX_UTC_OFFSET = timedelta(hours=14)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 date or date-time in UTC; naive values are UTC. ``ValueError`` when invalid,
    when its offset is wider than any time zone's, or when in UTC it falls outside years
    1 to 9999."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("time-zone offset out of range")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


class InstantField(serializers.CharField):
    """A date-time kept as an ISO string (job parameters are stored as JSON)."""

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        try:
            return parse_instant(text).isoformat()
        except ValueError:
            raise serializers.ValidationError(
                f"'{text}' is not a date and time (ISO 8601, e.g. 2024-05-01T14:30:00Z)"
            ) from None


def validate_range(attrs: dict[str, Any]) -> None:
    """Selection ``range`` needs both ends, ``from`` before ``to``."""
    missing = {name: ["is required for selection 'range'"]
               for name in ("from", "to") if not attrs.get(name)}
    if missing:
        raise serializers.ValidationError(missing)
    if parse_instant(attrs["from"]) >= parse_instant(attrs["to"]):
        raise serializers.ValidationError({"to": ["must be after 'from'"]})


class ScoreDocumentsParams(serializers.Serializer):
    """``selection``: ``unscored`` (every document not scored yet), ``range`` (documents
    published in [from, to), scored again with the current model) or ``dataset`` (the job's
    "texts" dataset, stored as documents of source ``dataset:<id>`` and scored)."""

    selection = ChoiceField(choices=SELECTIONS, default="unscored")
    batch_size = serializers.IntegerField(default=64, min_value=1, max_value=1024)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "from" is a Python keyword, so these two are added here rather than declared.
        fields["from"] = InstantField(required=False, help_text="range: inclusive start")
        fields["to"] = InstantField(required=False, help_text="range: exclusive end")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("selection") == "range":
            validate_range(attrs)
        else:
            attrs.pop("from", None)
            attrs.pop("to", None)
        return attrs

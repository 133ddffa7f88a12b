"""What the finance API's modules share: the ticker and instant fields (a ticker is normalised
as the services normalise it; a naive instant is UTC). Ids, query filters and idempotency keys
are the platform's (``api.lookups``, ``api.filters``, ``api.idempotency``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.finance_sentiment.params import parse_instant
from apps.finance_sentiment.tickers import normalise_ticker


class TickerField(serializers.CharField):
    """A ticker symbol, upper-cased (``aapl`` → ``AAPL``; a leading ``$`` is dropped)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if text == "" and self.allow_blank:
            return text
        ticker = normalise_ticker(text)
        if ticker is None:
            raise serializers.ValidationError(f"'{text}' is not a ticker symbol")
        return ticker


class InstantQueryField(serializers.DateTimeField):
    """An ISO 8601 date or date-time in a query string; naive values are UTC."""

    def to_internal_value(self, value: Any) -> Any:
        try:
            return parse_instant(str(value))
        except ValueError:
            raise serializers.ValidationError(
                f"'{value}' is not a date and time (ISO 8601, e.g. 2024-05-01T14:30:00Z)"
            ) from None

"""Cursor pagination that refuses what it cannot use: a ``page_size`` that is not an integer
from 1 to ``max_page_size`` and a cursor this API did not make (undecodable, or a position
that is not a value of the ordering column) are each a 400 naming the parameter.

DRF ignores a bad ``page_size`` (the caller silently gets the default page) and filters by a
forged cursor's position as it stands: ``?cursor=cD0yMDI2`` ("p=2026") became
``created_at < '2026'``, a database error and a 500. A position is therefore parsed by the
ordering column's own model field before it reaches a query; a date-time is normalised to UTC,
so that an offset PostgreSQL refuses (``+20:00``) never reaches it.
"""

from __future__ import annotations

from base64 import b64decode
from datetime import UTC, datetime
from typing import Any
from urllib import parse

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from api.lookups import MAX_ID

INVALID_CURSOR = "is not a cursor this API returned; follow the next and previous links"


class StrictCursorPagination(CursorPagination):
    """Cursor pagination whose bad ``page_size`` or ``cursor`` is a 400 naming it."""

    page_size_query_param = "page_size"
    max_page_size = 500
    _model: Any = None

    def paginate_queryset(self, queryset: Any, request: Request,
                          view: Any = None) -> list[Any] | None:
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return int(self.page_size or 0)
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [
                f"must be an integer from 1 to {self.max_page_size}"]})
        return size

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse.parse_qs(b64decode(encoded.encode("ascii"), validate=True)
                                    .decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except ValueError:  # binascii.Error and UnicodeError are ValueErrors
            tokens = {}
        # What DRF's encode_cursor writes: an offset, a direction and a position, no more.
        if not tokens or not set(tokens) <= {"o", "r", "p"} or \
                any(len(values) != 1 for values in tokens.values()):
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        offset, reverse = tokens.get("o", ["0"])[0], tokens.get("r", ["0"])[0]
        if not offset.isdigit() or int(offset) > self.offset_cutoff or reverse not in ("0", "1"):
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        position = tokens.get("p", [None])[0]
        return Cursor(offset=int(offset), reverse=reverse == "1",
                      position=None if position is None else self._position(position))

    def _position(self, position: str) -> Any:
        """The cursor's position as a value of the ordering column, or a 400."""
        name = self.ordering[0].lstrip("-")
        try:
            field = self._model._meta.get_field(name)
        except (AttributeError, FieldDoesNotExist):
            return position
        if "\x00" in position:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        try:
            value = field.to_python(position)
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC)
        except (DjangoValidationError, ValueError, OverflowError):
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None
        if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        return value


class CreatedCursorPagination(StrictCursorPagination):
    """Cursor pagination, newest first: stable under inserts, no COUNT(*) on big tables."""

    ordering = ("-created_at", "-id")

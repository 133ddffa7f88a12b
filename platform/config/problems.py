"""The one row-problem error: a refused batch of rows (a dataset upload, an ingestion batch, a
CSV import) lists its first problems, each naming the row and the column it concerns.

``Problem(message, row, column)``: ``row`` counts as the caller's input does (a JSON batch from
0, a file's data rows from 1 after the header, which is row 0), ``column`` is the column or
field name; either is None when the problem is about the whole input. On the wire every
refusal has the same shape (``api.problems``)::

    {"error": {"code": "invalid_rows", "message": "...", "fields": {...},
               "problems": [{"row": 3, "column": "label", "message": "..."}], "more": 0}}

``column`` is the wire key for datasets, recommendation and (once it adopts this type)
finance, which said ``field``: the dataset parser, the first and most used, says column, and
a CSV header names columns.

A refusal keeps the first ``MAX_PROBLEMS`` problems and counts the rest in ``more``, so that a
file with a million bad rows answers in one short response. This module imports nothing from
the API and sits beside ``ServiceError`` on the ground floor, so that every layer can raise it:
services raise it, and ``api.errors`` maps it to a 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from config.errors import ServiceError

MAX_PROBLEMS = 20
SUMMARY_PROBLEMS = 5  # how many problems the refusal's message spells out


@dataclass(frozen=True)
class Problem:
    message: str
    row: int | None = None
    column: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = ", ".join(
            part for part in (
                f"row {self.row}" if self.row is not None else "",
                f"column '{self.column}'" if self.column else "",
            ) if part
        )
        return f"{where}: {self.message}" if where else self.message


class RowsInvalid(ServiceError):
    """Some rows are invalid; nothing was written. ``problems`` are the first
    ``MAX_PROBLEMS``, ``more`` counts the others.

    Subclasses name their refusal with ``default_code`` and ``refusal`` (the message's
    opening words), e.g. ``DatasetInvalid``.
    """

    default_code = "invalid_rows"
    refusal: ClassVar[str] = "The rows were refused and nothing was stored"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems[:MAX_PROBLEMS])
        self.more = max(0, len(problems) - MAX_PROBLEMS)
        super().__init__(self.describe())

    def describe(self) -> str:
        """The exception's message: the refusal and the first problems."""
        summary = "; ".join(str(problem) for problem in self.problems[:SUMMARY_PROBLEMS])
        return f"{self.refusal}: {summary}"

    @property
    def api_message(self) -> str:
        """The ``message`` of the API error (the same as the exception's unless a subclass
        words its own)."""
        return str(self)

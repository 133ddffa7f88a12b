"""The one base of the services' refusals (``JobError``, ``FinanceError``, ``BotError``, ...).

A service raises it with a message, a machine-readable ``code``, the offending ``fields``
and extra ``details`` (a quota's meter, ...); the API and the dashboard map those onto their
error formats. The HTTP status is the API's business alone: ``api.errors.SERVICE_ERROR_STATUS``
maps codes to statuses (a code it does not list is a 400), so a service never names one.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request a service refuses; its ``code`` maps onto the API error format."""

    default_code = "validation_error"

    def __init__(self, message: str, *, code: str | None = None,
                 fields: dict[str, list[str]] | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.fields = fields or {}
        self.details = details or {}  # extra keys of the API error (a quota's meter, ...)

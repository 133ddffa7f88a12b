"""The finance app's one domain error. Every service raises :class:`FinanceError` (or its
subclass ``documents.DocumentsInvalid``) for a request it refuses; the API layer alone maps
it to an HTTP status through ``config.errors.ServiceError``'s ``code`` and ``status``, and the
pages show it on the form (``dashboard.forms.add_service_error``)."""

from __future__ import annotations

from config.errors import ServiceError


class FinanceError(ServiceError):
    """A request the app refuses; ``code`` and ``status`` map onto the API error format."""

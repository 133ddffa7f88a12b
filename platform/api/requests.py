"""Reading a request's body in the API's error format."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import SuspiciousOperation
from rest_framework.request import Request

from api.errors import ApiError


def request_data(request: Request) -> Any:
    """``request.data``, with Django's request-size guards answered in the API's format
    instead of Django's HTML 400 page."""
    try:
        return request.data
    except SuspiciousOperation as error:
        raise ApiError(400, "malformed_request", str(error) or "The request is too large.") \
            from error

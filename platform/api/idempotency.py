"""The ``Idempotency-Key`` request header: a client repeating a write with the same key gets
the first result back (the service decides what "the same" is; ``jobs.services.job_submit``
keeps the key on the job)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from api.errors import ApiError

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 200  # the models' idempotency_key columns
IDEMPOTENCY_PARAMETER = OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER)


def idempotency_key(request: Request) -> str:
    """The request's ``Idempotency-Key`` header ("" when absent), at most 200 characters."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ApiError(400, "validation_error", "The idempotency key is too long.",
                       {IDEMPOTENCY_HEADER: ["at most 200 characters"]})
    return key

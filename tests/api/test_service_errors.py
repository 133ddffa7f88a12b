"""Services raise domain errors (``config.errors.ServiceError``: a code, no HTTP); the API's
exception handler alone turns the code into a status."""

from __future__ import annotations

import pytest
from rest_framework.test import APIRequestFactory

from api.errors import SERVICE_ERROR_STATUS, exception_handler
from config.errors import ServiceError


@pytest.mark.parametrize(("code", "expected"), [
    ("conflict", 409), ("idempotency_conflict", 409), ("nothing_to_score", 409),
    ("quota_exceeded", 402), ("validation_error", 400), ("invalid", 400),
])
def test_the_api_maps_a_service_code_to_its_status(code: str, expected: int) -> None:
    error = ServiceError("Refused.", code=code, fields={"name": ["already exists"]})
    response = exception_handler(error, {"request": APIRequestFactory().post("/"),
                                         "view": None})
    assert response is not None
    assert response.status_code == expected
    assert response.data == {"error": {"code": code, "message": "Refused.",
                                       "fields": {"name": ["already exists"]}}}


def test_every_mapped_status_is_an_error() -> None:
    assert all(400 <= status < 500 for status in SERVICE_ERROR_STATUS.values())

"""``POST /api/v1/finance/classify``: validation naming the field, a clear 503 when no worker
answers, scopes and tenants (answered by a real worker in tests/browser/test_finance_browser.py
and tests/workers/test_online.py)."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

URL = "/api/v1/finance/classify"


@pytest.mark.parametrize(("body", "field"), [
    ({"texts": []}, "texts"),
    ({"texts": ["headline"] * 33}, "texts"),
    ({"texts": ["fine", "x" * 5_001]}, "texts"),
    ({"texts": "not a list"}, "texts"),
    ({}, "texts"),
])
def test_invalid_requests_are_400_naming_the_field(acme: TenantSetup, body: dict,
                                                   field: str) -> None:
    response = acme.api().post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]


def test_limits_are_inclusive(acme: TenantSetup, settings) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.5
    # 32 texts of 5,000 characters pass validation (and then find no worker).
    response = acme.api().post(URL, {"texts": ["x" * 5_000] * 32}, format="json")
    assert response.status_code == 503


def test_no_worker_is_a_quick_503_inference_unavailable(acme: TenantSetup, settings) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 1
    started = time.monotonic()
    response = acme.api().post(URL, {"texts": ["$ACME soars"]}, format="json")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "inference_unavailable"
    assert "No inference worker answered" in error["message"]


def test_a_read_key_may_classify_and_no_key_may_not(acme: TenantSetup, settings) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.5
    with tenant_context(acme.tenant.pk):
        read_key = api_key_create(name="reader", scopes=["read"],
                                  created_by_id=acme.owner.pk).raw_key
    assert acme.api(read_key).post(URL, {"texts": ["hi"]}, format="json").status_code == 503
    assert APIClient().post(URL, {"texts": ["hi"]}, format="json").status_code in (401, 403)


def test_the_endpoint_is_in_the_openapi_schema(acme: TenantSetup) -> None:
    schema = acme.api().get("/api/v1/schema/").content.decode()
    assert "/api/v1/finance/classify" in schema

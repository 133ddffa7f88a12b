"""Every API error is JSON in the one format with the request id, 500s and unknown paths
included, in every mode: never an HTML page, a traceback or an internal path."""

from __future__ import annotations

import pytest
import structlog
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from api.errors import handler500
from api.views import MeView
from tests.conftest import TenantSetup

# What an unexpected exception's text might carry, and must never reach the client.
LEAK = "/srv/app/platform/secret_module.py line 42 password=hunter2"


def _assert_json_error(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response["X-Request-ID"]
    return error


@pytest.fixture
def _me_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self, request, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise RuntimeError(LEAK)

    monkeypatch.setattr(MeView, "get", boom)


@pytest.mark.usefixtures("_me_raises")
@pytest.mark.parametrize("debug", [False, True])
def test_an_api_500_is_json_with_the_request_id_and_nothing_internal(
    acme: TenantSetup, settings, debug: bool  # noqa: ANN001
) -> None:
    settings.DEBUG = debug
    client = Client(raise_request_exception=False,
                    HTTP_AUTHORIZATION=f"Bearer {acme.raw_key}")
    response = client.get("/api/v1/me")
    error = _assert_json_error(response, 500, "server_error")
    assert error == {"code": "server_error", "message": "Internal server error.", "fields": {},
                     "request_id": response["X-Request-ID"]}
    for leak in ("secret_module", "hunter2", "Traceback", "/srv/", ".py", "RuntimeError"):
        assert leak.encode() not in response.content


@pytest.mark.usefixtures("_me_raises")
def test_an_api_500_keeps_the_callers_request_id(acme: TenantSetup) -> None:
    client = Client(raise_request_exception=False,
                    HTTP_AUTHORIZATION=f"Bearer {acme.raw_key}")
    response = client.get("/api/v1/me", HTTP_X_REQUEST_ID="trace-500")
    assert _assert_json_error(response, 500, "server_error")["request_id"] == "trace-500"


@pytest.mark.usefixtures("_me_raises")
def test_an_api_500_still_reaches_django_error_reporting(acme: TenantSetup) -> None:
    # got_request_exception is sent, so the test client (like error reporters) sees the bug.
    with pytest.raises(RuntimeError, match="hunter2"):
        acme.api().get("/api/v1/me")


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_api_path_is_a_json_404_with_the_request_id(
    db: None, settings, debug: bool, method: str  # noqa: ANN001
) -> None:
    settings.DEBUG = debug
    response = getattr(Client(), method)("/api/v1/no-such-thing/here")
    error = _assert_json_error(response, 404, "not_found")
    assert b"<html" not in response.content.lower()
    assert b"urlpatterns" not in response.content.lower()
    assert error["message"] == "Not found."


def test_a_missing_object_404_carries_the_request_id(acme: TenantSetup) -> None:
    response = acme.api().get("/api/v1/datasets/999999", HTTP_X_REQUEST_ID="trace-404")
    assert _assert_json_error(response, 404, "not_found")["request_id"] == "trace-404"


def test_client_errors_carry_the_request_id(acme: TenantSetup) -> None:
    _assert_json_error(APIClient().get("/api/v1/me"), 401, "not_authenticated")
    response = acme.api().post("/api/v1/api-keys", {"scopes": ["nope"]}, format="json")
    error = _assert_json_error(response, 400, "validation_error")
    assert "scopes" in error["fields"]


def test_the_django_level_500_handler_answers_api_paths_in_json() -> None:
    # Errors outside the API views (a middleware's) reach Django's handler500 (DEBUG off).
    structlog.contextvars.bind_contextvars(request_id="trace-mw")
    try:
        response = handler500(RequestFactory().get("/api/v1/me"))
    finally:
        structlog.contextvars.clear_contextvars()
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b'"request_id": "trace-mw"' in response.content
    assert b'"code": "server_error"' in response.content

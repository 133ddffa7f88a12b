"""Structured logs carry request and tenant ids; production settings pass `check --deploy`."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from config.logging import configure_logging
from tests.conftest import TenantSetup


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The platform's JSON log output, as production writes it (same formatter)."""
    configure_logging(level="INFO", json=True)
    root = logging.getLogger()
    [console] = root.handlers
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    configure_logging(level=settings.LOG_LEVEL, json=settings.LOG_JSON)


def _requests(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["event"] == "request"]


def test_access_log_is_json_with_request_and_tenant_ids(
    acme: TenantSetup, json_logs: io.StringIO
) -> None:
    response = acme.api().get("/api/v1/me", HTTP_X_REQUEST_ID="req-123")
    assert response["X-Request-ID"] == "req-123"
    [line] = _requests(json_logs)
    assert line["request_id"] == "req-123"
    assert line["tenant_id"] == acme.tenant.pk
    assert line["path"] == "/api/v1/me"
    assert line["status"] == 200
    assert line["level"] == "info"


def test_request_ids_are_generated_and_not_shared(
    acme: TenantSetup, json_logs: io.StringIO
) -> None:
    first = acme.api().get("/api/v1/me")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]
    assert first != second
    lines = _requests(json_logs)
    assert [line["request_id"] for line in lines] == [first, second]
    # The anonymous health check does not inherit the previous request's tenant.
    assert lines[1]["tenant_id"] is None


def test_check_deploy_has_no_warnings_with_production_settings(subprocess_env: dict) -> None:
    env = {
        **subprocess_env,
        "DEBUG": "0",
        "SECRET_KEY": "k" * 64 + "-production-like-secret-value",
        "ALLOWED_HOSTS": "app.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "REQUIRE_SECRET_KEY": "1",
    }
    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "check", "--deploy",
         "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout

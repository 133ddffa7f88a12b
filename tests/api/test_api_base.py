"""API base: key authentication, scopes, one error format, rate limits, schema, health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from tenancy.context import tenant_context
from tenancy.models import Tenant
from tenancy.services import tenant_set_status
from tests.conftest import TenantSetup


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


def _key(setup: TenantSetup, **kwargs) -> str:
    kwargs.setdefault("scopes", ["read"])
    with tenant_context(setup.tenant.pk):
        return api_key_create(name="test", created_by_id=setup.owner.pk, **kwargs).raw_key


def test_me_reports_tenant_key_and_scopes(acme: TenantSetup) -> None:
    response = acme.api().get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == {"id": acme.tenant.pk, "slug": "acme", "name": "Acme"}
    assert body["key"]["prefix"] == acme.api_key.prefix
    assert body["scopes"] == ["admin", "read", "write"]
    assert response["X-Request-ID"]


def test_me_records_last_used(acme: TenantSetup) -> None:
    acme.api().get("/api/v1/me")
    with tenant_context(acme.tenant.pk):
        assert ApiKey.objects.get(pk=acme.api_key.pk).last_used_at is not None


def test_signed_in_member_can_use_the_api_with_role_scopes(acme: TenantSetup) -> None:
    viewer = acme.add_member(role="viewer")
    client = APIClient()
    client.force_login(viewer.user)
    body = client.get("/api/v1/me").json()
    assert body["user"] == {"email": viewer.user.email, "role": "viewer"}
    assert body["scopes"] == ["read"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer aip_nothere_secret", "Unknown API key."),
        ("Bearer not-a-key", "Malformed API key."),
        ("Bearer ", "Malformed API key."),
    ],
)
def test_bad_keys_get_401(db: None, header: str, message: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    error = _assert_error(client.get("/api/v1/me"), 401, "authentication_failed")
    assert error["message"] == message


def test_wrong_secret_for_a_real_prefix_is_401(acme: TenantSetup) -> None:
    forged = f"aip_{acme.api_key.prefix}_{'x' * 32}"
    _assert_error(acme.api(forged).get("/api/v1/me"), 401, "authentication_failed")


def test_no_credentials_is_401(db: None) -> None:
    _assert_error(APIClient().get("/api/v1/me"), 401, "not_authenticated")


def test_revoked_key_is_401(acme: TenantSetup) -> None:
    raw = _key(acme)
    with tenant_context(acme.tenant.pk):
        key = ApiKey.objects.get(prefix=raw.split("_")[1])
        api_key_revoke(key_id=key.pk, actor_id=None)
    error = _assert_error(acme.api(raw).get("/api/v1/me"), 401, "authentication_failed")
    assert "revoked" in error["message"]


def test_expired_key_is_401(acme: TenantSetup) -> None:
    raw = _key(acme, expires_at=timezone.now() + timedelta(seconds=30))
    with tenant_context(acme.tenant.pk):
        ApiKey.objects.filter(prefix=raw.split("_")[1]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    error = _assert_error(acme.api(raw).get("/api/v1/me"), 401, "authentication_failed")
    assert "expired" in error["message"]


def test_missing_scope_is_403(acme: TenantSetup) -> None:
    read_only = _key(acme, scopes=["read"])
    error = _assert_error(acme.api(read_only).get("/api/v1/api-keys"), 403, "permission_denied")
    assert "admin" in error["message"]


def test_malformed_json_is_400(acme: TenantSetup) -> None:
    response = acme.api().generic(
        "POST", "/api/v1/api-keys", "{not json", content_type="application/json"
    )
    _assert_error(response, 400, "malformed_request")


def test_validation_errors_name_the_fields(acme: TenantSetup) -> None:
    response = acme.api().post("/api/v1/api-keys", {"name": "", "scopes": ["root"]},
                               format="json")
    error = _assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"name", "scopes"}


def test_expiry_in_the_past_is_a_field_error(acme: TenantSetup) -> None:
    response = acme.api().post(
        "/api/v1/api-keys",
        {"name": "old", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    error = _assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["expires_at"]


def test_unknown_api_path_is_json_404(acme: TenantSetup) -> None:
    _assert_error(acme.api().get("/api/v1/no-such-thing"), 404, "not_found")


def test_rate_limit_gives_429_with_retry_after(acme: TenantSetup) -> None:
    raw = _key(acme, rate_limit_per_minute=2)
    client = acme.api(raw)
    assert [client.get("/api/v1/me").status_code for _ in range(2)] == [200, 200]
    response = client.get("/api/v1/me")
    _assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another key of the same tenant has its own budget.
    assert acme.api().get("/api/v1/me").status_code == 200


def test_suspended_tenant_gets_403_with_a_clear_message(acme: TenantSetup) -> None:
    tenant_set_status(tenant=acme.tenant, status=Tenant.Status.SUSPENDED, actor_id=None)
    error = _assert_error(acme.api().get("/api/v1/me"), 403, "tenant_suspended")
    assert "suspended" in error["message"]


def test_openapi_schema_and_docs(db: None) -> None:
    client = APIClient()
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    document = schema.json()
    assert "/api/v1/me" in document["paths"]
    assert "/api/v1/api-keys" in document["paths"]
    assert document["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_healthz_and_readyz(db: None) -> None:
    client = APIClient()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(db: None, monkeypatch, tmp_path) -> None:
    import redis

    dead = redis.Redis(unix_socket_path=str(tmp_path / "nothing.sock"), socket_timeout=1)
    monkeypatch.setattr("config.health.redis_client", lambda: dead)
    response = APIClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")
    assert response.json()["checks"]["database"] == "ok"

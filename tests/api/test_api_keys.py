"""``/api/v1/api-keys``: create (secret once), list, detail, revoke; and cross-tenant 404s."""

from __future__ import annotations

from accounts.models import ApiKey
from audit.models import AuditEvent
from tenancy.context import tenant_context, unscoped
from tests.conftest import TenantSetup, error_of


def test_create_returns_the_secret_once_and_stores_only_a_hash(acme: TenantSetup) -> None:
    response = acme.api().post("/api/v1/api-keys", {"name": "CI", "scopes": ["read", "write"]},
                               format="json")
    assert response.status_code == 201
    body = response.json()
    raw = body["key"]
    assert raw.startswith(f"aip_{body['prefix']}_")
    with tenant_context(acme.tenant.pk):
        stored = ApiKey.objects.get(pk=body["id"])
    assert raw.split("_", 2)[2] not in stored.secret_hash
    assert stored.scopes == ["read", "write"]
    detail = acme.api().get(f"/api/v1/api-keys/{body['id']}").json()
    assert "key" not in detail
    assert acme.api(raw).get("/api/v1/me").json()["key"]["name"] == "CI"
    with unscoped():
        assert AuditEvent.objects.filter(action="api_key_created", tenant=acme.tenant).count() == 2


def test_list_is_scoped_to_the_tenant(acme: TenantSetup, globex: TenantSetup) -> None:
    ids = [row["id"] for row in acme.api().get("/api/v1/api-keys").json()["results"]]
    assert ids == [acme.api_key.pk]


def test_revoke_then_the_key_stops_working(acme: TenantSetup) -> None:
    created = acme.api().post("/api/v1/api-keys", {"name": "tmp", "scopes": ["read"]},
                              format="json").json()
    assert acme.api().delete(f"/api/v1/api-keys/{created['id']}").status_code == 204
    assert acme.api(created["key"]).get("/api/v1/me").status_code == 401
    assert acme.api().get(f"/api/v1/api-keys/{created['id']}").json()["status"] == "revoked"


def test_other_tenant_cannot_read_change_or_delete_a_key(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    url = f"/api/v1/api-keys/{acme.api_key.pk}"
    intruder = globex.api()
    for response in (
        intruder.get(url),
        intruder.patch(url, {"name": "pwned"}, format="json"),
        intruder.put(url, {"name": "pwned"}, format="json"),
        intruder.delete(url),
    ):
        assert response.status_code in (404, 405)
    assert intruder.get(url).status_code == 404
    assert intruder.delete(url).status_code == 404
    with tenant_context(acme.tenant.pk):
        key = ApiKey.objects.get(pk=acme.api_key.pk)
    assert key.name == "acme key"
    assert key.revoked_at is None
    assert acme.api().get("/api/v1/me").status_code == 200


def test_missing_key_and_other_tenants_key_give_the_same_404(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    missing = globex.api().get("/api/v1/api-keys/999999")
    foreign = globex.api().get(f"/api/v1/api-keys/{acme.api_key.pk}")
    assert missing.status_code == foreign.status_code == 404
    assert error_of(missing) == error_of(foreign)

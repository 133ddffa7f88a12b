"""The staff console: staff only, staff-wide, secrets never shown, actions audited."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiKey, User
from audit.models import AuditEvent
from tenancy.context import tenant_context, unscoped
from tenancy.models import Membership, Tenant
from tests.conftest import TenantSetup


@pytest.fixture
def staff(db: None) -> Client:
    user = User.objects.create_superuser("root@example.com", "pw-for-staff-123")
    client = Client()
    client.force_login(user)
    return client


def test_tenant_owner_who_is_not_staff_cannot_open_the_console(acme: TenantSetup) -> None:
    response = acme.browser().get("/console/tenancy/tenant/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


def test_staff_sees_every_tenant_and_membership(
    staff: Client, acme: TenantSetup, globex: TenantSetup
) -> None:
    tenants = staff.get("/console/tenancy/tenant/")
    assert tenants.status_code == 200
    assert b"Acme" in tenants.content
    assert b"Globex" in tenants.content
    memberships = staff.get("/console/tenancy/membership/")
    assert acme.owner.email.encode() in memberships.content
    assert globex.owner.email.encode() in memberships.content


def test_api_key_pages_never_show_the_secret_hash(staff: Client, acme: TenantSetup) -> None:
    listing = staff.get("/console/accounts/apikey/")
    assert acme.api_key.prefix.encode() in listing.content
    detail = staff.get(f"/console/accounts/apikey/{acme.api_key.pk}/change/")
    assert detail.status_code == 200
    assert acme.api_key.secret_hash.encode() not in detail.content
    assert acme.api_key.secret_hash.encode() not in listing.content


def test_suspend_and_activate_actions_are_audited(staff: Client, acme: TenantSetup) -> None:
    response = staff.post("/console/tenancy/tenant/", {
        "action": "suspend", "_selected_action": [acme.tenant.pk],
    })
    assert response.status_code == 302
    acme.tenant.refresh_from_db()
    assert acme.tenant.status == Tenant.Status.SUSPENDED
    assert acme.api().get("/api/v1/me").status_code == 403
    staff.post("/console/tenancy/tenant/", {
        "action": "activate", "_selected_action": [acme.tenant.pk],
    })
    acme.tenant.refresh_from_db()
    assert acme.tenant.status == Tenant.Status.ACTIVE
    changes = AuditEvent.objects.filter(action="tenant_status_changed", tenant=acme.tenant)
    assert [event.details for event in changes.order_by("created_at")] == [
        {"from": "active", "to": "suspended"},
        {"from": "suspended", "to": "active"},
    ]


def test_revoke_action_revokes_the_key(staff: Client, acme: TenantSetup) -> None:
    staff.post("/console/accounts/apikey/", {
        "action": "revoke", "_selected_action": [acme.api_key.pk],
    })
    assert acme.api().get("/api/v1/me").status_code == 401
    assert AuditEvent.objects.filter(action="api_key_revoked", tenant=acme.tenant).exists()


def test_staff_adds_a_member_through_the_tenant_inline(staff: Client, acme: TenantSetup) -> None:
    newcomer = User.objects.create_user("new@example.com", "x-password-123")
    with unscoped():
        existing = list(Membership.objects.filter(tenant=acme.tenant))
    data = {
        "slug": acme.tenant.slug, "name": acme.tenant.name, "status": "active",
        "membership_set-TOTAL_FORMS": str(len(existing) + 1),
        "membership_set-INITIAL_FORMS": str(len(existing)),
        "membership_set-MIN_NUM_FORMS": "0", "membership_set-MAX_NUM_FORMS": "1000",
    }
    for index, membership in enumerate(existing):
        data |= {f"membership_set-{index}-id": str(membership.pk),
                 f"membership_set-{index}-tenant": str(acme.tenant.pk),
                 f"membership_set-{index}-user": str(membership.user_id),
                 f"membership_set-{index}-role": membership.role}
    index = len(existing)
    data |= {f"membership_set-{index}-tenant": str(acme.tenant.pk),
             f"membership_set-{index}-user": str(newcomer.pk),
             f"membership_set-{index}-role": "viewer"}
    response = staff.post(f"/console/tenancy/tenant/{acme.tenant.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(acme.tenant.pk):
        assert Membership.objects.get(user=newcomer).role == "viewer"


def test_sign_ins_and_failed_sign_ins_are_in_the_audit_log(
    staff: Client, acme: TenantSetup, password: str
) -> None:
    client = Client()
    client.post("/accounts/login/", {"username": acme.owner.email, "password": "wrong"})
    client.post("/accounts/login/", {"username": acme.owner.email, "password": password})
    actions = list(
        AuditEvent.objects.filter(target=acme.owner.email).values_list("action", flat=True)
    )
    assert "sign_in_failed" in actions
    assert "sign_in" in actions
    log = staff.get("/console/audit/auditevent/")
    assert b"Failed sign-in" in log.content
    assert b"wrong" not in log.content  # never the password tried


def test_audit_log_is_read_only(staff: Client, acme: TenantSetup) -> None:
    event = AuditEvent.objects.first()
    assert event is not None
    response = staff.post(f"/console/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_console_does_not_leak_unscoped_into_tenant_requests(
    staff: Client, acme: TenantSetup, globex: TenantSetup
) -> None:
    staff.get("/console/accounts/apikey/")
    ids = [row["id"] for row in globex.api().get("/api/v1/api-keys").json()["results"]]
    assert ids == [globex.api_key.pk]
    with tenant_context(acme.tenant.pk):
        assert ApiKey.objects.count() == 1

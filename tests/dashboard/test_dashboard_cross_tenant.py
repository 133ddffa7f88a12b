"""Cross-tenant: globex's owner, signed in to globex, aims at acme's objects by id.

Every attempt is the same 404 as a missing object, and acme's rows are unchanged.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import ApiKey, Invitation
from accounts.services import invitation_create
from tenancy.context import tenant_context
from tenancy.models import Membership, Role
from tests.conftest import TenantSetup


@pytest.fixture
def acme_member(acme: TenantSetup) -> Membership:
    return acme.add_member(Role.MEMBER)


@pytest.fixture
def acme_invitation(acme: TenantSetup) -> Invitation:
    with tenant_context(acme.tenant.pk):
        return invitation_create(actor=acme.membership, email="invitee@example.com",
                                 role=Role.MEMBER).invitation


def test_change_role_of_another_tenants_member_is_404(
    acme: TenantSetup, globex: TenantSetup, acme_member: Membership
) -> None:
    client = globex.browser()
    url = reverse("dashboard:member_change_role", args=[acme_member.pk])

    assert client.post(url, {"role": Role.ADMIN}).status_code == 404
    assert client.post(url, {"role": Role.ADMIN}, HTTP_HX_REQUEST="true").status_code == 404

    with tenant_context(acme.tenant.pk):
        assert Membership.objects.get(pk=acme_member.pk).role == Role.MEMBER


def test_remove_another_tenants_member_is_404(
    acme: TenantSetup, globex: TenantSetup, acme_member: Membership
) -> None:
    client = globex.browser()

    for membership_id in (acme_member.pk, acme.membership.pk):
        url = reverse("dashboard:member_remove", args=[membership_id])
        assert client.post(url).status_code == 404

    with tenant_context(acme.tenant.pk):
        assert Membership.objects.filter(pk__in=[acme_member.pk, acme.membership.pk]).count() == 2


def test_revoke_another_tenants_api_key_is_404(acme: TenantSetup, globex: TenantSetup) -> None:
    url = reverse("dashboard:api_key_revoke", args=[acme.api_key.pk])

    assert globex.browser().post(url).status_code == 404

    with tenant_context(acme.tenant.pk):
        assert ApiKey.objects.get(pk=acme.api_key.pk).revoked_at is None


def test_revoke_another_tenants_invitation_is_404(
    acme: TenantSetup, globex: TenantSetup, acme_invitation: Invitation
) -> None:
    url = reverse("dashboard:invitation_revoke", args=[acme_invitation.pk])

    assert globex.browser().post(url).status_code == 404

    with tenant_context(acme.tenant.pk):
        assert Invitation.objects.filter(pk=acme_invitation.pk, accepted_at=None).exists()


def test_another_tenants_objects_never_appear_on_the_pages(
    acme: TenantSetup, globex: TenantSetup, acme_member: Membership, acme_invitation: Invitation
) -> None:
    client = globex.browser()

    members = client.get(reverse("dashboard:settings_members")).content.decode()
    keys = client.get(reverse("dashboard:settings_api_keys")).content.decode()

    assert acme_member.user.email not in members
    assert acme_invitation.email not in members
    assert acme.api_key.prefix not in keys
    assert globex.api_key.prefix in keys

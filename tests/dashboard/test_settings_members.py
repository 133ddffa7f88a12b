"""Settings: workspace and members pages, invitations, role changes and removals."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Invitation
from accounts.services import invitation_create
from tenancy.context import tenant_context
from tenancy.models import Membership, Role
from tests.conftest import TenantSetup


def _client_for(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _role_of(setup: TenantSetup, membership_id: int) -> str:
    with tenant_context(setup.tenant.pk):
        return Membership.objects.get(pk=membership_id).role


def test_workspace_page_shows_name_slug_and_role(acme: TenantSetup) -> None:
    response = acme.browser().get(reverse("dashboard:settings_workspace"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Acme" in page
    assert "<code>acme</code>" in page
    assert "Owner" in page


def test_members_page_lists_members_and_pending_invitations(acme: TenantSetup) -> None:
    member = acme.add_member(Role.MEMBER)
    with tenant_context(acme.tenant.pk):
        invitation_create(actor=acme.membership, email="new@example.com", role=Role.VIEWER)

    response = acme.browser().get(reverse("dashboard:settings_members"))

    assert response.status_code == 200
    page = response.content.decode()
    assert acme.owner.email in page
    assert member.user.email in page
    assert "new@example.com" in page
    assert reverse("dashboard:member_remove", args=[member.pk]) in page
    # The owner cannot change their own membership from the page.
    assert reverse("dashboard:member_remove", args=[acme.membership.pk]) not in page


def test_owner_invites_a_member_by_email(acme: TenantSetup,
                                         django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.browser().post(reverse("dashboard:settings_members"),
                                       {"email": "New@Example.com", "role": Role.ADMIN})

    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role) == ("new@example.com", Role.ADMIN)
    assert len(mail.outbox) == 1
    assert "/accounts/invitations/" in mail.outbox[0].body


def test_inviting_an_existing_member_is_a_form_error(acme: TenantSetup) -> None:
    member = acme.add_member()

    response = acme.browser().post(reverse("dashboard:settings_members"),
                                   {"email": member.user.email, "role": Role.MEMBER})

    assert response.status_code == 200
    assert "is already a member" in response.content.decode()


def test_admin_cannot_invite_an_owner(acme: TenantSetup) -> None:
    admin = acme.add_member(Role.ADMIN)

    response = _client_for(admin).post(reverse("dashboard:settings_members"),
                                       {"email": "boss@example.com", "role": Role.OWNER})

    assert response.status_code == 200
    assert response.context["invite_form"].errors["role"]
    with tenant_context(acme.tenant.pk):
        assert not Invitation.objects.exists()


def test_owner_changes_a_role_with_a_plain_post(acme: TenantSetup) -> None:
    member = acme.add_member(Role.VIEWER)

    response = acme.browser().post(reverse("dashboard:member_change_role", args=[member.pk]),
                                   {"role": Role.ADMIN}, follow=True)

    assert response.status_code == 200
    assert "is now Admin" in response.content.decode()
    assert _role_of(acme, member.pk) == Role.ADMIN


def test_role_change_over_htmx_answers_with_the_row(acme: TenantSetup) -> None:
    member = acme.add_member(Role.VIEWER)

    response = acme.browser().post(reverse("dashboard:member_change_role", args=[member.pk]),
                                   {"role": Role.MEMBER}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="member-{member.pk}"' in page
    assert "<html" not in page  # just the row, for hx-swap="outerHTML"
    assert '<option value="member" selected>' in page
    assert "Saved" in page
    assert _role_of(acme, member.pk) == Role.MEMBER


def test_role_change_refused_by_the_rules_is_a_message_not_a_500(acme: TenantSetup) -> None:
    admin = acme.add_member(Role.ADMIN)

    response = _client_for(admin).post(
        reverse("dashboard:member_change_role", args=[acme.membership.pk]),
        {"role": Role.VIEWER}, follow=True,
    )

    assert response.status_code == 200
    assert "Only an owner can change another owner." in response.content.decode()
    assert _role_of(acme, acme.membership.pk) == Role.OWNER


def test_unknown_role_is_a_message_not_a_500(acme: TenantSetup) -> None:
    member = acme.add_member()

    response = acme.browser().post(reverse("dashboard:member_change_role", args=[member.pk]),
                                   {"role": "emperor"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "Unknown role" in response.content.decode()
    assert _role_of(acme, member.pk) == Role.MEMBER


def test_owner_removes_a_member(acme: TenantSetup) -> None:
    member = acme.add_member()

    response = acme.browser().post(reverse("dashboard:member_remove", args=[member.pk]),
                                   follow=True)

    assert "was removed" in response.content.decode()
    with tenant_context(acme.tenant.pk):
        assert not Membership.objects.filter(pk=member.pk).exists()


def test_owner_cannot_remove_themselves(acme: TenantSetup) -> None:
    response = acme.browser().post(reverse("dashboard:member_remove",
                                           args=[acme.membership.pk]), follow=True)

    assert "You cannot change your own membership." in response.content.decode()
    with tenant_context(acme.tenant.pk):
        assert Membership.objects.filter(pk=acme.membership.pk).exists()


def test_owner_revokes_an_invitation(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        invitation = invitation_create(actor=acme.membership, email="x@example.com",
                                       role=Role.MEMBER).invitation

    response = acme.browser().post(reverse("dashboard:invitation_revoke", args=[invitation.pk]))

    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        assert not Invitation.objects.exists()


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_can_look_but_not_manage(acme: TenantSetup, role: str) -> None:
    other = acme.add_member(Role.MEMBER)
    with tenant_context(acme.tenant.pk):
        invitation = invitation_create(actor=acme.membership, email="x@example.com",
                                       role=Role.MEMBER).invitation
    client = _client_for(acme.add_member(role))

    page = client.get(reverse("dashboard:settings_members"))
    assert page.status_code == 200
    assert other.user.email in page.content.decode()
    assert "Send invitation" not in page.content.decode()

    attempts = [
        (reverse("dashboard:settings_members"), {"email": "y@example.com", "role": "member"}),
        (reverse("dashboard:member_change_role", args=[other.pk]), {"role": "admin"}),
        (reverse("dashboard:member_remove", args=[other.pk]), {}),
        (reverse("dashboard:invitation_revoke", args=[invitation.pk]), {}),
    ]
    for url, data in attempts:
        assert client.post(url, data).status_code == 403, url

    assert _role_of(acme, other.pk) == Role.MEMBER
    with tenant_context(acme.tenant.pk):
        assert Invitation.objects.filter(pk=invitation.pk).exists()
        assert not Invitation.objects.filter(email="y@example.com").exists()

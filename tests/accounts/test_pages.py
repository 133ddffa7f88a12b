"""Sign-in, sign-out, password reset and invitation pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from accounts.models import Invitation, User
from accounts.services import CreatedInvitation, invitation_create
from tenancy.context import tenant_context
from tenancy.models import Membership, Role
from tenancy.selectors import SESSION_TENANT_KEY
from tests.conftest import TenantSetup
from tests.factories import UserFactory

# --- Sign in and out ------------------------------------------------------------------------


def test_sign_in_with_email_and_password(acme: TenantSetup, password: str) -> None:
    client = Client()
    assert client.get(reverse("accounts:login")).status_code == 200

    response = client.post(reverse("accounts:login"),
                           {"username": acme.owner.email, "password": password})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")
    assert get_user(client).pk == acme.owner.pk


def test_sign_in_with_a_wrong_password_shows_an_error(acme: TenantSetup) -> None:
    client = Client()

    response = client.post(reverse("accounts:login"),
                           {"username": acme.owner.email, "password": "nope"})

    assert response.status_code == 200
    assert "don&#x27;t match an account" in response.content.decode()
    assert not get_user(client).is_authenticated


def test_sign_in_follows_next(acme: TenantSetup, password: str) -> None:
    next_url = reverse("dashboard:settings_members")

    response = Client().post(reverse("accounts:login") + f"?next={next_url}",
                             {"username": acme.owner.email, "password": password,
                              "next": next_url})

    assert response["Location"] == next_url


def test_sign_out_is_post_only(acme: TenantSetup) -> None:
    client = acme.browser()

    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert not get_user(client).is_authenticated


# --- Password reset -------------------------------------------------------------------------


def test_password_reset_sends_a_link_that_sets_a_new_password(acme: TenantSetup,
                                                              password: str) -> None:
    client = Client()
    assert client.get(reverse("accounts:password_reset")).status_code == 200

    response = client.post(reverse("accounts:password_reset"), {"email": acme.owner.email})

    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [acme.owner.email]
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mail.outbox[0].body)
    assert link is not None

    form_page = client.get(link.group(1), follow=True)
    assert form_page.context["validlink"]
    set_password_url = form_page.redirect_chain[-1][0]
    done = client.post(set_password_url, {"new_password1": "a-brand-new-secret-42",
                                          "new_password2": "a-brand-new-secret-42"})

    assert done["Location"] == reverse("accounts:password_reset_complete")
    acme.owner.refresh_from_db()
    assert acme.owner.check_password("a-brand-new-secret-42")
    assert not acme.owner.check_password(password)
    # The link is single-use.
    assert not Client().get(link.group(1), follow=True).context["validlink"]


def test_password_reset_for_an_unknown_email_sends_nothing_and_reveals_nothing(db: None) -> None:
    response = Client().post(reverse("accounts:password_reset"), {"email": "who@example.com"})

    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


# --- Invitations ----------------------------------------------------------------------------


def _invite(setup: TenantSetup, email: str, role: str = Role.MEMBER) -> CreatedInvitation:
    with tenant_context(setup.tenant.pk):
        return invitation_create(actor=setup.membership, email=email, role=role)


def _url(created: CreatedInvitation) -> str:
    return reverse("accounts:invitation_accept", kwargs={"token": created.token})


def _membership(setup: TenantSetup, user: User) -> Membership | None:
    with tenant_context(setup.tenant.pk):
        return Membership.objects.filter(user=user).first()


def test_new_user_creates_an_account_and_joins(acme: TenantSetup) -> None:
    created = _invite(acme, "newbie@example.com", Role.ADMIN)
    client = Client()
    page = client.get(_url(created))
    assert page.status_code == 200
    assert page.context["state"] == "sign_up"

    response = client.post(_url(created), {"first_name": "Nina",
                                           "password1": "plenty-long-passphrase-7",
                                           "password2": "plenty-long-passphrase-7"})

    assert response["Location"] == reverse("dashboard:home")
    user = User.objects.get(email="newbie@example.com")
    assert user.first_name == "Nina"
    assert user.check_password("plenty-long-passphrase-7")
    assert get_user(client).pk == user.pk
    assert _membership(acme, user).role == Role.ADMIN
    assert client.session[SESSION_TENANT_KEY] == acme.tenant.pk
    assert client.get(reverse("dashboard:home")).context["current_tenant"] == acme.tenant


@pytest.mark.parametrize(("password1", "password2"), [
    ("short", "short"),
    ("password123", "password123"),
    ("plenty-long-passphrase-7", "a-different-passphrase-7"),
])
def test_new_user_password_is_validated(acme: TenantSetup, password1: str,
                                        password2: str) -> None:
    created = _invite(acme, "newbie@example.com")

    response = Client().post(_url(created), {"first_name": "Nina", "password1": password1,
                                             "password2": password2})

    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    assert not User.objects.filter(email="newbie@example.com").exists()


def test_existing_user_not_signed_in_is_asked_to_sign_in(acme: TenantSetup) -> None:
    user = UserFactory(email="known@example.com")
    created = _invite(acme, user.email)

    response = Client().get(_url(created))

    assert response.status_code == 200
    assert response.context["state"] == "sign_in"
    assert response.context["login_url"] == (
        reverse("accounts:login") + "?" + urlencode({"next": _url(created)})
    )
    assert _membership(acme, user) is None


def test_existing_user_signs_in_and_accepts(acme: TenantSetup, globex: TenantSetup,
                                            password: str) -> None:
    created = _invite(acme, globex.owner.email, Role.VIEWER)
    client = Client()
    client.post(reverse("accounts:login"), {"username": globex.owner.email,
                                            "password": password})
    assert client.get(reverse("dashboard:home")).context["current_tenant"] == globex.tenant

    page = client.get(_url(created))
    assert page.context["state"] == "accept"
    response = client.post(_url(created))

    assert response["Location"] == reverse("dashboard:home")
    assert _membership(acme, globex.owner).role == Role.VIEWER
    # Switched to the workspace just joined; still a member of the previous one.
    assert client.session[SESSION_TENANT_KEY] == acme.tenant.pk
    assert _membership(globex, globex.owner).role == Role.OWNER


def test_wrong_account_signed_in_gets_a_clear_message(acme: TenantSetup,
                                                      globex: TenantSetup) -> None:
    created = _invite(acme, "someone-else@example.com")
    client = globex.browser()

    for response in (client.get(_url(created)), client.post(_url(created))):
        assert response.status_code == 403
        page = response.content.decode()
        assert "This invitation is for <strong>someone-else@example.com</strong>" in page
        assert f"you are signed in as <strong>{globex.owner.email}</strong>" in page

    assert _membership(acme, globex.owner) is None
    with tenant_context(acme.tenant.pk):
        assert Invitation.objects.get(pk=created.invitation.pk).accepted_at is None


def test_expired_invitation_is_a_friendly_404(acme: TenantSetup) -> None:
    created = _invite(acme, "late@example.com")
    with tenant_context(acme.tenant.pk):
        Invitation.objects.filter(pk=created.invitation.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1))

    response = Client().get(_url(created))

    assert response.status_code == 404
    assert "This invitation can't be used" in response.content.decode()


def test_unknown_used_and_revoked_invitations_are_404(acme: TenantSetup) -> None:
    used = _invite(acme, "used@example.com")
    with tenant_context(acme.tenant.pk):
        Invitation.objects.filter(pk=used.invitation.pk).update(accepted_at=timezone.now())
    revoked = _invite(acme, "revoked@example.com")
    acme.browser().post(reverse("dashboard:invitation_revoke", args=[revoked.invitation.pk]))

    for url in (_url(used), _url(revoked), reverse("accounts:invitation_accept",
                                                   kwargs={"token": "not-a-token"})):
        response = Client().post(url, {"first_name": "X", "password1": "plenty-long-pass-7",
                                       "password2": "plenty-long-pass-7"})
        assert response.status_code == 404, url
    assert not User.objects.filter(email__in=["used@example.com", "revoked@example.com"]).exists()

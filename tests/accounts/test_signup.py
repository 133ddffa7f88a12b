"""Self-service sign-up and email verification: the account, its workspace on the Free plan,
the audit trail, the link the email carries, and what an unverified account may not do."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, User
from audit.models import AuditEvent
from billing.models import Subscription
from tenancy.context import tenant_context, unscoped
from tenancy.models import Membership, Role, Tenant
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

STRONG = "lantern-quarry-mosaic-41"  # passes the validators


def _sign_up(client: Client, **overrides: str):  # noqa: ANN202
    data = {"email": "Ada@Example.com", "password1": STRONG, "password2": STRONG,
            "workspace_name": "Analytical Engines", **overrides}
    return client.post(reverse("accounts:signup"), data)


def _link(message: str) -> str:
    found = re.search(r"https?://[^/\s]+(/accounts/verify/\S+)", message)
    assert found, message
    return found.group(1)


def test_sign_up_creates_an_owner_a_free_workspace_and_sends_the_link(
        django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    client = Client()
    assert client.get(reverse("accounts:signup")).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = _sign_up(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")
    user = User.objects.get(email="ada@example.com")
    assert get_user(client).pk == user.pk
    assert user.email_verified_at is None
    tenant = Tenant.objects.get(slug="analytical-engines")
    assert tenant.name == "Analytical Engines"
    with tenant_context(tenant.pk):
        assert Membership.objects.get().user_id == user.pk
        assert Membership.objects.get().role == Role.OWNER
        assert Subscription.objects.get().plan.code == "free"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SIGNED_UP, actor=user,
                                     tenant=tenant).exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    assert "/accounts/verify/" in mail.outbox[0].body
    # Signed in to the new workspace, with the banner.
    home = client.get(reverse("dashboard:home")).content.decode()
    assert "Analytical Engines" in home
    assert 'data-testid="verify-banner"' in home


def test_the_link_verifies_the_address_once(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client)
    link = _link(mail.outbox[0].body)

    # Opened signed out (another browser) it works too.
    response = Client().get(link)

    assert response.status_code == 302
    user = User.objects.get(email="ada@example.com")
    assert user.email_verified_at is not None
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EMAIL_VERIFIED,
                                     actor=user).count() == 1
    home = client.get(reverse("dashboard:home")).content.decode()
    assert 'data-testid="verify-banner"' not in home
    # A second use: no second verification; the signed-in owner is told it is done.
    again = client.get(link)
    assert again.status_code == 200
    assert "Already verified" in again.content.decode()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EMAIL_VERIFIED).count() == 1


@pytest.mark.parametrize("link", ["/accounts/verify/MQ/nonsense-token/",
                                  "/accounts/verify/%%%/x/",
                                  "/accounts/verify/OTk5OTk5/abc-def/"])
def test_a_bad_link_is_a_404_page_not_a_500(link: str) -> None:
    response = Client().get(link)

    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EMAIL_VERIFIED).exists()


def test_the_link_of_another_user_does_not_verify_me(
        acme: TenantSetup, django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(Client())
    uid = _link(mail.outbox[0].body).split("/")[3]
    other = Client()
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(other, email="bob@example.com", workspace_name="Bobs")
    bob_token = _link(mail.outbox[1].body).split("/")[4]

    response = Client().get(f"/accounts/verify/{uid}/{bob_token}/")

    assert response.status_code == 404
    assert not User.objects.filter(email_verified_at__isnull=False,
                                   email__in=["ada@example.com", "bob@example.com"]).exists()


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"email": "not-an-email"}, "email", "valid email"),
    ({"email": ""}, "email", "required"),
    ({"password2": "something-else-99"}, "password2", "didn’t match"),
    ({"password1": "123", "password2": "123"}, "password2", "too short"),
    ({"password1": "password", "password2": "password"}, "password2", "too common"),
    ({"password1": "ada@example.com1", "password2": "ada@example.com1"}, "password2",
     "too similar"),
    ({"workspace_name": "   "}, "workspace_name", "required"),
    ({"workspace_name": "x" * 201}, "workspace_name", "at most 200"),
])
def test_bad_input_names_the_field_and_creates_nothing(overrides: dict[str, str], field: str,
                                                       message: str) -> None:
    response = _sign_up(Client(), **overrides)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not User.objects.exists()
    assert not Tenant.objects.exists()


def test_an_existing_address_is_refused_whatever_its_case(acme: TenantSetup) -> None:
    response = _sign_up(Client(), email=acme.owner.email.upper())

    assert response.status_code == 400
    assert "already exists" in " ".join(response.context["form"].errors["email"])
    assert User.objects.count() == 1
    assert Tenant.objects.count() == 1


def test_the_slug_comes_from_the_name_and_is_unique(acme: TenantSetup) -> None:
    _sign_up(Client(), email="a@example.com", workspace_name="Acme")
    _sign_up(Client(), email="b@example.com", workspace_name="ACME!")
    _sign_up(Client(), email="c@example.com", workspace_name="???")

    with unscoped():
        owners = dict(Membership.objects.values_list("user__email", "tenant__slug"))
    assert owners["a@example.com"] == "acme-2"
    assert owners["b@example.com"] == "acme-3"
    assert owners["c@example.com"] == "workspace"


def test_an_unverified_owner_cannot_create_api_keys(django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client)
    page = client.get(reverse("dashboard:settings_api_keys")).content.decode()
    assert 'data-testid="api-keys-verify-first"' in page

    response = client.post(reverse("dashboard:settings_api_keys"),
                           {"name": "Backend", "scopes": ["read"]})

    assert response.status_code == 200
    assert "Verify your email address before creating API keys" in response.content.decode()
    with unscoped():
        assert not ApiKey.objects.exists()

    client.get(_link(mail.outbox[0].body))
    response = client.post(reverse("dashboard:settings_api_keys"),
                           {"name": "Backend", "scopes": ["read"]})
    assert response.status_code == 302
    with unscoped():
        assert ApiKey.objects.count() == 1


def test_resend_sends_a_fresh_link_and_stays_on_the_site(
        django_capture_on_commit_callbacks) -> None:  # noqa: ANN001
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        _sign_up(client)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:email_verification_resend"),
                               {"next": "https://evil.example.com/"})

    assert response["Location"] == reverse("dashboard:home")
    assert len(mail.outbox) == 2
    assert Client().get(_link(mail.outbox[1].body)).status_code == 302
    assert User.objects.get().email_verified_at is not None


def test_signed_in_users_are_sent_home_from_the_sign_up_page(acme: TenantSetup) -> None:
    response = acme.browser().get(reverse("accounts:signup"))

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")


def test_accepting_an_invitation_verifies_the_address(acme: TenantSetup) -> None:
    from accounts.services import invitation_accept, invitation_create

    with tenant_context(acme.tenant.pk):
        created = invitation_create(actor=acme.membership, email="new@example.com",
                                    role=Role.MEMBER)
    user = User.objects.create_user(email="new@example.com", password=STRONG)
    assert user.email_verified_at is None

    invitation_accept(invitation=created.invitation, user=user)

    user.refresh_from_db()
    assert user.email_verified_at is not None

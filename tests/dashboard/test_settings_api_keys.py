"""Settings: API keys page (owners and admins only), secret shown once, revocation."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup

URL = "dashboard:settings_api_keys"


def test_owner_sees_the_keys_table(acme: TenantSetup) -> None:
    response = acme.browser().get(reverse(URL))

    assert response.status_code == 200
    page = response.content.decode()
    assert "acme key" in page
    assert acme.api_key.prefix in page
    assert "Active" in page


def test_admin_can_use_the_page(acme: TenantSetup) -> None:
    client = Client()
    client.force_login(acme.add_member(Role.ADMIN).user)

    assert client.get(reverse(URL)).status_code == 200


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_get_403(acme: TenantSetup, role: str) -> None:
    client = Client()
    client.force_login(acme.add_member(role).user)

    page = client.get(reverse(URL))
    assert page.status_code == 403
    assert "Only owners and admins can do this." in page.content.decode()
    assert client.post(reverse(URL), {"name": "x", "scopes": ["read"]}).status_code == 403
    assert client.post(reverse("dashboard:api_key_revoke",
                               args=[acme.api_key.pk])).status_code == 403
    with tenant_context(acme.tenant.pk):
        assert ApiKey.objects.count() == 1
        assert ApiKey.objects.get().revoked_at is None


def test_created_key_is_shown_once_and_works(acme: TenantSetup) -> None:
    client = acme.browser()

    response = client.post(reverse(URL), {"name": "CI", "scopes": ["read", "write"],
                                          "expires_on": "2999-01-01"}, follow=True)

    assert response.status_code == 200
    raw_key = response.context["new_key"]["raw_key"]
    assert raw_key.startswith("aip_")
    assert raw_key in response.content.decode()
    assert "won't be shown again" in response.content.decode()
    key = api_key_authenticate(raw_key=raw_key)
    assert (key.name, key.scopes, key.tenant_id) == ("CI", ["read", "write"], acme.tenant.pk)
    assert key.expires_at.year == 2999

    reloaded = client.get(reverse(URL))
    assert reloaded.context["new_key"] is None
    assert raw_key not in reloaded.content.decode()
    assert "CI" in reloaded.content.decode()


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "", "scopes": ["read"]}, "name"),
    ({"name": "x", "scopes": []}, "scopes"),
    ({"name": "x", "scopes": ["root"]}, "scopes"),
    ({"name": "x", "scopes": ["read"], "expires_on": "2001-01-01"}, "expires_on"),
    ({"name": "x", "scopes": ["read"], "expires_on": "tomorrow"}, "expires_on"),
])
def test_bad_input_is_a_form_error(acme: TenantSetup, data: dict, field: str) -> None:
    response = acme.browser().post(reverse(URL), data)

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    with tenant_context(acme.tenant.pk):
        assert ApiKey.objects.count() == 1


def test_owner_revokes_a_key(acme: TenantSetup) -> None:
    response = acme.browser().post(reverse("dashboard:api_key_revoke", args=[acme.api_key.pk]),
                                   follow=True)

    assert response.status_code == 200
    assert "was revoked" in response.content.decode()
    assert "Revoked" in response.content.decode()
    with tenant_context(acme.tenant.pk):
        assert ApiKey.objects.get(pk=acme.api_key.pk).revoked_at is not None

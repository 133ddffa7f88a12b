"""The dashboard shell: layout, overview, tenant switcher, suspended tenants."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from accounts.middleware import SUSPENDED_MESSAGE
from tenancy.models import Role
from tenancy.selectors import SESSION_TENANT_KEY
from tenancy.services import tenant_set_status
from tests.conftest import TenantSetup
from tests.factories import UserFactory

NOT_BUILT_YET: list[str] = []
BUILT = {"Jobs": "jobs:job_list", "Models": "jobs:model_list", "Datasets": "jobs:dataset_list",
         "Finance sentiment": "finance:overview", "Support bot": "bot:overview",
         "Usage": "billing:usage",
         "Billing": "billing:overview", "Recommendations": "recs:overview"}


def test_overview_shows_workspace_role_and_counts(acme: TenantSetup) -> None:
    acme.add_member(Role.VIEWER)

    response = acme.browser().get(reverse("dashboard:home"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Acme" in page
    assert "Owner" in page
    assert response.context["overview"].member_count == 2
    assert response.context["overview"].active_api_key_count == 1
    assert reverse("dashboard:settings_api_keys") in page


def test_navigation_has_every_section_and_no_dead_links(acme: TenantSetup) -> None:
    page = acme.browser().get(reverse("dashboard:home")).content.decode()

    for section in NOT_BUILT_YET:
        assert f'aria-disabled="true">{section} <span class="badge badge-soon">Soon</span>' in page
    assert 'href="#"' not in page
    assert f'href="{reverse("dashboard:settings_workspace")}"' in page
    client = acme.browser()
    for section, url_name in BUILT.items():
        assert f'href="{reverse(url_name)}">{section}</a>' in page
        assert client.get(reverse(url_name)).status_code == 200


def test_sign_out_is_a_post_form(acme: TenantSetup) -> None:
    page = acme.browser().get(reverse("dashboard:home")).content.decode()

    assert f'method="post" action="{reverse("accounts:logout")}"' in page


def test_anonymous_user_is_sent_to_sign_in(db: None) -> None:
    response = Client().get(reverse("dashboard:home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_user_without_workspace_sees_an_explanation(db: None) -> None:
    client = Client()
    client.force_login(UserFactory())

    response = client.get(reverse("dashboard:home"))

    assert response.status_code == 200
    assert b"No workspace yet" in response.content


def test_viewer_sees_overview_without_admin_links(acme: TenantSetup) -> None:
    client = Client()
    client.force_login(acme.add_member(Role.VIEWER).user)

    response = client.get(reverse("dashboard:home"))

    assert response.status_code == 200
    assert reverse("dashboard:settings_api_keys") not in response.content.decode()


def test_tenant_switcher_lists_memberships_and_switches(acme: TenantSetup,
                                                        globex: TenantSetup) -> None:
    from tenancy.context import tenant_context
    from tenancy.models import Membership

    with tenant_context(globex.tenant.pk):
        Membership.objects.create(tenant=globex.tenant, user=acme.owner, role=Role.VIEWER)
    client = acme.browser()
    page = client.get(reverse("dashboard:home")).content.decode()
    assert f'name="tenant" value="{globex.tenant.pk}"' in page

    response = client.post(reverse("dashboard:tenant_switch"), {"tenant": globex.tenant.pk})

    assert response.status_code == 302
    assert client.session[SESSION_TENANT_KEY] == globex.tenant.pk
    overview = client.get(reverse("dashboard:home"))
    assert overview.context["current_tenant"] == globex.tenant
    assert overview.context["current_membership"].role == Role.VIEWER


def test_tenant_switcher_refuses_a_tenant_the_user_does_not_belong_to(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    client = acme.browser()
    client.get(reverse("dashboard:home"))

    response = client.post(reverse("dashboard:tenant_switch"), {"tenant": globex.tenant.pk})

    assert response.status_code == 404
    assert client.session[SESSION_TENANT_KEY] == acme.tenant.pk
    assert client.get(reverse("dashboard:home")).context["current_tenant"] == acme.tenant


def test_tenant_switcher_rejects_garbage_and_get(acme: TenantSetup) -> None:
    client = acme.browser()

    assert client.post(reverse("dashboard:tenant_switch"), {"tenant": "abc"}).status_code == 404
    assert client.get(reverse("dashboard:tenant_switch")).status_code == 405


def test_suspended_tenant_gets_403_with_the_message(acme: TenantSetup) -> None:
    tenant_set_status(tenant=acme.tenant, status="suspended", actor_id=None)
    client = acme.browser()

    for name in ["dashboard:home", "dashboard:settings_members", "dashboard:settings_api_keys"]:
        response = client.get(reverse(name))
        assert response.status_code == 403
        assert str(SUSPENDED_MESSAGE) in response.content.decode()


def test_missing_page_gets_the_friendly_404(acme: TenantSetup) -> None:
    response = acme.browser().get("/no-such-page/")

    assert response.status_code == 404
    assert b"Page not found" in response.content

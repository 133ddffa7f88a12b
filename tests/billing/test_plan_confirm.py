"""A plan change is confirmed on a page that states the price, the prorated amount for the
rest of the period and the period's estimated bill (from the invoice's own proration); a bare
POST changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from django.test import Client

from billing.models import Plan, Subscription
from billing.services import invoice_build, plan_change_estimate, subscription_current
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 1, tzinfo=UTC)


def _plan(setup: TenantSetup) -> str:
    return setup.api().get("/api/v1/subscription").json()["plan"]


def _in_november(setup: TenantSetup) -> None:
    with tenant_context(setup.tenant.pk):
        Subscription.objects.filter(pk=subscription_current().pk).update(
            period_start=NOVEMBER, period_end=DECEMBER)


def test_one_click_no_longer_upgrades(acme: TenantSetup) -> None:
    owner = acme.browser()
    response = owner.post("/billing/plan/", {"plan": "pro"})
    assert response.status_code == 302
    assert response["Location"] == "/billing/plan/confirm/?plan=pro"
    assert _plan(acme) == "free"
    overview = owner.get("/billing/").content.decode()
    assert 'action="/billing/plan/confirm/"' in overview
    assert 'method="post" action="/billing/plan/"' not in overview


def test_confirmation_shows_the_price_prorated_amount_and_estimate(acme: TenantSetup) -> None:
    owner = acme.browser()
    page = owner.get("/billing/plan/confirm/", {"plan": "pro"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "49.00 USD per month" in html
    prorated = re.search(r'data-testid="prorated">([\d.]+) ', html)
    assert prorated
    with tenant_context(acme.tenant.pk):
        subscription = subscription_current()
    # The rest of the period's share of 49.00 (the page was drawn a moment ago).
    share = Decimal(49) * Decimal(
        (subscription.period_end - datetime.now(UTC)).total_seconds()
        / (subscription.period_end - subscription.period_start).total_seconds())
    assert abs(Decimal(prorated.group(1)) - share) <= Decimal("0.02")
    assert 'data-testid="estimate-total"' in html
    assert "Upgrade now for" in html
    assert _plan(acme) == "free"  # showing the price changes nothing
    owner.post("/billing/plan/", {"plan": "pro", "confirmed": "yes"})
    assert _plan(acme) == "pro"


def test_the_estimate_is_the_invoice_the_change_would_make(acme: TenantSetup) -> None:
    """The estimate reuses the invoice's proration: moving to Pro half-way through November
    estimates what closing November then invoices."""
    _in_november(acme)
    half_way = datetime(2026, 11, 16, tzinfo=UTC)
    with tenant_context(acme.tenant.pk):
        estimate = plan_change_estimate(plan_code="pro", now=half_way)
        assert estimate.is_upgrade
        assert estimate.prorated_fee == Decimal("24.50")  # 15 of 30 days of 49.00
        from billing.services import subscription_change_plan
        subscription_change_plan(plan_code="pro", now=half_way)
        invoice = invoice_build(subscription=subscription_current(), start=NOVEMBER,
                                end=DECEMBER)
    assert estimate.draft.subtotal == invoice.subtotal == Decimal("24.50")
    assert estimate.draft.total == invoice.total


def test_a_downgrade_is_confirmed_with_its_date_and_nothing_prorated(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        from billing.services import subscription_change_plan
        subscription_change_plan(plan_code="pro")
        estimate = plan_change_estimate(plan_code="free")
    assert not estimate.is_upgrade
    assert estimate.prorated_fee == 0
    html = acme.browser().get("/billing/plan/confirm/", {"plan": "free"}).content.decode()
    assert "takes effect at the end of the period" in html
    assert _plan(acme) == "pro"


def test_unknown_plan_is_named_and_members_cannot_confirm(acme: TenantSetup) -> None:
    owner = acme.browser()
    response = owner.get("/billing/plan/confirm/", {"plan": "gold"}, follow=True)
    assert "Unknown plan" in response.content.decode()
    member = Client()
    member.force_login(acme.add_member(Role.MEMBER).user)
    assert member.get("/billing/plan/confirm/", {"plan": "pro"}).status_code == 403
    assert member.post("/billing/plan/", {"plan": "pro", "confirmed": "yes"}).status_code == 403
    assert _plan(acme) == "free"
    assert not Plan.objects.filter(code="gold").exists()


def test_another_workspaces_confirmation_changes_only_that_workspace(
        acme: TenantSetup, globex: TenantSetup) -> None:
    globex.browser().post("/billing/plan/", {"plan": "pro", "confirmed": "yes"})
    assert _plan(globex) == "pro"
    assert _plan(acme) == "free"


def test_confirming_the_current_plan_says_so_and_cancels_a_scheduled_move(
        acme: TenantSetup) -> None:
    owner = acme.browser()
    owner.post("/billing/plan/", {"plan": "pro", "confirmed": "yes"})
    owner.post("/billing/plan/", {"plan": "free", "confirmed": "yes"})  # scheduled
    html = owner.get("/billing/plan/confirm/", {"plan": "pro"}).content.decode()
    assert "You are on Pro already" in html
    assert "cancels the move to Free" in html
    assert "Stay on Pro" in html
    owner.post("/billing/plan/", {"plan": "pro", "confirmed": "yes"})
    assert acme.api().get("/api/v1/subscription").json()["plan"] == "pro"
    assert 'data-testid="pending-plan"' not in owner.get("/billing/").content.decode()

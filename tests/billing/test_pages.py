"""Dashboard pages (usage with its chart, plan and invoices, printable invoice and CSV), the
invoice API, and the console; another tenant's invoice is a 404 everywhere and nothing
changes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import User
from billing.models import Invoice, Meter, Plan, PlanMeter, Subscription
from billing.periods import month_bounds
from billing.services import periods_close_due, subscription_current
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.billing.conftest import flush_all, record_usage
from tests.conftest import TenantSetup, error_of

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)


def september_invoice(setup: TenantSetup, plan_code: str = "pro") -> Invoice:
    with tenant_context(setup.tenant.pk):
        subscription = subscription_current()
        Subscription.objects.filter(pk=subscription.pk).update(
            period_start=SEPTEMBER, period_end=datetime(2026, 10, 1, tzinfo=UTC),
            plan=Plan.objects.get(code=plan_code))
    record_usage(setup, Meter.API_CALLS, 1_250_000, key="sep", occurred_at=SEPTEMBER)
    periods_close_due(now=datetime(2026, 10, 1, 1, tzinfo=UTC))
    with tenant_context(setup.tenant.pk):
        return Invoice.objects.get(period_start=SEPTEMBER)


@pytest.fixture
def staff(db: None) -> Client:
    user = User.objects.create_superuser("root@example.com", "pw-for-staff-123")
    client = Client()
    client.force_login(user)
    return client


# --- Usage -------------------------------------------------------------------------------------


def test_usage_page_shows_each_meter_against_the_plan_with_a_chart(acme: TenantSetup) -> None:
    start, _ = month_bounds()
    record_usage(acme, Meter.ITEMS_INFERRED, 2_500, key="job:1:items", occurred_at=start)
    with tenant_context(acme.tenant.pk):
        from billing.metering import meter_consume
        meter_consume(meter=Meter.ITEMS_INFERRED, quantity=500)  # not flushed yet
    page = acme.browser().get("/usage/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="usage-chart" data-meter="items_inferred"' in html
    assert html.count("<tr data-meter=") == len(Meter.values)
    row = html[html.index('<tr data-meter="items_inferred"'):]
    row = row[:row.index("</tr>")]
    assert ">3,000<" in row  # 2,500 recorded + 500 unflushed
    assert "30.0%" in row  # of Free's 10,000
    assert 'data-testid="usage-limit"' in html

    chat = acme.browser().get("/usage/?meter=chat_messages").content.decode()
    assert 'data-meter="chat_messages"' in chat
    assert acme.browser().get("/usage/?meter=nonsense").status_code == 200


def test_usage_api_per_meter_and_day_with_the_projection(acme: TenantSetup) -> None:
    start, end = month_bounds()
    record_usage(acme, Meter.CHAT_MESSAGES, 10, key="a", occurred_at=start)
    record_usage(acme, Meter.CHAT_MESSAGES, 5, key="b", occurred_at=start + timedelta(hours=5))
    body = acme.api().get("/api/v1/usage").json()
    assert body["plan"] == "free"
    chat = next(m for m in body["meters"] if m["meter"] == "chat_messages")
    assert (Decimal(chat["used"]), Decimal(chat["included"]), Decimal(chat["limit"])) == (
        Decimal(15), Decimal(1000), Decimal(1000))
    assert chat["daily"][0] == {"date": start.date().isoformat(), "quantity": "15.000000"}
    assert len(chat["daily"]) == (end - start).days
    assert Decimal(chat["projected"]) >= Decimal(15)

    ranged = acme.api().get("/api/v1/usage", {"from": start.date().isoformat(),
                                               "to": start.date().isoformat()}).json()
    chat = next(m for m in ranged["meters"] if m["meter"] == "chat_messages")
    assert len(chat["daily"]) == 1


@pytest.mark.parametrize(("query", "field"), [
    ({"from": "yesterday", "to": "2026-01-02"}, "from"),
    ({"from": "2026-01-05", "to": "2026-01-02"}, "to"),
    ({"from": "2026-01-05"}, "to"),
    ({"from": "2024-01-01", "to": "2026-01-02"}, "to"),
])
def test_bad_usage_ranges_are_400_naming_the_field(acme: TenantSetup, query: dict,
                                                   field: str) -> None:
    response = acme.api().get("/api/v1/usage", query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_usage_is_the_tenants_own(acme: TenantSetup, globex: TenantSetup) -> None:
    record_usage(acme, Meter.CHAT_MESSAGES, 77, key="a")
    flush_all()
    body = globex.api().get("/api/v1/usage").json()
    chat = next(m for m in body["meters"] if m["meter"] == "chat_messages")
    assert Decimal(chat["used"]) == 0
    assert ">77<" not in globex.browser().get("/usage/").content.decode()


# --- Plan and invoices -------------------------------------------------------------------------


def test_owners_change_the_plan_and_members_cannot(acme: TenantSetup) -> None:
    member = acme.add_member(Role.MEMBER)
    client = Client()
    client.force_login(member.user)
    assert client.post("/billing/plan/", {"plan": "pro", "confirmed": "yes"}).status_code == 403
    assert "Switch to Pro" not in client.get("/billing/").content.decode()

    owner = acme.browser()
    response = owner.post("/billing/plan/", {"plan": "pro", "confirmed": "yes"}, follow=True)
    assert 'data-testid="current-plan">Pro<' in response.content.decode()
    response = owner.post("/billing/plan/", {"plan": "free", "confirmed": "yes"}, follow=True)
    html = response.content.decode()
    assert 'data-testid="current-plan">Pro<' in html
    assert "Moving to Free" in html
    assert "Unknown plan" in owner.post("/billing/plan/", {"plan": "gold", "confirmed": "yes"},
                                        follow=True).content.decode()


def test_invoices_are_listed_printable_and_exported_as_csv(acme: TenantSetup) -> None:
    invoice = september_invoice(acme)
    client = acme.browser()
    listing = client.get("/billing/").content.decode()
    assert invoice.number in listing
    assert f"/billing/invoices/{invoice.pk}/" in listing

    page = client.get(f"/billing/invoices/{invoice.pk}/").content.decode()
    assert "@media print" not in page  # the print rules live in the stylesheet
    assert "data-print" in page  # the Print button (app.js: no inline handlers under the CSP)
    # Pro: 49.00 fee + 250,000 API calls over 1,000,000 at 0.10 per 1,000 = 25.00.
    assert 'data-testid="invoice-total">74.00 USD<' in page

    response = client.get(f"/billing/invoices/{invoice.pk}/csv/")
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="{invoice.number}.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    api_calls = next(row for row in rows if row["meter"] == "api_calls")
    assert (api_calls["quantity"], api_calls["billable_quantity"], api_calls["amount"]) == (
        "1250000", "250000", "25.00")
    assert rows[-1]["description"] == "Total"
    assert rows[-1]["amount"] == "74.00"

    api = acme.api()
    [listed] = api.get("/api/v1/invoices").json()["results"]
    assert (listed["number"], listed["total"], listed["currency"]) == (invoice.number, "74.00",
                                                                       "USD")
    csv_response = api.get(f"/api/v1/invoices/{invoice.pk}/csv")
    assert csv_response.status_code == 200
    assert b"api_calls" in csv_response.content


def test_another_tenants_invoice_is_404_everywhere_and_nothing_changes(
        acme: TenantSetup, globex: TenantSetup) -> None:
    invoice = september_invoice(acme)
    intruder = globex.api()
    url = f"/api/v1/invoices/{invoice.pk}"
    assert intruder.get("/api/v1/invoices").json()["results"] == []
    assert intruder.get(url).status_code == 404
    assert error_of(intruder.get(url)) == error_of(intruder.get("/api/v1/invoices/999999"))
    assert intruder.get(f"{url}/csv").status_code == 404
    for response in (intruder.patch(url, {"total": "0.00"}, format="json"),
                     intruder.put(url, {"total": "0.00"}, format="json"),
                     intruder.delete(url)):
        assert response.status_code in (404, 405)
    # Even the owner cannot change or delete an invoice through the API.
    assert acme.api().delete(url).status_code == 405

    browser = globex.browser()
    assert browser.get(f"/billing/invoices/{invoice.pk}/").status_code == 404
    assert browser.get(f"/billing/invoices/{invoice.pk}/csv/").status_code == 404
    assert invoice.number not in browser.get("/billing/").content.decode()
    with tenant_context(acme.tenant.pk):
        again = Invoice.objects.get(pk=invoice.pk)
    assert (again.total, again.status) == (invoice.total, invoice.status)


# --- Console -----------------------------------------------------------------------------------


def test_staff_edit_plans_in_the_console(staff: Client, acme: TenantSetup) -> None:
    plan = Plan.objects.get(code="free")
    terms = list(PlanMeter.objects.filter(plan=plan).order_by("pk"))
    data = {"code": "free", "name": "Free", "monthly_fee": "0.00", "position": "0",
            "is_public": "on", "description": plan.description,
            "meters-TOTAL_FORMS": str(len(terms)), "meters-INITIAL_FORMS": str(len(terms)),
            "meters-MIN_NUM_FORMS": "0", "meters-MAX_NUM_FORMS": "1000"}
    for index, term in enumerate(terms):
        data.update({
            f"meters-{index}-id": str(term.pk), f"meters-{index}-plan": str(plan.pk),
            f"meters-{index}-meter": term.meter,
            f"meters-{index}-included_quantity": str(term.included_quantity),
            f"meters-{index}-overage_unit_price": str(term.overage_unit_price),
            f"meters-{index}-overage_unit": str(term.overage_unit),
            f"meters-{index}-hard_limit": "2" if term.meter == Meter.API_CALLS
            else str(term.hard_limit or ""),
        })
    response = staff.post(f"/console/billing/plan/{plan.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PlanMeter.objects.get(plan=plan, meter=Meter.API_CALLS).hard_limit == 2
    # The new limit applies to the next API call.
    client = acme.api()
    assert [client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 402]


def test_console_shows_revenue_per_month_and_usage_by_tenant(
        staff: Client, acme: TenantSetup, globex: TenantSetup) -> None:
    september_invoice(acme, "pro")
    september_invoice(globex, "enterprise")
    record_usage(acme, Meter.CHAT_MESSAGES, 12, key="now")
    page = staff.get("/console/billing/invoice/revenue/")
    assert page.status_code == 200
    html = page.content.decode()
    # 74.00 (Pro, usage within Enterprise's allowance for globex) + 499.00.
    assert '<td data-month="2026-09">573.00</td>' in html
    assert f'<tr data-tenant="{acme.tenant.pk}"><td>Acme</td>' in html
    assert "Revenue and usage" in staff.get("/console/billing/invoice/").content.decode()
    assert staff.get("/console/billing/subscription/").status_code == 200


def test_the_console_is_staff_only(acme: TenantSetup) -> None:
    response = acme.browser().get("/console/billing/invoice/revenue/")
    assert response.status_code == 302
    assert "/console/login/" in response["Location"]


def test_a_plan_change_from_another_workspace_changes_only_that_workspace(
        acme: TenantSetup, globex: TenantSetup) -> None:
    assert globex.browser().post("/billing/plan/", {"plan": "enterprise",
                                                    "confirmed": "yes"}).status_code == 302
    assert acme.api().get("/api/v1/subscription").json()["plan"] == "free"
    assert globex.api().get("/api/v1/subscription").json()["plan"] == "enterprise"
    assert 'data-testid="current-plan">Free<' in acme.browser().get("/billing/").content.decode()

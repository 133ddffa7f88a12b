"""The console reads well: plural names are English ("webhook deliveries"), JSON fields are
pretty-printed and read-only, and each tenant has a health page (plan, usage against quota,
failing jobs, last activity)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from accounts.models import User
from billing.models import Meter, UsageRecord
from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from webhooks.models import WebhookDelivery, WebhookEndpoint


@pytest.fixture
def staff(db: None) -> Client:
    user = User.objects.create_superuser("root@example.com", "pw-for-staff-123")
    client = Client()
    client.force_login(user)
    return client


def test_plural_names_are_english() -> None:
    wrong = []
    for model in admin.site._registry:
        singular, plural = str(model._meta.verbose_name), str(model._meta.verbose_name_plural)
        if singular[-1:] == "y" and singular[-2:-1] not in "aeiou" and plural == singular + "s":
            wrong.append(plural)
        if singular.endswith(("s", "x", "ch", "sh", "back")) and plural == singular + "s":
            wrong.append(plural)
    assert wrong == []
    assert WebhookDelivery._meta.verbose_name_plural == "webhook deliveries"


def test_the_index_says_webhook_deliveries(staff: Client) -> None:
    html = staff.get("/console/").content.decode()
    assert "Webhook deliveries" in html
    assert "deliverys" not in html.lower()


def test_json_fields_are_pretty_printed_and_read_only(staff: Client, acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        endpoint = WebhookEndpoint.objects.create(url="https://example.com/hook")
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event="job.failed",
            payload={"job": {"id": 7, "error": "out of memory"}, "app": "finance"})
        job = Job.objects.create(app="finance_sentiment", kind="score_documents",
                                 params={"document_ids": [1, 2], "batch": 32})
    html = staff.get(f"/console/webhooks/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert '<pre class="console-json">' in html
    assert '&quot;job&quot;: {\n    &quot;error&quot;: &quot;out of memory&quot;' in html
    assert 'name="payload"' not in html
    job_page = staff.get(f"/console/jobs/job/{job.pk}/change/")
    assert job_page.status_code == 200
    assert '&quot;batch&quot;: 32,\n  &quot;document_ids&quot;: [' in job_page.content.decode()
    assert 'name="params"' not in job_page.content.decode()


def test_every_console_list_and_add_page_still_opens(staff: Client, acme: TenantSetup) -> None:
    """The JSON mixin is given to every model admin: none of their pages breaks."""
    broken = []
    for model in admin.site._registry:
        base = f"/console/{model._meta.app_label}/{model._meta.model_name}/"
        for url in (base, base + "add/"):
            status = staff.get(url).status_code
            if status not in (200, 403):
                broken.append((url, status))
    assert broken == []


def test_tenant_health_page(staff: Client, acme: TenantSetup, globex: TenantSetup) -> None:
    now = timezone.now()
    with tenant_context(acme.tenant.pk):
        failed = Job.objects.create(app="recommendation", kind="train", status=Job.Status.FAILED,
                                    error="There are no interactions to learn from",
                                    finished_at=now - timedelta(hours=2))
        Job.objects.create(app="recommendation", kind="train", status=Job.Status.FAILED,
                           error="long ago", finished_at=now - timedelta(days=30))
        UsageRecord.objects.create(meter=Meter.CHAT_MESSAGES, quantity=Decimal(850),
                                   idempotency_key="chat", occurred_at=now)
    listing = staff.get("/console/tenancy/tenant/").content.decode()
    assert f"/console/tenancy/tenant/{acme.tenant.pk}/health/" in listing
    page = staff.get(f"/console/tenancy/tenant/{acme.tenant.pk}/health/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<strong>Free</strong>" in html
    chat = html[html.index('<tr data-meter="chat_messages"'):]
    chat = chat[:chat.index("</tr>")]
    assert "850" in chat
    assert "85.0%" in chat
    assert "1 failed in the last 7 days" in html
    assert f"#{failed.pk}" in html
    assert "There are no interactions" in html
    assert "long ago" not in html
    assert "usage recorded" in html or "job submitted" in html
    # Globex's page shows none of acme's.
    other = staff.get(f"/console/tenancy/tenant/{globex.tenant.pk}/health/").content.decode()
    assert "0 failed in the last 7 days" in other
    assert "There are no interactions" not in other
    assert staff.get("/console/tenancy/tenant/999999/health/").status_code == 404


def test_owners_who_are_not_staff_cannot_open_the_health_page(acme: TenantSetup) -> None:
    response = acme.browser().get(f"/console/tenancy/tenant/{acme.tenant.pk}/health/")
    assert response.status_code == 302
    assert "/console/login/" in response["Location"]


@pytest.mark.parametrize("path", ["/console/jobs/job/queues/", "/console/billing/invoice/revenue/",
                                  "health"])
def test_console_pages_of_their_own_lead_back_to_their_model_list(
        staff: Client, acme: TenantSetup, path: str) -> None:
    if path == "health":
        path = f"/console/tenancy/tenant/{acme.tenant.pk}/health/"
    page = staff.get(path)
    assert page.status_code == 200, path
    breadcrumbs = page.content.decode().split('<div class="breadcrumbs">', 1)[1].split("</div>")[0]
    assert 'href="/console/"' in breadcrumbs
    assert 'href="/console/' in breadcrumbs.split("&rsaquo;")[2]  # the model's list

"""The Stripe adapter against a local fake Stripe (a real HTTP server in a thread, never the
network): customer, one invoice item per line, the invoice, finalised; idempotency keys make
a retry after a failure create nothing twice. End to end, a period close sends the invoice
through a real Celery worker."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from billing.models import Invoice, Meter, Plan, Subscription
from billing.payments import PaymentError, minor_units
from billing.services import invoice_submit, periods_close_due, subscription_current
from tenancy.context import tenant_context
from tests.billing.conftest import record_usage
from tests.conftest import TenantSetup

API_KEY = "sk_test_fake"
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
AFTER_CLOSE = datetime(2026, 10, 1, 1, tzinfo=UTC)


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    fail_request: int = 0  # answer the request with this number (from 1) with 500

    def created(self, prefix: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects.values() if obj["id"].startswith(prefix)]


@pytest.fixture
def stripe(settings) -> Iterator[FakeStripe]:
    state = FakeStripe()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            fields = dict(urllib.parse.parse_qsl(body))
            with lock:
                state.requests.append({"path": self.path, "fields": fields,
                                       "headers": dict(self.headers)})
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._answer(401, {"error": {"message": "bad key"}})
                if len(state.requests) == state.fail_request:
                    return self._answer(500, {"error": {"message": "try again"}})
                key = self.headers["Idempotency-Key"]
                if key not in state.objects:  # Stripe replays the first answer of a key
                    kind = {"/v1/customers": "cus", "/v1/invoiceitems": "ii",
                            "/v1/invoices": "in"}.get(self.path, "fin")
                    state.objects[key] = {"id": f"{kind}_{len(state.objects) + 1}", **fields}
                return self._answer(200, state.objects[key])

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.BILLING_PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = state.url
    yield state
    server.shutdown()
    server.server_close()


def closed_invoice(setup: TenantSetup, settings) -> Invoice:
    settings.BILLING_TAX_RATE = "0.1"
    with tenant_context(setup.tenant.pk):
        subscription = subscription_current()
        Subscription.objects.filter(pk=subscription.pk).update(
            period_start=SEPTEMBER, period_end=datetime(2026, 10, 1, tzinfo=UTC),
            plan=Plan.objects.get(code="pro"))
    record_usage(setup, Meter.API_CALLS, 1_250_000, key="sep", occurred_at=SEPTEMBER)
    periods_close_due(now=AFTER_CLOSE)
    with tenant_context(setup.tenant.pk):
        return Invoice.objects.get()


def test_minor_units() -> None:
    assert (minor_units(Decimal("74.00")), minor_units(Decimal("0.10"))) == (7400, 10)


def test_an_invoice_is_sent_to_stripe_once(acme: TenantSetup, stripe: FakeStripe,
                                           settings) -> None:
    invoice = closed_invoice(acme, settings)
    with tenant_context(acme.tenant.pk):
        sent = invoice_submit(invoice_id=invoice.pk)
    assert (sent.status, sent.provider, sent.provider_reference) == ("sent", "stripe", "in_5")
    paths = [request["path"] for request in stripe.requests]
    assert paths == ["/v1/customers", "/v1/invoiceitems", "/v1/invoiceitems",
                     "/v1/invoiceitems", "/v1/invoices", "/v1/invoices/in_5/finalize"]
    items = [r["fields"] for r in stripe.requests if r["path"] == "/v1/invoiceitems"]
    # Pro fee 49.00, 250,000 API calls over the allowance 25.00, tax 10 % 7.40.
    assert [(item["amount"], item["currency"]) for item in items] == [
        ("4900", "usd"), ("2500", "usd"), ("740", "usd")]
    assert all(item["customer"] == "cus_1" for item in items)
    assert stripe.requests[0]["fields"]["metadata[tenant_id]"] == str(acme.tenant.pk)
    with tenant_context(acme.tenant.pk):
        assert subscription_current().payment_customer_id == "cus_1"
        # Again: already sent, nothing is asked of Stripe.
        invoice_submit(invoice_id=invoice.pk)
    assert len(stripe.requests) == 6


def test_a_failure_midway_is_retried_without_duplicates(acme: TenantSetup, stripe: FakeStripe,
                                                         settings) -> None:
    invoice = closed_invoice(acme, settings)
    # The customer and the first item go through, then Stripe fails on the second item.
    stripe.fail_request = 3
    with tenant_context(acme.tenant.pk), pytest.raises(PaymentError, match="500"):
        invoice_submit(invoice_id=invoice.pk)
    with tenant_context(acme.tenant.pk):
        assert Invoice.objects.get().status == "open"
        sent = invoice_submit(invoice_id=invoice.pk)
    assert sent.status == "sent"
    assert len(stripe.created("cus_")) == 1
    # Not 4: the first item, sent again on the retry, was replayed by its idempotency key.
    assert len(stripe.created("ii_")) == 3


def test_a_wrong_key_is_a_clear_error(acme: TenantSetup, stripe: FakeStripe, settings) -> None:
    invoice = closed_invoice(acme, settings)
    settings.STRIPE_API_KEY = "sk_wrong"
    with tenant_context(acme.tenant.pk), pytest.raises(PaymentError, match="401"):
        invoice_submit(invoice_id=invoice.pk)


def test_no_provider_configured_is_a_clear_error(acme: TenantSetup, settings) -> None:
    invoice = closed_invoice(acme, settings)
    settings.BILLING_PAYMENT_PROVIDER = ""
    with tenant_context(acme.tenant.pk), pytest.raises(PaymentError, match="No payment"):
        invoice_submit(invoice_id=invoice.pk)


@pytest.mark.django_db(transaction=True)
def test_a_closed_period_reaches_stripe_through_a_worker(
        acme: TenantSetup, stripe: FakeStripe, settings, workers) -> None:
    workers.start(BILLING_PAYMENT_PROVIDER="stripe", STRIPE_API_KEY=API_KEY,
                  STRIPE_API_BASE=stripe.url)
    invoice = closed_invoice(acme, settings)
    deadline = time.monotonic() + 60
    while True:
        with tenant_context(acme.tenant.pk):
            invoice = Invoice.objects.get(pk=invoice.pk)
        if invoice.status == "sent" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (invoice.status, invoice.provider_reference) == ("sent", "in_5")
    assert [r["path"] for r in stripe.requests][-1] == "/v1/invoices/in_5/finalize"

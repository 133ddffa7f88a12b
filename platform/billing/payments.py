"""Payment providers behind one small interface, chosen by ``BILLING_PAYMENT_PROVIDER``
(empty: invoices stay in the platform; ``stripe``: sent to Stripe).

The Stripe adapter speaks Stripe's REST API directly (form-encoded POSTs, Bearer secret key)
with the standard library: one customer per tenant, one invoice item per invoice line, then
an invoice that is finalised and e-mailed by Stripe. Every POST carries an idempotency key
derived from our invoice number, so a retry after a lost answer creates nothing twice.
``STRIPE_API_BASE`` points the adapter at a local fake server in tests.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings

from billing.models import Invoice


class PaymentError(Exception):
    """The provider refused or could not be reached; the task retries later."""


@dataclass(frozen=True)
class SubmitResult:
    customer_id: str
    reference: str


class PaymentProvider(Protocol):
    name: str

    def submit_invoice(self, *, invoice: Invoice, customer_id: str) -> SubmitResult:
        """Create the invoice at the provider (and the customer when ``customer_id`` is
        empty); returns the customer and the provider's invoice id."""
        ...


def minor_units(amount: Decimal) -> int:
    """Stripe counts in the currency's smallest unit (cents for two-decimal currencies)."""
    return int((amount * 100).to_integral_value())


class StripeProvider:
    name = "stripe"

    def __init__(self, *, api_key: str, api_base: str, timeout: float = 20.0) -> None:
        if not api_key:
            raise PaymentError("STRIPE_API_KEY is not set.")
        self.api_key = api_key
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout

    def _post(self, path: str, fields: dict[str, Any], *, idempotency_key: str
              ) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (https, or a configured test URL)
            f"{self.api_base}{path}", method="POST",
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Authorization": f"Bearer {self.api_key}",
                     "Idempotency-Key": idempotency_key,
                     "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            raise PaymentError(f"Stripe answered {error.code} on {path}: {detail}") from error
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise PaymentError(f"Stripe could not be reached on {path}: {error}") from error

    def submit_invoice(self, *, invoice: Invoice, customer_id: str) -> SubmitResult:
        key = f"aiplatform-{invoice.number}"
        if not customer_id:
            customer = self._post("/v1/customers", {
                "name": f"Tenant {invoice.tenant_id}",
                "metadata[tenant_id]": invoice.tenant_id,
            }, idempotency_key=f"{key}-customer")
            customer_id = str(customer["id"])
        currency = invoice.currency.lower()
        for line in invoice.lines.all():
            if line.amount == 0:
                continue
            self._post("/v1/invoiceitems", {
                "customer": customer_id, "currency": currency,
                "amount": minor_units(line.amount), "description": line.description,
                "metadata[invoice_number]": invoice.number,
            }, idempotency_key=f"{key}-line-{line.position}")
        if invoice.tax:
            self._post("/v1/invoiceitems", {
                "customer": customer_id, "currency": currency,
                "amount": minor_units(invoice.tax),
                "description": f"Tax ({invoice.tax_rate * 100:.2f}%)",
                "metadata[invoice_number]": invoice.number,
            }, idempotency_key=f"{key}-tax")
        created = self._post("/v1/invoices", {
            "customer": customer_id, "collection_method": "send_invoice",
            "days_until_due": settings.BILLING_PAYMENT_DAYS_DUE,
            "pending_invoice_items_behavior": "include",
            "metadata[invoice_number]": invoice.number,
        }, idempotency_key=f"{key}-invoice")
        reference = str(created["id"])
        self._post(f"/v1/invoices/{urllib.parse.quote(reference)}/finalize", {},
                   idempotency_key=f"{key}-finalize")
        return SubmitResult(customer_id=customer_id, reference=reference)


def payment_provider() -> PaymentProvider:
    name = settings.BILLING_PAYMENT_PROVIDER
    if name == "stripe":
        return StripeProvider(api_key=settings.STRIPE_API_KEY,
                              api_base=settings.STRIPE_API_BASE)
    raise PaymentError(f"No payment provider is configured (BILLING_PAYMENT_PROVIDER={name!r}).")

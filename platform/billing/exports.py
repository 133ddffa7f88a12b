"""The invoice as CSV, shared by the API and the dashboard download."""

from __future__ import annotations

import io

from django.http import HttpResponse

from billing.models import Invoice
from billing.numbers import plain
from config.csvexport import csv_writer

COLUMNS = ("invoice", "period_start", "period_end", "position", "description", "meter",
           "quantity", "included_quantity", "billable_quantity", "unit_price", "unit", "amount",
           "currency")


def invoice_csv(invoice: Invoice) -> str:
    """One row per line, then the subtotal, tax and total rows (amounts with two decimals)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(COLUMNS)
    head = (invoice.number, f"{invoice.period_start:%Y-%m-%d}", f"{invoice.period_end:%Y-%m-%d}")
    for line in invoice.lines.all():
        writer.writerow((*head, line.position, line.description, line.meter,
                         plain(line.quantity), plain(line.included_quantity),
                         plain(line.billable_quantity), plain(line.unit_price),
                         plain(line.unit), f"{line.amount:.2f}", invoice.currency))
    for label, amount in (("Subtotal", invoice.subtotal),
                          (f"Tax ({invoice.tax_rate * 100:.2f}%)", invoice.tax),
                          ("Total", invoice.total)):
        writer.writerow((*head, "", label, "", "", "", "", "", "", f"{amount:.2f}",
                         invoice.currency))
    return buffer.getvalue()


def invoice_csv_response(invoice: Invoice) -> HttpResponse:
    response = HttpResponse(invoice_csv(invoice), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.csv"'
    return response

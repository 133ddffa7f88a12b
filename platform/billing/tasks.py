"""Beat tasks of billing (queue ``default``). Thin and safe to run twice: the flush records
each window once, period close makes one invoice per period, snapshots keep the day's peak,
and a sent invoice is not sent again."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="billing.flush_usage", ignore_result=True)
def flush_usage() -> int:
    from billing.services import meter_flush

    return meter_flush()


@shared_task(name="billing.close_periods", ignore_result=True)
def close_periods() -> int:
    from billing.services import periods_close_due

    return periods_close_due()


@shared_task(name="billing.snapshot_storage", ignore_result=True)
def snapshot_storage() -> int:
    from billing.services import storage_snapshot_all

    return storage_snapshot_all()


@shared_task(name="billing.submit_invoice", bind=True, ignore_result=True, max_retries=6,
             default_retry_delay=60)
def submit_invoice(self: Any, invoice_id: int, tenant_id: int) -> str:
    from billing.payments import PaymentError
    from billing.services import invoice_submit
    from tenancy.context import tenant_context

    with tenant_context(tenant_id):
        try:
            invoice = invoice_submit(invoice_id=invoice_id)
        except PaymentError as error:
            raise self.retry(exc=error, countdown=60 * 2 ** self.request.retries) from error
    return invoice.provider_reference

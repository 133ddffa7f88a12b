"""Storage is a level: snapshotted per day (the day's peak), billed on the period's peak."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.models import Meter, UsageRecord
from billing.periods import month_bounds
from billing.selectors import meter_usage
from billing.services import storage_snapshot_all
from jobs.models import Dataset
from jobs.services import dataset_create
from tenancy.context import tenant_context
from tests.billing.conftest import set_terms
from tests.conftest import TenantSetup


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def upload(setup: TenantSetup, rows: int) -> Dataset:
    data = ("text\n" + "".join(f"Line {n}\n" for n in range(rows))).encode()
    with tenant_context(setup.tenant.pk):
        return dataset_create(app="finance_sentiment", purpose="texts", name="t.csv",
                              filename="t.csv", data=data, created_by_id=setup.owner.pk)


def test_snapshots_keep_each_days_peak_and_usage_is_the_periods_peak(
        acme: TenantSetup, globex: TenantSetup) -> None:
    first = upload(acme, 100)
    upload(globex, 10)
    today = timezone.now()
    assert storage_snapshot_all(now=today) == 2
    second = upload(acme, 50)
    storage_snapshot_all(now=today)
    with tenant_context(acme.tenant.pk):
        [record] = UsageRecord.objects.filter(meter=Meter.STORAGE_BYTES)
        assert record.quantity == Decimal(first.size_bytes + second.size_bytes)
        Dataset.objects.filter(pk=second.pk).delete()
    storage_snapshot_all(now=today)  # smaller: the day's peak stays
    with tenant_context(acme.tenant.pk):
        [record] = UsageRecord.objects.filter(meter=Meter.STORAGE_BYTES)
        assert record.quantity == Decimal(first.size_bytes + second.size_bytes)
        start, end = month_bounds(today)
        peak = meter_usage(meter=Meter.STORAGE_BYTES, start=start, end=end)
    assert peak == Decimal(first.size_bytes + second.size_bytes)
    with tenant_context(globex.tenant.pk):
        [other] = UsageRecord.objects.filter(meter=Meter.STORAGE_BYTES)
    assert other.quantity < record.quantity

    tomorrow = today + timedelta(days=1)
    storage_snapshot_all(now=tomorrow)
    with tenant_context(acme.tenant.pk):
        assert UsageRecord.objects.filter(meter=Meter.STORAGE_BYTES).count() == 2


def test_an_upload_over_the_storage_limit_is_402_and_nothing_is_stored(
        acme: TenantSetup) -> None:
    first = upload(acme, 100)
    set_terms("free", Meter.STORAGE_BYTES, hard_limit=first.size_bytes + 50)
    body = "text\n" + "".join(f"Line {n}\n" for n in range(20))
    response = acme.api().post("/api/v1/datasets", {
        "app": "finance_sentiment", "purpose": "texts",
        "file": SimpleUploadedFile("more.csv", body.encode(), content_type="text/csv")},
        format="multipart")
    assert response.status_code == 402, response.content
    error = response.json()["error"]
    assert (error["code"], error["meter"], error["used"], error["limit"]) == (
        "quota_exceeded", "storage_bytes", str(first.size_bytes), str(first.size_bytes + 50))
    with tenant_context(acme.tenant.pk):
        assert list(Dataset.objects.values_list("pk", flat=True)) == [first.pk]
    # A small one still fits.
    assert acme.api().post("/api/v1/datasets", {
        "app": "finance_sentiment", "purpose": "texts",
        "file": SimpleUploadedFile("one.csv", b"text\nok\n", content_type="text/csv")},
        format="multipart").status_code == 201

"""Quotas: a job over the plan's hard limit is refused with 402 before anything is queued;
concurrent submissions at the limit cannot both pass (the subscription row is the lock);
real-time endpoints refuse over their limit with the same error format; 429 stays for rate
limits."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from billing.exceptions import QuotaExceeded
from billing.metering import meter_consume
from billing.models import Meter
from billing.services import subscription_current
from config.redis import redis_client
from jobs.models import Dataset, Job
from jobs.services import JobError, dataset_create, job_submit
from tenancy.context import tenant_context, unscoped
from tests.billing.conftest import flush_all, record_usage, set_terms
from tests.conftest import TenantSetup

JOBS = "/api/v1/jobs"


def texts_dataset(setup: TenantSetup, rows: int) -> Dataset:
    data = "text\n" + "".join(f"Headline number {n} about $ACME\n" for n in range(rows))
    with tenant_context(setup.tenant.pk):
        return dataset_create(app="finance_sentiment", purpose="texts", name="texts.csv",
                              filename="texts.csv", data=data.encode(),
                              created_by_id=setup.owner.pk)


def batch(setup: TenantSetup, dataset: Dataset):  # noqa: ANN201
    return setup.api().post(JOBS, {"app": "finance_sentiment", "kind": "batch_inference",
                                   "dataset": dataset.pk, "params": {}}, format="json")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.mark.django_db(transaction=True)
def test_a_job_over_the_hard_limit_is_402_with_meter_used_limit_and_nothing_is_queued(
        acme: TenantSetup) -> None:
    set_terms("free", Meter.ITEMS_INFERRED, hard_limit=100)
    record_usage(acme, Meter.ITEMS_INFERRED, 95, key="earlier")
    dataset = texts_dataset(acme, rows=10)

    response = batch(acme, dataset)

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert (error["meter"], error["used"], error["limit"], error["requested"]) == (
        "items_inferred", "95", "100", "10")
    assert "items inferred" in error["message"]
    with tenant_context(acme.tenant.pk):
        assert not Job.objects.exists()
    assert redis_client().llen("gpu") == 0

    # Within the limit, the same request passes and is queued.
    set_terms("free", Meter.ITEMS_INFERRED, hard_limit=105)
    assert batch(acme, dataset).status_code == 201
    assert redis_client().llen("gpu") == 1


def test_queued_jobs_items_count_against_the_limit(acme: TenantSetup) -> None:
    set_terms("free", Meter.ITEMS_INFERRED, hard_limit=15)
    dataset = texts_dataset(acme, rows=10)
    assert batch(acme, dataset).status_code == 201
    second = batch(acme, dataset)
    assert second.status_code == 402
    assert (second.json()["error"]["used"], second.json()["error"]["limit"]) == ("10", "15")


def test_a_fine_tune_is_refused_once_training_seconds_reach_the_limit(acme: TenantSetup) -> None:
    set_terms("free", Meter.TRAINING_ACCELERATOR_SECONDS, hard_limit=60)
    data = b"text,label\n" + b"".join(f"line {n},positive\n".encode() for n in range(6))
    with tenant_context(acme.tenant.pk):
        dataset = dataset_create(app="finance_sentiment", purpose="labelled", name="l.csv",
                                 filename="l.csv", data=data, created_by_id=acme.owner.pk)
    body = {"app": "finance_sentiment", "kind": "fine_tune", "dataset": dataset.pk,
            "params": {}}
    record_usage(acme, Meter.TRAINING_ACCELERATOR_SECONDS, 59.5, key="job:earlier")
    assert acme.api().post(JOBS, body, format="json").status_code == 201
    record_usage(acme, Meter.TRAINING_ACCELERATOR_SECONDS, "0.5", key="job:later")
    refused = acme.api().post(JOBS, body, format="json")
    assert refused.status_code == 402
    assert refused.json()["error"]["meter"] == "training_accelerator_seconds"


def test_the_finance_score_endpoint_answers_the_same_402(acme: TenantSetup) -> None:
    set_terms("free", Meter.ITEMS_INFERRED, hard_limit=5)
    dataset = texts_dataset(acme, rows=6)
    response = acme.api().post("/api/v1/finance/score",
                               {"selection": "dataset", "dataset": dataset.pk}, format="json")
    assert response.status_code == 402
    assert response.json()["error"]["meter"] == "items_inferred"


def _backends_waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_at_the_limit_only_one_passes(acme: TenantSetup) -> None:
    """Two threads, each with its own database connection, submit 60 items against a limit
    of 100. The test holds a SHARE lock on the job table (reads pass, inserts wait), so both
    submissions get as far as they can before inserting their job: without the quota's row
    lock both would have checked 0 used and both would pass. With it, the second waits for the
    first's commit, sees its 60 items and is refused: exactly one job is queued."""
    set_terms("free", Meter.ITEMS_INFERRED, hard_limit=100)
    dataset = texts_dataset(acme, rows=60)
    with tenant_context(acme.tenant.pk):
        subscription_current()  # exists before: its creation cannot be what serialises them
    outcomes: list[str] = []

    def submit() -> None:
        try:
            with tenant_context(acme.tenant.pk):
                job_submit(app="finance_sentiment", kind="batch_inference", params={},
                           dataset_id=dataset.pk)
            outcomes.append("queued")
        except JobError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE jobs_job IN SHARE MODE")
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while _backends_waiting_on_locks() < 2:
            assert time.monotonic() < deadline, "the submissions never reached their inserts"
            time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["queued", "quota_exceeded"]
    with tenant_context(acme.tenant.pk):
        assert Job.objects.count() == 1
    assert redis_client().llen("gpu") == 1


def test_concurrent_real_time_requests_at_the_limit_pass_exactly_up_to_it(
        acme: TenantSetup) -> None:
    set_terms("free", Meter.CHAT_MESSAGES, hard_limit=25)
    with tenant_context(acme.tenant.pk):
        meter_consume(meter=Meter.CHAT_MESSAGES, quantity=5)  # seeds the counter
    passed, refused = [], []

    def worker() -> None:
        for _ in range(10):
            try:
                with tenant_context(acme.tenant.pk):
                    meter_consume(meter=Meter.CHAT_MESSAGES)
                passed.append(1)
            except QuotaExceeded:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert (len(passed), len(refused)) == (20, 20)
    flush_all()
    with unscoped():
        from billing.models import UsageRecord
        assert sum(r.quantity for r in UsageRecord.objects.filter(
            tenant=acme.tenant, meter=Meter.CHAT_MESSAGES)) == Decimal(25)


def test_real_time_classification_over_the_limit_is_402_before_any_worker_is_asked(
        acme: TenantSetup) -> None:
    set_terms("free", Meter.ITEMS_INFERRED, hard_limit=3)
    response = acme.api().post("/api/v1/finance/classify", {"texts": ["a", "b", "c", "d"]},
                               format="json")
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["meter"], error["used"], error["limit"], error["requested"]) == (
        "quota_exceeded", "items_inferred", "0", "3", "4")
    assert error["fields"] == {}
    assert redis_client().llen("online") == 0


def test_the_try_it_page_shows_the_quota_refusal(acme: TenantSetup) -> None:
    set_terms("free", Meter.ITEMS_INFERRED, hard_limit=0)
    response = acme.browser().post("/finance/try/", {"text": "ACME soars"})
    assert response.status_code == 402
    assert "limit for items inferred is reached" in response.content.decode()


def test_api_calls_over_the_limit_are_402_and_rate_limits_stay_429(acme: TenantSetup,
                                                                   settings) -> None:
    set_terms("free", Meter.API_CALLS, hard_limit=3)
    client = acme.api()
    assert [client.get("/api/v1/me").status_code for _ in range(4)] == [200, 200, 200, 402]
    error = client.get("/api/v1/me").json()["error"]
    assert (error["code"], error["meter"], error["used"], error["limit"]) == (
        "quota_exceeded", "api_calls", "3", "3")

    set_terms("free", Meter.API_CALLS, hard_limit=None)
    settings.API_DEFAULT_RATE_LIMIT_PER_MINUTE = 1
    redis_client().flushdb()
    assert [client.get("/api/v1/me").status_code for _ in range(2)] == [200, 429]


def test_one_tenants_limit_does_not_touch_another(acme: TenantSetup, globex: TenantSetup) -> None:
    set_terms("free", Meter.API_CALLS, hard_limit=2)
    record_usage(acme, Meter.API_CALLS, 2, key="earlier")
    assert acme.api().get("/api/v1/me").status_code == 402
    assert globex.api().get("/api/v1/me").status_code == 200

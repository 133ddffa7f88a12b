"""Job submission, the worker-side state machine, exactly-once usage and the sweeper."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from api.errors import service_error_status
from billing.models import UsageRecord
from config.redis import redis_client
from jobs import writeback
from jobs.constraints import trigger_names
from jobs.datasets import DatasetInvalid
from jobs.models import Dataset, Job, JobEvent, JobResult, Prediction
from jobs.services import (
    JobError,
    dataset_rows,
    job_cancel,
    job_claim,
    job_finish,
    job_progress,
    job_retry,
    job_submit,
    job_sweep,
)
from jobs.writeback import bulk_insert_ignore
from tenancy.context import tenant_context, unscoped
from tests.conftest import TenantSetup
from tests.jobs.conftest import labelled_dataset

PREDICTION_COLUMNS = ("job_id", "item", "label", "confidence", "probabilities")
JOB_RESULTS = sorted((m for m in apps.get_models() if issubclass(m, JobResult)),
                     key=lambda m: m._meta.label)


def _submit(setup: TenantSetup, dataset: Dataset, **kwargs) -> Job:
    kwargs.setdefault("params", {"epochs": 1})
    with tenant_context(setup.tenant.pk):
        return job_submit(app="finance_sentiment", kind="fine_tune", dataset_id=dataset.pk,
                          created_by_id=setup.owner.pk, **kwargs).job


def test_dataset_labels_are_normalised_and_counted(
    acme: TenantSetup, acme_labelled: Dataset
) -> None:
    assert acme_labelled.row_count == 6
    assert acme_labelled.label_counts == {"negative": 2, "neutral": 2, "positive": 2}
    with tenant_context(acme.tenant.pk):
        rows = dataset_rows(acme_labelled)
    assert rows[3] == {"text": "Investors cheer $ACME buyback", "label": "positive"}


def test_invalid_dataset_names_row_and_column_and_stores_nothing(acme: TenantSetup) -> None:
    with pytest.raises(DatasetInvalid) as caught:
        labelled_dataset(acme, b"text,label\nfine,positive\n,negative\nok,bullish-ish\n")
    problems = [(p.row, p.column) for p in caught.value.problems]
    assert problems == [(2, "text"), (3, "label")]
    with tenant_context(acme.tenant.pk):
        assert not Dataset.objects.exists()


def test_submit_validates_params_and_records_defaults(acme: TenantSetup,
                                                     acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled, params={"epochs": 2, "method": "full"})
    assert job.status == Job.Status.QUEUED
    assert job.params["epochs"] == 2
    assert job.params["learning_rate"] is None  # the method's default, in the worker
    assert job.items_total is None  # a fine-tune counts epochs: its worker reports them
    assert job.enqueued_at is not None
    with tenant_context(acme.tenant.pk), pytest.raises(JobError) as caught:
        job_submit(app="finance_sentiment", kind="fine_tune", dataset_id=acme_labelled.pk,
                   params={"epochs": 0, "method": "magic"})
    assert set(caught.value.fields) == {"params.epochs", "params.method"}


def test_submit_refuses_a_dataset_of_the_wrong_purpose_or_tenant(
    acme: TenantSetup, globex: TenantSetup, acme_labelled: Dataset
) -> None:
    with tenant_context(globex.tenant.pk), pytest.raises(JobError) as caught:
        job_submit(app="finance_sentiment", kind="fine_tune", dataset_id=acme_labelled.pk,
                   params={})
    assert caught.value.fields == {"dataset": ["not found"]}


def test_idempotent_submission(acme: TenantSetup, acme_labelled: Dataset) -> None:
    first = _submit(acme, acme_labelled, idempotency_key="abc")
    again = _submit(acme, acme_labelled, idempotency_key="abc")
    assert again.pk == first.pk
    with pytest.raises(JobError) as caught:
        _submit(acme, acme_labelled, idempotency_key="abc", params={"epochs": 5})
    assert service_error_status(caught.value) == 409  # the API's mapping of its code
    with tenant_context(acme.tenant.pk):
        assert Job.objects.count() == 1


def test_idempotency_keys_are_per_tenant(acme: TenantSetup, globex: TenantSetup,
                                         acme_labelled: Dataset) -> None:
    globex_data = labelled_dataset(globex)
    a = _submit(acme, acme_labelled, idempotency_key="same")
    b = _submit(globex, globex_data, idempotency_key="same")
    assert a.pk != b.pk


def test_claim_is_exclusive_while_the_heartbeat_is_fresh(acme: TenantSetup,
                                                         acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        claimed = job_claim(job_id=job.pk, worker="w1")
        assert claimed is not None
        assert (claimed.status, claimed.attempts, claimed.worker) == ("running", 1, "w1")
        assert job_claim(job_id=job.pk, worker="w2") is None


def test_a_lost_worker_is_taken_over_after_the_heartbeat_goes_stale(
    acme: TenantSetup, acme_labelled: Dataset
) -> None:
    job = _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        job_claim(job_id=job.pk, worker="w1")
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
        taken = job_claim(job_id=job.pk, worker="w2")
        assert taken is not None
        assert (taken.worker, taken.attempts) == ("w2", 2)
        assert JobEvent.objects.filter(job=job, kind="warning").exists()


def test_finish_twice_bills_once(acme: TenantSetup, acme_labelled: Dataset) -> None:
    with tenant_context(acme.tenant.pk):
        job = job_submit(app="finance_sentiment", kind="batch_inference",
                         dataset_id=acme_labelled.pk, params={}).job
        job_claim(job_id=job.pk, worker="w1")
        job_progress(job_id=job.pk, items_done=3, accelerator_seconds=1.5)
        assert job_finish(job_id=job.pk, status="succeeded", items=6,
                          accelerator_seconds=0.5) is not None
        assert job_finish(job_id=job.pk, status="succeeded", items=6,
                          accelerator_seconds=9.0) is None
        usage = dict(UsageRecord.objects.values_list("meter", "quantity"))
        job.refresh_from_db()
    assert usage == {"inference_accelerator_seconds": Decimal("2.000000"),
                     "items_inferred": Decimal("6.000000")}
    assert job.items_done == 6
    assert job.status == "succeeded"


def test_cancel_queued_job_and_retry_it(acme: TenantSetup, acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        cancelled = job_cancel(job=job)
        assert cancelled.status == "cancelled"
        with pytest.raises(JobError):
            job_cancel(job=cancelled)
        retried = job_retry(job=cancelled)
        assert (retried.status, retried.cancel_requested) == ("queued", False)


def test_cancel_running_job_is_a_request_seen_by_progress(acme: TenantSetup,
                                                         acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        job_claim(job_id=job.pk, worker="w1")
        assert job_progress(job_id=job.pk, items_done=1) is False
        assert job_cancel(job=job).status == "running"
        assert job_progress(job_id=job.pk, items_done=2) is True


def test_sweeper_requeues_lost_messages_and_recovers_or_fails_lost_workers(
    acme: TenantSetup, globex: TenantSetup, acme_labelled: Dataset
) -> None:
    queued = _submit(acme, acme_labelled, params={"epochs": 1})
    lost = _submit(acme, acme_labelled, params={"epochs": 2})
    exhausted = _submit(acme, acme_labelled, params={"epochs": 3})
    long_ago = timezone.now() - timedelta(hours=2)
    with tenant_context(acme.tenant.pk):
        Job.objects.filter(pk=queued.pk).update(enqueued_at=long_ago)
        for job in (lost, exhausted):
            job_claim(job_id=job.pk, worker="w1")
        Job.objects.filter(pk__in=[lost.pk, exhausted.pk]).update(heartbeat_at=long_ago)
        Job.objects.filter(pk=exhausted.pk).update(attempts=3)
    counts = job_sweep()
    assert counts == {"requeued": 1, "recovered": 1, "failed": 1}
    with tenant_context(acme.tenant.pk):
        assert Job.objects.get(pk=queued.pk).enqueued_at > long_ago
        assert Job.objects.get(pk=lost.pk).status == "queued"
        failed = Job.objects.get(pk=exhausted.pk)
    assert failed.status == "failed"
    assert "lost 3 times" in failed.error


def test_writeback_inserts_each_item_once(acme: TenantSetup, acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled)
    rows = [(job.pk, item, "neutral", 0.9, {"neutral": 0.9}) for item in range(1, 501)]
    columns = ("job_id", "item", "label", "confidence", "probabilities")
    with tenant_context(acme.tenant.pk):
        assert bulk_insert_ignore(Prediction, columns, rows[:300]) == 300
        assert bulk_insert_ignore(Prediction, columns, rows) == 200
        assert Prediction.objects.filter(job=job).count() == 500
        assert Prediction.objects.get(job=job, item=7).probabilities == {"neutral": 0.9}


def test_writeback_in_blocks_with_conflicts_in_some(acme: TenantSetup,
                                                    acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled)
    columns = ("job_id", "item", "label", "confidence", "probabilities")
    # Probabilities as a model writes them, and rows that leave the fast path: other key
    # order, integers and booleans, other keys, nested values.
    odd = [{"positive": 0.25, "neutral": 0.75}, {"neutral": 1, "positive": False}, {"x": 0.5},
           {"neutral": [0.5]}, {}]
    rows = [(job.pk, item, "neutral", item / 100,
             odd[item % 5] if item % 3 == 0 else {"neutral": item / 100, "positive": 0.5})
            for item in range(1, 101)]
    with tenant_context(acme.tenant.pk):
        assert bulk_insert_ignore(Prediction, columns, rows[40:60], block_rows=7) == 20
        assert bulk_insert_ignore(Prediction, columns, iter(rows), block_rows=7) == 80
        stored = {p.item: (p.confidence, p.probabilities)
                  for p in Prediction.objects.filter(job=job)}
    assert stored == {item: (confidence, probabilities)
                      for _, item, _, confidence, probabilities in rows}


def test_writeback_formats_nulls_and_refuses_ragged_rows() -> None:
    formats = [writeback._texts, writeback._numbers, writeback._jsons]
    text = writeback._copy_text(3, formats, [("a\tb", None, {"p": 0.5}), (None, 2.5, None)])
    assert text == b'3\ta\\tb\t\\N\t{"p":0.5}\n3\t\\N\t2.5\t\\N\n'
    with pytest.raises(ValueError, match="3 values"):
        writeback._copy_text(3, formats, [("a", 1, {}), ("b", 2)])


def test_writeback_refuses_a_job_of_another_tenant(acme: TenantSetup, globex: TenantSetup,
                                                   acme_labelled: Dataset) -> None:
    """Results name (tenant, job) with one key: globex's rows cannot point at acme's job (a
    plain key on the job id alone accepted them), and nothing is stored."""
    job = _submit(acme, acme_labelled)

    def write() -> None:
        with transaction.atomic():
            bulk_insert_ignore(Prediction, PREDICTION_COLUMNS,
                               [(job.pk, n, "neutral", 0.5, {}) for n in range(1, 4)])

    with tenant_context(globex.tenant.pk), pytest.raises(
            IntegrityError, match=r'"jobs_prediction" violates its \(tenant, job\) key'):
        write()
    with unscoped():
        assert not Prediction.objects.exists()


def test_a_result_cannot_be_moved_to_a_missing_job(acme: TenantSetup,
                                                   acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        bulk_insert_ignore(Prediction, PREDICTION_COLUMNS, [(job.pk, 1, "neutral", 0.5, {})])
        with pytest.raises(IntegrityError, match="violates its"), transaction.atomic():
            Prediction.objects.filter(job=job).update(job_id=job.pk + 1000)
        assert list(Prediction.objects.values_list("job_id", flat=True)) == [job.pk]


def test_a_job_with_results_cannot_be_deleted_behind_djangos_back(
        acme: TenantSetup, acme_labelled: Dataset) -> None:
    """Django deletes a job's results first; a bare DELETE of the job is refused, and a job's
    (tenant, id) cannot change under its results."""
    job = _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        bulk_insert_ignore(Prediction, PREDICTION_COLUMNS, [(job.pk, 1, "neutral", 0.5, {})])
        with connection.cursor() as cursor:
            with pytest.raises(IntegrityError, match="still referenced from table "
                                                     '"jobs_prediction"'), transaction.atomic():
                cursor.execute("DELETE FROM jobs_job WHERE id = %s", [job.pk])
            with pytest.raises(IntegrityError, match="cannot change"), transaction.atomic():
                cursor.execute("UPDATE jobs_job SET id = id + 1000 WHERE id = %s", [job.pk])
        assert Job.objects.filter(pk=job.pk).exists()
        assert Prediction.objects.filter(job=job).count() == 1


@pytest.mark.parametrize("model", JOB_RESULTS, ids=lambda m: m._meta.label)
def test_job_results_have_the_statement_level_job_key(db: None, model: type[JobResult]) -> None:
    """Every table jobs write results to: its three key triggers and no plain foreign key on
    either column (``JobResult``)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE %s",
                       [f"{table}_job_key_%"])
        triggers = {name for (name,) in cursor.fetchall()}
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype = 'f'", [table])
        keys = [definition for (definition,) in cursor.fetchall()]
    assert triggers == set(trigger_names(table).values())
    assert not [d for d in keys if d.startswith(("FOREIGN KEY (tenant_id)",
                                                 "FOREIGN KEY (job_id)"))]


def test_deleting_a_job_deletes_its_predictions(acme: TenantSetup,
                                               acme_labelled: Dataset) -> None:
    job, other = _submit(acme, acme_labelled), _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        bulk_insert_ignore(Prediction, PREDICTION_COLUMNS,
                           [(job.pk, n, "neutral", 0.5, {}) for n in (1, 2)])
        bulk_insert_ignore(Prediction, PREDICTION_COLUMNS, [(other.pk, 1, "neutral", 0.5, {})])
        Job.objects.filter(pk=job.pk).delete()
        assert list(Prediction.objects.values_list("job_id", "item")) == [(other.pk, 1)]
        assert Prediction.objects.get(pk=(acme.tenant.pk, other.pk, 1)).label == "neutral"


def test_writeback_round_trips_awkward_values(acme: TenantSetup, acme_labelled: Dataset) -> None:
    job = _submit(acme, acme_labelled)
    awkward = 'tab\tnew\nline\rcr back\\slash "quote" ünïcødé \\N'
    probabilities = {"note": awkward, "nested": [1, 2.5, None, True], "path": "C:\\temp"}
    columns = ("job_id", "item", "label", "confidence", "probabilities")
    with tenant_context(acme.tenant.pk):
        bulk_insert_ignore(Prediction, columns, [(job.pk, 1, awkward, 0.25, probabilities)])
        stored = Prediction.objects.get(job=job, item=1)
    assert stored.label == awkward
    assert stored.confidence == 0.25
    assert stored.probabilities == probabilities


def test_a_redelivery_takes_over_at_once_when_the_workers_liveness_key_is_gone(
    acme: TenantSetup, acme_labelled: Dataset
) -> None:
    """A SIGKILLed worker: its heartbeat still looks fresh, but its process keeps no key."""
    job = _submit(acme, acme_labelled)
    with tenant_context(acme.tenant.pk):
        job_claim(job_id=job.pk, worker="w1/100")
        assert job_claim(job_id=job.pk, worker="w2/200") is None  # w1 lives: a duplicate
        redis_client().delete("jobs:alive:w1/100")  # what the TTL does after a kill
        taken = job_claim(job_id=job.pk, worker="w2/200")
    assert taken is not None
    assert (taken.worker, taken.attempts) == ("w2/200", 2)


def test_the_sweeper_recovers_a_dead_workers_job_quickly_and_spares_a_busy_one(
    acme: TenantSetup, acme_labelled: Dataset, settings
) -> None:
    settings.JOB_LIVENESS_TTL_SECONDS = 20
    busy = _submit(acme, acme_labelled, params={"epochs": 1})
    dead = _submit(acme, acme_labelled, params={"epochs": 2})
    just_claimed = _submit(acme, acme_labelled, params={"epochs": 3})
    with tenant_context(acme.tenant.pk):
        job_claim(job_id=busy.pk, worker="busy/1")
        job_claim(job_id=dead.pk, worker="dead/2")
        job_claim(job_id=just_claimed.pk, worker="new/3")
        # Both quiet for two minutes (one long forward pass), far below the 300 s threshold.
        Job.objects.filter(pk__in=[busy.pk, dead.pk]).update(
            heartbeat_at=timezone.now() - timedelta(minutes=2))
    redis_client().delete("jobs:alive:dead/2", "jobs:alive:new/3")
    assert job_sweep() == {"requeued": 0, "recovered": 1, "failed": 0}
    with tenant_context(acme.tenant.pk):
        assert Job.objects.get(pk=dead.pk).status == "queued"
        assert Job.objects.get(pk=busy.pk).status == "running"
        # Claimed a moment ago (heartbeat younger than the key's TTL): never taken for lost.
        assert Job.objects.get(pk=just_claimed.pk).status == "running"


def test_liveness_keeps_the_key_while_the_block_runs_and_removes_it_after(
    db: None, settings
) -> None:
    from jobs.liveness import Liveness, worker_alive

    settings.JOB_LIVENESS_INTERVAL_SECONDS = 0.05
    settings.JOB_LIVENESS_TTL_SECONDS = 1
    with Liveness("w9/9"):
        time.sleep(1.5)  # longer than the TTL: only the thread's refreshes keep it
        assert worker_alive("w9/9")
    assert not worker_alive("w9/9")

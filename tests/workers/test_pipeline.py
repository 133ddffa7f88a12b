"""End to end through real Celery worker processes, the embedded Redis and PostgreSQL:
fine-tune a tiny BERT, run batch inference with the new version, survive a SIGKILLed worker,
cancel, and recover a lost message with the sweeper."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from django.db.models import Count

from billing.models import UsageRecord
from billing.services import subscription_change_plan
from jobs.models import Dataset, Job, JobEvent, ModelVersion, Prediction
from jobs.services import dataset_create, job_cancel, job_submit, job_sweep
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, WorkerFactory
from tests.workers.conftest import TINY_BASE_NAME, install_version, sentiment_rows, to_csv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _env(tiny_base: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"BASE_MODELS": json.dumps({TINY_BASE_NAME: str(tiny_base)}),
            "MODEL_WORK_DIR": str(tmp_path / "models"), "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture
def tiny_settings(settings, tiny_base: Path, tmp_path: Path):
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    settings.MODEL_WORK_DIR = tmp_path / "models"
    return settings


def _upload(setup: TenantSetup, purpose: str, data: bytes) -> Dataset:
    with tenant_context(setup.tenant.pk):
        return dataset_create(app="finance_sentiment", purpose=purpose, name=f"{purpose}.csv",
                              filename=f"{purpose}.csv", data=data, created_by_id=None)


def _submit(setup: TenantSetup, kind: str, dataset: Dataset, **params) -> Job:
    with tenant_context(setup.tenant.pk):
        return job_submit(app="finance_sentiment", kind=kind, dataset_id=dataset.pk,
                          params=params).job


def _wait(setup: TenantSetup, job: Job, until, timeout: float = 180, poll: float = 0.2) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        with tenant_context(setup.tenant.pk):
            job = Job.objects.get(pk=job.pk)
            done = until(job)
        if done:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job.pk} stuck: {job.status} {job.items_done} {job.error}")
        time.sleep(poll)


def _finished(job: Job) -> bool:
    return job.is_finished


def _fine_tune(acme: TenantSetup) -> ModelVersion:
    train = _upload(acme, "labelled", to_csv(sentiment_rows(180), "text,label"))
    job = _submit(acme, "fine_tune", train, base_model=TINY_BASE_NAME, epochs=4,
                  batch_size=16, learning_rate=5e-3, method="full", early_stopping_patience=0)
    job = _wait(acme, job, _finished)
    assert job.status == "succeeded", job.error
    with tenant_context(acme.tenant.pk):
        return ModelVersion.objects.get(pk=job.metrics["model_version"])


def test_fine_tune_then_batch_inference(acme: TenantSetup, tiny_settings, tiny_base: Path,
                                        tmp_path: Path, workers: WorkerFactory) -> None:
    workers.start(**_env(tiny_base, tmp_path))
    version = _fine_tune(acme)
    assert version.status == "active"
    assert version.label_map == ["negative", "neutral", "positive"]
    assert version.metrics["accuracy"] > 0.6  # three balanced classes: chance is 0.33
    assert len(version.metrics["confusion_matrix"]) == 3
    assert version.artifact_bytes > 0
    with tenant_context(acme.tenant.pk):
        train_job = Job.objects.get(pk=version.job_id)
        kinds = set(JobEvent.objects.filter(job=train_job).values_list("kind", flat=True))
        assert {"loss", "metrics", "status"} <= kinds
        assert UsageRecord.objects.filter(job=train_job,
                                          meter="training_accelerator_seconds").count() == 1

    texts = [(text,) for text, _ in sentiment_rows(300, seed=7)]
    to_score = _upload(acme, "texts", to_csv(texts, "text"))
    job = _wait(acme, _submit(acme, "batch_inference", to_score), _finished)
    assert job.status == "succeeded", job.error
    assert job.model_version_id == version.pk
    assert (job.items_done, job.items_total) == (300, 300)
    with tenant_context(acme.tenant.pk):
        predictions = Prediction.objects.filter(job=job)
        assert predictions.count() == 300
        assert set(predictions.values_list("label", flat=True)) <= set(version.label_map)
        usage = dict(UsageRecord.objects.filter(job=job).values_list("meter", "quantity"))
    assert usage["items_inferred"] == 300
    assert usage["inference_accelerator_seconds"] > 0


def test_sigkilled_worker_mid_job_then_a_new_worker_finishes_it_exactly_once(
    acme: TenantSetup, tiny_settings, tiny_base: Path, tiny_artifact: bytes, tmp_path: Path,
    workers: WorkerFactory,
) -> None:
    # The worker must still be writing when it is killed: since the statement-level job key,
    # 6,000 rows were sometimes all written between two polls 0.2 s apart. More rows (within
    # the plan's 10,000 items) and a poll every 10 ms for the first written rows.
    ROWS = 9_000  # noqa: N806
    tiny_settings.JOB_HEARTBEAT_STALE_SECONDS = 2
    env = _env(tiny_base, tmp_path, JOB_HEARTBEAT_STALE_SECONDS="2")
    first = workers.start(**env)
    install_version(acme, tiny_artifact)
    texts = [(text,) for text, _ in sentiment_rows(ROWS, seed=3)]
    to_score = _upload(acme, "texts", to_csv(texts, "text"))
    job = _submit(acme, "batch_inference", to_score, batch_size=8)
    # Killed once its first rows are committed (the job's progress is throttled: by the
    # time it shows, most rows can be written).
    _wait(acme, job, lambda j: Prediction.objects.filter(job=j).exists(), poll=0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    with tenant_context(acme.tenant.pk):
        written_when_killed = Prediction.objects.filter(job=job).count()
    assert 0 < written_when_killed < ROWS

    time.sleep(2.5)  # the dead worker's heartbeat goes stale
    assert job_sweep()["recovered"] == 1
    workers.start(**env)
    job = _wait(acme, job, _finished)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    with tenant_context(acme.tenant.pk):
        predictions = Prediction.objects.filter(job=job)
        assert predictions.count() == ROWS
        duplicates = predictions.values("item").annotate(n=Count("item")).filter(n__gt=1)
        assert not duplicates.exists()
        assert sorted(predictions.values_list("item", flat=True)) == list(range(1, ROWS + 1))
        usage = UsageRecord.objects.filter(job=job)
        assert sorted(usage.values_list("meter", flat=True)) == [
            "inference_accelerator_seconds", "items_inferred"]
        assert usage.get(meter="items_inferred").quantity == ROWS


def test_cancel_in_the_middle_of_a_job(
    acme: TenantSetup, tiny_settings, tiny_base: Path, tiny_artifact: bytes, tmp_path: Path,
    workers: WorkerFactory,
) -> None:
    workers.start(**_env(tiny_base, tmp_path))
    install_version(acme, tiny_artifact)
    # Large enough that the job cannot finish within the worker's once-a-second cancellation
    # check on a quiet machine (6,000 rows sometimes did).
    texts = [(text,) for text, _ in sentiment_rows(40_000, seed=5)]
    with tenant_context(acme.tenant.pk):
        subscription_change_plan(plan_code="pro")  # Free allows 10,000 items a month
    job = _submit(acme, "batch_inference", _upload(acme, "texts", to_csv(texts, "text")),
                  batch_size=8)
    job = _wait(acme, job, lambda j: j.status == "running" and j.items_done > 0)
    with tenant_context(acme.tenant.pk):
        job_cancel(job=job)
    job = _wait(acme, job, _finished)
    assert job.status == "cancelled"
    with tenant_context(acme.tenant.pk):
        written = Prediction.objects.filter(job=job).count()
        assert 0 < written < 40_000
        assert UsageRecord.objects.filter(job=job, meter="items_inferred").count() == 0


def test_sweeper_recovers_a_job_whose_message_was_lost(
    acme: TenantSetup, tiny_settings, tiny_base: Path, tmp_path: Path, workers: WorkerFactory
) -> None:
    from config.redis import redis_client

    train = _upload(acme, "labelled", to_csv(sentiment_rows(60), "text,label"))
    job = _submit(acme, "fine_tune", train, base_model=TINY_BASE_NAME, epochs=1)
    assert redis_client().llen("gpu") == 1
    redis_client().delete("gpu")  # the broker lost the message
    tiny_settings.JOB_QUEUED_STALE_SECONDS = 0
    assert job_sweep()["requeued"] == 1
    assert redis_client().llen("gpu") == 1
    workers.start(**_env(tiny_base, tmp_path))
    job = _wait(acme, job, _finished)
    assert job.status == "succeeded", job.error

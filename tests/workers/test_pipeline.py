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
from django.conf import settings
from django.db.models import Count

from billing.models import UsageRecord
from billing.services import subscription_change_plan
from config.redis import redis_client
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
    # The platform's own thresholds (no shortened heartbeat): the job must run again within a
    # minute of the kill, through the worker's liveness key and the sweeper at beat's pace.
    env = _env(tiny_base, tmp_path)
    first = workers.start(**env)
    install_version(acme, tiny_artifact)
    texts = [(text,) for text, _ in sentiment_rows(ROWS, seed=3)]
    to_score = _upload(acme, "texts", to_csv(texts, "text"))
    job = _submit(acme, "batch_inference", to_score, batch_size=8)
    # Killed once its first rows are committed (the job's progress is throttled: by the
    # time it shows, most rows can be written).
    _wait(acme, job, lambda j: Prediction.objects.filter(job=j).exists(), poll=0.01)
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    first.wait()
    with tenant_context(acme.tenant.pk):
        written_when_killed = Prediction.objects.filter(job=job).count()
    assert 0 < written_when_killed < ROWS

    workers.start(**env)  # a healthy worker is there; beat sweeps every JOB_SWEEP_SECONDS
    sweep_every = float(settings.CELERY_BEAT_SCHEDULE["sweep-jobs"]["schedule"])
    next_sweep = time.monotonic() + sweep_every
    while True:
        with tenant_context(acme.tenant.pk):
            job.refresh_from_db()
        if job.attempts == 2 and job.status in ("running", "succeeded"):
            break
        assert time.monotonic() - killed_at < 90, "the job was not taken over"
        if time.monotonic() >= next_sweep:
            job_sweep()
            next_sweep += sweep_every
        time.sleep(0.2)
    recovery_seconds = time.monotonic() - killed_at
    assert recovery_seconds < 60, recovery_seconds
    job = _wait(acme, job, _finished, timeout=600)  # 9,000 rows on a loaded machine
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    _assert_written_once(acme, job, ROWS)


def _restart_postgres() -> None:
    """``pg_ctl restart -m fast`` of the test server: every connection breaks at once."""
    import pgserver

    from config import embedded

    pgdata = embedded.data_dir() / "test" / "postgres"
    user = "pgserver" if os.geteuid() == 0 else None
    pgserver.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=user, timeout=60)


def _assert_written_once(setup: TenantSetup, job: Job, rows: int) -> None:
    with tenant_context(setup.tenant.pk):
        predictions = Prediction.objects.filter(job=job)
        assert predictions.count() == rows
        duplicates = predictions.values("item").annotate(n=Count("item")).filter(n__gt=1)
        assert not duplicates.exists()
        assert sorted(predictions.values_list("item", flat=True)) == list(range(1, rows + 1))
        usage = UsageRecord.objects.filter(job=job)
        assert sorted(usage.values_list("meter", flat=True)) == [
            "inference_accelerator_seconds", "items_inferred"]
        assert usage.get(meter="items_inferred").quantity == rows


def test_a_database_restart_in_the_middle_of_a_job(
    acme: TenantSetup, tiny_settings, tiny_base: Path, tiny_artifact: bytes, tmp_path: Path,
    workers: WorkerFactory,
) -> None:
    """The worker's connection breaks mid-write: the job is not failed for it; the task
    retries, takes the job over and finishes it, every row and usage record once."""
    from django.db import connections

    ROWS = 9_000  # noqa: N806
    workers.start(**_env(tiny_base, tmp_path, JOB_DATABASE_RETRY_SECONDS="1"))
    install_version(acme, tiny_artifact)
    texts = [(text,) for text, _ in sentiment_rows(ROWS, seed=4)]
    job = _submit(acme, "batch_inference", _upload(acme, "texts", to_csv(texts, "text")),
                  batch_size=8)
    _wait(acme, job, lambda j: Prediction.objects.filter(job=j).exists(), poll=0.01)
    _restart_postgres()
    connections.close_all()  # this test's own connection broke as well
    job = _wait(acme, job, _finished, timeout=600)
    assert job.status == "succeeded", job.error
    assert job.attempts >= 2  # the interrupted attempt, then the one that finished
    _assert_written_once(acme, job, ROWS)


def test_a_redis_restart_in_the_middle_of_a_job(
    acme: TenantSetup, tiny_settings, tiny_base: Path, tiny_artifact: bytes, tmp_path: Path,
    workers: WorkerFactory,
) -> None:
    """The broker (and the liveness keys) vanish while the job runs: the running task goes
    on, the worker reconnects, and the job finishes once."""
    from tests.conftest import _embedded_redis_up

    ROWS = 9_000  # noqa: N806
    workers.start(**_env(tiny_base, tmp_path))
    install_version(acme, tiny_artifact)
    texts = [(text,) for text, _ in sentiment_rows(ROWS, seed=6)]
    job = _submit(acme, "batch_inference", _upload(acme, "texts", to_csv(texts, "text")),
                  batch_size=8)
    _wait(acme, job, lambda j: Prediction.objects.filter(job=j).exists(), poll=0.01)
    redis_client().shutdown(nosave=True)
    time.sleep(1)
    _embedded_redis_up()
    # This process's own clients hold connections to the old server: drop them (the workers
    # reconnect by themselves, which is what the test is about).
    from django.core.cache import cache

    from config.celery import app

    redis_client().connection_pool.disconnect()
    cache.close()
    app.close()  # the broker pool; it is made again on the next send
    job = _wait(acme, job, _finished, timeout=600)
    assert job.status == "succeeded", job.error
    _assert_written_once(acme, job, ROWS)
    assert job_sweep() == {"requeued": 0, "recovered": 0, "failed": 0}


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

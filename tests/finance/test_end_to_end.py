"""End to end through a real Celery worker, the embedded Redis and PostgreSQL, with a tiny BERT
fine-tuned for the test: documents posted to the API → one scoring job scheduled after commit
→ scored by the worker → rollups → an alert fires → its signed webhook reaches a local HTTP
server, which verifies the signature."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.finance_sentiment.models import Alert, Document, SentimentScore
from apps.finance_sentiment.services import alert_rule_create, watchlist_entry_create
from jobs.models import Job, ModelVersion
from jobs.services import dataset_create, job_submit
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, WorkerFactory
from tests.conftest import wait_until as _wait
from tests.finance.conftest import Receiver, assert_rollups_match, story_words
from tests.workers.conftest import NEGATIVE, POSITIVE, TINY_BASE_NAME, sentiment_rows, to_csv
from webhooks.services import webhook_endpoint_create
from webhooks.signing import SIGNATURE_HEADER, verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _fine_tune(setup: TenantSetup) -> ModelVersion:
    with tenant_context(setup.tenant.pk):
        dataset = dataset_create(app="finance_sentiment", purpose="labelled", name="train.csv",
                                 filename="train.csv",
                                 data=to_csv(sentiment_rows(180), "text,label"),
                                 created_by_id=None)
        job = job_submit(app="finance_sentiment", kind="fine_tune", dataset_id=dataset.pk,
                         params={"base_model": TINY_BASE_NAME, "epochs": 4, "batch_size": 16,
                                 "learning_rate": 5e-3, "method": "full",
                                 "early_stopping_patience": 0}).job

    def finished() -> Job | None:
        with tenant_context(setup.tenant.pk):
            current = Job.objects.get(pk=job.pk)
        return current if current.is_finished else None

    job = _wait("the fine-tune", finished)
    assert job.status == "succeeded", job.error
    with tenant_context(setup.tenant.pk):
        return ModelVersion.objects.get(pk=job.metrics["model_version"])


def test_ingest_score_rollup_alert_signed_webhook(
    acme: TenantSetup, tiny_base: Path, tmp_path: Path, workers: WorkerFactory,
    receiver: Receiver, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    workers.start(BASE_MODELS=json.dumps({TINY_BASE_NAME: str(tiny_base)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"), HF_HUB_OFFLINE="1",
                  WEBHOOKS_ALLOW_PRIVATE_URLS="true", MEDIA_ROOT=str(settings.MEDIA_ROOT))
    version = _fine_tune(acme)
    assert version.status == "active"

    with tenant_context(acme.tenant.pk):
        endpoint = webhook_endpoint_create(url=receiver.url, events=["alert.triggered"])
        watchlist_entry_create(ticker="ACME", company_name="Acme Corp")
        rule = alert_rule_create(name="Acme negative spike", ticker="ACME",
                                 kind="negative_share", threshold=0.4, window_hours=24,
                                 min_volume=20, notify_webhook=True)
    published = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    # 48 distinct stories (a repeated headline would be a copy of one story, counted once).
    rows = [{"external_id": f"neg-{i}", "title": f"$ACME {NEGATIVE[i % len(NEGATIVE)]} in Q2 "
             f"{story_words(f'neg{i}')}", "published_at": published} for i in range(36)]
    rows += [{"external_id": f"pos-{i}", "title": f"Acme Corp {POSITIVE[i % len(POSITIVE)]} "
              f"in Q1 {story_words(f'pos{i}')}", "published_at": published} for i in range(12)]
    first = acme.api().post("/api/v1/finance/documents", {"documents": rows[:30]}, format="json")
    second = acme.api().post("/api/v1/finance/documents", {"documents": rows[30:]},
                             format="json")
    assert (first.status_code, second.status_code) == (201, 201)

    def all_scored() -> bool:
        with tenant_context(acme.tenant.pk):
            return not Document.objects.filter(scored_at__isnull=True).exists()

    _wait("the documents to be scored", all_scored)
    with tenant_context(acme.tenant.pk):
        jobs = list(Job.objects.filter(kind="score_documents").order_by("id"))
        _wait("the scoring jobs to finish",
              lambda: all(j.is_finished for j in Job.objects.filter(pk__in=[j.pk for j in jobs])))
        jobs = list(Job.objects.filter(kind="score_documents").order_by("id"))
        # Two ingests, micro-batched: one or two jobs, never one per document.
        assert 1 <= len(jobs) <= 3
        assert all(j.status == "succeeded" for j in jobs), [j.error for j in jobs]
        assert sum(j.items_done for j in jobs) == 48
        assert all(j.model_version_id in (version.pk, None) for j in jobs)
        assert SentimentScore.objects.count() == 48
        assert set(SentimentScore.objects.values_list("model_version", flat=True)) == {version.pk}
        negatives = Document.objects.filter(label="negative").count()
    assert negatives > 0.4 * 48, "the tiny model should recognise most negative headlines"
    assert_rollups_match(acme)

    trend = acme.api().get("/api/v1/finance/trends", {"ticker": "ACME", "granularity": "hour"})
    assert sum(point["total"] for point in trend.json()["points"]) == 48

    with tenant_context(acme.tenant.pk):
        [alert] = Alert.objects.all()
    assert (alert.rule_id, alert.ticker, alert.volume) == (rule.pk, "ACME", 48)
    _wait("the webhook", lambda: receiver.requests)
    [request] = receiver.requests
    assert verify(secret=endpoint.secret, header=request["headers"][SIGNATURE_HEADER],
                  body=request["body"])
    delivered = json.loads(request["body"])
    assert delivered["event"] == "alert.triggered"
    assert delivered["data"]["id"] == alert.pk
    assert delivered["data"]["ticker"] == "ACME"
    assert delivered["data"]["rule"]["name"] == "Acme negative spike"

"""The ``score_documents`` handler run in-process through ``workers.execution.execute`` with a
stand-in classifier (keywords decide the label): chunks, progress, rollups, alerts at the end,
range rescoring, datasets, cancellation, a crash and a retry that resumes, wrong labels and
the platform default fallback. The real model runs in ``test_end_to_end.py``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count

from apps.finance_sentiment.models import Alert, Document, SentimentScore
from apps.finance_sentiment.services import alert_rule_create, scoring_submit
from billing.models import UsageRecord
from jobs.models import Job
from jobs.services import dataset_create, job_retry
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import (
    assert_rollups_match,
    documents,
    ingest,
    story_words,
    watch,
)

pytest.importorskip("torch")

from workers.execution import execute  # noqa: E402
from workers.handlers import finance as handler  # noqa: E402
from workers.handlers import text_classification  # noqa: E402
from workers.runtime.classifier import Prediction  # noqa: E402

NOW = datetime.now(UTC)


class KeywordClassifier:
    """Negative on "plunges", positive on "soars", neutral otherwise (or ``flip`` them)."""

    labels = ["negative", "neutral", "positive"]

    def __init__(self, flip: bool = False, fail_on_call: int | None = None,
                 on_call=None) -> None:
        self.flip = flip
        self.calls = 0
        self.fail_on_call = fail_on_call
        self.on_call = on_call

    def label(self, text: str) -> str:
        label = ("negative" if "plunges" in text else "positive" if "soars" in text
                 else "neutral")
        if self.flip:
            label = {"negative": "positive", "positive": "negative"}.get(label, label)
        return label

    def classify(self, texts: Iterable[str], batch_size: int = 64,
                 chunk_size: int = 1024) -> Iterator[list[Prediction]]:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        if self.fail_on_call == self.calls:
            raise RuntimeError("GPU fell over")
        texts = list(texts)
        probabilities = {"negative": 0.05, "neutral": 0.05, "positive": 0.05}
        yield [Prediction(index, self.label(text), {**probabilities, self.label(text): 0.9})
               for index, text in enumerate(texts)]


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch):
    """Install a classifier for the handler; returns a setter."""
    def install(classifier: KeywordClassifier) -> KeywordClassifier:
        monkeypatch.setattr(handler, "_classifier", lambda job: (None, classifier))
        return classifier

    monkeypatch.setattr(handler, "CHUNK_SIZE", 4)
    return install


def news(count: int, phrase: str, ticker: str = "ACME", hours_ago: float = 1) -> list[dict]:
    return [{"external_id": f"{ticker}-{phrase}-{i}-{hours_ago}",
             # A distinct story each (copies of one story count once, see test_dedup.py).
             "title": f"${ticker} {phrase} on report {i} {story_words(f'{ticker}{phrase}{i}')}",
             "published_at": (NOW - timedelta(hours=hours_ago)).isoformat()}
            for i in range(count)]


def submit(setup: TenantSetup, **kwargs) -> Job:
    with tenant_context(setup.tenant.pk):
        return scoring_submit(**({"selection": "unscored"} | kwargs)).job


def run(setup: TenantSetup, job: Job) -> Job:
    execute(job_id=job.pk, worker="test-worker")
    with tenant_context(setup.tenant.pk):
        return Job.objects.get(pk=job.pk)


def test_unscored_documents_scored_in_chunks_then_alerts(acme: TenantSetup, stub) -> None:
    classifier = stub(KeywordClassifier())
    watch(acme, "ACME")
    ingest(acme, news(7, "plunges") + news(2, "soars") + news(1, "meets"))
    ingest(acme, news(3, "soars", ticker="GLBX"))
    with tenant_context(acme.tenant.pk):
        alert_rule_create(name="spike", ticker=None, kind="negative_share", threshold=0.5,
                          window_hours=24, min_volume=5, notify_webhook=False)
    job = run(acme, submit(acme))
    assert job.status == "succeeded", job.error
    assert (job.items_done, job.items_total) == (13, 13)
    assert classifier.calls == 4  # chunks of 4
    assert job.metrics["label_counts"] == {"negative": 7, "positive": 5, "neutral": 1}
    assert (job.metrics["model"], job.metrics["alerts_raised"]) == ("platform default", 1)
    assert job.metrics["follow_up_job"] is None
    with tenant_context(acme.tenant.pk):
        assert not Document.objects.filter(scored_at__isnull=True).exists()
        assert SentimentScore.objects.filter(job=job).count() == 13
        [alert] = Alert.objects.all()
        assert UsageRecord.objects.get(job=job, meter="items_inferred").quantity == 13
    assert (alert.ticker, alert.volume) == ("ACME", 10)
    assert_rollups_match(acme)


def test_documents_arriving_during_the_job_are_scored_too(acme: TenantSetup, stub) -> None:
    def arrive(call: int) -> None:
        if call == 1:
            ingest(acme, news(3, "plunges", ticker="LATE"))

    stub(KeywordClassifier(on_call=arrive))
    ingest(acme, news(5, "soars"))
    job = run(acme, submit(acme))
    assert job.status == "succeeded", job.error
    assert (job.items_done, job.items_total) == (8, 8)
    assert all(d.label for d in documents(acme))


def test_range_rescoring_replaces_current_labels_and_keeps_history(acme: TenantSetup,
                                                                    stub) -> None:
    stub(KeywordClassifier())
    ingest(acme, news(3, "plunges", hours_ago=30) + news(3, "plunges", hours_ago=1))
    assert run(acme, submit(acme)).status == "succeeded"
    stub(KeywordClassifier(flip=True))
    start = (NOW - timedelta(hours=2)).isoformat()
    job = run(acme, submit(acme, selection="range", start=start, end=NOW.isoformat()))
    assert job.status == "succeeded", job.error
    assert job.items_done == 3
    old, recent = documents(acme)[:3], documents(acme)[3:]
    assert [d.label for d in old] == ["negative"] * 3  # outside the range: unchanged
    assert [d.label for d in recent] == ["positive"] * 3
    with tenant_context(acme.tenant.pk):
        per_document = SentimentScore.objects.values("document").annotate(n=Count("id"))
        assert sorted(row["n"] for row in per_document) == [1, 1, 1, 2, 2, 2]
    assert_rollups_match(acme)


def test_dataset_selection_stores_rows_as_documents_once(acme: TenantSetup, stub) -> None:
    stub(KeywordClassifier())
    with tenant_context(acme.tenant.pk):
        dataset = dataset_create(app="finance_sentiment", purpose="texts", name="t.csv",
                                 filename="t.csv", data=b"text\n$ACME plunges\nAcme soars\nok\n",
                                 created_by_id=None)
    job = run(acme, submit(acme, selection="dataset", dataset_id=dataset.pk))
    assert job.status == "succeeded", job.error
    stored = documents(acme)
    assert [(d.source, d.external_id, d.label) for d in stored] == [
        (f"dataset:{dataset.pk}", "1", "negative"), (f"dataset:{dataset.pk}", "2", "positive"),
        (f"dataset:{dataset.pk}", "3", "neutral")]
    assert all(d.tickers == [] for d in stored)  # undated texts stay out of the trends
    again = run(acme, submit(acme, selection="dataset", dataset_id=dataset.pk))
    assert again.items_done == 3
    assert len(documents(acme)) == 3


def test_cancel_between_chunks_leaves_consistent_rollups(
    acme: TenantSetup, stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workers.execution as execution

    def cancel(call: int) -> None:
        if call == 2:
            Job.objects.filter(kind="score_documents").update(cancel_requested=True)

    monkeypatch.setattr(execution, "PROGRESS_INTERVAL_SECONDS", 0)  # look at every chunk
    stub(KeywordClassifier(on_call=cancel))
    ingest(acme, news(12, "plunges"))
    job = run(acme, submit(acme))
    assert job.status == "cancelled"
    assert len([d for d in documents(acme) if d.label]) == 8  # two chunks of 4, then stop
    assert_rollups_match(acme)


def test_a_crash_then_retry_resumes_without_double_counting(acme: TenantSetup, stub) -> None:
    stub(KeywordClassifier(fail_on_call=2))
    ingest(acme, news(10, "plunges"))
    job = run(acme, submit(acme))
    assert job.status == "failed"
    assert "GPU fell over" in job.error
    assert len([d for d in documents(acme) if d.label]) == 4  # the first chunk committed
    assert_rollups_match(acme)
    stub(KeywordClassifier())
    with tenant_context(acme.tenant.pk):
        job_retry(job=job)
    job = run(acme, job)
    assert job.status == "succeeded", job.error
    assert job.items_done == 6  # only what was left
    with tenant_context(acme.tenant.pk):
        assert SentimentScore.objects.filter(job=job).count() == 10
    assert_rollups_match(acme)


def test_a_model_with_other_labels_fails_clearly(acme: TenantSetup, stub) -> None:
    classifier = KeywordClassifier()
    classifier.labels = ["bullish", "bearish"]
    stub(classifier)
    ingest(acme, news(2, "soars"))
    job = run(acme, submit(acme))
    assert job.status == "failed"
    assert "not sentiment labels" in job.error
    assert all(not d.label for d in documents(acme))


def test_without_a_version_the_platform_default_model_is_used(
    acme: TenantSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def default_classifier(app: str) -> KeywordClassifier:
        asked.append(app)
        return KeywordClassifier()

    monkeypatch.setattr(text_classification, "default_classifier", default_classifier,
                        raising=False)
    ingest(acme, news(2, "soars"))
    job = run(acme, submit(acme))
    assert job.status == "succeeded", job.error
    assert asked == ["finance_sentiment"]
    assert job.model_version_id is None
    assert {d.label for d in documents(acme)} == {"positive"}

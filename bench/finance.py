"""Finance sentiment benchmarks (figures, not tests), each against a baseline in the same run.

``finance.trend_rollup_speedup``: one ticker's daily sentiment trend over 90 days, for a tenant
with 1,000,000 scored documents, read from the rollups against the same answer aggregated
from the documents' scores (checked equal). The documents are generated in SQL once and kept
under ``.data/bench``; the rollups are built from them with the same grouping the incremental
maintenance applies.

``finance.scoring_docs_per_s``: documents per second from submitting a scoring job to its rows
being written (scores, documents' labels, rollups), through a real Celery worker process with
a classifier on the real MiniLM base; baseline: ``classify`` alone on the same texts in this
process, so the ratio is the share of the model's speed the whole pipeline keeps.

    PYTHONPATH=platform:. python bench/finance.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import finance_rows, record  # noqa: E402
from django_setup import ROOT, bench_tenant, setup  # noqa: E402

DOCUMENTS = 1_000_000
TICKERS = 100
DAYS = 90
# A fixed "now", so that the generated data is the same at every run.
END = datetime(2026, 11, 1, tzinfo=UTC)
SCORING_DOCUMENTS = 4_000
SOURCE = "bench-v2"  # a new name regenerates the data

_GENERATE = """
INSERT INTO finance_sentiment_document
    (tenant_id, source, external_id, url, published_at, title, body, language, tickers,
     truncated, created_at, label, score, scored_at)
SELECT %(tenant)s, %(source)s, 'bench-' || g, '', %(end)s - random() * interval '90 days',
       'Headline ' || g, '', 'en',
       CASE WHEN r.extra < 0.3 AND r.second <> r.first THEN ARRAY[r.first, r.second]
            ELSE ARRAY[r.first] END,
       false, now(), r.label, r.score, now()
FROM generate_series(1, %(count)s) AS g
CROSS JOIN LATERAL (
    SELECT 'T' || lpad(floor(%(tickers)s * random() ^ 2)::int::text, 3, '0') AS first,
           'T' || lpad(floor(%(tickers)s * random())::int::text, 3, '0') AS second,
           random() AS extra,
           (ARRAY['negative', 'neutral', 'positive'])[1 + floor(random() * 3)::int] AS label,
           round((random() * 2 - 1)::numeric, 4)::float8 AS score
    WHERE g IS NOT NULL  -- correlated: a fresh draw per row
) AS r
"""

_ROLLUP = """
INSERT INTO finance_sentiment_sentimentrollup
    (tenant_id, ticker, granularity, bucket_start, positive, neutral, negative, score_sum,
     weight_sum, weighted_net)
SELECT %(tenant)s, ticker, g.granularity, date_trunc(g.granularity, d.published_at, 'UTC'),
       count(*) FILTER (WHERE d.label = 'positive'), count(*) FILTER (WHERE d.label = 'neutral'),
       count(*) FILTER (WHERE d.label = 'negative'), sum(d.score), count(*),
       count(*) FILTER (WHERE d.label = 'positive') - count(*) FILTER (WHERE d.label = 'negative')
FROM finance_sentiment_document d
CROSS JOIN LATERAL unnest(d.tickers) AS ticker
CROSS JOIN (VALUES ('hour'), ('day')) AS g(granularity)
WHERE d.tenant_id = %(tenant)s AND d.label <> ''
GROUP BY 1, 2, 3, 4
"""


def median_ms(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def trend_benchmark() -> None:
    from django.db import connection, transaction

    from apps.finance_sentiment.models import Document
    from apps.finance_sentiment.selectors import sentiment_trend, trend_from_raw_scores
    from tenancy.context import tenant_context

    tenant = bench_tenant("bench-trends")
    with tenant_context(tenant.pk):
        if Document.objects.filter(source=SOURCE).count() != DOCUMENTS:
            print(f"Generating {DOCUMENTS:,} scored documents and their rollups (once)…",
                  flush=True)
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("DELETE FROM finance_sentiment_sentimentrollup")
                cursor.execute("DELETE FROM finance_sentiment_document")
                params = {"tenant": tenant.pk, "end": END, "count": DOCUMENTS,
                          "tickers": TICKERS, "source": SOURCE}
                cursor.execute("SELECT setseed(0.42)")
                cursor.execute(_GENERATE, params)
                cursor.execute(_ROLLUP, params)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE finance_sentiment_document")
                cursor.execute("ANALYZE finance_sentiment_sentimentrollup")
            print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)

        ticker = "T000"  # the busiest ticker: the raw aggregation's worst case
        mentions = Document.objects.filter(tickers__contains=[ticker]).count()
        window = {"ticker": ticker, "start": END - timedelta(days=DAYS), "end": END}
        for granularity, repeats in (("day", 7), ("hour", 5)):
            raw_ms, raw = median_ms(
                lambda g=granularity: trend_from_raw_scores(granularity=g, **window), repeats)
            rollup_ms, rolled = median_ms(
                lambda g=granularity: sentiment_trend(granularity=g, **window), repeats * 3)
            if [tuple(p.__dict__.values()) for p in raw] != \
                    [tuple(p.__dict__.values()) for p in rolled]:
                _assert_close(raw, rolled)
            print(f"{granularity}: {len(rolled)} points for {ticker} ({mentions:,} of "
                  f"{DOCUMENTS:,} documents): rollups {rollup_ms:.1f} ms, raw {raw_ms:.0f} ms",
                  flush=True)
            suffix = "" if granularity == "day" else "_hourly"
            record(f"finance.trend_rollup_ms{suffix}", rollup_ms, "ms", baseline=raw_ms,
                   ratio=rollup_ms / raw_ms)
            record(f"finance.trend_rollup_speedup{suffix}", raw_ms / rollup_ms, "x",
                   baseline=raw_ms, ratio=raw_ms / rollup_ms)


def _assert_close(raw: list[Any], rolled: list[Any]) -> None:
    """Same counts per bucket, and score sums equal up to float addition order."""
    assert len(raw) == len(rolled), (len(raw), len(rolled))
    for a, b in zip(raw, rolled, strict=True):
        assert (a.bucket_start, a.positive, a.neutral, a.negative) == \
            (b.bucket_start, b.positive, b.neutral, b.negative), (a, b)
        assert abs(a.score_sum - b.score_sum) < 1e-6, (a, b)


def _worker_env(models_dir: Path) -> dict[str, str]:
    from urllib.parse import quote

    from django.conf import settings

    database = settings.DATABASES["default"]
    host = quote(str(database["HOST"]), safe="")
    return {**os.environ,
            "DATABASE_URL": f"postgresql://{database['USER']}@{host}/{database['NAME']}",
            "REDIS_URL": settings.REDIS_URL, "DEFAULT_MODELS_DIR": str(models_dir),
            "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}", "LOG_LEVEL": "WARNING"}


def scoring_benchmark() -> None:
    from apps.finance_sentiment.models import Document, SentimentScore
    from apps.finance_sentiment.services import documents_ingest, scoring_submit
    from apps.finance_sentiment.spec import LABELS
    from jobs.models import Job
    from tenancy.context import tenant_context
    from workers.runtime import FineTuneConfig, fine_tune_classifier, load_classifier
    from workers.runtime.cache import ModelCache

    texts, label_ids = finance_rows("valid")
    names = ["negative", "positive", "neutral"]  # the dataset's ids
    work = Path(tempfile.mkdtemp(prefix="bench-finance-"))
    artifact = work / "models" / "finance_sentiment"
    # Throughput does not depend on how well the model was trained: a brief LoRA run.
    fine_tune_classifier(texts[:96], [names[i] for i in label_ids[:96]], FineTuneConfig(
        label_names=LABELS, method="lora", output_dir=artifact, epochs=1,
        validation_fraction=0, seed=0))
    tenant = bench_tenant("bench-scoring")
    run = uuid.uuid4().hex[:8]

    def ingest(count: int, tag: str) -> None:
        rows = [{"external_id": f"{run}-{tag}-{i}", "title": texts[i % len(texts)],
                 "published_at": (END - timedelta(minutes=i)).isoformat(), "tickers": ["BNCH"]}
                for i in range(count)]
        documents_ingest(rows=rows, source="bench", max_documents=None,
                         schedule_scoring=False)

    def score_all() -> tuple[Job, float]:
        started = time.perf_counter()
        job = scoring_submit(selection="unscored").job
        while job.status not in (Job.Status.SUCCEEDED, Job.Status.FAILED,
                                 Job.Status.CANCELLED):
            time.sleep(0.02)
            job.refresh_from_db()
        if job.status != Job.Status.SUCCEEDED:
            raise RuntimeError(f"scoring job {job.pk} {job.status}: {job.error}")
        return job, time.perf_counter() - started

    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu",
         "-P", "solo", "-n", f"bench-{run}@%h", "--without-mingle", "--without-gossip",
         "--loglevel=WARNING"], env=_worker_env(work / "models"), cwd=ROOT)
    try:
        with tenant_context(tenant.pk):
            Document.objects.all().delete()
            ingest(64, "warm")
            score_all()  # the worker loads the model once
            ingest(SCORING_DOCUMENTS, "main")
            job, seconds = score_all()
            written = SentimentScore.objects.filter(job=job).count()
            assert written == SCORING_DOCUMENTS, written
            assert not Document.objects.filter(scored_at__isnull=True).exists()
            Document.objects.all().delete()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    pipeline_rate = SCORING_DOCUMENTS / seconds

    classifier = load_classifier(artifact, cache=ModelCache(2))
    sample = [texts[i % len(texts)] for i in range(SCORING_DOCUMENTS)]
    started = time.perf_counter()
    for _ in classifier.classify(sample):
        pass
    model_rate = SCORING_DOCUMENTS / (time.perf_counter() - started)
    print(f"scoring {SCORING_DOCUMENTS:,} documents: pipeline {pipeline_rate:.0f} docs/s "
          f"(submit to rows written), classify alone {model_rate:.0f} texts/s", flush=True)
    record("finance.scoring_docs_per_s", pipeline_rate, "docs/s", baseline=model_rate,
           ratio=pipeline_rate / model_rate)


def main() -> None:
    os.environ.setdefault("AIPLATFORM_DATA_DIR", str(ROOT / ".data" / "bench"))
    setup()
    trend_benchmark()
    scoring_benchmark()


if __name__ == "__main__":
    main()

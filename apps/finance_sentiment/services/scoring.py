"""Writes of scoring: scheduling and submitting ``score_documents`` jobs, claiming a chunk of
documents, and recording its scores as the documents' current labels and in the rollups.

Scoring runs in jobs (``score_documents``), never one task per document: ingestion schedules
one job per tenant after it commits, unless one is already queued (a job that is *running*
does not absorb new documents: it may have passed them, see :func:`scoring_schedule`). Which
documents a job scores is a read, ``selectors.scoring_candidates``.

Rollups are maintained incrementally. When a document's current label changes (first score,
rescoring by another model, deletion), its old contribution is subtracted and the new one
added with one set-based ``INSERT ... ON CONFLICT DO UPDATE`` per chunk, in the transaction
that writes the chunk's scores: the rollups always equal the current labels of the documents
that count, the first document of each story (near-duplicate copies do not, ``services.dedup``).
:func:`_rollups_shift` is the one place that moves them; ``documents.document_delete`` calls
it too (package-private, hence the underscore).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import TextField, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from apps.finance_sentiment.models import Document, Label, SentimentScore
from apps.finance_sentiment.params import parse_instant
from apps.finance_sentiment.selectors import scoring_candidates
from apps.finance_sentiment.services.errors import FinanceError
from apps.finance_sentiment.spec import APP, LABELS, TOPICS
from jobs.models import Job, ModelVersion
from jobs.services import JobError, job_submit
from jobs.writeback import bulk_insert_ignore
from tenancy.context import require_tenant_id, tenant_context

logger = logging.getLogger(__name__)

SCORE_KIND = "score_documents"
# What the model reads of a document: the headline and the start of the body (the encoder
# truncates to its max length in tokens anyway; this keeps 100,000-character bodies cheap).
SCORING_TEXT_CHARS = 2_000


def _tenant_lock(name: str) -> None:
    """A transaction-scoped lock on ``name`` for the current tenant."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                       [f"{name}:{require_tenant_id()}"])


def _schedule_after_commit(tenant_id: int) -> None:
    # Runs after the ingest committed: a failure here must not turn the caller's successful
    # request into an error (the documents are stored; POST /score or the next ingest picks
    # them up).
    try:
        with tenant_context(tenant_id):
            scoring_schedule()
    except Exception:
        logger.exception("could not schedule scoring for tenant %s", tenant_id)


def scoring_schedule() -> Job | None:
    """Submit one ``score_documents`` job for the tenant's unscored documents, unless one is
    already queued (debounce); returns the queued job, or None when nothing is unscored.

    Only a *queued* job absorbs new documents: it selects its documents after it starts. A
    running one may have read past them; with at most one running and one queued job per
    tenant, every document is picked up without a job per ingest. Jobs running side by side
    skip each other's locked rows, so no document is scored twice.
    """
    return _scoring_schedule()[0]


@transaction.atomic
def _scoring_schedule() -> tuple[Job | None, bool]:
    _tenant_lock("finance.scoring")
    queued = (Job.objects.filter(app=APP, kind=SCORE_KIND, status=Job.Status.QUEUED,
                                 params__selection="unscored").order_by("created_at").first())
    if queued is not None:
        return queued, False
    if not Document.objects.filter(scored_at__isnull=True).exists():
        return None, False
    return job_submit(app=APP, kind=SCORE_KIND, params={"selection": "unscored"}).job, True


@dataclass(frozen=True)
class ScoringSubmission:
    job: Job
    created: bool


def scoring_submit(*, selection: str, start: str | None = None, end: str | None = None,
                   dataset_id: int | None = None, batch_size: int | None = None,
                   idempotency_key: str = "",
                   created_by_id: int | None = None) -> ScoringSubmission:
    """A scoring job on request: ``unscored`` (the queued one if there is one), ``range``
    (documents published in [start, end), rescored with the current model) or ``dataset``.
    Nothing to score is a 409 rather than an empty job."""
    if selection != "dataset" and dataset_id is not None:
        raise FinanceError("A dataset goes with selection 'dataset' only.",
                           fields={"dataset": ["only with selection 'dataset'"]})
    if selection == "unscored" and not idempotency_key and batch_size is None:
        job, created = _scoring_schedule()
        if job is None:
            raise FinanceError("Every document is already scored.", code="nothing_to_score")
        return ScoringSubmission(job=job, created=created)
    params: dict[str, Any] = {"selection": selection}
    if batch_size is not None:
        params["batch_size"] = batch_size
    if selection == "range":
        params.update({"from": start, "to": end})
    if selection == "dataset" and dataset_id is None:
        raise FinanceError("A dataset is required for selection 'dataset'.",
                           fields={"dataset": ["is required for selection 'dataset'"]})
    if selection == "range" and start and end:
        in_range = Document.objects.filter(published_at__gte=parse_instant(start),
                                           published_at__lt=parse_instant(end))
        if not in_range.exists():
            raise FinanceError("No document was published in this range.",
                               code="nothing_to_score")
    try:
        submission = job_submit(app=APP, kind=SCORE_KIND, params=params, dataset_id=dataset_id,
                                idempotency_key=idempotency_key, created_by_id=created_by_id)
    except JobError as error:
        raise FinanceError(str(error), code=error.code,
                           fields=error.fields, details=error.details) from error
    return ScoringSubmission(job=submission.job, created=submission.created)


def scoring_batch_claim(*, job: Job, after_id: int, limit: int) -> list[tuple[int, str]]:
    """The next documents (id > ``after_id``) the job should score, as (id, text), locked
    until the caller's transaction ends. Unscored documents locked by another job are skipped
    (that job scores them); a rescoring waits for them."""
    if not connection.in_atomic_block:
        raise RuntimeError("scoring_batch_claim must run inside the chunk's transaction")
    documents = scoring_candidates(job=job).filter(id__gt=after_id).order_by("id")
    skip = job.params.get("selection", "unscored") == "unscored"
    text = Substr(Concat("title", Value("\n"), "body", output_field=TextField()), 1,
                  SCORING_TEXT_CHARS)
    return list(documents.select_for_update(skip_locked=skip, of=("self",))
                .annotate(scoring_text=text).values_list("id", "scoring_text")[:limit])


@dataclass(frozen=True)
class ScoreInput:
    document_id: int
    label: str
    probabilities: dict[str, float]

    @property
    def score(self) -> float:
        return round(self.probabilities.get(Label.POSITIVE, 0.0)
                     - self.probabilities.get(Label.NEGATIVE, 0.0), 6)


SCORE_COLUMNS = ("job_id", "document_id", "model_version_id", "label", "probabilities", "score",
                 "created_at")


@transaction.atomic
def document_scores_record(*, job: Job, model_version: ModelVersion | None,
                           scores: Sequence[ScoreInput]) -> set[str]:
    """Write a chunk's scores (once per (job, document)), make them the documents' current
    labels and move the rollups accordingly, all in one transaction. Returns the tickers of
    the chunk's documents (for alert evaluation). Safe to repeat: a repeated chunk writes no
    score and moves no rollup (its documents already carry these labels)."""
    if not scores:
        return set()
    unknown = {score.label for score in scores} - set(LABELS)
    if unknown:
        raise ValueError(f"The model predicts labels {sorted(unknown)} outside {list(LABELS)}.")
    now = timezone.now()
    version_id = model_version.pk if model_version is not None else None
    bulk_insert_ignore(SentimentScore, SCORE_COLUMNS, [
        (job.pk, score.document_id, version_id, score.label,
         {key: round(value, 6) for key, value in score.probabilities.items()}, score.score, now)
        for score in scores
    ])
    return _rollups_shift(document_ids=[score.document_id for score in scores],
                          new_labels=[score.label for score in scores],
                          new_scores=[score.score for score in scores],
                          scored_at=now, version_id=version_id)


# One statement moves every rollup the chunk touches: the documents' old contributions out,
# the new ones in, grouped per (ticker, granularity, bucket), applied in key order (no
# deadlock between two chunks touching the same buckets).
_ROLLUP_SHIFT_TEMPLATE = """
WITH new(id, label, score) AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(labels)s::text[], %(scores)s::float8[])
), counted AS (
    SELECT d.*, coalesce(w.weight, 1.0) AS weight
    FROM finance_sentiment_document d JOIN new ON new.id = d.id
    LEFT JOIN finance_sentiment_sourceweight w
           ON w.tenant_id = d.tenant_id AND w.source = d.source
    WHERE d.tenant_id = %(tenant)s AND d.duplicate_of_id IS NULL
), changes AS (
    SELECT c.tickers, c.topic, c.published_at, c.label, -1 AS sign, c.score,
           coalesce(%(old_weight)s, c.weight) AS weight
    FROM counted c
    WHERE c.label <> '' AND %(counted)s
    UNION ALL
    SELECT c.tickers, c.topic, c.published_at, new.label, 1, new.score, c.weight
    FROM counted c JOIN new ON new.id = c.id
    WHERE new.label IS NOT NULL
), deltas AS (
    SELECT ticker, {topic_select} g.granularity,
           date_trunc(g.granularity, c.published_at, 'UTC') AS bucket_start,
           coalesce(sum(c.sign) FILTER (WHERE c.label = 'positive'), 0) AS positive,
           coalesce(sum(c.sign) FILTER (WHERE c.label = 'neutral'), 0) AS neutral,
           coalesce(sum(c.sign) FILTER (WHERE c.label = 'negative'), 0) AS negative,
           coalesce(sum(c.sign * c.score), 0) AS score_sum,
           coalesce(sum(c.sign * c.weight) FILTER (WHERE c.label <> ''), 0) AS weight_sum,
           coalesce(sum(c.sign * c.weight) FILTER (WHERE c.label = 'positive'), 0)
             - coalesce(sum(c.sign * c.weight) FILTER (WHERE c.label = 'negative'), 0)
             AS weighted_net
    FROM changes c
    CROSS JOIN LATERAL unnest(c.tickers) AS ticker
    CROSS JOIN (VALUES ('hour'), ('day')) AS g(granularity)
    {topic_filter}
    GROUP BY {group}
)
INSERT INTO finance_sentiment_{table} AS rollup
    (tenant_id, ticker, {topic_column} granularity, bucket_start, positive, neutral, negative,
     score_sum, weight_sum, weighted_net)
SELECT %(tenant)s, ticker, {topic_column} granularity, bucket_start, positive, neutral,
       negative, score_sum, weight_sum, weighted_net
FROM deltas
WHERE positive <> 0 OR neutral <> 0 OR negative <> 0 OR abs(score_sum) > 1e-12
   OR abs(weight_sum) > 1e-12 OR abs(weighted_net) > 1e-12
ORDER BY ticker, {topic_column} granularity, bucket_start
ON CONFLICT ON CONSTRAINT {constraint} DO UPDATE SET
    positive = rollup.positive + EXCLUDED.positive,
    neutral = rollup.neutral + EXCLUDED.neutral,
    negative = rollup.negative + EXCLUDED.negative,
    score_sum = rollup.score_sum + EXCLUDED.score_sum,
    weight_sum = rollup.weight_sum + EXCLUDED.weight_sum,
    weighted_net = rollup.weighted_net + EXCLUDED.weighted_net
"""

_ROLLUP_SHIFT = _ROLLUP_SHIFT_TEMPLATE.format(
    topic_select="", topic_column="", topic_filter="", group="1, 2, 3",
    table="sentimentrollup", constraint="rollup_tenant_ticker_bucket")
# The same contributions per topic, into ``TopicRollup`` (stories without a topic add none).
_TOPIC_ROLLUP_SHIFT = _ROLLUP_SHIFT_TEMPLATE.format(
    topic_select="c.topic AS topic,", topic_column="topic,",
    topic_filter="WHERE c.topic IS NOT NULL AND c.topic <> ''", group="1, 2, 3, 4",
    table="topicrollup", constraint="topicrollup_tenant_ticker_topic_bucket")


def _shift(cursor: Any, params: dict[str, Any]) -> None:
    """Run both rollup shifts (all topics, per topic) before the documents are relabelled."""
    cursor.execute(_ROLLUP_SHIFT, params)
    cursor.execute(_TOPIC_ROLLUP_SHIFT, params)


_RELABEL = """
UPDATE finance_sentiment_document d
SET label = new.label, score = new.score, scored_at = %(now)s, scored_version_id = %(version)s
FROM unnest(%(ids)s::bigint[], %(labels)s::text[], %(scores)s::float8[]) AS new(id, label, score)
WHERE d.id = new.id AND d.tenant_id = %(tenant)s
"""


def _rollups_shift(*, document_ids: list[int], new_labels: list[str] | None,
                   new_scores: list[float] | None, scored_at: datetime | None = None,
                   version_id: int | None = None) -> set[str]:
    """Move the documents' rollup contributions from their current labels to the new ones
    (None: out of the rollups, for a deletion), then store the new labels on the documents.
    Must run in the caller's transaction; locks the documents first, in id order."""
    tenant_id = require_tenant_id()
    count = len(document_ids)
    labels: list[str | None] = list(new_labels) if new_labels is not None else [None] * count
    scores: list[float | None] = list(new_scores) if new_scores is not None else [None] * count
    params: dict[str, Any] = {"tenant": tenant_id, "ids": document_ids, "labels": labels,
                              "scores": scores, "counted": True, "old_weight": None}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tickers FROM finance_sentiment_document "
            "WHERE tenant_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE",
            [tenant_id, document_ids])
        tickers = {ticker for (row,) in cursor.fetchall() for ticker in row}
        _shift(cursor, params)
        if new_labels is not None:
            cursor.execute(_RELABEL, {**params, "now": scored_at or timezone.now(),
                                      "version": version_id})
    return tickers


@transaction.atomic
def document_topics_record(*, topics: dict[int, tuple[str | None, float | None]]) -> None:
    """Set documents' topics (and probabilities; None clears them) and move their per-topic
    rollup contributions with them: out under the old topic, in under the new one. The one
    way to change a topic that the topic rollups follow."""
    unknown = {topic for topic, _ in topics.values() if topic is not None} - set(TOPICS)
    if unknown:
        raise ValueError(f"Topics {sorted(unknown)} are not among spec.TOPICS.")
    tenant_id = require_tenant_id()
    ids = sorted(topics)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, label, score FROM finance_sentiment_document "
            "WHERE tenant_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE", [tenant_id, ids])
        scored = [row for row in cursor.fetchall() if row[1]]
        params: dict[str, Any] = {"tenant": tenant_id, "ids": [row[0] for row in scored],
                                  "old_weight": None}
        if scored:
            cursor.execute(_TOPIC_ROLLUP_SHIFT, {**params, "labels": [None] * len(scored),
                                                 "scores": [None] * len(scored),
                                                 "counted": True})
        cursor.execute(
            "UPDATE finance_sentiment_document d SET topic = new.topic, "
            "topic_probability = new.probability "
            "FROM unnest(%s::bigint[], %s::text[], %s::float8[]) AS new(id, topic, probability) "
            "WHERE d.id = new.id AND d.tenant_id = %s",
            [ids, [topics[key][0] for key in ids], [topics[key][1] for key in ids], tenant_id])
        if scored:
            cursor.execute(_TOPIC_ROLLUP_SHIFT, {**params, "labels": [row[1] for row in scored],
                                                 "scores": [row[2] for row in scored],
                                                 "counted": False})


def _rollups_shift_in(*, document_id: int) -> None:
    """Add a scored document that did not count so far (a copy that became its story's
    first document) to the rollups, leaving its label as it is."""
    label, score = Document.objects.values_list("label", "score").get(pk=document_id)
    with connection.cursor() as cursor:
        _shift(cursor, {"tenant": require_tenant_id(), "ids": [document_id],
                        "labels": [label], "scores": [score], "counted": False,
                        "old_weight": None})


def _rollups_reweigh(*, source: str, old_weight: float) -> None:
    """Move the weighted sums of ``source``'s counted stories from ``old_weight`` to the
    weight now stored for the source (in the caller's transaction, after the change)."""
    tenant_id = require_tenant_id()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, label, score FROM finance_sentiment_document WHERE tenant_id = %s "
            "AND source = %s AND label <> '' AND duplicate_of_id IS NULL ORDER BY id "
            "FOR UPDATE", [tenant_id, source])
        rows = cursor.fetchall()
        if rows:
            _shift(cursor, {
                "tenant": tenant_id, "ids": [row[0] for row in rows],
                "labels": [row[1] for row in rows], "scores": [row[2] for row in rows],
                "counted": True, "old_weight": old_weight})

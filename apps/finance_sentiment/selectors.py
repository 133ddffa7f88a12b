"""Reads of the finance sentiment monitor: documents, scores, alerts, trends, the watchlist
overview, and the reads the services build on (the ticker matcher, the ids of documents
already stored, a scoring job's candidates, the rollups' window counts for alert rules). No
function here writes or locks; a claim (``SELECT ... FOR UPDATE``) is a service.

Trends come from the rollups; :func:`trend_from_raw_scores` computes the same series from the
documents themselves (tests and the benchmark compare the two). Buckets are UTC hours or days.
A series covers every bucket whose start lies in [floor(start), end), empty buckets included,
so that charts need no gap filling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    FloatField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from apps.finance_sentiment.models import (
    Alert,
    AlertChannel,
    AlertRule,
    Document,
    Feed,
    Granularity,
    Label,
    SentimentRollup,
    SentimentScore,
    SourceWeight,
    WatchlistEntry,
)
from apps.finance_sentiment.params import parse_instant
from apps.finance_sentiment.spec import APP
from apps.finance_sentiment.tickers import TickerMatcher, WatchItem
from jobs.models import Job, ModelVersion
from jobs.services import active_version
from tenancy.context import require_tenant_id

MAX_TREND_POINTS = 10_000
# An index resting on fewer stories is shown greyed out: one document reads +1.00.
MIN_INDEX_STORIES = 5
_STEP = {Granularity.HOUR: timedelta(hours=1), Granularity.DAY: timedelta(days=1)}


class TrendRangeTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class TrendPoint:
    bucket_start: datetime
    positive: int
    neutral: int
    negative: int
    score_sum: float
    # With the tenant's source weights (``SourceWeight``): Σ weight, Σ weight × (±1 or 0).
    weight_sum: float = 0.0
    weighted_net: float = 0.0

    @property
    def total(self) -> int:
        return self.positive + self.neutral + self.negative

    @property
    def index(self) -> float | None:
        """Σ weight × (+1 positive, −1 negative) / Σ weight over the stories, in [−1, 1]
        ((positive − negative) / total when every source weighs 1); None when empty."""
        if not self.total:
            return None
        if self.weight_sum > 1e-9:
            return max(-1.0, min(1.0, self.weighted_net / self.weight_sum))
        return (self.positive - self.negative) / self.total

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.total if self.total else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket_start": self.bucket_start, "positive": self.positive,
            "neutral": self.neutral, "negative": self.negative, "total": self.total,
            "index": None if self.index is None else round(self.index, 6),
            "mean_score": None if self.mean_score is None else round(self.mean_score, 6),
        }


def bucket_floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.astimezone(UTC)
    if granularity == Granularity.DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def _buckets(granularity: str, start: datetime, end: datetime) -> list[datetime]:
    step = _STEP[Granularity(granularity)]
    first = bucket_floor(start, granularity)
    count = 0 if end <= first else int((end - first) / step) + (
        1 if (end - first) % step else 0)
    if count > MAX_TREND_POINTS:
        raise TrendRangeTooLarge(
            f"The range holds {count} {granularity} buckets; at most {MAX_TREND_POINTS}. "
            "Narrow it or use a coarser granularity.")
    return [first + step * index for index in range(count)]


def _series(buckets: list[datetime], found: dict[datetime, TrendPoint]) -> list[TrendPoint]:
    return [found.get(bucket) or TrendPoint(bucket, 0, 0, 0, 0.0) for bucket in buckets]


def sentiment_trend(*, ticker: str, granularity: str, start: datetime,
                    end: datetime) -> list[TrendPoint]:
    """The ticker's sentiment per bucket, from the rollups: one indexed range read."""
    buckets = _buckets(granularity, start, end)
    if not buckets:
        return []
    rows = SentimentRollup.objects.filter(
        ticker=ticker, granularity=granularity, bucket_start__gte=buckets[0],
        bucket_start__lt=end,
    ).values_list("bucket_start", "positive", "neutral", "negative", "score_sum", "weight_sum",
                  "weighted_net")
    found = {row[0]: TrendPoint(*row) for row in rows}
    return _series(buckets, found)


def trend_from_raw_scores(*, ticker: str, granularity: str, start: datetime,
                          end: datetime) -> list[TrendPoint]:
    """The same series as :func:`sentiment_trend`, aggregated from the scored documents."""
    buckets = _buckets(granularity, start, end)
    if not buckets:
        return []
    step = _STEP[Granularity(granularity)]
    weight = Coalesce(Subquery(SourceWeight.objects.filter(source=OuterRef("source"))
                               .values("weight")[:1]), Value(1.0), output_field=FloatField())
    rows = (
        Document.objects.filter(tickers__contains=[ticker], published_at__gte=buckets[0],
                                published_at__lt=buckets[-1] + step,
                                duplicate_of__isnull=True)  # a story counts once
        .exclude(label="")
        .annotate(bucket=Trunc("published_at", granularity, tzinfo=UTC), weight=weight)
        .values("bucket")
        .annotate(positive=Count("id", filter=Q(label=Label.POSITIVE)),
                  neutral=Count("id", filter=Q(label=Label.NEUTRAL)),
                  negative=Count("id", filter=Q(label=Label.NEGATIVE)),
                  score_sum=Sum("score"), weight_sum=Sum("weight"),
                  positive_weight=Sum("weight", filter=Q(label=Label.POSITIVE)),
                  negative_weight=Sum("weight", filter=Q(label=Label.NEGATIVE)))
        .values_list("bucket", "positive", "neutral", "negative", "score_sum", "weight_sum",
                     "positive_weight", "negative_weight")
    )
    found = {row[0]: TrendPoint(row[0], row[1], row[2], row[3], row[4] or 0.0, row[5] or 0.0,
                                (row[6] or 0.0) - (row[7] or 0.0)) for row in rows}
    return _series(buckets, found)


def default_trend_range(granularity: str, now: datetime | None = None
                        ) -> tuple[datetime, datetime]:
    """Without from/to: the last 7 days by hour, the last 30 days by day (to the end of the
    current bucket)."""
    now = now or timezone.now()
    end = bucket_floor(now, granularity) + _STEP[Granularity(granularity)]
    span = timedelta(days=7) if granularity == Granularity.HOUR else timedelta(days=30)
    return end - span, end


# --- Lists -----------------------------------------------------------------------------------


def watchlist_list() -> QuerySet[WatchlistEntry]:
    return WatchlistEntry.objects.order_by("ticker")


def ticker_matcher() -> TickerMatcher:
    return TickerMatcher.build(
        WatchItem(ticker=ticker, company_name=name, aliases=tuple(aliases))
        for ticker, name, aliases in WatchlistEntry.objects.values_list(
            "ticker", "company_name", "aliases")
    )


def source_weight_list() -> QuerySet[SourceWeight]:
    return SourceWeight.objects.order_by("source")


def feed_list() -> QuerySet[Feed]:
    return Feed.objects.order_by("-created_at", "-id")


def document_list(*, queryset: QuerySet[Document] | None = None, ticker: str | None = None,
                  label: str | None = None, start: datetime | None = None,
                  end: datetime | None = None, source: str | None = None,
                  scored: bool | None = None, stories: bool = False) -> QuerySet[Document]:
    """Documents, newest published first, without their bodies (the detail has them) nor
    their near-duplicate fingerprints. ``stories``: only each story's first document (its
    ``similar_count`` says how many copies it has)."""
    documents = (Document.objects.all() if queryset is None else queryset).defer(
        "body", "minhash", "lsh_keys")
    if stories:
        documents = documents.filter(duplicate_of__isnull=True)
    if ticker:
        documents = documents.filter(tickers__contains=[ticker])
    if label:
        documents = documents.filter(label=label)
    if start:
        documents = documents.filter(published_at__gte=start)
    if end:
        documents = documents.filter(published_at__lt=end)
    if source:
        documents = documents.filter(source=source)
    if scored is not None:
        documents = documents.filter(scored_at__isnull=not scored)
    return documents.order_by("-published_at", "-id")


def document_ids_by_external_id(*, source: str, external_ids: Iterable[str]) -> dict[str, int]:
    """The ids of the documents of ``source`` already stored under these external ids."""
    return dict(Document.objects.filter(source=source, external_id__in=external_ids)
                .values_list("external_id", "id"))


def document_scores(*, document: Document) -> QuerySet[SentimentScore]:
    return SentimentScore.objects.filter(document=document).order_by("-created_at", "-id")


def score_list(*, queryset: QuerySet[SentimentScore] | None = None,
               document_id: int | None = None, job_id: int | None = None,
               label: str | None = None, ticker: str | None = None) -> QuerySet[SentimentScore]:
    scores = (SentimentScore.objects.all() if queryset is None else queryset
              ).select_related("document")
    if document_id is not None:
        scores = scores.filter(document_id=document_id)
    if job_id is not None:
        scores = scores.filter(job_id=job_id)
    if label:
        scores = scores.filter(label=label)
    if ticker:
        scores = scores.filter(document__tickers__contains=[ticker])
    return scores.order_by("-created_at", "-id")


def rule_list() -> QuerySet[AlertRule]:
    return AlertRule.objects.order_by("name", "id")


def channel_list() -> QuerySet[AlertChannel]:
    return AlertChannel.objects.order_by("name", "id")


# --- Headline stream -------------------------------------------------------------------------

MAX_STREAM_ITEMS = 100
DEFAULT_STREAM_ITEMS = 20
# The cursor is the last story's scoring time in microseconds since the Unix epoch: a number
# that JavaScript holds exactly (below 2**53, good until the year 2255).
MAX_STREAM_CURSOR = 2**53 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def stream_cursor(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class HeadlineStream:
    stories: list[dict[str, Any]]
    cursor: int


def headline_stream(*, since: int | None = None, limit: int = DEFAULT_STREAM_ITEMS
                    ) -> HeadlineStream:
    """The latest scored stories (each story's first document, ``cluster_size`` counting its
    copies), most recently scored first; ``since`` (a previous answer's ``cursor``): only the
    stories scored after it. More than ``limit`` new ones: the newest ``limit``, the stream
    shows the latest stories and not a history. A rescored story comes again, as updated."""
    documents = Document.objects.filter(scored_at__isnull=False, duplicate_of__isnull=True)
    if since:
        documents = documents.filter(scored_at__gt=_EPOCH + since * _MICROSECOND)
    rows = list(documents.defer("body", "minhash", "lsh_keys")
                .order_by("-scored_at", "-id")[:limit])
    items = [{
        "id": row.pk, "title": row.title or row.external_id, "url": row.url,
        "source": row.source, "tickers": row.tickers, "label": row.label,
        "score": None if row.score is None else round(row.score, 4),
        # Null until a topic head labels the document.
        "topic": row.topic or None,
        "cluster_size": row.similar_count + 1,
        "published_at": row.published_at, "scored_at": row.scored_at,
    } for row in rows]
    cursor = max([stream_cursor(row.scored_at) for row in rows if row.scored_at] + [since or 0])
    return HeadlineStream(stories=items, cursor=cursor)


def alert_evaluation() -> dict[str, Any]:
    """Whether the rules ran: how many are active and when an evaluation last checked one."""
    return AlertRule.objects.filter(is_active=True).aggregate(
        active=Count("id"), last_evaluated_at=Max("last_evaluated_at"))


def alert_list(*, queryset: QuerySet[Alert] | None = None, status: str | None = None,
               ticker: str | None = None, rule_id: int | None = None) -> QuerySet[Alert]:
    alerts = (Alert.objects.all() if queryset is None else queryset).select_related("rule")
    if status:
        alerts = alerts.filter(status=status)
    if ticker:
        alerts = alerts.filter(ticker=ticker)
    if rule_id is not None:
        alerts = alerts.filter(rule_id=rule_id)
    return alerts.order_by("-created_at", "-id")


# --- Scoring ---------------------------------------------------------------------------------


def default_version_for(app: str = APP) -> ModelVersion | None:
    """The tenant's active model version for ``app``, or None: then the worker uses the
    platform default model (``workers.handlers.text_classification.default_classifier``)."""
    return active_version(app=app)


def scoring_candidates(*, job: Job) -> QuerySet[Document]:
    """The documents the job has still to score: the unscored ones, or those of its range or
    dataset that it has not scored yet (so a resumed job finds only what is left)."""
    selection = job.params.get("selection", "unscored")
    documents = Document.objects.all()
    if selection == "unscored":
        return documents.filter(scored_at__isnull=True)
    if selection == "range":
        documents = documents.filter(published_at__gte=parse_instant(job.params["from"]),
                                     published_at__lt=parse_instant(job.params["to"]))
    elif selection == "dataset":
        if job.dataset_id is None:
            raise ValueError("Selection 'dataset' needs the job's dataset.")
        documents = documents.filter(source=f"dataset:{job.dataset_id}")
    else:
        raise ValueError(f"Unknown selection {selection!r}.")
    already = SentimentScore.objects.filter(job=job, document=OuterRef("pk"))
    return documents.filter(~Exists(already))


def scoring_candidates_count(*, job: Job) -> int:
    return scoring_candidates(job=job).count()


# --- Alert evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowCounts:
    negative: int
    total: int

    @property
    def share(self) -> float:
        return self.negative / self.total if self.total else 0.0


_WINDOW_COUNTS = """
SELECT ticker, floor(extract(epoch FROM bucket_start) / %(size)s)::bigint AS window,
       sum(negative), sum(positive + neutral + negative)
FROM finance_sentiment_sentimentrollup
WHERE tenant_id = %(tenant)s AND granularity = 'hour' AND ticker = ANY(%(tickers)s)
  AND bucket_start >= %(start)s AND bucket_start < %(end)s
GROUP BY 1, 2
"""


def rollup_window_counts(*, tickers: list[str], size_seconds: int, start: datetime,
                         end: datetime) -> dict[str, dict[int, WindowCounts]]:
    """Negative and total documents per ticker and window of ``size_seconds`` (windows
    numbered from the Unix epoch), from the hourly rollups in [start, end)."""
    counts: dict[str, dict[int, WindowCounts]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_WINDOW_COUNTS, {"size": size_seconds, "tenant": require_tenant_id(),
                                        "tickers": tickers, "start": start, "end": end})
        for ticker, window, negative, total in cursor.fetchall():
            counts.setdefault(ticker, {})[int(window)] = WindowCounts(int(negative), int(total))
    return counts


# A topic's windows come from its documents (the rollups have no topic yet), counted as the
# rollups count them: a story's first document, scored, once per ticker it names.
_TOPIC_WINDOW_COUNTS = """
SELECT ticker, floor(extract(epoch FROM d.published_at) / %(size)s)::bigint AS window,
       count(*) FILTER (WHERE d.label = 'negative'), count(*)
FROM finance_sentiment_document d CROSS JOIN LATERAL unnest(d.tickers) AS ticker
WHERE d.tenant_id = %(tenant)s AND d.duplicate_of_id IS NULL AND d.label <> ''
  AND d.topic = %(topic)s AND d.tickers && %(tickers)s::varchar[] AND ticker = ANY(%(tickers)s)
  AND d.published_at >= %(start)s AND d.published_at < %(end)s
GROUP BY 1, 2
"""


def window_counts(*, tickers: list[str], size_seconds: int, start: datetime, end: datetime,
                  topic: str = "") -> dict[str, dict[int, WindowCounts]]:
    """:func:`rollup_window_counts`, or with ``topic`` the same counts of that topic's
    documents only."""
    if not topic:
        return rollup_window_counts(tickers=tickers, size_seconds=size_seconds, start=start,
                                    end=end)
    counts: dict[str, dict[int, WindowCounts]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_TOPIC_WINDOW_COUNTS, {
            "size": size_seconds, "tenant": require_tenant_id(), "tickers": tickers,
            "start": start, "end": end, "topic": topic})
        for ticker, window, negative, total in cursor.fetchall():
            counts.setdefault(ticker, {})[int(window)] = WindowCounts(int(negative), int(total))
    return counts


# --- Overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TickerOverview:
    entry: WatchlistEntry
    index: float | None  # over the last 24 hours
    volume: int  # stories (near-duplicates counted once) scored in the last 24 hours
    sparkline: list[float | None]  # daily index, oldest first, last 7 days
    open_alerts: int

    @property
    def is_thin(self) -> bool:
        """Too few stories for the index to mean much (``MIN_INDEX_STORIES``)."""
        return self.volume < MIN_INDEX_STORIES


def watchlist_overview(*, now: datetime | None = None) -> list[TickerOverview]:
    """Each watchlist ticker's index and volume over the last 24 hours, its 7-day daily
    sparkline and open alerts: three queries whatever the watchlist's size."""
    now = now or timezone.now()
    entries = list(watchlist_list())
    tickers = [entry.ticker for entry in entries]
    day = timedelta(days=1)
    today = bucket_floor(now, Granularity.DAY)
    days = [today - day * offset for offset in range(6, -1, -1)]
    daily: dict[tuple[str, datetime], TrendPoint] = {
        (row[0], row[1]): TrendPoint(*row[1:])
        for row in SentimentRollup.objects.filter(
            ticker__in=tickers, granularity=Granularity.DAY, bucket_start__gte=days[0],
        ).values_list("ticker", "bucket_start", "positive", "neutral", "negative", "score_sum",
                      "weight_sum", "weighted_net")
    }
    last_day = _last_24_hours(tickers, now)
    open_alerts = dict(
        Alert.objects.filter(ticker__in=tickers, status=Alert.Status.OPEN)
        .values("ticker").annotate(n=Count("id")).values_list("ticker", "n")
    )
    overview = []
    for entry in entries:
        recent = last_day.get(entry.ticker, TrendPoint(now, 0, 0, 0, 0.0))
        overview.append(TickerOverview(
            entry=entry, index=recent.index, volume=recent.total,
            sparkline=[(daily.get((entry.ticker, moment)) or TrendPoint(moment, 0, 0, 0, 0.0))
                       .index for moment in days],
            open_alerts=open_alerts.get(entry.ticker, 0),
        ))
    return overview


def _last_24_hours(tickers: Iterable[str], now: datetime) -> dict[str, TrendPoint]:
    since = bucket_floor(now, Granularity.HOUR) - timedelta(hours=23)
    rows = (SentimentRollup.objects.filter(ticker__in=list(tickers), granularity=Granularity.HOUR,
                                           bucket_start__gte=since)
            .values("ticker")
            .annotate(p=Sum("positive"), u=Sum("neutral"), n=Sum("negative"), s=Sum("score_sum"),
                      w=Sum("weight_sum"), net=Sum("weighted_net"))
            .values_list("ticker", "p", "u", "n", "s", "w", "net"))
    return {ticker: TrendPoint(since, p or 0, u or 0, n or 0, s or 0.0, w or 0.0, net or 0.0)
            for ticker, p, u, n, s, w, net in rows}

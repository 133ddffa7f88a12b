"""Reads of the topic dimension, from ``TopicRollup`` (the rollups split by the documents'
topic, near-duplicates counted once as in ``SentimentRollup``): a ticker's trend within one
topic, its topic mix per day, its sentiment per topic, and the topics overview (which topics
turn negative across the watchlist). Stories without a topic are in none of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from apps.finance_sentiment.models import Granularity, TopicRollup
from apps.finance_sentiment.selectors import (
    MIN_INDEX_STORIES,
    TrendPoint,
    _buckets,
    _series,
    bucket_floor,
    watchlist_list,
)

_SUMS = {"p": Sum("positive"), "u": Sum("neutral"), "n": Sum("negative"), "s": Sum("score_sum"),
         "w": Sum("weight_sum"), "net": Sum("weighted_net")}
_FIELDS = ("positive", "neutral", "negative", "score_sum", "weight_sum", "weighted_net")


def _point(moment: datetime, row: Any) -> TrendPoint:
    """A point from a ``values(...).annotate(**_SUMS)`` row."""
    return TrendPoint(moment, int(row["p"] or 0), int(row["u"] or 0), int(row["n"] or 0),
                      float(row["s"] or 0.0), float(row["w"] or 0.0), float(row["net"] or 0.0))


def topic_trend(*, ticker: str, topic: str, granularity: str, start: datetime,
                end: datetime) -> list[TrendPoint]:
    """:func:`selectors.sentiment_trend` within one topic: one indexed range read."""
    buckets = _buckets(granularity, start, end)
    if not buckets:
        return []
    rows = TopicRollup.objects.filter(
        ticker=ticker, topic=topic, granularity=granularity, bucket_start__gte=buckets[0],
        bucket_start__lt=end,
    ).values_list("bucket_start", *_FIELDS)
    return _series(buckets, {row[0]: TrendPoint(*row) for row in rows})


@dataclass(frozen=True)
class TopicMix:
    days: list[datetime]  # UTC days, oldest first
    topics: list[str]  # most stories first
    counts: dict[str, list[int]]  # per topic, stories per day (aligned with ``days``)


def ticker_topic_mix(*, ticker: str, start: datetime, end: datetime) -> TopicMix:
    """The ticker's stories per UTC day and topic in [start, end) (daily rollups)."""
    days = _buckets(Granularity.DAY, start, end)
    position = {day: index for index, day in enumerate(days)}
    counts: dict[str, list[int]] = {}
    if days:
        rows = TopicRollup.objects.filter(
            ticker=ticker, granularity=Granularity.DAY, bucket_start__gte=days[0],
            bucket_start__lt=end,
        ).values_list("topic", "bucket_start", "positive", "neutral", "negative")
        for topic, day, positive, neutral, negative in rows:
            counts.setdefault(topic, [0] * len(days))[position[day]] += (
                positive + neutral + negative)
    topics = sorted(counts, key=lambda topic: (-sum(counts[topic]), topic))
    return TopicMix(days=days, topics=topics, counts=counts)


@dataclass(frozen=True)
class TopicSentiment:
    topic: str
    point: TrendPoint

    @property
    def is_thin(self) -> bool:
        return self.point.total < MIN_INDEX_STORIES


def ticker_topic_sentiment(*, ticker: str, start: datetime, end: datetime
                           ) -> list[TopicSentiment]:
    """The ticker's label counts and index per topic over [start, end), most stories first."""
    rows = (TopicRollup.objects.filter(ticker=ticker, granularity=Granularity.DAY,
                                       bucket_start__gte=bucket_floor(start, Granularity.DAY),
                                       bucket_start__lt=end)
            .values("topic").annotate(**_SUMS))
    result = [TopicSentiment(row["topic"], _point(start, row)) for row in rows]
    return sorted(result, key=lambda item: (-item.point.total, item.topic))


@dataclass(frozen=True)
class TopicTurn:
    """A topic across the watchlist: its index over the last 24 hours against the 7 days
    before them."""

    topic: str
    recent: TrendPoint
    baseline: TrendPoint

    @property
    def is_thin(self) -> bool:
        return self.recent.total < MIN_INDEX_STORIES

    @property
    def baseline_thin(self) -> bool:
        return self.baseline.total < MIN_INDEX_STORIES

    @property
    def change(self) -> float | None:
        if self.recent.index is None or self.baseline.index is None:
            return None
        return self.recent.index - self.baseline.index


def topics_overview(*, now: datetime | None = None) -> list[TopicTurn]:
    """Per topic, over the watchlist's tickers (hourly rollups): the last 24 hours and the
    trailing 7 days before them. Most negative change first (topics whose recent index is
    unknown last). A story naming two watched tickers counts once per ticker, as on the
    watchlist."""
    now = now or timezone.now()
    since = bucket_floor(now, Granularity.HOUR) - timedelta(hours=23)
    baseline_start = since - timedelta(days=7)
    tickers = list(watchlist_list().values_list("ticker", flat=True))
    base = TopicRollup.objects.filter(ticker__in=tickers, granularity=Granularity.HOUR)
    recent = {row["topic"]: _point(since, row) for row in base.filter(
        bucket_start__gte=since).values("topic").annotate(**_SUMS)}
    baseline = {row["topic"]: _point(baseline_start, row) for row in base.filter(
        bucket_start__gte=baseline_start, bucket_start__lt=since).values("topic")
        .annotate(**_SUMS)}
    empty = TrendPoint(since, 0, 0, 0, 0.0)
    turns = [TopicTurn(topic, recent.get(topic, empty), baseline.get(topic, empty))
             for topic in set(recent) | set(baseline)]
    return sorted(turns, key=lambda turn: (
        turn.change is None, turn.change if turn.change is not None else 0.0,
        -turn.recent.total, turn.topic))

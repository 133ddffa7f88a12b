"""Reads of the customer-service bot: lists for the API and pages, nearest articles (pgvector)
and the analytics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from pgvector.django import CosineDistance

from apps.support_bot.models import (
    Article,
    ArticleSentence,
    BotSettings,
    Conversation,
    Feedback,
    Intent,
    Message,
    Utterance,
)
from apps.support_bot.spec import APP, OUT_OF_SCOPE
from jobs.models import Job, ModelVersion
from tenancy import vectors


def intent_list(*, search: str = "") -> QuerySet[Intent]:
    """Intents by name with their utterance counts and linked article; ``search`` matches
    the name, the description, the answer template or any utterance (case-insensitive).
    ``unanswerable`` marks an intent the bot could only hand off: no template, no linked
    article, not a handoff intent (the ``out_of_scope`` examples are not an intent to
    answer)."""
    intents = (Intent.objects.annotate(utterance_count=Count("utterances"))
               .select_related("article").defer("article__embedding")
               .annotate(unanswerable=Q(answer_template="", article__isnull=True, handoff=False)
                         & ~Q(name=OUT_OF_SCOPE))
               .order_by("name"))
    if search:
        intents = intents.filter(
            Q(name__icontains=search) | Q(description__icontains=search)
            | Q(answer_template__icontains=search)
            | Q(pk__in=Utterance.objects.filter(text__icontains=search).values("intent_id")))
    return intents


@dataclass(frozen=True)
class ScopeOverview:
    """The bot settings page's out-of-scope section: the active intent model's recommendation
    (``metrics["out_of_scope"]``, None for a version trained before it) and what is applied."""

    version: ModelVersion | None
    recommendation: dict[str, Any] | None
    applied_threshold: float | None
    applied_version: int | None

    @property
    def applied_is_recommended(self) -> bool:
        return (self.version is not None and self.recommendation is not None
                and self.applied_version == self.version.version
                and self.applied_threshold == self.recommendation["threshold"])


def scope_recommendation(version: ModelVersion) -> dict[str, Any] | None:
    """The out-of-scope figures a version of the intent model measured on validation
    (``metrics["out_of_scope"]``: recommended threshold, precision, recall, curve)."""
    found = (version.metrics or {}).get("out_of_scope")
    return found if isinstance(found, dict) and "threshold" in found else None


def scope_overview(*, config: BotSettings) -> ScopeOverview:
    version = ModelVersion.objects.filter(app=APP, status=ModelVersion.Status.ACTIVE).first()
    return ScopeOverview(version=version,
                         recommendation=scope_recommendation(version) if version else None,
                         applied_threshold=config.scope_threshold,
                         applied_version=config.scope_threshold_version)


def utterance_list(*, intent_id: int | None = None) -> QuerySet[Utterance]:
    queryset = Utterance.objects.select_related("intent")
    if intent_id is not None:
        queryset = queryset.filter(intent_id=intent_id)
    return queryset.order_by("intent__name", "id")


def training_rows() -> list[tuple[str, str]]:
    """``(text, intent)`` of every utterance: what a fine-tune without a dataset learns."""
    return list(Utterance.objects.order_by("id").values_list("text", "intent__name"))


def backlog_reports(limit: int = 20) -> list[Job]:
    """The latest backlog classifications (their metrics hold the intent distribution)."""
    return list(Job.objects.filter(app=APP, kind="classify_backlog").select_related("dataset")
                .order_by("-created_at", "-id")[:limit])


def article_list(*, search: str = "", tag: str = "") -> QuerySet[Article]:
    queryset = Article.objects.defer("embedding")
    if search:
        queryset = queryset.filter(Q(question__icontains=search) | Q(answer__icontains=search))
    if tag:
        queryset = queryset.filter(tags__contains=[tag.lower()])
    return queryset.order_by("question", "id")


def articles_nearest(*, vector: Sequence[float], limit: int = 3) -> list[dict[str, Any]]:
    """The tenant's ``limit`` articles nearest to ``vector`` by cosine similarity, best first:
    ``[{"id": ..., "similarity": ...}]``. Through the HNSW index every tenant shares, also
    when another tenant's articles crowd the neighbourhood (``tenancy.vectors.nearest``)."""
    rows = vectors.nearest(Article.objects.only("id"), vector, limit)
    return [{"id": row.pk, "similarity": round(1.0 - float(row.distance), 6)} for row in rows]


PASSAGES_PER_ARTICLE = 6


def citations_of(article_ids: Sequence[int]) -> list[dict[str, Any]]:
    """``[{"id", "title", "url"}]`` of the tenant's articles, in the order given (a deleted
    one is left out): what a composed reply stores and shows. The title is the article's
    question."""
    found = {a.pk: a for a in Article.objects.filter(pk__in=list(article_ids)).only(
        "id", "question", "url")}
    return [{"id": found[i].pk, "title": found[i].question[:200], "url": found[i].url}
            for i in article_ids if i in found]


def sentences_scored(*, vector: Sequence[float], article_ids: Sequence[int],
                     intent: str = "") -> list[dict[str, Any]]:
    """The stored sentences of ``article_ids`` and of the article linked to ``intent``, each
    with its cosine similarity to ``vector`` computed by pgvector (no vector leaves the
    database): the composer's passages, ``[{"article", "position", "text", "similarity"}]``,
    at most ``PASSAGES_PER_ARTICLE`` per article (its most similar)."""
    wanted = Q(article_id__in=list(article_ids))
    if intent:
        wanted |= Q(article_id__in=Intent.objects.filter(name=intent).exclude(
            article__isnull=True).values("article_id"))
    rows = (ArticleSentence.objects.filter(wanted)
            .annotate(distance=CosineDistance("embedding", vector))
            .values_list("article_id", "position", "text", "distance"))
    per_article: dict[int, list[dict[str, Any]]] = {}
    for article_id, position, text, distance in rows:
        per_article.setdefault(article_id, []).append(
            {"article": article_id, "position": position, "text": text,
             "similarity": round(1.0 - float(distance), 6)})
    return [passage for passages in per_article.values()
            for passage in sorted(passages, key=lambda p: -p["similarity"])[
                :PASSAGES_PER_ARTICLE]]


def conversation_list(*, status: str = "", channel: str = "") -> QuerySet[Conversation]:
    queryset = Conversation.objects.annotate(message_count=Count("messages"))
    if status:
        queryset = queryset.filter(status=status)
    if channel:
        queryset = queryset.filter(channel=channel)
    return queryset.order_by("-updated_at", "-id")


def inbox() -> QuerySet[Conversation]:
    """Conversations waiting for a person, oldest hand-off first."""
    return (Conversation.objects.filter(status=Conversation.Status.HANDED_OFF)
            .annotate(message_count=Count("messages")).order_by("handed_off_at", "id"))


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.select_related("article", "author").order_by("created_at", "id")


@dataclass
class DayStats:
    day: date
    conversations: int = 0
    handed_off: int = 0
    messages: int = 0
    up: int = 0
    down: int = 0

    @property
    def containment(self) -> float | None:
        return (self.conversations - self.handed_off) / self.conversations \
            if self.conversations else None


@dataclass
class Analytics:
    since: datetime
    conversations: int
    handed_off: int
    user_messages: int
    bot_replies: int
    replies_by_kind: dict[str, int]
    top_intents: list[tuple[str, int]]
    low_confidence: list[Message]
    up: int
    down: int
    median_latency_ms: float | None
    days: list[DayStats] = field(default_factory=list)

    @property
    def containment_rate(self) -> float | None:
        """Share of conversations the bot handled without a person."""
        return (self.conversations - self.handed_off) / self.conversations \
            if self.conversations else None

    @property
    def handoff_rate(self) -> float | None:
        return self.handed_off / self.conversations if self.conversations else None

    @property
    def satisfaction(self) -> float | None:
        """Share of thumbs up among rated answers."""
        return self.up / (self.up + self.down) if self.up + self.down else None


def analytics(*, days: int = 30, low_confidence_below: float = 0.6,
              now: datetime | None = None) -> Analytics:
    """Containment and handoff rates, top intents, low-confidence messages, satisfaction and
    per-day figures for conversations started in the last ``days`` days."""
    now = now or timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    conversations = Conversation.objects.filter(created_at__gte=since).annotate(
        has_user=Exists(Message.objects.filter(conversation=OuterRef("pk"),
                                               role=Message.Role.USER)),
    ).filter(has_user=True)
    was_handed_off = Q(handed_off_at__isnull=False)
    messages = Message.objects.filter(created_at__gte=since)
    replies = messages.filter(role=Message.Role.BOT)
    feedback = Feedback.objects.filter(created_at__gte=since)

    per_day: dict[date, DayStats] = {}

    def day(value: date) -> DayStats:
        return per_day.setdefault(value, DayStats(day=value))

    for started in conversations.annotate(day=TruncDate("created_at")).values("day").annotate(
            total=Count("id"), handed=Count("id", filter=was_handed_off)):
        stats = day(started["day"])
        stats.conversations, stats.handed_off = started["total"], started["handed"]
    for sent in messages.filter(role=Message.Role.USER).annotate(
            day=TruncDate("created_at")).values("day").annotate(total=Count("id")):
        day(sent["day"]).messages = sent["total"]
    for rated in feedback.annotate(day=TruncDate("created_at")).values("day").annotate(
            up=Count("id", filter=Q(rating=Feedback.Rating.UP)),
            down=Count("id", filter=Q(rating=Feedback.Rating.DOWN))):
        day(rated["day"]).up, day(rated["day"]).down = rated["up"], rated["down"]
    first = since.date()
    all_days = [per_day.get(first + timedelta(days=i)) or DayStats(day=first + timedelta(days=i))
                for i in range((now.date() - first).days + 1)]

    latencies = sorted(value for value in replies.values_list("latency_ms", flat=True)
                       if value is not None)
    totals = conversations.aggregate(total=Count("id"), handed=Count("id", filter=was_handed_off))
    ratings = feedback.aggregate(up=Count("id", filter=Q(rating=Feedback.Rating.UP)),
                                 down=Count("id", filter=Q(rating=Feedback.Rating.DOWN)))
    return Analytics(
        since=since,
        conversations=totals["total"], handed_off=totals["handed"],
        user_messages=messages.filter(role=Message.Role.USER).count(),
        bot_replies=replies.count(),
        replies_by_kind=dict(replies.values_list("reply_kind").annotate(n=Count("id"))
                             .values_list("reply_kind", "n")),
        # An unsure guess that ended in the fallback is not counted as the intent.
        top_intents=list(replies.exclude(intent="").exclude(reply_kind=Message.ReplyKind.FALLBACK)
                         .values_list("intent")
                         .annotate(n=Count("id")).order_by("-n", "intent")
                         .values_list("intent", "n")[:10]),
        low_confidence=list(messages.filter(role=Message.Role.USER,
                                            confidence__lt=low_confidence_below)
                            .select_related("conversation").order_by("-created_at")[:20]),
        up=ratings["up"], down=ratings["down"],
        median_latency_ms=float(latencies[len(latencies) // 2]) if latencies else None,
        days=all_days,
    )

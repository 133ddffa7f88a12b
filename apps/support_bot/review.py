"""The improvement loop: the "needs review" queue, its one-click actions, the content-gap
report and containment before and after the promoted intent model.

The queue is derived, not stored: a customer message needs review while it has no
``ReviewItem`` and the bot could not help with it: the reply to it handed the conversation
off (fallback or a handoff intent), the reply got a 👎, or the intent's confidence was below
the tenant's threshold. Acting on a message writes its ``ReviewItem`` in the same transaction
as the utterance or article it creates, so a message leaves the queue exactly when its lesson
is stored; a second click finds it gone (404), never a duplicate.

The content-gap report clusters the unanswered questions on a worker (``content_gaps`` job,
``workers.handlers.support_bot_gaps``): the web tier only selects the questions and stores
the clusters the worker found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.support_bot import services
from apps.support_bot.models import (
    ContentGap,
    Conversation,
    Feedback,
    Intent,
    Message,
    ReviewItem,
    Utterance,
)
from apps.support_bot.spec import APP
from jobs.models import Job, ModelVersion
from jobs.services import job_submit

HANDED_OFF_KINDS = (Message.ReplyKind.FALLBACK, Message.ReplyKind.HANDOFF)
GAP_EXAMPLES = 5


# --- The queue ---------------------------------------------------------------------------------


def _with_reply(messages: QuerySet[Message]) -> QuerySet[Message]:
    """Annotate customer messages with the bot's reply to them (the next bot message of the
    conversation) and the first agent message after them."""
    later = Message.objects.filter(conversation=OuterRef("conversation"), id__gt=OuterRef("id"))
    reply = later.filter(role=Message.Role.BOT).order_by("id")
    return messages.annotate(
        reply_id=Subquery(reply.values("id")[:1]),
        reply_kind_of=Subquery(reply.values("reply_kind")[:1]),
        agent_reply_id=Subquery(later.filter(role=Message.Role.AGENT).order_by("id")
                                .values("id")[:1]),
        agent_reply_text=Subquery(later.filter(role=Message.Role.AGENT).order_by("id")
                                  .values("text")[:1]),
    ).annotate(
        thumbs_down=Exists(Feedback.objects.filter(message_id=OuterRef("reply_id"),
                                                   rating=Feedback.Rating.DOWN)),
    )


def review_queue(*, threshold: float | None = None) -> QuerySet[Message]:
    """Customer messages that need review, newest first: handed off, 👎 on the reply, or
    below the confidence ``threshold`` (default: the tenant's intent threshold); none that
    was reviewed. Each carries ``handed_off``, ``thumbs_down``, ``low_confidence`` and the
    agent's reply (``agent_reply_id``, ``agent_reply_text``), if any."""
    if threshold is None:
        threshold = services.bot_settings_get().intent_threshold
    low = Q(confidence__isnull=False, confidence__lt=threshold)
    messages = _with_reply(Message.objects.filter(role=Message.Role.USER)
                           .exclude(Exists(ReviewItem.objects.filter(message=OuterRef("pk")))))
    return (messages.annotate(handed_off=Q(reply_kind_of__in=HANDED_OFF_KINDS),
                              low_confidence=low)
            .filter(Q(reply_kind_of__in=HANDED_OFF_KINDS) | Q(thumbs_down=True) | low)
            .select_related("conversation").order_by("-created_at", "-id"))


def review_reasons(message: Any) -> list[str]:
    """Why a queued message needs review: ``handed_off``, ``thumbs_down``, ``low_confidence``."""
    return [name for name in ("handed_off", "thumbs_down", "low_confidence")
            if getattr(message, name, False)]


def _review_record(*, message: Message, state: str, reviewed_by_id: int | None,
                   **made: Any) -> ReviewItem:
    return ReviewItem.objects.create(message=message, state=state,
                                     reviewed_by_id=reviewed_by_id, **made)


@transaction.atomic
def review_label(*, message: Message, intent_name: str, reviewed_by_id: int | None = None
                 ) -> ReviewItem:
    """Label ``message`` with an existing intent: its text becomes a training utterance of
    that intent (the next retrain learns it). An unknown intent is refused on ``intent``."""
    name = (intent_name or "").strip()
    # ``out_of_scope`` is a label too: the example tunes the version's out-of-scope score.
    intent = Intent.objects.filter(name=name).first() if name else None
    if intent is None:
        raise services.BotError(_("There is no intent named '%(name)s'.") % {"name": name},
                                fields={"intent": [_("not an intent of this workspace")]})
    utterance = services.utterance_create(intent=intent, text=message.text,
                                          source=Utterance.Source.MANUAL)
    return _review_record(message=message, state=ReviewItem.State.LABELLED,
                          reviewed_by_id=reviewed_by_id, utterance=utterance)


@transaction.atomic
def review_article(*, message: Message, reviewed_by_id: int | None = None,
                   question: str = "", answer: str = "") -> ReviewItem:
    """Turn the agent's reply to ``message`` into a knowledge-base article: the customer's
    question (or ``question``) and the agent's answer (or ``answer``), tagged ``agent``."""
    if not answer.strip():
        agent = (Message.objects.filter(conversation_id=message.conversation_id,
                                        role=Message.Role.AGENT, id__gt=message.pk)
                 .order_by("id").first())
        if agent is None:
            raise services.BotError(_("No agent replied to this message."),
                                    fields={"answer": [_("no agent reply to use")]})
        answer = agent.text
    article = services.article_create(question=question.strip() or message.text, answer=answer,
                                      tags=["agent"])
    return _review_record(message=message, state=ReviewItem.State.ARTICLE,
                          reviewed_by_id=reviewed_by_id, article=article)


@transaction.atomic
def review_dismiss(*, message: Message, reviewed_by_id: int | None = None) -> ReviewItem:
    """Nothing to learn from ``message``: it leaves the queue."""
    return _review_record(message=message, state=ReviewItem.State.DISMISSED,
                          reviewed_by_id=reviewed_by_id)


# --- Containment before and after the promoted version -------------------------------------------


@dataclass(frozen=True)
class Containment:
    conversations: int
    handed_off: int

    @property
    def rate(self) -> float | None:
        """Share of conversations the bot kept (no handoff)."""
        return (self.conversations - self.handed_off) / self.conversations \
            if self.conversations else None


@dataclass(frozen=True)
class LoopEffect:
    """Containment in the ``days`` before the active version was promoted and since then
    (at most ``days``); ``version`` is None while no version of the tenant's is active."""

    version: ModelVersion | None
    days: int
    promoted_at: datetime | None = None
    before: Containment | None = None
    after: Containment | None = None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        if self.before.rate is None or self.after.rate is None:
            return None
        return self.after.rate - self.before.rate


def _containment(start: datetime, end: datetime) -> Containment:
    """Conversations started in ``[start, end)`` in which the customer wrote."""
    found = (Conversation.objects.filter(created_at__gte=start, created_at__lt=end)
             .filter(Exists(Message.objects.filter(conversation=OuterRef("pk"),
                                                   role=Message.Role.USER))))
    return Containment(conversations=found.count(),
                       handed_off=found.filter(handed_off_at__isnull=False).count())


def loop_effect(*, days: int = 14, now: datetime | None = None) -> LoopEffect:
    version = (ModelVersion.objects.filter(app=APP, status=ModelVersion.Status.ACTIVE)
               .order_by("-activated_at", "-id").first())
    promoted_at = (version.activated_at or version.created_at) if version else None
    if version is None or promoted_at is None:
        return LoopEffect(version=None, days=days)
    now = now or timezone.now()
    window = timedelta(days=days)
    return LoopEffect(version=version, days=days, promoted_at=promoted_at,
                      before=_containment(promoted_at - window, promoted_at),
                      after=_containment(promoted_at, min(promoted_at + window, now)))


# --- Content gaps -----------------------------------------------------------------------------


def unanswered_questions(*, days: int, limit: int) -> list[tuple[int, str]]:
    """``(id, text)`` of the latest ``limit`` customer messages of the last ``days`` days the bot
    could not answer (handed off or below the confidence threshold), except those already
    labelled or turned into an article."""
    threshold = services.bot_settings_get().intent_threshold
    since = timezone.now() - timedelta(days=days)
    lessons = ReviewItem.objects.filter(message=OuterRef("pk")).exclude(
        state=ReviewItem.State.DISMISSED)
    messages = (_with_reply(Message.objects.filter(role=Message.Role.USER, created_at__gte=since)
                            .exclude(Exists(lessons)))
                .filter(Q(reply_kind_of__in=HANDED_OFF_KINDS)
                        | Q(confidence__isnull=False, confidence__lt=threshold))
                .order_by("-created_at", "-id"))
    return list(messages.values_list("id", "text")[:limit])


@dataclass(frozen=True)
class Cluster:
    message_ids: list[int]
    label: str
    examples: list[str]


@transaction.atomic
def content_gaps_record(*, job: Job, clusters: Sequence[Cluster]) -> int:
    """Replace ``job``'s clusters (a retried job writes them again), ranked by volume."""
    ContentGap.objects.filter(job=job).delete()
    ranked = sorted(clusters, key=lambda c: (-len(c.message_ids), c.label))
    ContentGap.objects.bulk_create([
        ContentGap(job=job, rank=rank, size=len(cluster.message_ids), label=cluster.label,
                   examples=list(cluster.examples[:GAP_EXAMPLES]),
                   message_ids=list(cluster.message_ids), tenant_id=job.tenant_id)
        for rank, cluster in enumerate(ranked, start=1)])
    return len(ranked)


def content_gaps_submit(*, created_by_id: int | None = None,
                        params: dict[str, Any] | None = None) -> Job:
    return job_submit(app=APP, kind="content_gaps", params=params or {},
                      created_by_id=created_by_id).job


def content_gaps_latest() -> tuple[Job | None, list[ContentGap]]:
    """The latest content-gap job (in any state) and the clusters of the latest that
    succeeded, by volume."""
    jobs = Job.objects.filter(app=APP, kind="content_gaps").order_by("-created_at", "-id")
    latest = jobs.first()
    done = jobs.filter(status=Job.Status.SUCCEEDED).first()
    return latest, list(ContentGap.objects.filter(job=done).order_by("rank")) if done else []

"""Resolution analytics of the customer-service bot: per day and per intent, how often the bot
takes part, answers, resolves (confirmed or assumed) and automates a conversation, why it
hands off, and how satisfied customers are.

Every figure is over a cohort of conversations: those *started* in the range (in the active
time zone: the signed-in user's, else UTC) that have at least one customer message. A day is
the day a conversation started and its intent is the one recognised on its first analysed
customer message (``""``: none), so a conversation counts once, on one day, under one intent,
and its later messages, ratings and returns are credited to it. The definitions:

- **involvement** = conversations where the bot replied at least once / conversations;
- **answer rate** = customer messages the bot answered (a bot reply of any kind but
  ``fallback`` and ``handoff``: one reply answers one message) / customer messages;
- **confirmed resolution** = conversations with a thumbs up (on a reply or on the
  conversation) / conversations;
- **assumed resolution** = conversations never handed off, not confirmed, without a thumbs
  down, whose last customer message is more than 24 h old and after which the same
  external user started no other conversation within 24 h (inclusive) / conversations. A
  thumbs down says the question was not resolved, so it is not assumed to be;
- **pending** = conversations that would be assumed resolved but whose 24 h have not passed;
- **automation rate** = conversations resolved (confirmed or assumed) without any agent
  reply / conversations;
- **handoff reasons** = handed-off conversations per ``Conversation.handoff_reason``
  (``intent:<name>`` counted as ``intent``);
- **satisfaction** = thumbs up / ratings (up and down) on the cohort's conversations.

The figures come from one query over the annotated cohort, grouped by day, intent and handoff
reason; the cells are summed into the days, the intents, the reasons and the totals. Each
conversation's facts are correlated subqueries on the ``(tenant, conversation, created_at)``
message index.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from apps.support_bot.models import Conversation, Feedback, Message

MAX_DAYS = 90
RETURN_WINDOW = timedelta(hours=24)
NOT_ANSWERS = [Message.ReplyKind.FALLBACK, Message.ReplyKind.HANDOFF]
INTENT_REASON = "intent"


@dataclass
class Figures:
    """Counts of one cohort (a day, an intent, the whole range) and the rates they give."""

    conversations: int = 0
    involved: int = 0
    customer_messages: int = 0
    answered: int = 0
    confirmed: int = 0
    assumed: int = 0
    pending: int = 0
    automated: int = 0
    handed_off: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0

    def add(self, other: Figures) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def involvement(self) -> float | None:
        return self._share(self.involved, self.conversations)

    @property
    def answer_rate(self) -> float | None:
        return self._share(self.answered, self.customer_messages)

    @property
    def confirmed_rate(self) -> float | None:
        return self._share(self.confirmed, self.conversations)

    @property
    def assumed_rate(self) -> float | None:
        return self._share(self.assumed, self.conversations)

    @property
    def resolution_rate(self) -> float | None:
        return self._share(self.confirmed + self.assumed, self.conversations)

    @property
    def automation_rate(self) -> float | None:
        return self._share(self.automated, self.conversations)

    @property
    def handoff_rate(self) -> float | None:
        return self._share(self.handed_off, self.conversations)

    @property
    def satisfaction(self) -> float | None:
        return self._share(self.thumbs_up, self.thumbs_up + self.thumbs_down)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*COUNT_FIELDS, *RATE_FIELDS)}


COUNT_FIELDS = tuple(item.name for item in fields(Figures))
_COUNTS = COUNT_FIELDS
RATE_FIELDS = ("involvement", "answer_rate", "confirmed_rate", "assumed_rate", "resolution_rate",
               "automation_rate", "handoff_rate", "satisfaction")


@dataclass(frozen=True)
class ResolutionReport:
    since: datetime  # the first day's midnight in the active time zone
    until: datetime  # "now": assumed resolution is judged at this moment
    days: int
    intent: str  # the filter; "" for every intent
    totals: Figures
    per_day: list[tuple[date, Figures]]
    per_intent: list[tuple[str, Figures]]  # most conversations first
    handoff_reasons: list[tuple[str, int]]  # most first


def _per_conversation(queryset: QuerySet[Any]) -> Coalesce:
    """How many rows of ``queryset`` belong to the outer conversation (0 when none)."""
    counted = (queryset.filter(conversation=OuterRef("pk")).order_by().values("conversation")
               .annotate(total=Count("id")).values("total"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def cohort(*, since: datetime, now: datetime, intent: str = "") -> QuerySet[Any]:
    """The conversations started since ``since`` with a customer message, each annotated
    with its day, intent and the facts the figures count (see the module docstring)."""
    customer = Message.objects.filter(role=Message.Role.USER)
    mine = customer.filter(conversation=OuterRef("pk"))
    came_back = (Conversation.objects.exclude(external_user_id="")
                 .filter(external_user_id=OuterRef("external_user_id"),
                         created_at__gt=OuterRef("last_customer_at"),
                         created_at__lte=ExpressionWrapper(
                             OuterRef("last_customer_at") + RETURN_WINDOW,
                             output_field=DateTimeField()))
                 .exclude(pk=OuterRef("pk")))
    rated = Feedback.objects.filter(conversation=OuterRef("pk"))
    conversations: QuerySet[Any] = (
        Conversation.objects.filter(created_at__gte=since, created_at__lte=now)
        .filter(Exists(mine))
        .annotate(
            day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()),
            intent_name=Coalesce(Subquery(mine.exclude(intent="").order_by("id")
                                          .values("intent")[:1]), Value("")),
            last_customer_at=Subquery(mine.order_by("-created_at", "-id")
                                      .values("created_at")[:1]),
            bot_replied=Exists(Message.objects.filter(conversation=OuterRef("pk"),
                                                      role=Message.Role.BOT)),
            agent_replied=Exists(Message.objects.filter(conversation=OuterRef("pk"),
                                                        role=Message.Role.AGENT)),
            liked=Exists(rated.filter(rating=Feedback.Rating.UP)),
            disliked=Exists(rated.filter(rating=Feedback.Rating.DOWN)),
            customer_messages=_per_conversation(customer),
            answered=_per_conversation(Message.objects.filter(role=Message.Role.BOT)
                                       .exclude(reply_kind__in=NOT_ANSWERS)),
            thumbs_up=_per_conversation(Feedback.objects.filter(rating=Feedback.Rating.UP)),
            thumbs_down=_per_conversation(Feedback.objects.filter(
                rating=Feedback.Rating.DOWN)),
        )
        .annotate(returned=Exists(came_back))
    )
    if intent:
        conversations = conversations.filter(intent_name=intent)
    return conversations


def _figures_aggregates(now: datetime) -> dict[str, Any]:
    not_judged = Q(handed_off_at__isnull=True, liked=False, disliked=False)
    assumed = not_judged & Q(last_customer_at__lt=now - RETURN_WINDOW, returned=False)
    resolved = Q(liked=True) | assumed
    return {
        "conversations": Count("id"),
        "involved": Count("id", filter=Q(bot_replied=True)),
        "customer_messages": Sum("customer_messages"),
        "answered": Sum("answered"),
        "confirmed": Count("id", filter=Q(liked=True)),
        "assumed": Count("id", filter=assumed),
        "pending": Count("id", filter=not_judged & Q(last_customer_at__gte=now - RETURN_WINDOW)),
        "automated": Count("id", filter=resolved & Q(agent_replied=False)),
        "handed_off": Count("id", filter=Q(handed_off_at__isnull=False)),
        "thumbs_up": Sum("thumbs_up"),
        "thumbs_down": Sum("thumbs_down"),
    }


def _figures(row: dict[str, Any]) -> Figures:
    return Figures(**{name: row[name] or 0 for name in _COUNTS})


def range_start(*, days: int, now: datetime) -> datetime:
    """Midnight, in the active time zone, of the first of the last ``days`` days."""
    first = timezone.localdate(now) - timedelta(days=days - 1)
    return datetime.combine(first, time.min, tzinfo=timezone.get_current_timezone())


def resolution_report(*, days: int = 30, intent: str = "", now: datetime | None = None
                      ) -> ResolutionReport:
    """The resolution figures of the conversations started in the last ``days`` days
    (1-``MAX_DAYS``; today counts as one), optionally of one intent."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}")
    now = now or timezone.now()
    since = range_start(days=days, now=now)
    conversations = cohort(since=since, now=now, intent=intent)
    aggregates = _figures_aggregates(now)

    # One grouped query: every count is additive, so the cells (day x intent x reason) fold
    # into the days, the intents and the reasons here (a third of the time of three queries).
    by_day: dict[date, Figures] = {}
    by_intent: dict[str, Figures] = {}
    reasons: dict[str, int] = {}
    for row in (conversations.values("day", "intent_name", "handoff_reason")
                .annotate(**aggregates).order_by()):
        cell = _figures(row)
        by_day.setdefault(row["day"], Figures()).add(cell)
        by_intent.setdefault(row["intent_name"], Figures()).add(cell)
        if cell.handed_off:
            reason = row["handoff_reason"] or "requested"
            if reason.startswith(INTENT_REASON + ":"):
                reason = INTENT_REASON
            reasons[reason] = reasons.get(reason, 0) + cell.handed_off
    first = since.date()
    per_day = [(first + timedelta(days=offset), by_day.get(first + timedelta(days=offset))
                or Figures()) for offset in range(days)]
    totals = Figures()
    for _day, figures in per_day:
        totals.add(figures)
    per_intent = sorted(by_intent.items(), key=lambda item: (-item[1].conversations, item[0]))
    return ResolutionReport(
        since=since, until=now, days=days, intent=intent, totals=totals, per_day=per_day,
        per_intent=per_intent,
        handoff_reasons=sorted(reasons.items(), key=lambda item: (-item[1], item[0])))


__all__ = ["COUNT_FIELDS", "MAX_DAYS", "RATE_FIELDS", "Figures", "ResolutionReport", "cohort",
           "resolution_report"]

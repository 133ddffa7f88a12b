"""Reads of the agents' inbox: the waiting conversations with each agent's unread count and
how long the customer has waited, a conversation's notes and the customer's earlier
conversations, the canned replies, the agents one can assign to, and the version stamp the
live pages poll.

Live pages poll ``live_version`` rather than holding a server-sent-events stream open: the web
tier runs gunicorn's threaded workers (2 processes of 4 threads by default), where a stream
holds a request thread (and a database connection) per open page, while a poll is one
indexed query every few seconds
(``conversation_tenant_status`` serves the handed-off conversations' latest ``updated_at``; a
conversation's is read by its primary key). Every write an agent must see touches
``Conversation.updated_at``: a customer message, a bot or agent reply, a handoff, a claim or
release, a note.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.support_bot.handoff import AGENT_ROLES
from apps.support_bot.models import (
    CannedReply,
    Conversation,
    ConversationNote,
    ConversationRead,
    Message,
)
from apps.support_bot.selectors import inbox
from tenancy.models import Membership

EARLIER_LIMIT = 10
# A bot reply that hands over answers nothing: the customer still waits for a person.
_NOT_ANSWERS = [Message.ReplyKind.FALLBACK, Message.ReplyKind.HANDOFF]


def with_agent_view(queryset: QuerySet[Conversation], *, user_id: int
                    ) -> QuerySet[Conversation]:
    """``queryset`` annotated with ``unread`` (the customer's messages after what ``user_id``
    has read) and ``waiting_since`` (the first customer message after the last real answer,
    by an agent or by the bot; None when nothing waits)."""
    read_upto = ConversationRead.objects.filter(
        conversation=OuterRef("pk"), user_id=user_id).values("last_read_message_id")[:1]
    last_answer = (Message.objects.filter(conversation=OuterRef("conversation"))
                   .filter(Q(role=Message.Role.AGENT)
                           | (Q(role=Message.Role.BOT) & ~Q(reply_kind__in=_NOT_ANSWERS)))
                   .order_by("-id").values("id")[:1])
    waiting_since = (Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.USER)
                     .filter(id__gt=Coalesce(Subquery(last_answer), Value(0)))
                     .order_by("id").values("created_at")[:1])
    return (queryset.select_related("assignee")
            .annotate(read_upto=Coalesce(Subquery(read_upto), Value(0)))
            .annotate(unread=Count("messages", filter=Q(messages__role=Message.Role.USER,
                                                        messages__id__gt=F("read_upto"))),
                      waiting_since=Subquery(waiting_since)))


def inbox_for(*, user_id: int, mine: bool = False) -> QuerySet[Conversation]:
    """The waiting conversations as ``user_id`` sees them (``mine``: only those they own)."""
    queryset = inbox()
    if mine:
        queryset = queryset.filter(assignee_id=user_id)
    return with_agent_view(queryset, user_id=user_id)


def conversation_notes(*, conversation: Conversation) -> QuerySet[ConversationNote]:
    return conversation.notes.select_related("author").order_by("created_at", "id")


def earlier_conversations(*, conversation: Conversation) -> list[Conversation]:
    """The same customer's other conversations (same external user id), latest first."""
    if not conversation.external_user_id:
        return []
    return list(Conversation.objects.filter(external_user_id=conversation.external_user_id)
                .exclude(pk=conversation.pk).annotate(message_count=Count("messages"))
                .order_by("-created_at", "-id")[:EARLIER_LIMIT])


def canned_replies() -> QuerySet[CannedReply]:
    return CannedReply.objects.order_by("title", "id")


def agents() -> list[dict[str, Any]]:
    """Who a conversation can be assigned to: the workspace's members and above."""
    return [dict(row) for row in Membership.objects.filter(role__in=AGENT_ROLES)
            .order_by("user__email").values("user_id", "user__email")]


def live_version(*, conversation: Conversation | None = None) -> str:
    """A stamp that changes whenever something an agent must see changes: of one
    conversation, or of the inbox (the handed-off conversations: one arriving, leaving or
    changing moves their latest ``updated_at`` or their count)."""
    if conversation is not None:
        stamp = (Conversation.objects.filter(pk=conversation.pk)
                 .values_list("updated_at", flat=True).first())
        return stamp.isoformat() if stamp else ""
    found = Conversation.objects.filter(status=Conversation.Status.HANDED_OFF).aggregate(
        latest=Max("updated_at"), count=Count("id"))
    latest = found["latest"]
    return f"{latest.isoformat() if latest else ''}/{found['count']}"

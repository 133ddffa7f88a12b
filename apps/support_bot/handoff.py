"""Writes of the human side of a conversation: the customer asking for a person, agents
owning (claiming, being assigned, releasing) a conversation, the notification of a handoff,
internal notes, read markers and canned replies.

The invariant: while a conversation is handed off (status ``handed_off``, with or without an
owner) the bot stays silent, so customer messages are stored and not answered
(``services.chat``); releasing it sets it ``open`` again and the next message is the bot's
to answer. Ownership is cleared on release and on resolution, so a resolved conversation
that the customer reopens goes back to the bot rather than to a silent, stale owner.

A request for a person is recognised before the model runs (``handoff_requested``): a small
list of phrases per language, matched on normalised text. It is deliberately narrow: a
missed request costs one more message ("agent please"), a false one takes a question away
from the bot, and the widget has a button for the same.
"""

from __future__ import annotations

import re
import unicodedata
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.support_bot.models import (
    CANNED_TITLE_MAX_CHARS,
    MESSAGE_MAX_CHARS,
    CannedReply,
    Conversation,
    ConversationNote,
    ConversationRead,
    Message,
)
from tenancy.models import ROLE_RANK, Membership, Role

CUSTOMER_REQUEST = "customer_request"
AGENT_ROLES = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role.MEMBER]]

# Phrases asking for a person, found as whole words in the lower-cased, whitespace-folded
# message; Chinese has no spaces, so its phrases are found as substrings. A bare word
# ("human", "人工") counts only as the whole message: "human resources" is a question.
_PHRASES = (
    # English
    r"(talk|speak|chat) (to|with) (a |an |some )?(human|person|agent|someone|somebody|"
    r"representative|operator|real person|live agent|human agent|customer service)",
    r"(i want|i need|i'd like|give me|get me|connect me to|connect me with|transfer me to) "
    r"(a |an |to a )?(human|person|agent|real person|live agent|operator|representative)",
    r"agent please|human please|real person|live agent|human agent|not a bot|stop the bot",
    # Spanish, French, German
    r"hablar con (una persona|un humano|un agente)|agente humano",
    r"parler (à|a) (un humain|une personne|un conseiller|un agent)",
    r"(einem menschen|einem mitarbeiter) sprechen",
)
_CJK_PHRASES = ("转人工", "人工客服", "人工服务", "找人工", "真人客服", "要人工", "接人工",
                "轉人工", "真人")
_ANYWHERE = re.compile(r"\b(?:" + "|".join(_PHRASES) + r")\b")
_ALONE = re.compile(r"(please )?(a |an )?(human|agent|person|operator|representative)"
                    r"( please)?|人工|客服")


def handoff_requested(text: str) -> bool:
    """Whether the customer's message asks for a person ("talk to a human", "转人工", ...)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = " ".join(re.sub(r"[^\w\s']", " ", folded).split())
    if not folded or len(folded) > 200:  # a long message is a question, not a request
        return False
    if _ALONE.fullmatch(folded) or any(phrase in folded for phrase in _CJK_PHRASES):
        return True
    return bool(_ANYWHERE.search(folded))


def _refuse(message: str, *, field: str = "", problem: str = "", code: str = "") -> Exception:
    """A ``services.BotError`` (imported here: services imports this module)."""
    from apps.support_bot.services import BotError

    kwargs: dict[str, Any] = {"fields": {field: [problem]}} if field else {}
    if code:
        kwargs["code"] = code
    return BotError(message, **kwargs)


# --- The customer asks -------------------------------------------------------------------------


@transaction.atomic
def customer_handoff_request(*, conversation: Conversation) -> Message:
    """Hand the conversation to a person because the customer asked (a recognised message or
    the widget's button): the bot says so, once, and agents are notified."""
    from apps.support_bot.services import bot_settings_get, conversation_handoff

    if conversation.status == Conversation.Status.RESOLVED:
        conversation.status = Conversation.Status.OPEN
        conversation.resolved_at = None
        conversation.save(update_fields=["status", "resolved_at", "updated_at"])
    language = bot_settings_get().widget_language or translation.get_language()
    with translation.override(language):
        text = _("A colleague will answer you here shortly.")
    reply = Message.objects.create(conversation=conversation, role=Message.Role.BOT, text=text,
                                   reply_kind=Message.ReplyKind.HANDOFF, intent="")
    conversation_handoff(conversation=conversation, reason=CUSTOMER_REQUEST)
    return reply


def handoff_notify(*, conversation: Conversation, reason: str) -> None:
    """Email the tenant's agents (members and above) that a conversation waits for them, in
    each one's language, after the handoff commits. The webhook is emitted beside this."""
    last = conversation.messages.filter(role=Message.Role.USER).order_by("-id").first()
    link = settings.SITE_BASE_URL + reverse("bot:conversation", kwargs={"pk": conversation.pk})
    by_language: dict[str, list[str]] = {}
    for email, language in sorted(Membership.objects.filter(role__in=AGENT_ROLES)
                                  .values_list("user__email", "user__language")):
        by_language.setdefault(language or settings.LANGUAGE_CODE, []).append(email)
    for language, recipients in by_language.items():
        with translation.override(language):
            subject = _("Conversation #%(id)d needs a person") % {"id": conversation.pk}
            body = _("The bot handed conversation #%(id)d over (%(reason)s).") % {
                "id": conversation.pk, "reason": reason} + "\n"
            if last is not None:
                body += _("The customer wrote: %(text)s") % {"text": last.text[:500]} + "\n"
            body += _("Answer it in the inbox: %(link)s") % {"link": link} + "\n"
        transaction.on_commit(partial(send_mail, subject, body, None, recipients,
                                      fail_silently=True))


# --- Ownership ---------------------------------------------------------------------------------


def _agent_id(user_id: int | None) -> int | None:
    """``user_id`` if it is an agent (member or above) of the current tenant; 400 otherwise,
    the same for another tenant's user as for nobody."""
    if user_id is None:
        return None
    if not Membership.objects.filter(user_id=user_id, role__in=AGENT_ROLES).exists():
        raise _refuse(_("This person is not an agent of the workspace."), field="assignee",
                      problem=_("not an agent of this workspace"))
    return user_id


def _own(conversation: Conversation, assignee_id: int | None) -> Conversation:
    if conversation.status == Conversation.Status.RESOLVED:
        raise _refuse(_("This conversation is resolved."), code="conflict")
    conversation.assignee_id = assignee_id
    conversation.owned_at = timezone.now() if assignee_id is not None else None
    if conversation.status != Conversation.Status.HANDED_OFF:
        conversation.status = Conversation.Status.HANDED_OFF
        conversation.handed_off_at = timezone.now()
    conversation.save(update_fields=["assignee", "owned_at", "status", "handed_off_at",
                                     "updated_at"])
    return conversation


@transaction.atomic
def conversation_claim(*, conversation: Conversation, user_id: int) -> Conversation:
    """The agent takes the conversation: the bot stays silent until it is released."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    return _own(conversation, _agent_id(user_id))


@transaction.atomic
def conversation_assign(*, conversation: Conversation, assignee_id: int | None) -> Conversation:
    """Give the conversation to an agent of the workspace (None: to nobody in particular; it
    stays with the people, in the inbox)."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    return _own(conversation, _agent_id(assignee_id))


@transaction.atomic
def conversation_release(*, conversation: Conversation) -> Conversation:
    """Give the conversation back to the bot: it answers the customer's next message."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.status == Conversation.Status.RESOLVED:
        raise _refuse(_("This conversation is resolved."), code="conflict")
    conversation.assignee_id, conversation.owned_at = None, None
    conversation.status = Conversation.Status.OPEN
    conversation.save(update_fields=["assignee", "owned_at", "status", "updated_at"])
    return conversation


# --- Notes and read markers -------------------------------------------------------------------


_EMPTY = {"text": gettext_lazy("The text is empty."),
          "title": gettext_lazy("The title is empty.")}
_TOO_LONG = {"text": gettext_lazy("The text is longer than %(limit)s characters."),
             "title": gettext_lazy("The title is longer than %(limit)s characters.")}


def _clean(text: str, field: str, max_chars: int) -> str:
    value = (text or "").strip()
    if not value:
        raise _refuse(str(_EMPTY[field]), field=field, problem=_("may not be blank"))
    if len(value) > max_chars:
        limit = f"{max_chars:,}"
        raise _refuse(str(_TOO_LONG[field]) % {"limit": limit}, field=field,
                      problem=_("at most %(limit)s characters") % {"limit": limit})
    return value


@transaction.atomic
def note_create(*, conversation: Conversation, text: str, author_id: int | None
                ) -> ConversationNote:
    """An internal note: agents see it, the customer never does."""
    note = ConversationNote.objects.create(conversation=conversation, author_id=author_id,
                                           text=_clean(text, "text", MESSAGE_MAX_CHARS))
    conversation.save(update_fields=["updated_at"])  # the live pages notice it
    return note


def conversation_mark_read(*, conversation: Conversation, user_id: int) -> None:
    """The agent has seen every message of the conversation so far."""
    last_id = conversation.messages.order_by("-id").values_list("id", flat=True).first() or 0
    try:
        with transaction.atomic():
            ConversationRead.objects.update_or_create(
                conversation=conversation, user_id=user_id,
                defaults={"last_read_message_id": last_id})
    except IntegrityError:  # the same agent's two tabs at once: the other one wrote it
        pass


# --- Canned replies ----------------------------------------------------------------------------


def _canned_fields(title: str, text: str, exclude_pk: int | None = None) -> dict[str, str]:
    title = _clean(title, "title", CANNED_TITLE_MAX_CHARS)
    same_title = CannedReply.objects.filter(title=title)
    if exclude_pk is not None:
        same_title = same_title.exclude(pk=exclude_pk)
    if same_title.exists():
        raise _refuse(_("There is already a canned reply with this title."), field="title",
                      problem=_("already exists"), code="conflict")
    return {"title": title, "text": _clean(text, "text", MESSAGE_MAX_CHARS)}


@transaction.atomic
def canned_reply_create(*, title: str, text: str) -> CannedReply:
    return CannedReply.objects.create(**_canned_fields(title, text))


@transaction.atomic
def canned_reply_update(*, canned: CannedReply, title: str, text: str) -> CannedReply:
    for name, value in _canned_fields(title, text, exclude_pk=canned.pk).items():
        setattr(canned, name, value)
    canned.save()
    return canned


@transaction.atomic
def canned_reply_delete(*, canned: CannedReply) -> None:
    canned.delete()

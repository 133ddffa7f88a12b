"""Dashboard pages of the agents' side of the bot: the inbox (unread counts, waiting time,
owner), a conversation (reply, claim, assign, release, internal notes, the customer's earlier
conversations, canned replies), the canned replies' own pages, and the JSON stamp the live
pages poll (``inbox.live_version``; ``static/js/bot-live.js`` refreshes the page's live
regions when it changes).

As in ``views``: each view checks the role, calls one service or selector and renders;
another tenant's conversation or canned reply is not found (404).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.support_bot import handoff, inbox, selectors, services
from apps.support_bot.forms import AgentReplyForm, AssignForm, CannedReplyForm, NoteForm
from apps.support_bot.models import CannedReply, Conversation
from apps.support_bot.views import _page, _submit
from dashboard.views import require_role, workspace_view
from tenancy.models import Role


def _me(request: HttpRequest) -> int:
    user_id = request.user.pk
    assert user_id is not None  # noqa: S101  (workspace_view: signed in)
    return int(user_id)


@require_safe
@workspace_view()
def inbox_page(request: HttpRequest) -> HttpResponse:
    mine = request.GET.get("mine") == "1"
    return render(request, "support_bot/conversations.html", {
        "conversations": _page(request, inbox.inbox_for(user_id=_me(request), mine=mine)),
        "inbox": True, "mine": mine, "live_version": inbox.live_version()})


def _conversation_page(request: HttpRequest, conversation: Conversation, *,
                       form: AgentReplyForm | None = None, note_form: NoteForm | None = None,
                       status: int = 200) -> HttpResponse:
    handoff.conversation_mark_read(conversation=conversation, user_id=_me(request))
    return render(request, "support_bot/conversation.html", {
        "conversation": conversation, "form": form or AgentReplyForm(),
        "note_form": note_form or NoteForm(),
        "chat": selectors.conversation_messages(conversation=conversation),
        "notes": inbox.conversation_notes(conversation=conversation),
        "earlier": inbox.earlier_conversations(conversation=conversation),
        "canned": inbox.canned_replies(), "agents": inbox.agents(),
        "live_version": inbox.live_version(conversation=conversation),
        "intents": selectors.intent_list().values_list("name", flat=True),
    }, status=status)


def _conversation(pk: int) -> Conversation:
    return get_object_or_404(Conversation.objects.select_related("assignee"), pk=pk)


@require_http_methods(["GET", "POST"])
@workspace_view()
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(pk)
    if request.method != "POST":
        return _conversation_page(request, conversation)
    require_role(request, Role.MEMBER, action=_("change the bot"))
    form = AgentReplyForm(request.POST)
    if _submit(form, lambda data: services.agent_reply(
            conversation=conversation, text=data["text"], author_id=_me(request),
            save_as=data["save_as"], intent_name=data["intent"])) is not None:
        messages.success(request, _("Reply sent."))
        return redirect("bot:conversation", pk=conversation.pk)
    return _conversation_page(request, conversation, form=form, status=400)


@require_POST
@workspace_view(Role.MEMBER)
def note_create(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(pk)
    note_form = NoteForm(request.POST)
    if _submit(note_form, lambda data: handoff.note_create(
            conversation=conversation, text=data["text"], author_id=_me(request))) is None:
        return _conversation_page(request, conversation, note_form=note_form, status=400)
    messages.success(request, _("Note added."))
    return redirect("bot:conversation", pk=conversation.pk)


def _ownership(request: HttpRequest, pk: int, change: str) -> HttpResponse:
    conversation = _conversation(pk)
    try:
        if change == "claim":
            handoff.conversation_claim(conversation=conversation, user_id=_me(request))
            messages.success(request, _("You own this conversation; the bot stays silent."))
        elif change == "release":
            handoff.conversation_release(conversation=conversation)
            messages.success(request, _("Released: the bot answers this conversation again."))
        else:
            form = AssignForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("Choose an agent to assign to."))
                return redirect("bot:conversation", pk=conversation.pk)
            handoff.conversation_assign(conversation=conversation,
                                        assignee_id=form.cleaned_data["assignee"])
            messages.success(request, _("Assignment saved."))
    except services.BotError as error:
        messages.error(request, str(error))
    return redirect("bot:conversation", pk=conversation.pk)


@require_POST
@workspace_view(Role.MEMBER)
def conversation_claim(request: HttpRequest, pk: int) -> HttpResponse:
    return _ownership(request, pk, "claim")


@require_POST
@workspace_view(Role.MEMBER)
def conversation_release(request: HttpRequest, pk: int) -> HttpResponse:
    return _ownership(request, pk, "release")


@require_POST
@workspace_view(Role.MEMBER)
def conversation_assign(request: HttpRequest, pk: int) -> HttpResponse:
    return _ownership(request, pk, "assign")


@require_safe
@workspace_view()
def live(request: HttpRequest) -> JsonResponse:
    """``{"version": ...}`` of the inbox, or of ``?conversation=<id>``: the live pages poll it
    and reload their live regions when it changes."""
    wanted = request.GET.get("conversation", "")
    if not wanted:
        return JsonResponse({"version": inbox.live_version()})
    if not wanted.isdigit() or len(wanted) > 18:
        return JsonResponse({"error": {"code": "validation_error",
                                       "message": _("conversation must be an id."),
                                       "fields": {"conversation": [_("not an id")]}}},
                            status=400)
    conversation = get_object_or_404(Conversation, pk=int(wanted))
    return JsonResponse({"version": inbox.live_version(conversation=conversation)})


# --- Canned replies ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def canned_reply_list(request: HttpRequest) -> HttpResponse:
    form = CannedReplyForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        form = CannedReplyForm(request.POST)
        if _submit(form, lambda data: handoff.canned_reply_create(**data)) is not None:
            messages.success(request, _("Canned reply saved."))
            return redirect("bot:canned_replies")
        status = 400
    return render(request, "support_bot/canned_replies.html", {
        "canned": inbox.canned_replies(), "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def canned_reply_detail(request: HttpRequest, pk: int) -> HttpResponse:
    canned = get_object_or_404(CannedReply, pk=pk)
    form = CannedReplyForm(initial={"title": canned.title, "text": canned.text})
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        form = CannedReplyForm(request.POST)
        if _submit(form, lambda data: handoff.canned_reply_update(canned=canned,
                                                                  **data)) is not None:
            messages.success(request, _("Canned reply saved."))
            return redirect("bot:canned_replies")
        status = 400
    return render(request, "support_bot/canned_reply.html", {"canned_reply": canned,
                                                              "form": form}, status=status)


@require_POST
@workspace_view(Role.MEMBER)
def canned_reply_delete(request: HttpRequest, pk: int) -> HttpResponse:
    handoff.canned_reply_delete(canned=get_object_or_404(CannedReply, pk=pk))
    messages.success(request, _("Canned reply deleted."))
    return redirect("bot:canned_replies")

"""Dashboard pages of the customer-service bot: analytics, intents and utterances, the
knowledge base, the try-it chat, conversations, the agents' inbox and the bot settings.

Each view checks the role, calls one service or selector and renders. Every query goes
through the tenant-scoped managers, so another tenant's intent, article or conversation is
simply not found (404). Viewers read; members edit, chat and answer; admins change settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.support_bot import selectors, services
from apps.support_bot.forms import (
    ArticleForm,
    ChatForm,
    ConversationFilterForm,
    CsvUploadForm,
    IntentForm,
    SettingsForm,
    UtteranceForm,
)
from apps.support_bot.models import Article, Conversation, Intent, Utterance
from apps.support_bot.spec import APP
from billing.exceptions import QuotaExceeded
from dashboard.forms import add_service_error
from dashboard.views import require_role, workspace_view
from jobs.datasets import DatasetInvalid
from jobs.models import ModelVersion
from jobs.online import OnlineFailed, OnlineUnavailable
from jobs.services import JobError
from tenancy.models import Role

PAGE_SIZE = 50


def _page(request: HttpRequest, queryset: Any) -> Any:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _submit(form: Any, action: Callable[[dict[str, Any]], Any]) -> Any:
    """Call ``action`` with a valid form's data and return its result; when the form is
    invalid or the service refuses (its errors put back on the form), return None."""
    if not form.is_valid():
        return None
    try:
        return action(dict(form.cleaned_data))
    except services.BotError as error:
        add_service_error(form, error)
        return None


def _import_csv(request: HttpRequest, service: Any, what: str) -> DatasetInvalid | None:
    """Import the uploaded CSV; a refused file is returned, for the page to list its problems
    in the table the datasets page uses (row, column, problem), not in a one-line banner.
    ``what`` is the translated success message, with ``%(created)d`` and ``%(duplicates)d``."""
    form = CsvUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose a CSV file to import."))
        return None
    try:
        result = service(data=form.cleaned_data["file"].read())
    except DatasetInvalid as error:
        return error
    except services.BotError as error:
        messages.error(request, _("Nothing was imported: %(error)s") % {"error": error})
    else:
        messages.success(request, what % {"created": result.created,
                                          "duplicates": result.duplicates})
    return None


# --- Analytics --------------------------------------------------------------------------------


@require_safe
@workspace_view()
def overview(request: HttpRequest) -> HttpResponse:
    config = services.bot_settings_get()
    stats = selectors.analytics(low_confidence_below=config.intent_threshold)
    most = max((day.conversations for day in stats.days), default=0)
    # The axis tops at a whole number of conversations that halves evenly (at least 2), so
    # its three labels (top, middle, 0) are exact.
    top = max(2, most + most % 2)
    days = [(day, round(100 * day.conversations / top), round(100 * day.handed_off / top))
            for day in stats.days]
    axis = {"top": top, "middle": top // 2, "peak": most,
            "first": stats.days[0].day if stats.days else None,
            "middle_day": stats.days[len(stats.days) // 2].day if stats.days else None,
            "last": stats.days[-1].day if stats.days else None}
    return render(request, "support_bot/overview.html",
                  {"stats": stats, "days": days, "axis": axis, "config": config})


# --- Intents and utterances -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def intent_list(request: HttpRequest) -> HttpResponse:
    form = IntentForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        form = IntentForm(request.POST)
        intent = _submit(form, lambda data: services.intent_create(**data))
        if intent is not None:
            messages.success(request, _("Intent %(name)s created.") % {"name": intent.name})
            return redirect("bot:intent", pk=intent.pk)
        status = 400
    return _intents_page(request, form=form, status=status)


def _intents_page(request: HttpRequest, *, form: IntentForm | None = None,
                  refusal: DatasetInvalid | None = None, status: int = 200) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:200]
    intents = list(selectors.intent_list(search=search))
    return render(request, "support_bot/intents.html",
                  {"intents": intents, "search": search,
                   "unanswerable_count": sum(
                       1 for intent in intents if getattr(intent, "unanswerable", False)),
                   "form": form or IntentForm(), "upload": CsvUploadForm(),
                   "refusal": refusal}, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def intent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    intent = get_object_or_404(Intent, pk=pk)
    form = IntentForm(initial={"name": intent.name, "description": intent.description,
                               "answer_template": intent.answer_template,
                               "handoff": intent.handoff, "article": intent.article_id})
    utterance_form = UtteranceForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        if "text" in request.POST:
            utterance_form = UtteranceForm(request.POST)
            if _submit(utterance_form, lambda data: services.utterance_create(
                    intent=intent, **data)) is not None:
                return redirect("bot:intent", pk=intent.pk)
        else:
            form = IntentForm(request.POST)
            if _submit(form, lambda data: services.intent_update(intent=intent,
                                                                 changes=data)) is not None:
                messages.success(request, _("Intent saved."))
                return redirect("bot:intent", pk=intent.pk)
        status = 400
    return render(request, "support_bot/intent.html", {
        "intent": intent, "form": form, "utterance_form": utterance_form,
        "utterances": _page(request, selectors.utterance_list(intent_id=intent.pk)),
    }, status=status)


@require_POST
@workspace_view(Role.MEMBER)
def intent_delete(request: HttpRequest, pk: int) -> HttpResponse:
    intent = get_object_or_404(Intent, pk=pk)
    services.intent_delete(intent=intent)
    messages.success(request, _("Intent %(name)s deleted.") % {"name": intent.name})
    return redirect("bot:intents")


@require_POST
@workspace_view(Role.MEMBER)
def utterance_delete(request: HttpRequest, pk: int) -> HttpResponse:
    utterance = get_object_or_404(Utterance, pk=pk)
    services.utterance_delete(utterance=utterance)
    return redirect("bot:intent", pk=utterance.intent_id)


@require_POST
@workspace_view(Role.MEMBER)
def utterances_import(request: HttpRequest) -> HttpResponse:
    refusal = _import_csv(request, services.utterances_import_csv, _(
        "%(created)d utterances imported, %(duplicates)d already present."))
    if refusal is not None:
        return _intents_page(request, refusal=refusal, status=400)
    return redirect("bot:intents")


@require_POST
@workspace_view(Role.MEMBER)
def train(request: HttpRequest) -> HttpResponse:
    """A fine-tune of the intent model on the intents' utterances (progress on the job page)."""
    try:
        job = services.intent_model_train(created_by_id=request.user.pk)
    except JobError as error:
        messages.error(request, _("The model cannot be trained: %(error)s") % {"error": error})
        return redirect("bot:intents")
    messages.success(request, _("Training started; the new model is used once it is at least "
                                "as good as the current one."))
    return redirect("jobs:job_detail", pk=job.pk)


# --- Knowledge base ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def article_list(request: HttpRequest) -> HttpResponse:
    form = ArticleForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        form = ArticleForm(request.POST)
        if _submit(form, lambda data: services.article_create(**data)) is not None:
            messages.success(request, _("Article added; it is being embedded."))
            return redirect("bot:articles")
        status = 400
    return _articles_page(request, form=form, status=status)


def _articles_page(request: HttpRequest, *, form: ArticleForm | None = None,
                   refusal: DatasetInvalid | None = None, status: int = 200) -> HttpResponse:
    search = request.GET.get("q", "")[:200]
    return render(request, "support_bot/articles.html", {
        "articles": _page(request, selectors.article_list(search=search)), "search": search,
        "form": form or ArticleForm(), "upload": CsvUploadForm(), "refusal": refusal},
        status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article, pk=pk)
    form = ArticleForm(initial={"question": article.question, "answer": article.answer,
                                "url": article.url, "tags": ", ".join(article.tags)})
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        form = ArticleForm(request.POST)
        if _submit(form, lambda data: services.article_update(article=article,
                                                              changes=data)) is not None:
            messages.success(request, _("Article saved."))
            return redirect("bot:articles")
        status = 400
    return render(request, "support_bot/article.html", {"article": article, "form": form},
                  status=status)


@require_POST
@workspace_view(Role.MEMBER)
def article_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.article_delete(article=get_object_or_404(Article, pk=pk))
    messages.success(request, _("Article deleted."))
    return redirect("bot:articles")


@require_POST
@workspace_view(Role.MEMBER)
def articles_import(request: HttpRequest) -> HttpResponse:
    refusal = _import_csv(request, services.articles_import_csv, _(
        "%(created)d articles imported, %(duplicates)d already present."))
    if refusal is not None:
        return _articles_page(request, refusal=refusal, status=400)
    return redirect("bot:articles")


# --- Try-it chat ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view(Role.MEMBER)
def try_it(request: HttpRequest) -> HttpResponse:
    """A conversation of channel "dashboard" with the bot, through the ``online`` queue. htmx
    posts get the chat log partial only."""
    form = ChatForm(request.POST if request.method == "POST" else None)
    conversation: Conversation | None = None
    error, status = "", 200
    if request.method == "POST":
        if form.is_valid():
            conversation_id = form.cleaned_data["conversation"]
            if conversation_id:
                conversation = get_object_or_404(Conversation, pk=conversation_id,
                                                 channel=Conversation.Channel.DASHBOARD)
            else:
                conversation = services.conversation_start(
                    channel=Conversation.Channel.DASHBOARD,
                    external_user_id=getattr(request.user, "email", ""))
            try:
                services.chat(conversation=conversation, text=form.cleaned_data["text"])
            except services.BotError as refused:
                error, status = str(refused), 400
            except QuotaExceeded as over:
                error, status = str(over), 402
            except OnlineUnavailable as unavailable:
                error, status = _("The bot is not available right now: %(error)s") % {
                    "error": unavailable}, 503
            except OnlineFailed as failed:
                error, status = _("The bot could not answer: %(error)s") % {"error": failed}, 502
            conversation.refresh_from_db()
        else:
            status = 400
    context = {
        "form": ChatForm(initial={"conversation": conversation.pk if conversation else None}),
        "errors": form.errors if request.method == "POST" else {}, "error": error,
        "conversation": conversation,
        "chat": selectors.conversation_messages(conversation=conversation) if conversation
        else [],
    }
    template = ("support_bot/_chat.html" if getattr(request, "htmx", False)
                else "support_bot/try.html")
    return render(request, template, context, status=status)


# --- Conversations and the inbox --------------------------------------------------------------


@require_safe
@workspace_view()
def conversation_list(request: HttpRequest) -> HttpResponse:
    form = ConversationFilterForm(request.GET)
    wanted = form.cleaned_data["status"] if form.is_valid() else ""
    return render(request, "support_bot/conversations.html", {
        "conversations": _page(request, selectors.conversation_list(status=wanted)),
        "filter": form, "inbox": False})


# The inbox and a conversation's page are in ``views_inbox``.


@require_POST
@workspace_view(Role.MEMBER)
def conversation_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation, pk=pk)
    services.conversation_resolve(conversation=conversation)
    messages.success(request, _("Conversation %(id)d resolved.") % {"id": conversation.pk})
    return redirect("bot:inbox")


# --- Backlog reports -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def reports(request: HttpRequest) -> HttpResponse:
    """Past tickets (CSV with a text column) classified into an intent distribution."""
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        form = CsvUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = services.backlog_report_submit(name=upload.name, data=upload.read(),
                                                     created_by_id=request.user.pk)
            except (DatasetInvalid, JobError) as error:
                messages.error(request, _("The tickets were refused: %(error)s") % {"error": error})
            else:
                count = job.items_total or 0
                messages.success(request, ngettext("Classifying %(count)d ticket.",
                                                    "Classifying %(count)d tickets.", count)
                                 % {"count": count})
                return redirect("bot:reports")
        else:
            messages.error(request, _("Choose a CSV file of tickets."))
    return render(request, "support_bot/reports.html", {
        "reports": selectors.backlog_reports(), "upload": CsvUploadForm()})


# --- Settings ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view(Role.ADMIN)
def bot_settings(request: HttpRequest) -> HttpResponse:
    config = services.bot_settings_get()
    form = SettingsForm(initial={
        "intent_threshold": config.intent_threshold,
        "article_threshold": config.article_threshold,
        "followup_max_words": config.followup_max_words,
        "fallback_message": config.fallback_message,
        "target_false_handoff": config.target_false_handoff,
        "scope_threshold": config.scope_threshold, "ambiguity_margin": config.ambiguity_margin,
        "widget_origins": "\n".join(config.widget_origins),
        "widget_language": config.widget_language,
        "widget_title": config.widget_title, "widget_greeting": config.widget_greeting,
        "widget_colour": config.widget_colour, "widget_avatar_url": config.widget_avatar_url,
        "generative_enabled": config.generative_enabled,
        "generative_url": config.generative_url, "generative_model": config.generative_model})
    status = 200
    if request.method == "POST":
        if "rotate" in request.POST:
            services.widget_key_rotate()
            messages.success(request, _("A new widget key was made; update your pages."))
            return redirect("bot:settings")
        form = SettingsForm(request.POST)

        def save(data: dict[str, Any]) -> Any:
            if not data.get("generative_api_key"):
                data.pop("generative_api_key", None)  # empty on the page: keep the key
            if not data.get("widget_colour"):
                data.pop("widget_colour", None)  # not sent: keep the colour
            return services.bot_settings_update(changes=data)

        if _submit(form, save) is not None:
            messages.success(request, _("Settings saved."))
            return redirect("bot:settings")
        status = 400
    script_url = request.build_absolute_uri(reverse("bot:widget_script"))
    return render(request, "support_bot/settings.html",
                  {"config": config, "form": form, "script_url": script_url,
                   "scope": selectors.scope_overview(config=config)}, status=status)


@require_POST
@workspace_view(Role.ADMIN)
def scope_threshold_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: use this model version's recommended out-of-scope threshold."""
    version = get_object_or_404(ModelVersion, pk=pk, app=APP)
    try:
        config = services.scope_threshold_apply(version=version)
    except services.BotError as error:
        messages.error(request, str(error))
        return redirect("bot:settings")
    messages.success(request, _("Out-of-scope threshold %(threshold)s of v%(version)s applied.")
                     % {"threshold": config.scope_threshold, "version": version.version})
    return redirect("bot:settings")

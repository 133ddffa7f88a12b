"""Dashboard pages of the improvement loop: the "needs review" queue with its one-click
actions, the loop's effect (containment before and after the promoted version) and the
content-gap report. Viewers read; members review, retrain and find gaps. A message of
another tenant, or one already reviewed, is not in the queue: 404, nothing changes.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.support_bot import review, selectors
from apps.support_bot.models import Message
from apps.support_bot.services import BotError
from dashboard.views import require_role, workspace_view
from jobs.services import JobError
from tenancy.models import Role

PAGE_SIZE = 50
EFFECT_DAYS = 14


def _queued(pk: int) -> Message:
    return get_object_or_404(review.review_queue(), pk=pk)


@require_safe
@workspace_view()
def review_page(request: HttpRequest) -> HttpResponse:
    queue = Paginator(review.review_queue(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "support_bot/review.html", {
        "queue": queue, "rows": [(message, review.review_reasons(message)) for message in queue],
        "review_intents": selectors.intent_list(),
        "effect": review.loop_effect(days=EFFECT_DAYS)})


def _acted(request: HttpRequest, done: str) -> HttpResponse:
    messages.success(request, done)
    return redirect("bot:review")


@require_POST
@workspace_view(Role.MEMBER)
def review_label(request: HttpRequest, pk: int) -> HttpResponse:
    message = _queued(pk)
    try:
        item = review.review_label(message=message, intent_name=request.POST.get("intent", ""),
                                   reviewed_by_id=request.user.pk)
    except BotError as error:
        messages.error(request, str(error))
        return redirect("bot:review")
    name = item.utterance.intent.name if item.utterance is not None else ""
    return _acted(request, _("Added as a training utterance of %(intent)s.") % {"intent": name})


@require_POST
@workspace_view(Role.MEMBER)
def review_article(request: HttpRequest, pk: int) -> HttpResponse:
    message = _queued(pk)
    try:
        review.review_article(message=message, reviewed_by_id=request.user.pk)
    except BotError as error:
        messages.error(request, str(error))
        return redirect("bot:review")
    return _acted(request, _("The agent's reply is now a knowledge-base article."))


@require_POST
@workspace_view(Role.MEMBER)
def review_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    review.review_dismiss(message=_queued(pk), reviewed_by_id=request.user.pk)
    return _acted(request, _("Dismissed."))


@require_http_methods(["GET", "POST"])
@workspace_view()
def content_gaps(request: HttpRequest) -> HttpResponse:
    """The latest content-gap report; a member can ask for a new one (a job)."""
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the bot"))
        try:
            review.content_gaps_submit(created_by_id=request.user.pk)
        except JobError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Finding content gaps; the report appears here when "
                                        "it is ready."))
        return redirect("bot:content_gaps")
    latest, gaps = review.content_gaps_latest()
    return render(request, "support_bot/content_gaps.html",
                  {"gap_job": latest, "gaps": gaps})

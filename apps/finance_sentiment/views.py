"""Dashboard pages of the finance sentiment monitor: the watchlist overview with its live
headline stream, a ticker's trend and documents, alerts, the alert rules, the alert channels
(with "send test") and the try-it box.

Each view checks the role, calls one service or selector and renders. Every query goes
through the tenant-scoped managers, so another tenant's rule or alert is simply not found
(404) and another tenant's documents never appear. Viewers read (and may try the model,
which writes nothing); members change the watchlist, rules and alerts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.finance_sentiment import charts, selectors, services, topic_selectors
from apps.finance_sentiment.forms import (
    AlertChannelForm,
    AlertFilterForm,
    AlertRuleForm,
    DocumentFilterForm,
    DryRunForm,
    StreamQueryForm,
    TryItForm,
    WatchlistAddForm,
)
from apps.finance_sentiment.models import Alert, Granularity
from apps.finance_sentiment.spec import APP, LABELS
from apps.finance_sentiment.tickers import normalise_ticker
from billing.exceptions import QuotaExceeded
from dashboard.forms import add_service_error
from dashboard.views import require_role, workspace_view
from jobs.online import OnlineFailed, OnlineUnavailable, online_classify
from tenancy.models import Role

PAGE_SIZE = 25


def _who(request: HttpRequest) -> str:
    return getattr(request.user, "email", "") or str(request.user)


# --- Watchlist overview ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def overview(request: HttpRequest) -> HttpResponse:
    """Each ticker's index and volume over 24 hours, its 7-day sparkline and open alerts;
    members add tickers here."""
    form = WatchlistAddForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change the watchlist"))
        form = WatchlistAddForm(request.POST)
        if form.is_valid():
            try:
                entry = services.watchlist_entry_create(**form.cleaned_data)
            except services.FinanceError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("%(ticker)s was added to the watchlist.")
                                 % {"ticker": entry.ticker})
                return redirect("finance:overview")
        status = 400
    rows = [(row, charts.sparkline(row.sparkline)) for row in selectors.watchlist_overview()]
    return render(request, "finance/overview.html", {
        "rows": rows, "form": form, "headlines": selectors.headline_stream(),
        "stream_poll_ms": STREAM_POLL_MS,
    }, status=status)


STREAM_POLL_MS = 5_000


@require_safe
@workspace_view()
def stream(request: HttpRequest) -> HttpResponse:
    """The stories scored since ``since``, as list items for the watchlist page's polling
    script (``static/js/finance-stream.js``) to prepend, and the next cursor."""
    query = StreamQueryForm(request.GET)
    if not query.is_valid():
        return JsonResponse({"errors": query.errors}, status=400)
    headlines = selectors.headline_stream(
        since=query.cleaned_data["since"],
        limit=query.cleaned_data["limit"] or selectors.DEFAULT_STREAM_ITEMS)
    html = render_to_string("finance/_headlines.html", {"headlines": headlines},
                            request=request)
    return JsonResponse({"cursor": headlines.cursor, "count": len(headlines.stories),
                         "html": html})


@require_POST
@workspace_view()
def watchlist_remove(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("change the watchlist"))
    entry = get_object_or_404(selectors.watchlist_list(), pk=pk)
    services.watchlist_entry_delete(entry=entry)
    messages.success(request, _("%(ticker)s was removed from the watchlist; its documents and "
                                "history stay.") % {"ticker": entry.ticker})
    return redirect("finance:overview")


# --- Ticker ----------------------------------------------------------------------------------


@require_safe
@workspace_view()
def ticker_detail(request: HttpRequest, ticker: str) -> HttpResponse:
    """The ticker's index over 7, 30 or 90 days (hourly or daily) with volume bars, within
    one topic or all, its topic mix per day and sentiment per topic, and its documents
    filtered by label, topic and published date."""
    symbol = normalise_ticker(ticker)
    if symbol is None:
        raise Http404(_("Not a ticker symbol."))
    if symbol != ticker:
        return redirect(reverse("finance:ticker", args=[symbol]) + (
            f"?{request.GET.urlencode()}" if request.GET else ""))
    filters = DocumentFilterForm(request.GET)
    filters.is_valid()
    days = filters.value("range", 30)
    granularity = filters.value("granularity", Granularity.DAY)
    end = selectors.bucket_floor(timezone.now(), granularity) + (
        timedelta(days=1) if granularity == Granularity.DAY else timedelta(hours=1))
    topic = filters.value("topic", "")
    if topic:
        points = topic_selectors.topic_trend(ticker=symbol, topic=topic, granularity=granularity,
                                             start=end - timedelta(days=days), end=end)
    else:
        points = selectors.sentiment_trend(ticker=symbol, granularity=granularity,
                                           start=end - timedelta(days=days), end=end)
    start, stop = filters.published_range()
    documents = selectors.document_list(ticker=symbol, label=filters.value("label"),
                                        start=start, end=stop, stories=True)
    if topic:
        documents = documents.filter(topic=topic)
    day_end = selectors.bucket_floor(timezone.now(), Granularity.DAY) + timedelta(days=1)
    mix_chart, mix_legend = charts.topic_mix_chart(topic_selectors.ticker_topic_mix(
        ticker=symbol, start=day_end - timedelta(days=days), end=day_end))
    page = Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))
    total = sum(point.total for point in points)
    summary = {label: sum(getattr(point, label) for point in points) for label in LABELS}
    return render(request, "finance/ticker.html", {
        "ticker": symbol, "entry": selectors.watchlist_list().filter(ticker=symbol).first(),
        "filters": filters, "days": days, "granularity": granularity, "ranges": (7, 30, 90),
        "topic": topic, "mix_chart": mix_chart, "mix_legend": mix_legend,
        "topic_rows": topic_selectors.ticker_topic_sentiment(
            ticker=symbol, start=day_end - timedelta(days=days), end=day_end),
        "chart": charts.trend_chart(points, granularity=granularity),
        "total": total, "summary": summary,
        "index": (summary["positive"] - summary["negative"]) / total if total else None,
        "thin": total < selectors.MIN_INDEX_STORIES,
        "page": page, "open_alerts": selectors.alert_list(
            status=Alert.Status.OPEN, ticker=symbol).count(),
    })


@require_safe
@workspace_view()
def topic_overview(request: HttpRequest) -> HttpResponse:
    """Which topics turn negative across the watchlist: each topic's index over the last 24
    hours against the 7 days before them, most negative change first."""
    return render(request, "finance/topics.html", {
        "turns": topic_selectors.topics_overview(),
        "min_stories": selectors.MIN_INDEX_STORIES,
    })


# --- Alerts ----------------------------------------------------------------------------------


@require_safe
@workspace_view()
def alert_list(request: HttpRequest) -> HttpResponse:
    filters = AlertFilterForm(request.GET)
    status = filters.cleaned_data.get("status") if filters.is_valid() else ""
    page = Paginator(selectors.alert_list(status=status or None), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "finance/alerts.html", {
        "page": page, "status": status, "statuses": Alert.Status.choices,
        "evaluation": selectors.alert_evaluation(),
    })


def _back_to_alerts(request: HttpRequest) -> HttpResponse:
    status = request.POST.get("status", "")
    url = reverse("finance:alerts")
    return redirect(f"{url}?status={status}" if status in Alert.Status.values else url)


@require_POST
@workspace_view()
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("acknowledge alerts"))
    alert = get_object_or_404(selectors.alert_list(), pk=pk)
    try:
        services.alert_acknowledge(alert=alert, by_user_id=request.user.pk,
                                   by_name=_who(request))
    except services.FinanceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The %(ticker)s alert was acknowledged.")
                         % {"ticker": alert.ticker})
    return _back_to_alerts(request)


@require_POST
@workspace_view()
def alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("resolve alerts"))
    alert = get_object_or_404(selectors.alert_list(), pk=pk)
    services.alert_resolve(alert=alert, by_name=_who(request))
    messages.success(request, _("The %(ticker)s alert was resolved.") % {"ticker": alert.ticker})
    return _back_to_alerts(request)


# --- Alert rules -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def rule_list(request: HttpRequest) -> HttpResponse:
    """The rules, and (members) the form that creates one."""
    form = AlertRuleForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("create alert rules"))
        form = AlertRuleForm(request.POST)
        if form.is_valid():
            try:
                rule = services.alert_rule_create(**form.changes())
            except services.FinanceError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("The rule “%(name)s” was created.")
                                 % {"name": rule.name})
                return redirect("finance:rules")
        status = 400
    return render(request, "finance/rules.html", {
        "rules": selectors.rule_list(), "form": form, "dry_run_form": DryRunForm(),
    }, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(selectors.rule_list(), pk=pk)
    form = AlertRuleForm.for_rule(rule)
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change alert rules"))
        form = AlertRuleForm(request.POST)
        if form.is_valid():
            try:
                services.alert_rule_update(rule=rule, changes=form.changes())
            except services.FinanceError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("The rule “%(name)s” was saved.") % {"name": rule.name})
                return redirect("finance:rules")
        status = 400
    return render(request, "finance/rule_edit.html", {
        "rule": rule, "form": form, "dry_run_form": DryRunForm(),
    }, status=status)


@require_POST
@workspace_view()
def rule_dry_run(request: HttpRequest) -> HttpResponse:
    """The rule editor's "Try it": the posted (unsaved) rule replayed over the last 30 or 90
    days of the tenant's history; the partial with its firings as a chart and a count.
    Nothing is saved, so viewers may try too."""
    form, days_form = AlertRuleForm(request.POST), DryRunForm(request.POST)
    context: dict[str, Any] = {"dry_run": None, "dry_run_errors": {}, "dry_run_chart": ""}
    status = 400
    if form.is_valid() and days_form.is_valid():
        try:
            result = services.alert_rule_dry_run(fields=form.changes(),
                                                 days=days_form.cleaned_data["dry_run_days"])
        except services.FinanceError as error:
            context["dry_run_errors"] = error.fields or {"": [str(error)]}
        else:
            status = 200
            context["dry_run"] = result
            context["dry_run_chart"] = charts.firings_chart(
                [firing.window_start for firing in result.firings], start=result.start,
                end=result.end)
    else:
        context["dry_run_errors"] = {**form.errors, **days_form.errors}
    return render(request, "finance/_dry_run.html", context, status=status)


@require_POST
@workspace_view()
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("delete alert rules"))
    rule = get_object_or_404(selectors.rule_list(), pk=pk)
    services.alert_rule_delete(rule=rule)
    messages.success(request, _("The rule “%(name)s” and its alerts were deleted.")
                     % {"name": rule.name})
    return redirect("finance:rules")


# --- Alert channels --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def channel_list(request: HttpRequest) -> HttpResponse:
    """The channels with their last delivery's outcome, and (members) the form that adds one."""
    form = AlertChannelForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("add alert channels"))
        form = AlertChannelForm(request.POST)
        if form.is_valid():
            try:
                channel = services.alert_channel_create(**form.changes(editing=False))
            except services.FinanceError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("The channel “%(name)s” was added.")
                                 % {"name": channel.name})
                return redirect("finance:channels")
        status = 400
    return render(request, "finance/channels.html", {
        "channels": selectors.channel_list(), "form": form,
    }, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view()
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(selectors.channel_list(), pk=pk)
    form = AlertChannelForm.for_channel(channel)
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("change alert channels"))
        form = AlertChannelForm(request.POST)
        if form.is_valid():
            try:
                services.alert_channel_update(channel=channel,
                                              changes=form.changes(editing=True))
            except services.FinanceError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("The channel “%(name)s” was saved.")
                                 % {"name": channel.name})
                return redirect("finance:channels")
        status = 400
    return render(request, "finance/channel_edit.html", {"channel": channel, "form": form},
                  status=status)


@require_POST
@workspace_view()
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("delete alert channels"))
    channel = get_object_or_404(selectors.channel_list(), pk=pk)
    services.alert_channel_delete(channel=channel)
    messages.success(request, _("The channel “%(name)s” was deleted.") % {"name": channel.name})
    return redirect("finance:channels")


@require_POST
@workspace_view()
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a sample alert now and say how it went (the row shows it too)."""
    require_role(request, Role.MEMBER, action=_("test alert channels"))
    channel = get_object_or_404(selectors.channel_list(), pk=pk)
    outcome = services.alert_channel_test(channel=channel)
    if outcome.ok:
        messages.success(request, _("A test message was delivered to “%(name)s”.")
                         % {"name": channel.name})
    else:
        messages.error(request, _("The test message to “%(name)s” failed: %(error)s")
                       % {"name": channel.name, "error": outcome.error})
    return redirect(reverse("finance:channels") + f"#channel-{channel.pk}")


# --- Try it ----------------------------------------------------------------------------------


def _classify(form: TryItForm) -> tuple[dict[str, Any] | None, str, int]:
    """(result, error message, status) of scoring the form's text on the online queue."""
    try:
        [result] = online_classify(app=APP, texts=[form.cleaned_data["text"]])
    except OnlineUnavailable as error:
        return None, _("The model is not available right now: %(error)s") % {"error": error}, 503
    except OnlineFailed as error:
        return None, _("The model could not score this text: %(error)s") % {"error": error}, 502
    except QuotaExceeded as error:
        return None, str(error), 402  # the plan's limit, as the API answers it
    probabilities = sorted(result["probabilities"].items(), key=lambda item: -item[1])
    return {**result, "bars": [(label, share, round(share * 100, 1))
                               for label, share in probabilities]}, "", 200


@require_http_methods(["GET", "POST"])
@workspace_view()
def try_it(request: HttpRequest) -> HttpResponse:
    """A text scored by the tenant's active model through the ``online`` queue. htmx posts
    get the result partial only (503 when no worker answers, which the page still shows)."""
    form = TryItForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"form": form, "result": None, "error": ""}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            context["result"], context["error"], status = _classify(form)
        else:
            status = 400
    template = ("finance/_try_result.html" if getattr(request, "htmx", False)
                else "finance/try.html")
    return render(request, template, context, status=status)

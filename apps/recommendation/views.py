"""Dashboard pages of the recommendation app: the overview (model metrics against the
baselines, click-through by day, training), the catalogue with each item's similar items, and
a preview of a user's recommendations.

Each view calls selectors or one service and renders; every query goes through the
tenant-scoped managers, so another tenant's item is simply not found (404) and another
tenant's users are never served. Viewers read; members start training.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from apps.recommendation import charts, selectors, services
from apps.recommendation.models import Item
from config.errors import ServiceError
from dashboard.views import require_role, workspace_view
from tenancy.models import Role

PAGE_SIZE = 25
PREVIEW_K = 10


def _metric_groups(metrics: dict[str, object]) -> list[charts.MetricGroup]:
    def value(source: object, key: str) -> float:
        return float(source.get(key, 0.0)) if isinstance(source, dict) else 0.0

    return [charts.MetricGroup(label=label, values=(
        value(metrics, key), value(metrics.get("plain_als"), key),
        value(metrics.get("popularity"), key)))
        for label, key in (("NDCG@10", "ndcg_at_10"), ("Recall@10", "recall_at_10"),
                           (_("Coverage"), "coverage"))]


@require_safe
@workspace_view()
def overview(request: HttpRequest) -> HttpResponse:
    version = selectors.current_model()
    ctr_days = selectors.ctr_by_day(days=30)
    return render(request, "recommendation/overview.html", {
        "counts": selectors.catalogue_counts(),
        "version": version,
        "metrics_chart": charts.metrics_chart(
            _metric_groups(version.metrics) if version else [],
            series=(_("Model"), _("Plain ALS"), _("Popularity"))),
        "versions": selectors.model_versions()[:10],
        "jobs": selectors.recent_jobs(),
        "ctr_chart": charts.ctr_chart(ctr_days),
        "ctr_totals": (sum(day.impressions for day in ctr_days),
                       sum(day.clicks for day in ctr_days)),
    })


@require_POST
@workspace_view()
def train(request: HttpRequest) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("start training"))
    try:
        job = services.training_submit(created_by_id=request.user.pk)
    except ServiceError as error:  # nothing to train on, a quota, an unknown kind
        messages.error(request, str(error))
    else:
        messages.success(request, _("Training queued (job #%(id)d): items are embedded, then the "
                                    "model is trained and evaluated, then top-K lists follow.")
                         % {"id": job.pk})
    return redirect("recs:overview")


@require_safe
@workspace_view()
def catalogue(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:200]
    category = request.GET.get("category", "").strip()[:100]
    items = selectors.item_list(search=search, category=category).order_by("-popularity", "id")
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "recommendation/catalogue.html",
                  {"page": page, "search": search, "category": category})


@require_safe
@workspace_view()
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item.objects.all(), pk=pk)
    similar = selectors.similar_items(item=item, k=PREVIEW_K, available_only=False)
    return render(request, "recommendation/item.html", {"item": item, "similar": similar})


@require_safe
@workspace_view()
def preview(request: HttpRequest) -> HttpResponse:
    """What a user would be served (no impression is logged: this is not a real serving).

    The previewed end user is ``end_user_id`` in the context, never ``user``: that name is
    the signed-in user, whom the shell's account menu and workspace switcher read."""
    end_user_id = request.GET.get("user", "").strip()[:200]
    category = request.GET.get("category", "").strip()[:100]
    entries = (selectors.recommendations_for(external_id=end_user_id, k=PREVIEW_K,
                                             category=category) if end_user_id else [])
    return render(request, "recommendation/preview.html", {
        "end_user_id": end_user_id, "category": category, "entries": entries,
        "known": selectors.end_user_exists(external_id=end_user_id) if end_user_id else False,
        "history": selectors.recent_history(external_id=end_user_id) if end_user_id else [],
        "suggestions": selectors.sample_users(),
    })

"""The recommendation app's part of the overview page (registered in ``apps.py``; see
``dashboard.home``)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.recommendation import selectors
from apps.recommendation.models import Impression, Recommendation
from apps.recommendation.spec import APP
from dashboard.home import AppHome, Figure, Step, percent

DAYS = 30


def summary(*, base_url: str) -> AppHome:
    days = selectors.ctr_by_day(days=DAYS)
    impressions = sum(day.impressions for day in days)
    clicks = sum(day.clicks for day in days)
    since = timezone.now() - timedelta(days=DAYS)
    served = (Impression.objects.filter(served_at__gte=since)
              .aggregate(lists=Count("request_id", distinct=True))["lists"])
    counts = selectors.catalogue_counts()
    snippet = (f"curl {base_url}/api/v1/recommendations/users/customer-1?k=10 \\\n"
               "  -H \"Authorization: Bearer $API_KEY\"")
    return AppHome(
        label=APP,
        name=_("Recommendations"),
        description=_("Learns from your catalogue and interactions to recommend items."),
        url=reverse("recs:overview"),
        figures=(
            Figure(_("Served lists (%(days)d days)") % {"days": DAYS}, str(served),
                   "served_lists"),
            Figure(_("Click-through rate"), percent(clicks / impressions if impressions else None),
                   "ctr"),
        ),
        steps=(
            Step("load", _("Load data"), _("Upload your catalogue and interaction events (CSV "
                                           "or API)."),
                 counts["items"] > 0 and counts["events"] > 0,
                 reverse("recs:catalogue")),
            Step("train", _("Train"), _("Train the recommender from the recommendations page."),
                 selectors.current_model() is not None, reverse("recs:overview")),
            Step("try", _("Try it"),
                 _("Preview a user's recommendations once they are computed."),
                 Recommendation.objects.exists(),
                 reverse("recs:preview")),
            Step("integrate", _("Integrate"),
                 _("Serve recommendations from your site with an API key; clicks sent as events "
                   "give the click-through rate."),
                 Impression.objects.exists(), reverse("api:docs"), snippet),
        ),
    )

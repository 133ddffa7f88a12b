"""The finance app's part of the overview page (registered in ``apps.py``; see
``dashboard.home``)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from apps.finance_sentiment.models import Alert, Document, Feed
from apps.finance_sentiment.selectors import watchlist_list
from apps.finance_sentiment.spec import APP
from dashboard.home import AppHome, Figure, Step
from jobs.models import ModelVersion


def summary(*, base_url: str) -> AppHome:
    snippet = (
        f"curl -X POST {base_url}/api/v1/finance/documents \\\n"
        "  -H \"Authorization: Bearer $API_KEY\" -H 'Content-Type: application/json' \\\n"
        "  -d '{\"documents\": [{\"external_id\": \"n-1\", \"title\": \"$ACME beats estimates\", "
        "\"published_at\": \"2026-12-01T09:00:00Z\"}]}'")
    documents = Document.objects.all()
    return AppHome(
        label=APP,
        name=_("Finance sentiment"),
        description=_("Scores news and posts per ticker and alerts on negative spikes."),
        url=reverse("finance:overview"),
        figures=(
            Figure(_("Tickers watched"), str(watchlist_list().count()), "tickers"),
            Figure(_("Open alerts"), str(Alert.objects.filter(status=Alert.Status.OPEN).count()),
                   "open_alerts"),
        ),
        steps=(
            Step("load", _("Load data"), _("Add tickers to the watchlist and a news feed, or "
                                           "send documents."),
                 documents.exists() or Feed.objects.exists(),
                 reverse("finance:overview")),
            Step("train", _("Train your model"),
                 _("Optional: fine-tune on a text,label dataset; the platform's model scores "
                   "until then."),
                 ModelVersion.objects.filter(app=APP).exists(), reverse("jobs:dataset_list")),
            Step("try", _("Try it"), _("Score a headline on the try-it page; documents are "
                                       "scored as they arrive."),
                 documents.exclude(label="").exists(),
                 reverse("finance:try")),
            Step("integrate", _("Integrate"),
                 _("Send documents from your systems with an API key."),
                 documents.filter(source="api").exists(),
                 reverse("api:docs"), snippet),
        ),
    )

"""``/api/v1/finance/...``: the finance sentiment monitor's REST API. Thin views over
``services`` (writes) and ``selectors`` (reads); every resource is tenant-scoped, and another
tenant's object answers the same 404 as a missing one.

One module per resource and concern, as the services are split: ``watchlist``, ``feeds``,
``documents`` (listing, bulk and CSV ingestion, the row-problem error format), ``scoring``
(stored scores, scoring jobs, real-time classification), ``trends``, ``alerts`` (rules and
alerts), ``channels`` (alert channels), ``stream`` (the headline stream), ``weights``
(source weights); ``common`` holds the shared fields and filters. The
views are re-exported here for ``urls.py``.
"""

from apps.finance_sentiment.api.alerts import AlertRuleViewSet, AlertViewSet
from apps.finance_sentiment.api.channels import AlertChannelViewSet
from apps.finance_sentiment.api.documents import DocumentViewSet
from apps.finance_sentiment.api.feeds import FeedViewSet
from apps.finance_sentiment.api.scoring import ClassifyView, ScoreJobView, ScoreViewSet
from apps.finance_sentiment.api.stream import StreamView
from apps.finance_sentiment.api.trends import TrendView
from apps.finance_sentiment.api.watchlist import WatchlistViewSet
from apps.finance_sentiment.api.weights import SourceWeightViewSet

__all__ = [
    "AlertChannelViewSet",
    "AlertRuleViewSet",
    "AlertViewSet",
    "ClassifyView",
    "DocumentViewSet",
    "FeedViewSet",
    "ScoreJobView",
    "ScoreViewSet",
    "SourceWeightViewSet",
    "StreamView",
    "TrendView",
    "WatchlistViewSet",
]

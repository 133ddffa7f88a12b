"""``/api/v1/finance/``: included by ``config.urls`` (the platform's API package does not import
the applications)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.finance_sentiment import api

app_name = "finance_api"

router = SimpleRouter(trailing_slash=False)
router.register("watchlist", api.WatchlistViewSet, basename="watchlist")
router.register("feeds", api.FeedViewSet, basename="feed")
router.register("documents", api.DocumentViewSet, basename="document")
router.register("scores", api.ScoreViewSet, basename="score")
router.register("rules", api.AlertRuleViewSet, basename="rule")
router.register("alerts", api.AlertViewSet, basename="alert")
router.register("source-weights", api.SourceWeightViewSet, basename="source-weight")
router.register("channels", api.AlertChannelViewSet, basename="channel")

urlpatterns = [
    path("trends", api.TrendView.as_view(), name="trends"),
    path("score", api.ScoreJobView.as_view(), name="score"),
    path("classify", api.ClassifyView.as_view(), name="classify"),
    path("stream", api.StreamView.as_view(), name="stream"),
    *router.urls,
]

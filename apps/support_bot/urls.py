"""``/api/v1/bot/``: included by ``config.urls`` (the platform's API package does not import
the applications)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.support_bot import api, api_analytics, api_inbox, api_review, widget

app_name = "bot_api"

router = SimpleRouter(trailing_slash=False)
router.register("intents", api.IntentViewSet, basename="intent")
router.register("utterances", api.UtteranceViewSet, basename="utterance")
router.register("articles", api.ArticleViewSet, basename="article")
router.register("conversations", api.ConversationViewSet, basename="conversation")
router.register("conversations", api_inbox.ConversationAgentViewSet,
                basename="conversation-agent")
router.register("canned-replies", api_inbox.CannedReplyViewSet, basename="canned-reply")
# --- The improvement loop (api_review) ---
router.register("review", api_review.ReviewViewSet, basename="review")

urlpatterns = [
    path("settings", api.BotSettingsView.as_view(), name="settings"),
    path("settings/rotate-widget-key", api.WidgetKeyRotateView.as_view(),
         name="rotate_widget_key"),
    path("analytics", api.AnalyticsView.as_view(), name="analytics"),
    path("analytics/resolution", api_analytics.ResolutionAnalyticsView.as_view(),
         name="analytics_resolution"),
    # --- The improvement loop (api_review) ---
    path("review/containment", api_review.LoopEffectView.as_view(), name="review_containment"),
    path("content-gaps", api_review.ContentGapsView.as_view(), name="content_gaps"),
    path("widget/config", widget.WidgetConfigView.as_view(), name="widget_config"),
    path("widget/conversations", widget.WidgetConversationView.as_view(),
         name="widget_conversations"),
    path("widget/conversations/<int:pk>/messages", widget.WidgetMessageView.as_view(),
         name="widget_messages"),
    path("widget/conversations/<int:pk>/feedback", widget.WidgetFeedbackView.as_view(),
         name="widget_feedback"),
    path("widget/conversations/<int:pk>/handoff", widget.WidgetHandoffView.as_view(),
         name="widget_handoff"),
    *router.urls,
]

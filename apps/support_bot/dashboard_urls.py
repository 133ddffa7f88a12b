"""``/bot/``: the customer-service bot's dashboard pages (the API is ``urls.py``) and the
public widget script."""

from django.urls import path

from apps.support_bot import views, views_analytics, views_inbox, views_review, widget

app_name = "bot"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("resolution/", views_analytics.resolution, name="resolution"),
    path("widget.js", widget.widget_script, name="widget_script"),
    path("intents/", views.intent_list, name="intents"),
    path("intents/import/", views.utterances_import, name="utterances_import"),
    path("intents/train/", views.train, name="train"),
    path("intents/<int:pk>/", views.intent_detail, name="intent"),
    path("intents/<int:pk>/delete/", views.intent_delete, name="intent_delete"),
    path("utterances/<int:pk>/delete/", views.utterance_delete, name="utterance_delete"),
    path("articles/", views.article_list, name="articles"),
    path("articles/import/", views.articles_import, name="articles_import"),
    path("articles/<int:pk>/", views.article_detail, name="article"),
    path("articles/<int:pk>/delete/", views.article_delete, name="article_delete"),
    path("try/", views.try_it, name="try"),
    path("conversations/", views.conversation_list, name="conversations"),
    path("conversations/<int:pk>/", views_inbox.conversation_detail, name="conversation"),
    path("conversations/<int:pk>/notes/", views_inbox.note_create, name="note_create"),
    path("conversations/<int:pk>/claim/", views_inbox.conversation_claim, name="claim"),
    path("conversations/<int:pk>/release/", views_inbox.conversation_release, name="release"),
    path("conversations/<int:pk>/assign/", views_inbox.conversation_assign, name="assign"),
    path("conversations/<int:pk>/resolve/", views.conversation_resolve, name="resolve"),
    path("inbox/", views_inbox.inbox_page, name="inbox"),
    path("live/", views_inbox.live, name="live"),
    path("canned-replies/", views_inbox.canned_reply_list, name="canned_replies"),
    path("canned-replies/<int:pk>/", views_inbox.canned_reply_detail, name="canned_reply"),
    path("canned-replies/<int:pk>/delete/", views_inbox.canned_reply_delete,
         name="canned_reply_delete"),
    path("reports/", views.reports, name="reports"),
    # --- The improvement loop (views_review) ---
    path("review/", views_review.review_page, name="review"),
    path("review/<int:pk>/label/", views_review.review_label, name="review_label"),
    path("review/<int:pk>/article/", views_review.review_article, name="review_article"),
    path("review/<int:pk>/dismiss/", views_review.review_dismiss, name="review_dismiss"),
    path("review/gaps/", views_review.content_gaps, name="content_gaps"),
    path("settings/", views.bot_settings, name="settings"),
    path("settings/scope/<int:pk>/apply/", views.scope_threshold_apply, name="scope_apply"),
]

"""``/finance/``: the finance sentiment monitor's dashboard pages (the API is ``urls.py``)."""

from django.urls import path

from apps.finance_sentiment import views

app_name = "finance"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("watchlist/<int:pk>/remove/", views.watchlist_remove, name="watchlist_remove"),
    path("tickers/<str:ticker>/", views.ticker_detail, name="ticker"),
    path("topics/", views.topic_overview, name="topics"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert_acknowledge"),
    path("alerts/<int:pk>/resolve/", views.alert_resolve, name="alert_resolve"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/dry-run/", views.rule_dry_run, name="rule_dry_run"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("stream/", views.stream, name="stream"),
    path("channels/", views.channel_list, name="channels"),
    path("channels/<int:pk>/edit/", views.channel_edit, name="channel_edit"),
    path("channels/<int:pk>/delete/", views.channel_delete, name="channel_delete"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel_test"),
    path("try/", views.try_it, name="try"),
]

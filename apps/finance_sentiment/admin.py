"""Console (staff) pages of the finance sentiment monitor: watchlists, feeds with their last
error, documents, alert rules and alerts, across tenants.

Read-mostly: rows are written by the tenants through the services, so staff look and act only
through actions, which call the service inside the row's own ``tenant_context`` (console
requests run ``unscoped()``; the services expect a tenant). Nothing here holds a secret.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.finance_sentiment.models import Alert, AlertRule, Document, Feed, WatchlistEntry
from apps.finance_sentiment.services import alert_resolve
from jobs.admin import ReadOnlyAdmin
from tenancy.context import tenant_context


@admin.register(WatchlistEntry)
class WatchlistEntryAdmin(ReadOnlyAdmin):
    list_display = ("ticker", "company_name", "tenant", "created_at")
    list_filter = ("tenant",)
    search_fields = ("ticker", "company_name")
    list_select_related = ("tenant",)
    ordering = ("tenant", "ticker")


@admin.register(Feed)
class FeedAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "tenant", "is_active", "poll_minutes", "last_success_at",
                    "consecutive_failures", "short_error", "documents_created")
    list_filter = ("is_active", "tenant")
    search_fields = ("name", "url", "last_error")
    list_select_related = ("tenant",)
    # The conditional-GET validators are the publisher's cache keys: noise here.
    exclude = ("etag", "modified")

    @admin.display(description="Last error")
    def short_error(self, feed: Feed) -> str:
        return feed.last_error[:120]


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "tenant", "source", "label", "score", "tickers", "published_at")
    list_filter = ("label", "source", "truncated", "tenant")
    search_fields = ("title",)
    date_hierarchy = "published_at"
    list_select_related = ("tenant",)
    show_full_result_count = False  # a count over millions of rows costs more than it tells
    raw_id_fields = ("scored_version",)


@admin.register(AlertRule)
class AlertRuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "ticker", "kind", "threshold", "k", "window_hours",
                    "min_volume", "is_active")
    list_filter = ("kind", "is_active", "tenant")
    search_fields = ("name", "ticker")
    list_select_related = ("tenant",)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("ticker", "tenant", "rule", "status", "value", "volume", "window_start",
                    "created_at")
    list_filter = ("status", "tenant")
    search_fields = ("ticker", "message")
    list_select_related = ("tenant", "rule")
    raw_id_fields = ("rule", "acknowledged_by")
    actions = ("resolve",)

    @admin.action(description="Resolve the selected alerts")
    def resolve(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        resolved = 0
        for alert in queryset.order_by("pk"):
            with tenant_context(alert.tenant_id):
                alert_resolve(alert=alert, by_name=f"staff: {request.user}")
            resolved += 1
        self.message_user(request, f"{resolved} alert(s) resolved.", messages.SUCCESS)

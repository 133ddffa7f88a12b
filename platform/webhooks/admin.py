"""Console pages for webhooks: endpoints (never their signing secret) and the delivery log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from webhooks.models import WebhookDelivery, WebhookEndpoint


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ("url", "tenant", "events", "is_active", "created_at")
    list_filter = ("is_active", "tenant")
    search_fields = ("url", "description", "tenant__slug")
    list_select_related = ("tenant",)
    exclude = ("secret",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # noqa: RUF012


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = ("created_at", "event", "tenant", "endpoint", "status", "attempts",
                    "response_status", "delivered_at")
    list_filter = ("status", "event", "tenant")
    search_fields = ("endpoint__url", "tenant__slug", "error")
    list_select_related = ("tenant", "endpoint")
    date_hierarchy = "created_at"


"""Console (staff) pages of the recommendation app: catalogues, end users, events and
precomputed lists across tenants, read-only (tenants write through the services)."""

from __future__ import annotations

from django.contrib import admin

from apps.recommendation.models import EndUser, Impression, Interaction, Item, Recommendation
from jobs.admin import ReadOnlyAdmin


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    list_display = ("title", "external_id", "tenant", "available", "embedded_at", "popularity")
    list_filter = ("available", "tenant")
    search_fields = ("title", "external_id")
    list_select_related = ("tenant",)
    exclude = ("embedding",)  # 384 numbers say nothing to a person


@admin.register(EndUser)
class EndUserAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "tenant", "is_stub", "created_at")
    list_filter = ("is_stub", "tenant")
    search_fields = ("external_id",)
    list_select_related = ("tenant",)


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "tenant", "user", "item", "kind", "value", "occurred_at")
    list_filter = ("kind", "tenant")
    search_fields = ("event_id",)
    list_select_related = ("tenant", "user", "item")
    raw_id_fields = ("user", "item")


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyAdmin):
    list_display = ("user", "rank", "item", "score", "reason", "job", "tenant")
    list_filter = ("tenant",)
    list_select_related = ("tenant", "user", "item")
    raw_id_fields = ("user", "item", "job", "model_version")


@admin.register(Impression)
class ImpressionAdmin(ReadOnlyAdmin):
    list_display = ("user_external_id", "item", "position", "source", "served_at", "tenant")
    list_filter = ("source", "tenant")
    list_select_related = ("tenant", "item")
    raw_id_fields = ("item",)

"""Console (staff) pages of the customer-service bot, across tenants. Read-only: tenants
write through the services. The widget key is public (it is in the tenant's web pages), so it
is shown; nothing here holds a secret."""

from __future__ import annotations

from django.contrib import admin

from apps.support_bot.models import (
    Article,
    BotSettings,
    Conversation,
    Feedback,
    Intent,
    Message,
    Utterance,
)
from jobs.admin import ReadOnlyAdmin


@admin.register(BotSettings)
class BotSettingsAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "intent_threshold", "article_threshold", "widget_origins",
                    "updated_at")
    list_select_related = ("tenant",)


@admin.register(Intent)
class IntentAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "handoff", "updated_at")
    list_filter = ("handoff", "tenant")
    search_fields = ("name", "description")
    list_select_related = ("tenant",)


@admin.register(Utterance)
class UtteranceAdmin(ReadOnlyAdmin):
    list_display = ("text", "intent", "tenant", "source", "created_at")
    list_filter = ("source", "tenant")
    search_fields = ("text",)
    list_select_related = ("tenant", "intent")
    show_full_result_count = False


@admin.register(Article)
class ArticleAdmin(ReadOnlyAdmin):
    list_display = ("question", "tenant", "tags", "embedded_at", "updated_at")
    list_filter = ("tenant",)
    search_fields = ("question", "answer")
    list_select_related = ("tenant",)
    exclude = ("embedding",)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "role", "text", "intent", "confidence", "reply_kind", "latency_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "tenant", "channel", "status", "last_intent", "created_at",
                    "updated_at")
    list_filter = ("status", "channel", "tenant")
    search_fields = ("external_user_id",)
    list_select_related = ("tenant",)
    exclude = ("access_token",)
    inlines = (MessageInline,)
    show_full_result_count = False


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "tenant", "rating", "comment", "created_at")
    list_filter = ("rating", "tenant")
    list_select_related = ("tenant",)
    raw_id_fields = ("conversation", "message")

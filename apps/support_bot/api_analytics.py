"""``/api/v1/bot/analytics/resolution``: the resolution analytics of ``apps.support_bot.
analytics`` as JSON, for the tenant of the key: totals, per day, per intent, handoff reasons.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import query_params
from api.viewsets import TenantScopedAPIView
from apps.support_bot import analytics
from apps.support_bot.models import Intent


class ResolutionQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(default=30, min_value=1, max_value=analytics.MAX_DAYS,
                                    help_text="The last N days, today included")
    intent = serializers.CharField(required=False, default="", allow_blank=True,
                                   max_length=100, help_text="Only this intent's conversations")

    def validate_intent(self, value: str) -> str:
        if value and not Intent.objects.filter(name=value).exists():
            raise serializers.ValidationError("No intent with this name.")
        return value


def _figures_fields(name: str) -> serializers.Serializer:
    counts = {field: serializers.IntegerField() for field in analytics.COUNT_FIELDS}
    rates = {field: serializers.FloatField(allow_null=True) for field in analytics.RATE_FIELDS}
    return inline_serializer(name, {**counts, **rates})


class ResolutionAnalyticsView(TenantScopedAPIView):
    required_scope = "read"

    @extend_schema(
        tags=["bot"], parameters=[ResolutionQuerySerializer],
        summary="Involvement, answer rate, confirmed and assumed resolution, automation, "
                "handoff reasons and satisfaction, per day and per intent",
        responses=inline_serializer("BotResolutionAnalytics", {
            "since": serializers.DateTimeField(), "until": serializers.DateTimeField(),
            "days": serializers.IntegerField(), "intent": serializers.CharField(),
            "totals": _figures_fields("BotResolutionFigures"),
            "per_day": serializers.ListField(child=serializers.DictField()),
            "per_intent": serializers.ListField(child=serializers.DictField()),
            "handoff_reasons": serializers.ListField(child=serializers.DictField()),
        }))
    def get(self, request: Request) -> Response:
        query = query_params(ResolutionQuerySerializer, request)
        report = analytics.resolution_report(days=query["days"], intent=query["intent"])
        body: dict[str, Any] = {
            "since": report.since, "until": report.until, "days": report.days,
            "intent": report.intent, "totals": report.totals.as_dict(),
            "per_day": [{"day": day, **figures.as_dict()} for day, figures in report.per_day],
            "per_intent": [{"intent": name, **figures.as_dict()}
                           for name, figures in report.per_intent],
            "handoff_reasons": [{"reason": reason, "conversations": total}
                                for reason, total in report.handoff_reasons],
        }
        return Response(body)

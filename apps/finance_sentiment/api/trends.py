"""``/api/v1/finance/trends``: a ticker's sentiment index over time, from the rollups."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError
from api.viewsets import TenantScopedAPIView
from apps.finance_sentiment import selectors, topic_selectors
from apps.finance_sentiment.api.common import InstantQueryField, TickerField
from apps.finance_sentiment.models import Granularity
from apps.finance_sentiment.spec import TOPICS


class TrendQuerySerializer(serializers.Serializer):
    ticker = TickerField()
    granularity = serializers.ChoiceField(choices=Granularity.choices, default=Granularity.DAY)
    topic = serializers.ChoiceField(choices=TOPICS, required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = InstantQueryField(required=False)
        fields["to"] = InstantQueryField(required=False)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["must be after 'from'"]})
        return attrs


class TrendPointSerializer(serializers.Serializer):
    bucket_start = serializers.DateTimeField()
    positive = serializers.IntegerField()
    neutral = serializers.IntegerField()
    negative = serializers.IntegerField()
    total = serializers.IntegerField()
    index = serializers.FloatField(allow_null=True,
                                   help_text="(positive − negative) / total; null when empty")
    mean_score = serializers.FloatField(allow_null=True)


class TrendSerializer(serializers.Serializer):
    ticker = serializers.CharField()
    granularity = serializers.CharField()
    topic = serializers.CharField(allow_null=True, help_text="null: documents of every topic")
    start = serializers.DateTimeField(source="from")
    end = serializers.DateTimeField(source="to")
    points = TrendPointSerializer(many=True)


class TrendView(TenantScopedAPIView):
    @extend_schema(
        summary="A ticker's sentiment index over time",
        description="Per UTC hour or day: counts per label, the index (positive − negative) "
                    "/ total and the mean score, from the rollups. Every bucket whose start is "
                    "in [from, to) is listed, empty ones included. Defaults: the last 7 days by "
                    f"hour, the last 30 days by day; at most {selectors.MAX_TREND_POINTS:,} "
                    "buckets. With ``topic``: only the stories of that topic (stories without a "
                    "topic count in the unfiltered trend only).",
        parameters=[
            OpenApiParameter("ticker", str, required=True),
            OpenApiParameter("granularity", str, enum=Granularity.values),
            OpenApiParameter("topic", str, enum=list(TOPICS)),
            OpenApiParameter("from", OpenApiTypes.DATETIME),
            OpenApiParameter("to", OpenApiTypes.DATETIME),
        ],
        responses=TrendSerializer,
    )
    def get(self, request: Request) -> Response:
        query = TrendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = query.validated_data
        granularity = fields["granularity"]
        default_start, default_end = selectors.default_trend_range(granularity)
        end = fields.get("to") or default_end
        start = fields.get("from") or min(default_start, end - (default_end - default_start))
        topic = fields.get("topic")
        try:
            if topic:
                points = topic_selectors.topic_trend(ticker=fields["ticker"], topic=topic,
                                                     granularity=granularity, start=start, end=end)
            else:
                points = selectors.sentiment_trend(ticker=fields["ticker"],
                                                   granularity=granularity, start=start, end=end)
        except selectors.TrendRangeTooLarge as error:
            raise ApiError(400, "validation_error", str(error), {"from": [str(error)]}) from error
        return Response(TrendSerializer({
            "ticker": fields["ticker"], "granularity": granularity, "topic": topic or None,
            "from": start, "to": end,
            "points": [point.as_dict() for point in points],
        }).data)

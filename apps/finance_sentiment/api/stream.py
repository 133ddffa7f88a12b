"""``/api/v1/finance/stream``: the latest scored stories, most recently scored first, with a
cursor to ask for the ones scored since (what the watchlist page polls)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import query_params
from api.viewsets import TenantScopedAPIView
from apps.finance_sentiment import selectors
from apps.finance_sentiment.models import Label


class StreamQuerySerializer(serializers.Serializer):
    since = serializers.IntegerField(
        required=False, min_value=0, max_value=selectors.MAX_STREAM_CURSOR,
        help_text="A previous answer's cursor: only the stories scored after it")
    limit = serializers.IntegerField(required=False, min_value=1,
                                     max_value=selectors.MAX_STREAM_ITEMS,
                                     default=selectors.DEFAULT_STREAM_ITEMS)


class StreamItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField(help_text="The source's link; empty when it has none")
    tickers = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField(allow_null=True, help_text="p(positive) − p(negative)")
    topic = serializers.CharField(allow_null=True, help_text="Null: no topic")
    cluster_size = serializers.IntegerField(
        help_text="Documents of the story: its first one and its near-duplicate copies")
    published_at = serializers.DateTimeField()
    scored_at = serializers.DateTimeField()

    def get_fields(self) -> dict[str, serializers.Field]:
        # ``source`` and ``label`` are also ``Field`` attributes: declared here.
        fields = super().get_fields()
        fields["source"] = serializers.CharField(help_text='"api", "feed:12"...')
        fields["label"] = serializers.ChoiceField(choices=Label.choices)
        return fields


class StreamSerializer(serializers.Serializer):
    cursor = serializers.IntegerField(
        help_text="Pass it as 'since' next time (microseconds since 1970-01-01 UTC of the "
                  "latest scoring seen)")
    results = StreamItemSerializer(many=True)


class StreamView(TenantScopedAPIView):
    @extend_schema(summary="The latest scored stories (a live headline stream)",
                   description="Each story once (its first document; cluster_size counts its "
                               "copies), most recently scored first. With 'since', only the "
                               "stories scored after that cursor, at most 'limit' (the newest).",
                   parameters=[StreamQuerySerializer], responses=StreamSerializer)
    def get(self, request: Request) -> Response:
        query = query_params(StreamQuerySerializer, request)
        stream = selectors.headline_stream(since=query.get("since"), limit=query["limit"])
        return Response(StreamSerializer({"cursor": stream.cursor,
                                          "results": stream.stories}).data)

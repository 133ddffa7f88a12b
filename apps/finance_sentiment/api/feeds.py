"""``/api/v1/finance/feeds``: RSS/Atom feeds, their polling state and last error, and a poll on
request (queued)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.lookups import ID_PATTERN
from api.viewsets import TenantScopedViewSetMixin
from apps.finance_sentiment import selectors, services
from apps.finance_sentiment.models import Feed


class FeedSerializer(serializers.ModelSerializer):
    class Meta:
        model = Feed
        fields = ("id", "url", "name", "is_active", "poll_minutes", "last_polled_at",
                  "last_success_at", "next_poll_at", "last_error", "consecutive_failures",
                  "documents_created", "created_at")
        read_only_fields = fields


class FeedWriteSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=1000, help_text="RSS or Atom; public addresses only")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    poll_minutes = serializers.IntegerField(min_value=5, max_value=1440, required=False,
                                            default=15)
    is_active = serializers.BooleanField(required=False, default=True)


@extend_schema_view(
    list=extend_schema(summary="RSS/Atom feeds"),
    retrieve=extend_schema(summary="A feed with its polling state and last error"),
    destroy=extend_schema(summary="Stop polling a feed (its documents stay)"),
)
class FeedViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  mixins.DestroyModelMixin, GenericViewSet):
    """Feeds polled on a schedule (conditional GET); new entries become documents of source
    ``feed:<id>``. A feed that fails records ``last_error`` and is retried with back-off."""

    serializer_class = FeedSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Feed]:
        return selectors.feed_list()

    @extend_schema(summary="Register a feed (polled within a minute)",
                   request=FeedWriteSerializer, responses={201: FeedSerializer})
    def create(self, request: Request) -> Response:
        payload = FeedWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        feed = services.feed_create(**payload.validated_data)
        return Response(FeedSerializer(feed).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace a feed's settings", request=FeedWriteSerializer,
                   responses=FeedSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=False)

    @extend_schema(summary="Change a feed's settings", request=FeedWriteSerializer,
                   responses=FeedSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        feed = self.get_object()
        payload = FeedWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        feed = services.feed_update(feed=feed, changes=dict(payload.validated_data))
        return Response(FeedSerializer(feed).data)

    def perform_destroy(self, instance: Feed) -> None:
        services.feed_delete(feed=instance)

    @extend_schema(summary="Poll the feed now (queued; see last_polled_at and last_error)",
                   request=None, responses={202: FeedSerializer})
    @action(detail=True, methods=["post"])
    def poll(self, request: Request, pk: str) -> Response:
        feed = self.get_object()
        services.feed_poll_now(feed=feed)
        return Response(FeedSerializer(feed).data, status=status.HTTP_202_ACCEPTED)

"""``/api/v1/finance/watchlist``: the tickers followed, and their overview (index and volume
over 24 hours, 7-day sparkline, open alerts)."""

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
from apps.finance_sentiment.models import WatchlistEntry


class WatchlistEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = WatchlistEntry
        fields = ("id", "ticker", "company_name", "aliases", "created_at")
        read_only_fields = fields


class WatchlistEntryWriteSerializer(serializers.Serializer):
    ticker = serializers.CharField(max_length=40, help_text="Upper-cased; '$' dropped")
    company_name = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                         default="")
    aliases = serializers.ListField(child=serializers.CharField(max_length=200, allow_blank=True),
                                    required=False,
                                    default=list, max_length=50,
                                    help_text="Other names matched in text (any case)")


class OverviewSerializer(serializers.Serializer):
    ticker = serializers.CharField(source="entry.ticker")
    company_name = serializers.CharField(source="entry.company_name")
    index = serializers.FloatField(allow_null=True, help_text="Last 24 hours")
    volume = serializers.IntegerField(
        help_text="Stories scored in the last 24 hours (near-duplicates counted once); the "
                  "index rests on fewer than 5 is thin")
    sparkline = serializers.ListField(child=serializers.FloatField(allow_null=True),
                                      help_text="Daily index, last 7 days, oldest first")
    open_alerts = serializers.IntegerField()


@extend_schema_view(
    list=extend_schema(summary="The watchlist"),
    retrieve=extend_schema(summary="A watchlist entry"),
    destroy=extend_schema(summary="Remove a ticker (its documents and rollups stay)"),
)
class WatchlistViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                       mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """Tickers to follow. Documents are tagged with a ticker when they mention its cashtag,
    its symbol as a word (case-sensitive up to four letters), its company name or an alias."""

    serializer_class = WatchlistEntrySerializer
    lookup_value_regex = ID_PATTERN
    pagination_class = None  # a watchlist is short

    def scoped_queryset(self) -> QuerySet[WatchlistEntry]:
        return selectors.watchlist_list()

    @extend_schema(summary="Add a ticker", request=WatchlistEntryWriteSerializer,
                   responses={201: WatchlistEntrySerializer})
    def create(self, request: Request) -> Response:
        payload = WatchlistEntryWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        entry = services.watchlist_entry_create(**payload.validated_data)
        return Response(WatchlistEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace a watchlist entry", request=WatchlistEntryWriteSerializer,
                   responses=WatchlistEntrySerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=False)

    @extend_schema(summary="Change a watchlist entry", request=WatchlistEntryWriteSerializer,
                   responses=WatchlistEntrySerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        entry = self.get_object()
        payload = WatchlistEntryWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        entry = services.watchlist_entry_update(entry=entry,
                                                changes=dict(payload.validated_data))
        return Response(WatchlistEntrySerializer(entry).data)

    def perform_destroy(self, instance: WatchlistEntry) -> None:
        services.watchlist_entry_delete(entry=instance)

    @extend_schema(summary="Each ticker's index and volume (24 h), 7-day sparkline and open "
                           "alerts", responses=OverviewSerializer(many=True))
    @action(detail=False, methods=["get"])
    def overview(self, request: Request) -> Response:
        return Response(OverviewSerializer(selectors.watchlist_overview(), many=True).data)

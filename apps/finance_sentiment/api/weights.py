"""``/api/v1/finance/source-weights``: how much each source's stories weigh in the index (a
source without a row weighs 1; ``services.weights``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.lookups import ID_PATTERN
from api.viewsets import TenantScopedViewSetMixin
from apps.finance_sentiment import selectors, services
from apps.finance_sentiment.models import MAX_SOURCE_WEIGHT, MIN_SOURCE_WEIGHT, SourceWeight


class SourceWeightSerializer(serializers.ModelSerializer):
    class Meta:
        model = SourceWeight
        fields = ("id", "source", "weight", "created_at", "updated_at")
        read_only_fields = fields


class SourceWeightWriteSerializer(serializers.Serializer):
    """For the schema: the service validates (a 400 naming the field)."""

    weight = serializers.FloatField(min_value=MIN_SOURCE_WEIGHT, max_value=MAX_SOURCE_WEIGHT)

    def get_fields(self) -> dict[str, serializers.Field]:
        # ``source`` is also a ``Field`` attribute: declared here rather than on the class.
        fields = super().get_fields()
        fields["source"] = serializers.CharField(max_length=64,
                                                 help_text='As on documents: "api", "feed:12"')
        return fields


def _payload(request: Request) -> dict[str, Any]:
    return request.data if isinstance(request.data, dict) else {}


@extend_schema_view(
    list=extend_schema(summary="Source weights"),
    retrieve=extend_schema(summary="A source weight"),
    destroy=extend_schema(summary="Forget a source weight (the source weighs 1 again)"),
)
class SourceWeightViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                          mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """A story weighs what its first document's source weighs in the sentiment index (from
    0.1 to 10; 1 without a row). Counts and sample sizes are not weighted."""

    serializer_class = SourceWeightSerializer
    lookup_value_regex = ID_PATTERN
    pagination_class = None  # a tenant has a handful of sources

    def scoped_queryset(self) -> QuerySet[SourceWeight]:
        return selectors.source_weight_list()

    @extend_schema(summary="Set a source's weight (created, or changed if it has one)",
                   request=SourceWeightWriteSerializer, responses={201: SourceWeightSerializer})
    def create(self, request: Request) -> Response:
        data = _payload(request)
        row = services.source_weight_set(source=data.get("source"), weight=data.get("weight"))
        return Response(SourceWeightSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a source's weight", request=SourceWeightWriteSerializer,
                   responses=SourceWeightSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = services.source_weight_update(row=self.get_object(),
                                            weight=_payload(request).get("weight"))
        return Response(SourceWeightSerializer(row).data)

    def perform_destroy(self, instance: SourceWeight) -> None:
        services.source_weight_delete(row=instance)

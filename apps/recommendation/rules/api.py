"""``/api/v1/recommendations/rules``: the tenant's merchandising rules (pins and boosts).

- ``GET`` list, ``POST`` create: ``kind`` ``pin`` (``item`` at ``slot``, 1-100) or ``boost``
  (``item``, or ``category`` with ``share`` of the slots, 0.05-1.0); ``active``,
  ``starts_at``, ``ends_at``;
- ``GET``, ``PATCH``, ``PUT``, ``DELETE`` ``{id}``.

Items are named by external id; an unknown one, a pin without a slot, a share out of range,
an item and a category together or a second active pin on a slot answer 400 naming the
field. Another tenant's rule is the same 404 as a missing one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.lookups import ID_PATTERN
from api.parsers import JSONParser
from api.viewsets import TenantScopedViewSetMixin
from apps.recommendation.models import EXTERNAL_ID_LENGTH
from apps.recommendation.rules import selectors, services
from apps.recommendation.rules.models import (
    CATEGORY_LENGTH,
    MAX_SHARE,
    MAX_SLOT,
    MIN_SHARE,
    MIN_SLOT,
    MerchandisingRule,
    RuleKind,
)


class RuleWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    item = serializers.CharField(max_length=EXTERNAL_ID_LENGTH, required=False,
                                 allow_null=True, allow_blank=True, default=None,
                                 help_text="The item's external id (pins; item boosts)")
    category = serializers.CharField(max_length=CATEGORY_LENGTH, required=False,
                                     allow_blank=True, default="",
                                     help_text="Category boosts: the category")
    slot = serializers.IntegerField(min_value=MIN_SLOT, max_value=MAX_SLOT, required=False,
                                    allow_null=True, default=None,
                                    help_text="Pins: the 1-based position in the list")
    share = serializers.FloatField(min_value=MIN_SHARE, max_value=MAX_SHARE, required=False,
                                   allow_null=True, default=None,
                                   help_text="Category boosts: the share of the list's slots "
                                             f"(default {services.DEFAULT_SHARE})")
    active = serializers.BooleanField(required=False, default=True)
    starts_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class RuleSerializer(serializers.ModelSerializer):
    item = serializers.CharField(source="item.external_id", allow_null=True, read_only=True,
                                 help_text="The item's external id")
    slot = serializers.IntegerField(allow_null=True, read_only=True, min_value=MIN_SLOT,
                                    max_value=MAX_SLOT)
    share = serializers.FloatField(allow_null=True, read_only=True, min_value=MIN_SHARE,
                                   max_value=MAX_SHARE)

    class Meta:
        model = MerchandisingRule
        fields = ("id", "kind", "item", "category", "slot", "share", "active", "starts_at",
                  "ends_at", "created_at")
        read_only_fields = fields


def _rule(rule: MerchandisingRule, code: int = status.HTTP_200_OK) -> Response:
    return Response(RuleSerializer(rule).data, status=code)


@extend_schema_view(
    list=extend_schema(summary="The merchandising rules (pins, then boosts)"),
    retrieve=extend_schema(summary="A merchandising rule"),
    destroy=extend_schema(summary="Delete a merchandising rule"),
)
class RuleViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  mixins.DestroyModelMixin, GenericViewSet):
    serializer_class = RuleSerializer
    lookup_value_regex = ID_PATTERN
    parser_classes = (JSONParser,)

    def scoped_queryset(self) -> QuerySet[MerchandisingRule]:
        return selectors.rule_list()

    @extend_schema(summary="Add a pin or a boost", request=RuleWriteSerializer,
                   responses={201: RuleSerializer})
    def create(self, request: Request) -> Response:
        payload = RuleWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _rule(services.rule_create(**payload.validated_data), status.HTTP_201_CREATED)

    @extend_schema(summary="Replace a rule", request=RuleWriteSerializer,
                   responses=RuleSerializer)
    def update(self, request: Request, pk: str) -> Response:
        return self._changed(request, partial=False)

    @extend_schema(summary="Change some of a rule's fields", request=RuleWriteSerializer,
                   responses=RuleSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._changed(request, partial=True)

    def _changed(self, request: Request, *, partial: bool) -> Response:
        rule = self.get_object()
        payload = RuleWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(payload.validated_data)
        return _rule(services.rule_update(rule=rule, changes=changes))

    def perform_destroy(self, instance: MerchandisingRule) -> None:
        services.rule_delete(rule=instance)

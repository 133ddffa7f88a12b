"""``/api/v1/finance/channels``: where the tenant's alerts are delivered (e-mail lists, signed
webhooks, Slack, Feishu and DingTalk incoming webhooks), and ``POST .../{id}/test`` to send a
sample alert at once. The signing secret is write-only: responses say whether there is one."""

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
from apps.finance_sentiment.models import AlertChannel
from apps.finance_sentiment.services.channels import MAX_CHANNEL_EMAILS, MAX_SECRET_CHARS


class AlertChannelSerializer(serializers.ModelSerializer):
    has_secret = serializers.SerializerMethodField()
    url = serializers.CharField(read_only=True, help_text="Empty for an e-mail channel")
    last_status = serializers.CharField(
        read_only=True, help_text='"delivered", "failed", or empty: never tried')

    class Meta:
        model = AlertChannel
        fields = ("id", "name", "kind", "url", "emails", "has_secret", "is_active",
                  "last_status", "last_error", "last_attempt_at", "last_delivered_at",
                  "created_at", "updated_at")
        read_only_fields = fields

    def get_has_secret(self, channel: AlertChannel) -> bool:
        return bool(channel.secret)


class AlertChannelWriteSerializer(serializers.Serializer):
    """For the schema: the service validates (a 400 naming each field)."""

    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=AlertChannel.Kind.choices)
    url = serializers.CharField(max_length=1000, required=False, allow_blank=True,
                                help_text="Every kind but email: the (incoming) webhook URL")
    emails = serializers.ListField(child=serializers.EmailField(), required=False,
                                   max_length=MAX_CHANNEL_EMAILS,
                                   help_text="email: the addresses")
    secret = serializers.CharField(
        max_length=MAX_SECRET_CHARS, required=False, allow_blank=True, write_only=True,
        help_text="webhook: HMAC key of Webhook-Signature; feishu, dingtalk: the bot's signing "
                  "secret. Left out on a change: kept.")
    is_active = serializers.BooleanField(required=False)


class DeliveryOutcomeSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    channel = AlertChannelSerializer()


def _payload(request: Request) -> dict[str, Any]:
    data = request.data if isinstance(request.data, dict) else {}
    return {name: data[name] for name in services.CHANNEL_FIELDS if name in data}


@extend_schema_view(
    list=extend_schema(summary="Alert channels"),
    retrieve=extend_schema(summary="An alert channel"),
    destroy=extend_schema(summary="Delete an alert channel"),
)
class AlertChannelViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                          mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """Every new alert is delivered to every active channel, asynchronously and retried; the
    last attempt's outcome is ``last_status`` and ``last_error``."""

    serializer_class = AlertChannelSerializer
    lookup_value_regex = ID_PATTERN
    pagination_class = None  # a tenant has a handful of channels

    def scoped_queryset(self) -> QuerySet[AlertChannel]:
        return selectors.channel_list()

    @extend_schema(summary="Create a channel", request=AlertChannelWriteSerializer,
                   responses={201: AlertChannelSerializer})
    def create(self, request: Request) -> Response:
        channel = services.alert_channel_create(**_payload(request))
        return Response(AlertChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a channel", request=AlertChannelWriteSerializer,
                   responses=AlertChannelSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        channel = services.alert_channel_update(channel=self.get_object(),
                                                changes=_payload(request))
        return Response(AlertChannelSerializer(channel).data)

    @extend_schema(summary="Replace a channel's settings", request=AlertChannelWriteSerializer,
                   responses=AlertChannelSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        changes = {"url": "", "emails": [], "is_active": True, **_payload(request)}
        channel = services.alert_channel_update(channel=self.get_object(), changes=changes)
        return Response(AlertChannelSerializer(channel).data)

    def perform_destroy(self, instance: AlertChannel) -> None:
        services.alert_channel_delete(channel=instance)

    @extend_schema(summary="Send a sample alert to the channel now",
                   description="Synchronous, no retries; the outcome is also recorded on the "
                               "channel. A refused delivery is still a 200 with ok false.",
                   request=None, responses=DeliveryOutcomeSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        channel = self.get_object()
        outcome = services.alert_channel_test(channel=channel)
        return Response(DeliveryOutcomeSerializer({
            "ok": outcome.ok, "status_code": outcome.status_code, "error": outcome.error,
            "channel": channel}).data)

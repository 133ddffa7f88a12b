"""``/api/v1/webhooks``: a tenant's webhook endpoints and their delivery log.

Reading needs the ``read`` scope; creating, changing, deleting and rotating secrets need
``admin`` (an endpoint receives job data and its secret authenticates it). The signing secret
is in the responses to create and ``rotate-secret`` only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.errors import ApiError
from api.lookups import ID_PATTERN
from api.viewsets import TenantScopedViewSetMixin
from webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from webhooks.urlcheck import UnsafeUrl


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ("id", "url", "description", "events", "is_active", "created_at")
        read_only_fields = fields


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True,
                                   help_text="Signing secret; shown only in this response.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = (*WebhookEndpointSerializer.Meta.fields, "secret")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]


class WebhookEndpointWriteSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                        default="")
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS),
                                   required=False, default=list,
                                   help_text="Events to send; empty means all")
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ("id", "event", "status", "attempts", "response_status", "response_body",
                  "error", "payload", "created_at", "last_attempt_at", "next_attempt_at",
                  "delivered_at")
        read_only_fields = fields


def _field_error(error: ValueError, default_field: str) -> ApiError:
    """The webhook services report bad input as ``ValueError("<field>: <message>")``; an
    ``UnsafeUrl`` is always about the URL."""
    message = str(error)
    field, separator, detail = message.partition(": ")
    if isinstance(error, UnsafeUrl) or not separator or field not in ("url", "events"):
        field, detail = default_field, message
    return ApiError(400, "validation_error", detail, {field: [detail]})


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints"),
    retrieve=extend_schema(summary="A webhook endpoint"),
    destroy=extend_schema(summary="Delete an endpoint and its delivery log"),
)
class WebhookEndpointViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                             mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                             GenericViewSet):
    serializer_class = WebhookEndpointSerializer
    lookup_value_regex = ID_PATTERN

    @property
    def required_scope(self) -> str | None:
        return None if self.request.method in SAFE_METHODS else "admin"

    def scoped_queryset(self) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.order_by("-created_at", "-id")

    @extend_schema(summary="Register an endpoint (the secret is shown once)",
                   request=WebhookEndpointWriteSerializer,
                   responses={201: WebhookEndpointWithSecretSerializer})
    def create(self, request: Request) -> Response:
        payload = WebhookEndpointWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = payload.validated_data
        try:
            endpoint = webhook_endpoint_create(url=fields["url"], events=fields["events"],
                                               description=fields["description"])
        except ValueError as error:
            raise _field_error(error, "url") from error
        if not fields["is_active"]:
            endpoint = webhook_endpoint_update(endpoint=endpoint, changes={"is_active": False})
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace an endpoint's settings",
                   request=WebhookEndpointWriteSerializer, responses=WebhookEndpointSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=False)

    @extend_schema(summary="Change an endpoint's settings",
                   request=WebhookEndpointWriteSerializer, responses=WebhookEndpointSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        endpoint = self.get_object()
        payload = WebhookEndpointWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        try:
            endpoint = webhook_endpoint_update(endpoint=endpoint,
                                               changes=dict(payload.validated_data))
        except ValueError as error:
            raise _field_error(error, "url") from error
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(summary="Replace the signing secret (the new one is shown once)",
                   request=None, responses=WebhookEndpointWithSecretSerializer)
    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        webhook_endpoint_delete(endpoint=instance)  # the one delete, as the settings page's

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        endpoint = webhook_endpoint_rotate_secret(endpoint=self.get_object())
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)

    @extend_schema(summary="The endpoint's delivery log, newest first",
                   responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=WebhookDeliverySerializer)
    def deliveries(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        page = self.paginate_queryset(
            WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id"))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

"""``/api/v1/api-keys``: integrators rotate their own keys (``admin`` scope).

The secret is in the response to the create call only; deleting a key revokes it (the row
stays for the audit trail).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from accounts.models import ApiKey, Scope
from accounts.services import api_key_create, api_key_revoke
from api.viewsets import TenantScopedViewSetMixin


class ApiKeySerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = ApiKey
        fields = ("id", "name", "prefix", "scopes", "status", "created_at", "expires_at",
                  "revoked_at", "last_used_at", "rate_limit_per_minute")
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), min_length=1
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    rate_limit_per_minute = serializers.IntegerField(required=False, allow_null=True,
                                                     min_value=1, max_value=100_000)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = (*ApiKeySerializer.Meta.fields, "key")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]


class ApiKeyViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    mixins.DestroyModelMixin, GenericViewSet):
    serializer_class = ApiKeySerializer
    required_scope = "admin"

    def scoped_queryset(self) -> Any:
        return ApiKey.objects.all()

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request) -> Response:
        payload = ApiKeyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = getattr(request.user, "pk", None)
        try:
            created = api_key_create(created_by_id=user, request=request._request,
                                     **payload.validated_data)
        except ValueError as error:
            field, _, message = str(error).partition(": ")
            raise serializers.ValidationError({field: [message]}) from error
        body = ApiKeySerializer(created.key).data | {"key": created.raw_key}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, summary="Revoke a key")
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = self.get_object()
        api_key_revoke(key_id=key.pk, actor_id=getattr(request.user, "pk", None),
                       request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.permissions import granted_scopes
from api.viewsets import TenantScopedAPIView
from tenancy.http import tenant_request


class MeSerializer(serializers.Serializer):
    tenant = serializers.DictField()
    key = serializers.DictField(allow_null=True)
    user = serializers.DictField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())


class MeView(TenantScopedAPIView):
    """Who is calling: the tenant, the API key (or signed-in user) and its scopes."""

    @extend_schema(responses=MeSerializer, summary="The caller's tenant, key and scopes")
    def get(self, request: Request) -> Response:
        http = tenant_request(request)
        tenant, key, membership = self.tenant, http.api_key, http.membership
        return Response(
            {
                "tenant": {"id": tenant.pk, "slug": tenant.slug, "name": tenant.name},
                "key": None if key is None else {
                    "name": key.name,
                    "prefix": key.prefix,
                    "expires_at": key.expires_at,
                },
                "user": None if membership is None else {
                    "email": membership.user.email,
                    "role": membership.role,
                },
                "scopes": sorted(granted_scopes(request)),
            }
        )

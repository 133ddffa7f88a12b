"""The API's tenant-scoped bases: every API view inherits one (or is allow-listed with its
reason), viewsets cannot override ``get_object`` and re-check the object's tenant, and plain
views refuse a request without a tenant whatever their permission classes."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import mixins, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.viewsets import GenericViewSet

from accounts.models import ApiKey
from api.viewsets import (
    TenantScopedAPIView,
    TenantScopedViewSetMixin,
    get_object_or_404_in_tenant,
)
from tenancy.context import tenant_context, unscoped
from tests.conftest import TenantSetup

# API views that are not on a tenant-scoped base, each with its reason.
NOT_TENANT_SCOPED = {
    # The schema and its docs page are public and read no tenant's rows.
    "drf_spectacular.views.SpectacularAPIView",
    "drf_spectacular.views.SpectacularSwaggerSplitView",
    # The public widget has no API key or session: its own base (WidgetView) resolves the
    # tenant from the widget key and runs the request under it.
    "apps.support_bot.widget.WidgetConfigView",
    "apps.support_bot.widget.WidgetConversationView",
    "apps.support_bot.widget.WidgetMessageView",
    "apps.support_bot.widget.WidgetFeedbackView",
    "apps.support_bot.widget.WidgetHandoffView",
}


def _api_view_classes(patterns: list[Any], prefix: str = "") -> dict[str, type]:
    found: dict[str, type] = {}
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found.update(_api_view_classes(pattern.url_patterns, route))
        elif isinstance(pattern, URLPattern) and route.startswith("api/"):
            view_class = getattr(pattern.callback, "cls", None)
            if view_class is not None:
                found[f"{view_class.__module__}.{view_class.__qualname__}"] = view_class
    return found


def test_every_api_view_is_tenant_scoped_or_allow_listed() -> None:
    views = _api_view_classes(get_resolver().url_patterns)
    assert "api.views.MeView" in views
    unscoped_views = sorted(
        name for name, view_class in views.items()
        if not issubclass(view_class, TenantScopedViewSetMixin | TenantScopedAPIView)
        and name not in NOT_TENANT_SCOPED
    )
    assert unscoped_views == []
    stale = sorted(name for name in NOT_TENANT_SCOPED
                   if name not in views
                   or issubclass(views[name], TenantScopedViewSetMixin | TenantScopedAPIView))
    assert stale == [], "drop these from the allow-list"


@pytest.mark.parametrize("method", ["get_queryset", "get_object"])
def test_scoped_viewsets_may_not_override_the_row_lookups(method: str) -> None:
    with pytest.raises(TypeError, match=f"must not override {method}"):
        type("Overriding", (TenantScopedViewSetMixin, GenericViewSet),
             {method: lambda self: None})


class _KeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ("name",)


class _UnscopedLookup:
    """A mixin after the base whose lookup escapes every layer (an unscoped get): the sealing
    check cannot see it, so the base's re-check of the object's tenant is what refuses."""

    kwargs: dict[str, Any]

    def get_object(self) -> ApiKey:
        with unscoped():
            return ApiKey.objects.get(pk=self.kwargs["pk"])


class _LeakyKeyViewSet(TenantScopedViewSetMixin, _UnscopedLookup, mixins.RetrieveModelMixin,
                       GenericViewSet):
    serializer_class = _KeySerializer

    def scoped_queryset(self) -> Any:
        return ApiKey.objects.all()


def _call(view: Any, setup: TenantSetup, path: str = "/", **kwargs: Any) -> Response:
    """Call ``view`` as ``setup``'s owner, with what the tenant middleware would attach."""
    request = APIRequestFactory().get(path)
    request.tenant = setup.tenant  # type: ignore[attr-defined]
    request.membership = setup.membership  # type: ignore[attr-defined]
    force_authenticate(request, user=setup.owner)
    with tenant_context(setup.tenant.pk):
        return view(request, **kwargs)


def test_get_object_rechecks_the_tenant(acme: TenantSetup, globex: TenantSetup) -> None:
    view = _LeakyKeyViewSet.as_view({"get": "retrieve"})
    assert _call(view, acme, pk=acme.api_key.pk).data == {"name": acme.api_key.name}
    response = _call(view, acme, pk=globex.api_key.pk)
    assert response.status_code == 404
    assert response.data == {"error": {"code": "not_found", "message": "Not found.",
                                       "fields": {}}}


class _OpenView(TenantScopedAPIView):
    permission_classes: list[Any] = []  # a view that forgot HasTenant

    def get(self, request: Request) -> Response:
        return Response({"tenant": self.tenant.slug})


def test_plain_views_require_a_tenant_whatever_their_permissions(acme: TenantSetup) -> None:
    view = _OpenView.as_view()
    assert _call(view, acme).data == {"tenant": acme.tenant.slug}
    anonymous = view(APIRequestFactory().get("/"))
    assert anonymous.status_code == 401
    assert anonymous.data["error"]["code"] == "not_authenticated"


def test_plain_views_refuse_a_request_whose_tenant_context_is_not_its_tenant(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    request = APIRequestFactory().get("/")
    request.tenant = acme.tenant  # type: ignore[attr-defined]
    force_authenticate(request, user=acme.owner)
    with tenant_context(globex.tenant.pk):
        assert _OpenView.as_view()(request).status_code == 401


def test_get_object_or_404_in_tenant_ignores_other_tenants_rows(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    with unscoped():  # neither the manager nor row-level security filters here
        everyone = ApiKey.objects.all()
        assert get_object_or_404_in_tenant(everyone, acme.tenant,
                                           pk=acme.api_key.pk) == acme.api_key
        with pytest.raises(Http404):
            get_object_or_404_in_tenant(everyone, acme.tenant, pk=globex.api_key.pk)

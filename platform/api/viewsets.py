"""Base classes for tenant-owned API resources.

Subclasses never override ``get_queryset`` or ``get_object``; they implement
``scoped_queryset()`` and the base adds the tenant filter (PostHog's TeamAndOrgViewSetMixin
pattern). The manager already scopes by the tenant context, and PostgreSQL row-level security
scopes again: three layers. Another tenant's object is simply not in the queryset, so it
answers the same 404 as a missing one; ``get_object`` checks the object's tenant once more, so
that a ``filter_queryset`` or a mixin that loses the filter still cannot hand one out.

Endpoints that are not a resource (``APIView``) inherit :class:`TenantScopedAPIView`: it
refuses a request without a tenant before the handler runs, whatever the view's permission
classes say, and its ``get_object_or_404`` looks a row up within the request's tenant.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import viewsets
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from tenancy.context import current_tenant_id, unscoped
from tenancy.models import Tenant

M = TypeVar("M", bound=Model)

# The methods that decide which rows a view may touch; subclasses write scoped_queryset().
SEALED_METHODS = ("get_queryset", "get_object")


def request_tenant(request: Request) -> Tenant:
    """The request's tenant; a request without one (or whose tenant context was lost) is
    refused as unauthenticated, the same answer as ``HasTenant``'s."""
    tenant: Tenant | None = getattr(request._request, "tenant", None)
    if tenant is None or current_tenant_id() != tenant.pk:
        raise NotAuthenticated()
    return tenant


def get_object_or_404_in_tenant(queryset: QuerySet[M], tenant: Tenant, **lookup: Any) -> M:
    """The one row of ``queryset`` matching ``lookup`` and owned by ``tenant``, else 404 (the
    same answer for another tenant's row as for a missing one)."""
    found = queryset.filter(tenant_id=tenant.pk, **lookup).first()
    if found is None or getattr(found, "tenant_id", None) != tenant.pk:
        raise Http404
    return found


class TenantScopedViewSetMixin:
    request: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in SEALED_METHODS:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} must not override {name}(); implement scoped_queryset()."
                )

    def scoped_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no tenant, no rows
            with unscoped():
                return self.scoped_queryset().none()
        return self.scoped_queryset().filter(tenant_id=self.request._request.tenant.pk)

    def get_object(self) -> Any:
        found = super().get_object()  # type: ignore[misc]
        if getattr(found, "tenant_id", None) != self.request._request.tenant.pk:
            raise Http404
        return found


class TenantScopedModelViewSet(TenantScopedViewSetMixin, viewsets.ModelViewSet):
    pass


class TenantScopedReadOnlyViewSet(TenantScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class TenantScopedAPIView(APIView):
    # Base of the API's plain views: a tenant is required (checked after authentication and
    # permissions, so the answers stay theirs) and ``self.tenant`` is it. A comment, not a
    # docstring: drf-spectacular would describe every view without one of its own with it.

    tenant: Tenant

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.tenant = request_tenant(request)

    def scoped(self, queryset: QuerySet[M]) -> QuerySet[M]:
        """``queryset`` filtered to the request's tenant (as the scoped viewsets filter)."""
        return queryset.filter(tenant_id=self.tenant.pk)

    def get_object_or_404(self, queryset: QuerySet[M], **lookup: Any) -> M:
        return get_object_or_404_in_tenant(queryset, self.tenant, **lookup)

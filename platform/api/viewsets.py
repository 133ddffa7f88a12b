"""Base classes for tenant-owned API resources.

Subclasses never override ``get_queryset``; they implement ``scoped_queryset()`` and the
base adds the tenant filter (PostHog's TeamAndOrgViewSetMixin pattern). The manager already
scopes by the tenant context, and PostgreSQL row-level security scopes again: three layers.
Another tenant's object is simply not in the queryset, so it answers the same 404 as a
missing one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets

from tenancy.context import unscoped


class TenantScopedViewSetMixin:
    request: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} must not override get_queryset(); implement scoped_queryset()."
            )

    def scoped_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no tenant, no rows
            with unscoped():
                return self.scoped_queryset().none()
        return self.scoped_queryset().filter(tenant_id=self.request._request.tenant.pk)


class TenantScopedModelViewSet(TenantScopedViewSetMixin, viewsets.ModelViewSet):
    pass


class TenantScopedReadOnlyViewSet(TenantScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass

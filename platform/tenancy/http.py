from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.http import HttpRequest

if TYPE_CHECKING:
    from tenancy.models import Membership, Tenant


class TenantHttpRequest(HttpRequest):
    """An HttpRequest after ``TenantMiddleware``: what it attached, typed for views."""

    tenant: Tenant | None
    membership: Membership | None
    api_key: Any  # accounts.ApiKey (accounts depends on tenancy, not the reverse)
    api_key_error: Any
    user_memberships: list[Membership]


def tenant_request(request: Any) -> TenantHttpRequest:
    """The Django request behind a Django or DRF request, typed with the tenant attributes."""
    return cast(TenantHttpRequest, getattr(request, "_request", request))

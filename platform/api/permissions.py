"""Access rules for the API.

Every endpoint needs a tenant (from an API key or a signed-in member). Keys carry scopes:
``read`` for safe methods, ``write`` for changes, ``admin`` for tenant administration. A
signed-in user's role maps onto the same scopes.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from tenancy.models import Role

_ROLE_SCOPES = {
    Role.VIEWER: {"read"},
    Role.MEMBER: {"read", "write"},
    Role.ADMIN: {"read", "write", "admin"},
    Role.OWNER: {"read", "write", "admin"},
}


def granted_scopes(request: Request) -> set[str]:
    key = getattr(request._request, "api_key", None)
    if key is not None:
        scopes = set(key.scopes)
        # admin implies write implies read
        if "admin" in scopes:
            scopes |= {"write", "read"}
        if "write" in scopes:
            scopes.add("read")
        return scopes
    membership = getattr(request._request, "membership", None)
    if membership is not None:
        return _ROLE_SCOPES[Role(membership.role)]
    return set()


class HasTenant(BasePermission):
    """Authenticated with a tenant; safe methods need ``read``, others ``write``.

    Views may set ``required_scope`` to demand more (e.g. ``admin``).
    """

    message = "Authentication with a tenant is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(request._request, "tenant", None) is None or not request.user.is_authenticated:
            return False
        required = getattr(view, "required_scope", None) or (
            "read" if request.method in SAFE_METHODS else "write"
        )
        if required not in granted_scopes(request):
            self.message = f"This action needs the '{required}' scope."
            return False
        return True

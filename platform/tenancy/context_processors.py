from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenancy.selectors import memberships_for_user


def tenant(request: HttpRequest) -> dict[str, Any]:
    current = getattr(request, "tenant", None)
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"current_tenant": current, "current_membership": None, "user_memberships": []}
    return {
        "current_tenant": current,
        "current_membership": membership,
        "user_memberships": memberships_for_user(user_id=request.user.pk),
    }

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.text import slugify

from tenancy.context import unscoped
from tenancy.http import TenantHttpRequest
from tenancy.models import Membership, Tenant

SESSION_TENANT_KEY = "tenant_id"


def memberships_for_user(*, user_id: int) -> list[Membership]:
    """All of a user's memberships across tenants, for sign-in and the tenant switcher.

    The only cross-tenant read of memberships, hence ``unscoped()``; evaluated here so
    that no lazy queryset escapes the opt-out.
    """
    with unscoped():
        return list(
            Membership.objects.filter(user_id=user_id)
            .select_related("tenant")
            .order_by("tenant__name")
        )


def resolve_session_membership(request: TenantHttpRequest) -> Membership | None:
    """The signed-in user's membership in their current tenant (kept in the session).

    Also keeps the user's memberships on the request for the tenant switcher.
    """
    user_id = request.user.pk
    if user_id is None:  # anonymous: no memberships
        return None
    memberships = memberships_for_user(user_id=user_id)
    request.user_memberships = memberships
    if not memberships:
        return None
    wanted = request.session.get(SESSION_TENANT_KEY)
    for membership in memberships:
        if membership.tenant_id == wanted:
            return membership
    membership = memberships[0]
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return membership


def membership_list() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("created_at")


SLUG_MAX_LENGTH = 63  # Tenant.slug's max_length (a DNS label)


def tenant_slug_free(*, name: str) -> str:
    """A slug for a new workspace called ``name`` that no tenant has yet: the name slugified
    ("Acme Labs" → ``acme-labs``), else with the first free ``-2``, ``-3``... suffix. Tenants
    are not tenant-owned rows, so this reads every tenant's slug (no scope to opt out of)."""
    base = slugify(name)[:SLUG_MAX_LENGTH].strip("-") or "workspace"
    taken = set(Tenant.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    suffix = 2
    while True:
        tail = f"-{suffix}"
        candidate = f"{base[:SLUG_MAX_LENGTH - len(tail)].rstrip('-')}{tail}"
        if candidate not in taken:
            return candidate
        suffix += 1

"""Writes on tenants and memberships. Every change that matters for security is audited.

**Tenant-created hooks.** A layer above tenancy that keeps something per tenant (billing: the
subscription) registers a function with ``tenant_created_hook_register`` in its
``AppConfig.ready()``; ``tenant_create`` (and ``tenant_insert``, which the console's form uses)
runs every registered hook inside its transaction and in the new tenant's context, so a tenant
never commits without what those layers need, and tenancy imports none of them (the dependency
points down: billing → tenancy). An explicit, greppable registry rather than a ``post_save``
signal: the house rules keep business logic out of signals, and a hook runs for tenants made
by these services, not for every save of a tenant row.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit.models import AuditEvent
from audit.services import audit_record
from tenancy.context import tenant_context, unscoped
from tenancy.models import ROLE_RANK, Membership, Role, Tenant
from tenancy.selectors import SESSION_TENANT_KEY


class MembershipError(Exception):
    """A membership change that the rules forbid; the message is shown to the user."""


TenantCreatedHook = Callable[[Tenant], None]
# Keyed by the hook's qualified name: registering the same function twice runs it once.
_tenant_created_hooks: dict[str, TenantCreatedHook] = {}


def tenant_created_hook_register(hook: TenantCreatedHook) -> None:
    """Run ``hook(tenant)`` for every tenant created from now on (see the module docstring)."""
    _tenant_created_hooks[f"{hook.__module__}.{hook.__qualname__}"] = hook


@transaction.atomic
def tenant_create(*, slug: str, name: str, owner_id: int | None = None) -> Tenant:
    return tenant_insert(tenant=Tenant(slug=slug, name=name), owner_id=owner_id)


@transaction.atomic
def tenant_insert(*, tenant: Tenant, owner_id: int | None = None) -> Tenant:
    """Save a new tenant built elsewhere (``tenant_create``; the console's form), give it its
    owner and run the tenant-created hooks, all in one transaction."""
    tenant.save(force_insert=True)
    with tenant_context(tenant.pk):
        if owner_id is not None:
            Membership.objects.create(tenant=tenant, user_id=owner_id, role=Role.OWNER)
        for hook in tuple(_tenant_created_hooks.values()):
            hook(tenant)
    return tenant


@transaction.atomic
def tenant_set_status(
    *, tenant: Tenant, status: str, actor_id: int | None, request: HttpRequest | None = None
) -> Tenant:
    if status not in Tenant.Status.values:
        raise ValueError(f"unknown tenant status {status!r}")
    previous = tenant.status
    if previous == status:
        return tenant
    tenant.status = status
    tenant.save(update_fields=["status"])
    audit_record(
        action=AuditEvent.Action.TENANT_STATUS_CHANGED,
        tenant_id=tenant.pk,
        actor_id=actor_id,
        target=tenant.slug,
        request=request,
        details={"from": previous, "to": status},
    )
    return tenant


def _owner_count() -> int:
    # Locks the owners' rows: two owners demoting each other at once cannot both succeed.
    return len(Membership.objects.select_for_update().filter(role=Role.OWNER).values_list("pk"))


def _check_can_manage(actor: Membership, target: Membership, new_role: str | None) -> None:
    if not actor.has_role(Role.ADMIN):
        raise MembershipError(_("Only owners and admins can manage members."))
    if target.pk == actor.pk:
        raise MembershipError(_("You cannot change your own membership."))
    if target.role == Role.OWNER and actor.role != Role.OWNER:
        raise MembershipError(_("Only an owner can change another owner."))
    if new_role == Role.OWNER and actor.role != Role.OWNER:
        raise MembershipError(_("Only an owner can make someone an owner."))


@transaction.atomic
def membership_change_role(
    *, actor: Membership, membership_id: int, role: str, request: HttpRequest | None = None
) -> Membership:
    if role not in ROLE_RANK:
        raise MembershipError(_("Unknown role %(role)r.") % {"role": role})
    target = Membership.objects.select_for_update().select_related("user").get(pk=membership_id)
    _check_can_manage(actor, target, role)
    if target.role == Role.OWNER and role != Role.OWNER and _owner_count() <= 1:
        raise MembershipError(_("A workspace needs at least one owner."))
    previous = target.role
    target.role = role
    target.save(update_fields=["role"])
    audit_record(
        action=AuditEvent.Action.ROLE_CHANGED,
        tenant_id=target.tenant_id,
        actor_id=actor.user_id,
        target=target.user.email,
        request=request,
        details={"from": previous, "to": role},
    )
    return target


@transaction.atomic
def membership_remove(
    *, actor: Membership, membership_id: int, request: HttpRequest | None = None
) -> None:
    target = Membership.objects.select_for_update().select_related("user").get(pk=membership_id)
    _check_can_manage(actor, target, None)
    if target.role == Role.OWNER and _owner_count() <= 1:
        raise MembershipError(_("A workspace needs at least one owner."))
    target.delete()
    audit_record(
        action=AuditEvent.Action.MEMBER_REMOVED,
        tenant_id=target.tenant_id,
        actor_id=actor.user_id,
        target=target.user.email,
        request=request,
    )


def tenant_switch(*, request: HttpRequest, tenant_id: int) -> bool:
    """Make ``tenant_id`` the session's current tenant if the user belongs to it."""
    with unscoped():
        allowed = Membership.objects.filter(
            user_id=request.user.pk or 0, tenant_id=tenant_id
        ).exists()
    if allowed:
        request.session[SESSION_TENANT_KEY] = tenant_id
    return allowed

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenancy.context import is_unscoped, require_tenant_id


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MEMBER = "member", _("Member")
    VIEWER = "viewer", _("Viewer")


# Higher rank can do everything a lower rank can.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class TenantManager(models.Manager):
    """Default manager of tenant-owned models: always filtered to the tenant in context.

    With no tenant in context it raises instead of returning every tenant's rows. Staff-wide
    code wraps itself in ``tenancy.context.unscoped()``.
    """

    def get_queryset(self) -> models.QuerySet:
        queryset = super().get_queryset()
        if is_unscoped():
            return queryset
        return queryset.filter(tenant_id=require_tenant_id())


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned table: a non-null tenant, scoped by default.

    Each concrete subclass also gets a row-level-security policy in its migration
    (``tenancy.rls.EnableRowLevelSecurity``); ``tests/tenancy/test_rls.py`` checks none is missed.
    """

    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.CASCADE, editable=False)

    objects = TenantManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Fill the tenant from context so that a row can never be written for another tenant
        # by forgetting to pass it; an explicit mismatch is a bug and must fail loudly.
        if self.tenant_id is None:
            self.tenant_id = require_tenant_id()
        elif not is_unscoped() and self.tenant_id != require_tenant_id():
            raise ValueError("Refusing to save a row for a tenant other than the current one.")
        super().save(*args, **kwargs)


class Membership(TenantOwnedModel):
    """A user's role in a tenant.

    Tenant-owned like any other table; the few places that list a user's memberships across
    tenants (sign-in, the tenant switcher) do it through ``selectors.memberships_for_user``,
    which opts out of scoping visibly.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_uniq"),
        ]
        ordering: ClassVar = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]

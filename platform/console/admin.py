"""Console registrations. Secrets never appear: API keys show only their public prefix."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts.models import ApiKey, Invitation, User
from accounts.services import api_key_revoke
from audit.models import AuditEvent
from console.health import tenant_health
from tenancy.context import tenant_context
from tenancy.models import Membership, Tenant
from tenancy.services import tenant_insert, tenant_set_status


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "status", "created_at", "health_link")
    list_filter = ("status",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}  # noqa: RUF012
    inlines = (MembershipInline,)
    actions = ("suspend", "activate")

    def get_urls(self) -> list[URLPattern]:
        health = path("<int:pk>/health/", self.admin_site.admin_view(self.health_view),
                      name="tenancy_tenant_health")
        return [health, *super().get_urls()]

    @admin.display(description="Health")
    def health_link(self, tenant: Tenant) -> str:
        return format_html('<a href="{}">Health</a>',
                           reverse(f"{self.admin_site.name}:tenancy_tenant_health",
                                   args=[tenant.pk]))

    def health_view(self, request: HttpRequest, pk: int) -> TemplateResponse:
        """One tenant at a glance: plan, usage against quota, failing jobs, last activity."""
        tenant = get_object_or_404(Tenant, pk=pk)
        return TemplateResponse(request, "admin/tenancy/tenant/health.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"{tenant.name}: health", "health": tenant_health(tenant=tenant),
            "changelist_url": reverse(f"{self.admin_site.name}:tenancy_tenant_changelist"),
        })

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Tenant], status: str) -> None:
        for tenant in queryset:
            tenant_set_status(tenant=tenant, status=status, actor_id=request.user.pk,
                              request=request)
        self.message_user(request, f"{queryset.count()} tenant(s) now {status}.", messages.SUCCESS)

    @admin.action(description="Suspend selected tenants")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        self._set_status(request, queryset, Tenant.Status.SUSPENDED)

    @admin.action(description="Activate selected tenants")
    def activate(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        self._set_status(request, queryset, Tenant.Status.ACTIVE)

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        # A status edited in the form goes through the audited service too.
        if change and "status" in form.changed_data:
            wanted = obj.status
            obj.status = Tenant.objects.get(pk=obj.pk).status
            super().save_model(request, obj, form, change)
            tenant_set_status(tenant=obj, status=wanted, actor_id=request.user.pk, request=request)
        elif not change:
            # A new tenant goes through the service, which runs the tenant-created hooks
            # (billing gives it its subscription).
            tenant_insert(tenant=obj)
        else:
            super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # New inline memberships need the tenant in context (TenantOwnedModel.save checks it).
        with tenant_context(form.instance.pk):
            super().save_formset(request, form, formset, change)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__email", "tenant__name", "tenant__slug")
    list_select_related = ("user", "tenant")
    readonly_fields = ("tenant", "user", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members join through invitations or the tenant inline


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "tenant", "scopes", "status", "last_used_at", "expires_at")
    list_filter = ("tenant",)
    search_fields = ("name", "prefix", "tenant__slug")
    list_select_related = ("tenant",)
    exclude = ("secret_hash",)
    readonly_fields = ("tenant", "name", "prefix", "scopes", "created_by", "created_at",
                       "expires_at", "revoked_at", "last_used_at")
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created by the tenant, which sees the secret once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            api_key_revoke(key_id=key.pk, actor_id=request.user.pk, request=request)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "tenant", "role", "created_at", "expires_at", "accepted_at")
    list_filter = ("tenant",)
    search_fields = ("email",)
    exclude = ("token_hash",)
    readonly_fields = ("tenant", "email", "role", "invited_by", "created_at", "expires_at",
                       "accepted_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups",
                                    "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",),
                             "fields": ("email", "password1", "password2")}),)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "tenant", "actor", "target", "ip_address")
    list_filter = ("action", "tenant")
    search_fields = ("target", "actor__email", "tenant__slug")
    list_select_related = ("tenant", "actor")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

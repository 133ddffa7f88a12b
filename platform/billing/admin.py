"""Console pages of billing: plans (editable, with their per-meter terms inline),
subscriptions, invoices with their lines, and a "Revenue and usage" page.

Console requests run ``unscoped()``; a change to a tenant's subscription goes through the
service inside that tenant's ``tenant_context``, like the jobs console actions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from billing import selectors
from billing.models import Invoice, InvoiceLine, Meter, Plan, PlanMeter, Subscription
from billing.periods import month_bounds
from billing.services import BillingError, subscription_change_plan
from tenancy.context import tenant_context


class PlanMeterInline(admin.TabularInline):
    model = PlanMeter
    extra = 0
    fields = ("meter", "included_quantity", "overage_unit_price", "overage_unit", "hard_limit")


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "monthly_fee", "is_public", "position")
    list_editable = ("monthly_fee", "is_public", "position")
    search_fields = ("name", "code")
    inlines = (PlanMeterInline,)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # This process applies new limits at once; others within BILLING_PLAN_CACHE_SECONDS.
        selectors.plan_limits_forget()


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("tenant", "plan", "pending_plan", "period_start", "period_end")
    list_filter = ("plan",)
    search_fields = ("tenant__name", "tenant__slug")
    list_select_related = ("tenant", "plan", "pending_plan")
    readonly_fields = ("tenant", "plan", "pending_plan", "period_start", "period_end",
                       "payment_customer_id", "created_at")
    actions = [f"move_to_{code}" for code in ("free", "pro", "enterprise")]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created with the tenant's first billed use

    def _move(self, request: HttpRequest, queryset: Any, code: str) -> None:
        for subscription in queryset:
            with tenant_context(subscription.tenant_id):
                try:
                    subscription_change_plan(plan_code=code, allow_private=True)
                except BillingError as error:
                    self.message_user(request, str(error), messages.ERROR)
                    return
        self.message_user(request, f"{queryset.count()} subscription(s) moved to {code} "
                          "(upgrades now, downgrades at period end).", messages.SUCCESS)

    @admin.action(description="Move to Free")
    def move_to_free(self, request: HttpRequest, queryset: Any) -> None:
        self._move(request, queryset, "free")

    @admin.action(description="Move to Pro")
    def move_to_pro(self, request: HttpRequest, queryset: Any) -> None:
        self._move(request, queryset, "pro")

    @admin.action(description="Move to Enterprise")
    def move_to_enterprise(self, request: HttpRequest, queryset: Any) -> None:
        self._move(request, queryset, "enterprise")


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ("position", "description", "quantity", "included_quantity", "billable_quantity",
              "unit_price", "unit", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("number", "tenant", "period_start", "plan_name", "total", "currency",
                    "status", "provider_reference")
    list_filter = ("status", "currency", "tenant")
    search_fields = ("number", "tenant__slug", "provider_reference")
    list_select_related = ("tenant",)
    date_hierarchy = "period_start"
    inlines = (InvoiceLineInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the period close only

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        revenue = path("revenue/", self.admin_site.admin_view(self.revenue_view),
                       name="billing_invoice_revenue")
        return [revenue, *super().get_urls()]

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}),
                         "revenue_url": reverse(f"{self.admin_site.name}:billing_invoice_revenue")}
        return super().changelist_view(request, extra_context)

    def revenue_view(self, request: HttpRequest) -> TemplateResponse:
        """Invoiced revenue per month and this month's recorded usage per tenant."""
        start, end = month_bounds(timezone.now())
        return TemplateResponse(request, "admin/billing/revenue.html", {
            **self.admin_site.each_context(request),
            "title": "Revenue and usage",
            "opts": self.model._meta,
            "months": selectors.revenue_by_month(),
            "usage_start": start,
            "meters": Meter.choices,
            "tenants": selectors.usage_by_tenant(start=start, end=end),
            "changelist_url": reverse(f"{self.admin_site.name}:billing_invoice_changelist"),
        })

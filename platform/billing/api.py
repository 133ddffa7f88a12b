"""``/api/v1/usage``, ``/api/v1/plans``, ``/api/v1/subscription`` and ``/api/v1/invoices``.
Thin views over ``billing.selectors`` and ``billing.services``; invoices are tenant-scoped
(another tenant's invoice is the same 404 as a missing one)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.lookups import ID_PATTERN
from api.viewsets import TenantScopedAPIView, TenantScopedViewSetMixin
from billing import selectors, services
from billing.exports import invoice_csv_response
from billing.models import Invoice, InvoiceLine, Plan, PlanMeter, Subscription

MAX_RANGE_DAYS = 366


# --- Usage -----------------------------------------------------------------------------------


class UsageQuerySerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False,
                                               help_text="First day (UTC); default: the 1st")
        fields["to"] = serializers.DateField(required=False,
                                             help_text="Last day, included; default: month end")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if (start is None) != (end is None):
            missing = "to" if end is None else "from"
            raise serializers.ValidationError({missing: ["give both 'from' and 'to', or "
                                                         "neither"]})
        if start is not None and end is not None:
            if end < start:
                raise serializers.ValidationError({"to": ["must not be before 'from'"]})
            if (end - start).days >= MAX_RANGE_DAYS:
                raise serializers.ValidationError(
                    {"to": [f"the range may span at most {MAX_RANGE_DAYS} days"]})
        return attrs


class DailySerializer(serializers.Serializer):
    date = serializers.DateField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True)


class MeterUsageSerializer(serializers.Serializer):
    meter = serializers.CharField()
    name = serializers.CharField(help_text="The meter's name for people")
    used = serializers.DecimalField(max_digits=20, decimal_places=6)
    included = serializers.DecimalField(max_digits=20, decimal_places=6)
    limit = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True,
                                     help_text="Hard limit per period; null: none")
    projected = serializers.DecimalField(
        max_digits=20, decimal_places=6,
        help_text="Linear projection to the end of the range at the pace so far")
    percent_of_quota = serializers.FloatField(allow_null=True)
    daily = DailySerializer(many=True)


class UsageSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    plan = serializers.CharField(source="plan_code")
    meters = serializers.SerializerMethodField()

    def get_meters(self, summary: selectors.UsageSummary) -> Any:
        return MeterUsageSerializer([meter.as_dict() for meter in summary.meters],
                                    many=True).data


class UsageView(TenantScopedAPIView):
    @extend_schema(
        summary="Usage per meter against the plan, per day, with the projection",
        description="Defaults to the current period (the calendar month, UTC). Real-time "
                    "usage (API calls, items classified online) is included before it is "
                    "flushed to usage records.",
        parameters=[OpenApiParameter("from", str, description="YYYY-MM-DD"),
                    OpenApiParameter("to", str, description="YYYY-MM-DD, included")],
        responses=UsageSerializer,
    )
    def get(self, request: Request) -> Response:
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start = end = None
        if "from" in query.validated_data:
            start = datetime.combine(query.validated_data["from"], time.min, tzinfo=UTC)
            end = datetime.combine(query.validated_data["to"], time.min,
                                   tzinfo=UTC) + timedelta(days=1)
        summary = selectors.usage_summary(start=start, end=end)
        return Response(UsageSerializer(summary).data)


# --- Plans and the subscription --------------------------------------------------------------


class PlanMeterSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanMeter
        fields = ("meter", "included_quantity", "overage_unit_price", "overage_unit",
                  "hard_limit")


class PlanSerializer(serializers.ModelSerializer):
    meters = PlanMeterSerializer(many=True, read_only=True)

    class Meta:
        model = Plan
        fields = ("code", "name", "description", "monthly_fee", "meters")


class PlanListView(TenantScopedAPIView):
    @extend_schema(summary="The plans a tenant may choose", responses=PlanSerializer(many=True))
    def get(self, request: Request) -> Response:
        plans = Plan.objects.filter(is_public=True).prefetch_related("meters")
        return Response(PlanSerializer(plans, many=True).data)


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan.code")
    pending_plan = serializers.CharField(source="pending_plan.code", allow_null=True,
                                         default=None,
                                         help_text="A downgrade taking effect at period end")

    class Meta:
        model = Subscription
        fields = ("plan", "pending_plan", "period_start", "period_end")


class PlanChangeSerializer(serializers.Serializer):
    plan = serializers.CharField(max_length=40, help_text="A plan code, e.g. 'pro'")


class SubscriptionView(TenantScopedAPIView):
    """The tenant's plan and period. Changing it needs the ``admin`` scope: an upgrade takes
    effect at once (the fee is prorated), a downgrade at the end of the period."""

    def get_permissions(self) -> Any:
        self.required_scope = "admin" if self.request.method == "POST" else None
        return super().get_permissions()

    @extend_schema(summary="The subscription", responses=SubscriptionSerializer)
    def get(self, request: Request) -> Response:
        return Response(SubscriptionSerializer(selectors.subscription_current()).data)

    @extend_schema(summary="Change the plan", request=PlanChangeSerializer,
                   responses=SubscriptionSerializer)
    def post(self, request: Request) -> Response:
        payload = PlanChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        subscription = services.subscription_change_plan(
            plan_code=payload.validated_data["plan"])
        return Response(SubscriptionSerializer(subscription).data)


# --- Invoices --------------------------------------------------------------------------------


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = ("position", "description", "meter", "quantity", "included_quantity",
                  "billable_quantity", "unit_price", "unit", "amount")


class InvoiceSerializer(serializers.ModelSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = ("id", "number", "period_start", "period_end", "plan_name", "currency",
                  "subtotal", "tax_rate", "tax", "total", "status", "created_at", "lines")


class InvoiceViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     GenericViewSet):
    """Invoices, one per closed period, newest first; amounts are decimal strings."""

    serializer_class = InvoiceSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Invoice]:
        return selectors.invoice_with_lines()

    @extend_schema(summary="The invoice as CSV (one row per line, then subtotal, tax, total)",
                   responses={(200, "text/csv"): inline_serializer("InvoiceCsv", {})})
    @action(detail=True, methods=["get"], url_path="csv")
    def csv(self, request: Request, pk: str) -> HttpResponse:
        return invoice_csv_response(self.get_object())

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The CSV answers whatever the client accepts; its errors stay JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "csv")

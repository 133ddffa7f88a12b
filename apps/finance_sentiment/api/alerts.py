"""``/api/v1/finance/rules`` and ``/alerts``: alert rules, and the alerts they raise with their
life cycle (acknowledge, resolve)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.filters import query_filters
from api.lookups import ID_PATTERN, MAX_ID
from api.viewsets import TenantScopedViewSetMixin
from apps.finance_sentiment import selectors, services
from apps.finance_sentiment.api.common import TickerField
from apps.finance_sentiment.models import Alert, AlertRule
from apps.finance_sentiment.spec import TOPICS


def _who(request: Request) -> tuple[int | None, str]:
    key = getattr(request._request, "api_key", None)
    if key is not None:
        return None, f"API key {key.name} ({key.prefix})"
    return getattr(request.user, "pk", None), getattr(request.user, "email", "") or str(
        request.user)


# --- Alert rules -----------------------------------------------------------------------------


class AlertRuleSerializer(serializers.ModelSerializer):
    """Read and write (one serializer, so that the schema has one enum of rule kinds)."""

    ticker = TickerField(required=False, allow_null=True, allow_blank=True, default=None,
                         help_text="Null: every ticker on the watchlist")
    topic = serializers.ChoiceField(choices=[("", "all topics"), *[(t, t) for t in TOPICS]],
                                    required=False, allow_blank=True, default="",
                                    help_text="Empty: documents of every topic")
    kind = serializers.ChoiceField(choices=AlertRule.Kind.choices)
    threshold = serializers.FloatField(required=False, allow_null=True, default=None,
                                       min_value=0.0, max_value=100.0,
                                       help_text="negative_share: fires when the window's share "
                                                 "of negative documents is above it (0..1); "
                                                 "buzz: when the window's stories are more "
                                                 "than this many times the baseline's mean "
                                                 "(above 1, at most 100)")
    k = serializers.FloatField(required=False, allow_null=True, default=None,
                               min_value=0.0, max_value=20.0,
                               help_text="zscore: fires when the window's negative share is more "
                                         "than k standard deviations above the baseline's")
    window_hours = serializers.IntegerField(min_value=1, max_value=168, required=False,
                                            default=24,
                                            help_text="Windows are aligned to multiples of it "
                                                      "since 1970-01-01 UTC")
    baseline_days = serializers.IntegerField(min_value=1, max_value=90, required=False,
                                             default=14)
    min_volume = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False,
                                          default=10,
                                          help_text="Fewer documents in the window: no alert")
    notify_email = serializers.ListField(child=serializers.EmailField(), required=False,
                                         default=list, max_length=20)
    notify_webhook = serializers.BooleanField(required=False, default=True,
                                              help_text="Send alert.triggered webhooks")
    is_active = serializers.BooleanField(required=False, default=True)

    class Meta:
        model = AlertRule
        fields: tuple[str, ...] = (
            "id", "name", "ticker", "topic", "kind", "threshold", "k", "window_hours",
            "baseline_days", "min_volume", "notify_email", "notify_webhook", "is_active",
            "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


class DryRunRequestSerializer(AlertRuleSerializer):
    name = serializers.CharField(max_length=200, required=False, default="Dry run")
    days = serializers.ChoiceField(choices=[(days, str(days)) for days in services.DRY_RUN_DAYS],
                                   required=False, default=30,
                                   help_text="How many days of history to replay")

    class Meta(AlertRuleSerializer.Meta):
        fields: tuple[str, ...] = (*AlertRuleSerializer.Meta.fields, "days")


class FiringSerializer(serializers.Serializer):
    ticker = serializers.CharField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    value = serializers.FloatField(help_text="negative_share: the share; zscore: the z-score; "
                                             "buzz: the ratio to the baseline's mean")
    volume = serializers.IntegerField(help_text="Stories in the window")
    message = serializers.CharField()
    details = serializers.DictField()


class DryRunSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    start = serializers.DateTimeField(help_text="The first window's start")
    end = serializers.DateTimeField(help_text="The last window's end")
    tickers = serializers.ListField(child=serializers.CharField())
    count = serializers.IntegerField(help_text="How many times the rule would have fired")
    firings = FiringSerializer(many=True, help_text="Oldest first")


@extend_schema_view(
    list=extend_schema(summary="Alert rules"),
    retrieve=extend_schema(summary="An alert rule"),
    destroy=extend_schema(summary="Delete a rule and its alerts (deactivate it to keep them)"),
)
class AlertRuleViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                       mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """Rules evaluated after each scoring job and every 5 minutes, per ticker, over windows of
    ``window_hours``: ``negative_share`` (share of negative documents above ``threshold``) or
    ``zscore`` (the negative share more than ``k`` standard deviations above the mean of the
    previous windows over ``baseline_days``; at least 3 windows with documents; standard
    deviation floored at 0.05) or ``buzz`` (the window's stories, near-duplicates counted
    once, more than ``threshold`` times their mean over the baseline's windows). Each needs
    ``min_volume`` documents in the window; a ``topic`` counts that topic's documents only. At
    most one alert per rule, ticker and window. ``dry-run`` replays unsaved fields over the
    last 30 or 90 days."""

    serializer_class = AlertRuleSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[AlertRule]:
        return selectors.rule_list()

    @extend_schema(summary="Create a rule", responses={201: AlertRuleSerializer})
    def create(self, request: Request) -> Response:
        payload = AlertRuleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rule = services.alert_rule_create(**payload.validated_data)
        return Response(AlertRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace a rule", responses=AlertRuleSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=False)

    @extend_schema(summary="Change a rule", responses=AlertRuleSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        rule = self.get_object()
        payload = AlertRuleSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        rule = services.alert_rule_update(rule=rule, changes=dict(payload.validated_data))
        return Response(AlertRuleSerializer(rule).data)

    def perform_destroy(self, instance: AlertRule) -> None:
        services.alert_rule_delete(rule=instance)

    @extend_schema(summary="Dry-run a rule over the last 30 or 90 days (nothing is saved)",
                   request=DryRunRequestSerializer, responses=DryRunSerializer)
    @action(detail=False, methods=["post"], url_path="dry-run")
    def dry_run(self, request: Request) -> Response:
        payload = DryRunRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        days = fields.pop("days")
        result = services.alert_rule_dry_run(fields=fields, days=days)
        return Response(DryRunSerializer(result).data)


# --- Alerts ----------------------------------------------------------------------------------


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)

    class Meta:
        model = Alert
        fields = ("id", "rule", "rule_name", "ticker", "window_start", "window_end", "value",
                  "volume", "details", "status", "message", "created_at", "acknowledged_by",
                  "acknowledged_by_name", "acknowledged_at", "resolved_by_name", "resolved_at")
        read_only_fields = fields


class AlertFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Alert.Status.choices, required=False)
    ticker = TickerField(required=False, allow_blank=True)
    rule = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


@extend_schema_view(
    list=extend_schema(summary="Alerts, newest first", parameters=[AlertFilterSerializer]),
    retrieve=extend_schema(summary="An alert"),
)
class AlertViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   GenericViewSet):
    """Alerts raised by the rules: open → acknowledged → resolved (or open → resolved)."""

    serializer_class = AlertSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Alert]:
        return Alert.objects.select_related("rule")

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "list":
            filters = query_filters(AlertFilterSerializer, self.request)
            queryset = selectors.alert_list(queryset=queryset, status=filters.get("status"),
                                            ticker=filters.get("ticker"),
                                            rule_id=filters.get("rule"))
        return queryset

    @extend_schema(summary="Acknowledge an alert (again: no change; resolved: 409)",
                   request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        user_id, name = _who(request)
        alert = services.alert_acknowledge(alert=self.get_object(), by_user_id=user_id,
                                           by_name=name)
        return Response(AlertSerializer(alert).data)

    @extend_schema(summary="Resolve an alert (again: no change)", request=None,
                   responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        _, name = _who(request)
        alert = services.alert_resolve(alert=self.get_object(), by_name=name)
        return Response(AlertSerializer(alert).data)

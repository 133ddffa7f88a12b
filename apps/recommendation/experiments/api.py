"""``/api/v1/recommendations/experiments``: A/B tests of the recommendation app.

- ``GET`` list, ``POST`` start one (``arm_a``/``arm_b``: a model version number such as
  ``"3"`` or ``"v3"``, or ``"popularity"``); at most one runs at a time (400 otherwise);
- ``GET {id}``: the experiment with each arm's lists, clicks and conversions, Wilson 95%
  intervals and the call ("B is better, 95% confidence" / "Not enough data yet");
- ``POST {id}/stop``; ``POST {id}/promote`` (admin scope): stop and activate the winning arm's
  model version (``arm``: which one; default the arm the call favours).

Another tenant's experiment is the same 404 as a missing one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.lookups import ID_PATTERN
from api.parsers import JSONParser
from api.viewsets import TenantScopedViewSetMixin
from apps.recommendation.experiments import selectors, services
from apps.recommendation.experiments.models import (
    MAX_TRAFFIC_B,
    MIN_TRAFFIC_B,
    Arm,
    Experiment,
    ExperimentMetric,
)

ARM_PATTERN = r"^(popularity|v?[1-9][0-9]{0,8})$"


def arm_parse(value: str) -> int | None:
    """``"popularity"`` → None; ``"3"`` or ``"v3"`` → 3."""
    value = value.strip().lower()
    return None if value == "popularity" else int(value.removeprefix("v"))


class ExperimentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=services.NAME_LENGTH)
    arm_a = serializers.RegexField(ARM_PATTERN, max_length=20,
                                   help_text="A model version number (\"3\" or \"v3\") or "
                                             "\"popularity\"")
    arm_b = serializers.RegexField(ARM_PATTERN, max_length=20,
                                   help_text="Like arm_a; must differ from it")
    traffic_b = serializers.IntegerField(default=50, min_value=MIN_TRAFFIC_B,
                                         max_value=MAX_TRAFFIC_B,
                                         help_text="Percent of end users in arm B")
    metric = serializers.ChoiceField(choices=ExperimentMetric.choices,
                                     default=ExperimentMetric.CTR,
                                     help_text="The rate the call and the default winner use")


class PromoteSerializer(serializers.Serializer):
    arm = serializers.ChoiceField(choices=Arm.choices, required=False,
                                  help_text="Default: the arm the call says is better")


class ProportionSerializer(serializers.Serializer):
    successes = serializers.IntegerField()
    trials = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(help_text="Wilson 95% interval")
    high = serializers.FloatField()


class ArmResultSerializer(serializers.Serializer):
    arm = serializers.ChoiceField(choices=Arm.choices)
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="\"v3\" or \"popularity\"")
    lists = serializers.IntegerField(help_text="Served lists (recommendation ids)")
    impressions = serializers.IntegerField(help_text="Items shown")
    ctr = ProportionSerializer(help_text="Clicked lists / lists")
    conversion = ProportionSerializer(help_text="Converted lists / lists")


class ComparisonSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=ExperimentMetric.choices)
    difference = serializers.FloatField(allow_null=True, help_text="B's rate minus A's")
    z = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    call = serializers.ChoiceField(choices=sorted(selectors.CALL_TEXT))
    call_text = serializers.CharField()


class ExperimentSerializer(serializers.ModelSerializer):
    arm_a = serializers.SerializerMethodField()
    arm_b = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        fields: tuple[str, ...] = ("id", "name", "arm_a", "arm_b", "traffic_b", "metric",
                                   "status", "started_at", "stopped_at", "winner")
        read_only_fields: tuple[str, ...] = fields

    def get_arm_a(self, experiment: Experiment) -> str:
        return selectors.arm_source(experiment, Arm.A)

    def get_arm_b(self, experiment: Experiment) -> str:
        return selectors.arm_source(experiment, Arm.B)


class ResultsSerializer(serializers.Serializer):
    arms = ArmResultSerializer(many=True)
    ctr = ComparisonSerializer()
    conversion = ComparisonSerializer()
    call = serializers.CharField(help_text="The call on the experiment's metric, in words")
    min_lists = serializers.IntegerField(help_text="Lists per arm before any call")


def results_data(results: selectors.Results) -> dict[str, Any]:
    def proportion(value: Any) -> dict[str, Any]:
        return {"successes": value.successes, "trials": value.trials, "rate": value.rate,
                "low": value.low, "high": value.high}

    def comparison(value: selectors.MetricResult) -> dict[str, Any]:
        found = value.comparison
        return {"metric": value.metric, "difference": found.difference, "z": found.z,
                "p_value": found.p_value, "call": found.call, "call_text": value.call_text}

    return {"arms": [{"arm": arm.arm, "source": arm.source, "lists": arm.lists,
                      "impressions": arm.impressions, "ctr": proportion(arm.ctr),
                      "conversion": proportion(arm.conversion)} for arm in results.arms],
            "ctr": comparison(results.ctr), "conversion": comparison(results.conversion),
            "call": results.primary.call_text, "min_lists": results.min_lists}


class ExperimentDetailSerializer(ExperimentSerializer):
    results = serializers.SerializerMethodField()

    class Meta(ExperimentSerializer.Meta):
        fields = (*ExperimentSerializer.Meta.fields, "results")
        read_only_fields = fields

    @extend_schema_field(ResultsSerializer)
    def get_results(self, experiment: Experiment) -> dict[str, Any]:
        return results_data(selectors.experiment_results(experiment=experiment))


def _detail(experiment: Experiment, code: int = status.HTTP_200_OK) -> Response:
    return Response(ExperimentDetailSerializer(experiment).data, status=code)


@extend_schema_view(
    list=extend_schema(summary="The A/B experiments, newest first"),
    retrieve=extend_schema(summary="An experiment with each arm's results and the call"),
)
class ExperimentViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                        mixins.RetrieveModelMixin, GenericViewSet):
    lookup_value_regex = ID_PATTERN
    parser_classes = (JSONParser,)
    required_scope: str | None = None  # set per action (promote needs "admin")

    def scoped_queryset(self) -> QuerySet[Experiment]:
        return selectors.experiment_list()

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return ExperimentDetailSerializer if self.action == "retrieve" else ExperimentSerializer

    @extend_schema(summary="Start an experiment between two arms (one at a time)",
                   request=ExperimentCreateSerializer,
                   responses={201: ExperimentDetailSerializer})
    def create(self, request: Request) -> Response:
        payload = ExperimentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        experiment = services.experiment_create(
            name=data["name"], arm_a=arm_parse(data["arm_a"]), arm_b=arm_parse(data["arm_b"]),
            traffic_b=data["traffic_b"], metric=data["metric"],
            created_by_id=_user_id(request))
        return _detail(experiment, status.HTTP_201_CREATED)

    @extend_schema(summary="Stop serving the arms (idempotent)", request=None,
                   responses=ExperimentDetailSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        return _detail(services.experiment_stop(experiment=self.get_object()))

    @extend_schema(summary="Stop and promote the winning arm's model version (admin scope)",
                   request=PromoteSerializer, responses=ExperimentDetailSerializer)
    @action(detail=True, methods=["post"], required_scope="admin")
    def promote(self, request: Request, pk: str) -> Response:
        experiment = self.get_object()
        payload = PromoteSerializer(data=request.data if isinstance(request.data, dict) else {})
        payload.is_valid(raise_exception=True)
        who = getattr(request.user, "email", None) or str(request.user)
        return _detail(services.experiment_promote(
            experiment=experiment, arm=payload.validated_data.get("arm"),
            actor_id=_user_id(request), actor=who, request=request))


def _user_id(request: Request) -> int | None:
    user_id = request.user.pk if getattr(request.user, "is_authenticated", False) else None
    return user_id if isinstance(user_id, int) else None

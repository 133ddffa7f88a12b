"""``/api/v1/finance/scores``, ``/score`` and ``/classify``: every stored scoring, scoring jobs
on request, and real-time classification (nothing stored)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.errors import ApiError
from api.filters import query_filters
from api.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_PARAMETER, idempotency_key
from api.lookups import ID_PATTERN, MAX_ID
from api.schema import INFERENCE_ERRORS
from api.viewsets import TenantScopedAPIView, TenantScopedViewSetMixin
from apps.finance_sentiment import selectors, services
from apps.finance_sentiment.api.common import TickerField
from apps.finance_sentiment.models import Label, SentimentScore
from apps.finance_sentiment.params import SELECTIONS, InstantField, validate_range
from jobs.api import JobSerializer
from jobs.online import OnlineFailed, OnlineUnavailable, online_classify

# --- Scores ----------------------------------------------------------------------------------


class ScoreSerializer(serializers.ModelSerializer):
    document_external_id = serializers.CharField(source="document.external_id", read_only=True)
    document_source = serializers.CharField(source="document.source", read_only=True)

    class Meta:
        model = SentimentScore
        fields = ("id", "document", "document_external_id", "document_source", "job",
                  "model_version", "label", "probabilities", "score", "created_at")
        read_only_fields = fields


class ScoreFilterSerializer(serializers.Serializer):
    document = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    job = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    ticker = TickerField(required=False, allow_blank=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["label"] = serializers.ChoiceField(choices=Label.choices, required=False)
        return fields


@extend_schema_view(
    list=extend_schema(summary="Sentiment scores, newest first",
                       parameters=[ScoreFilterSerializer]),
    retrieve=extend_schema(summary="A sentiment score"),
)
class ScoreViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   GenericViewSet):
    """Every scoring of every document: label, class probabilities and
    score = p(positive) − p(negative), with the job and model version that produced it."""

    serializer_class = ScoreSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[SentimentScore]:
        return SentimentScore.objects.select_related("document")

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "list":
            filters = query_filters(ScoreFilterSerializer, self.request)
            queryset = selectors.score_list(
                queryset=queryset, document_id=filters.get("document"),
                job_id=filters.get("job"), label=filters.get("label"),
                ticker=filters.get("ticker"))
        return queryset


# --- Scoring jobs ----------------------------------------------------------------------------


class ScoreRequestSerializer(serializers.Serializer):
    selection = serializers.ChoiceField(choices=SELECTIONS, default="unscored")
    dataset = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                       max_value=MAX_ID, help_text="selection 'dataset': a "
                                       "'texts' dataset of the finance_sentiment app")
    batch_size = serializers.IntegerField(required=False, min_value=1, max_value=1024)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = InstantField(required=False, help_text="selection 'range': ISO 8601")
        fields["to"] = InstantField(required=False, help_text="selection 'range': ISO 8601")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("selection") == "range":
            validate_range(attrs)
        return attrs


class ScoreJobView(TenantScopedAPIView):
    @extend_schema(
        summary="Score documents now: the unscored ones, a published range, or a dataset",
        description="`unscored` returns the tenant's queued scoring job if there is one (200) "
                    "or submits one (201); 409 `nothing_to_score` when every document is "
                    "scored. `range` rescoring uses the current model for documents published "
                    f"in [from, to). With an `{IDEMPOTENCY_HEADER}` header a repeated request "
                    "returns the first job.",
        request=ScoreRequestSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: JobSerializer, 200: JobSerializer},
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        payload = ScoreRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = payload.validated_data
        submission = services.scoring_submit(
            selection=fields["selection"], start=fields.get("from"), end=fields.get("to"),
            dataset_id=fields.get("dataset"), batch_size=fields.get("batch_size"),
            idempotency_key=key, created_by_id=getattr(request.user, "pk", None))
        code = status.HTTP_201_CREATED if submission.created else status.HTTP_200_OK
        return Response(JobSerializer(submission.job).data, status=code)


# --- Real-time classification ----------------------------------------------------------------

MAX_CLASSIFY_TEXTS = 32
MAX_CLASSIFY_CHARS = 5_000


class ClassifyRequestSerializer(serializers.Serializer):
    texts = serializers.ListField(
        child=serializers.CharField(max_length=MAX_CLASSIFY_CHARS, trim_whitespace=False),
        min_length=1, max_length=MAX_CLASSIFY_TEXTS,
        help_text=f"1 to {MAX_CLASSIFY_TEXTS} texts of at most {MAX_CLASSIFY_CHARS:,} "
                  "characters each")


class ClassificationSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=Label.choices)  # type: ignore[assignment]
    probabilities = serializers.DictField(child=serializers.FloatField())
    model_version = serializers.IntegerField(
        allow_null=True,
        help_text="The id of the tenant's model version that answered (as in "
                  "/api/v1/models/<id> and a job's model_version); null: the platform default")
    model_version_number = serializers.IntegerField(
        allow_null=True, help_text="That version's number within the app (v3); null: the "
                                   "platform default")


class ClassifyView(TenantScopedAPIView):
    """Scores texts now with the tenant's active model (or the platform default) through the
    ``online`` queue. Nothing is stored, so the ``read`` scope is enough."""

    required_scope = "read"

    @extend_schema(
        summary="Classify texts in real time",
        description="One result per text, in order; each text counts one `items_inferred` "
                    "(given back when the request fails). 402 `quota_exceeded` over the "
                    "plan's limit; 503 `inference_unavailable` when no worker answers in "
                    "time; 502 `inference_failed` when the worker cannot score (e.g. no model "
                    "is installed).",
        request=ClassifyRequestSerializer,
        responses={200: ClassificationSerializer(many=True), **INFERENCE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        payload = ClassifyRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            results = online_classify(app="finance_sentiment",
                                      texts=payload.validated_data["texts"])
        except OnlineUnavailable as error:
            raise ApiError(503, "inference_unavailable", str(error)) from error
        except OnlineFailed as error:
            raise ApiError(502, "inference_failed", str(error)) from error
        return Response(ClassificationSerializer(results, many=True).data)

"""``/api/v1/datasets``, ``/api/v1/jobs`` and ``/api/v1/models``: thin views over
``jobs.services`` (writes) and ``jobs.selectors`` (reads).

Errors keep the API's one format; a refused dataset adds the problems found, each naming its
row and column::

    {"error": {"code": "invalid_dataset", "message": "...", "fields": {},
               "problems": [{"row": 3, "column": "label", "message": "..."}], "more": 0}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.errors import ApiError
from api.filters import query_filters, query_params
from api.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_PARAMETER, idempotency_key
from api.lookups import ID_PATTERN, MAX_ID
from api.pagination import StrictCursorPagination
from api.parsers import load_json
from api.problems import ROWS_INVALID_RESPONSE
from api.requests import request_data
from api.viewsets import TenantScopedViewSetMixin
from jobs import selectors
from jobs.models import Dataset, Job, JobEvent, ModelVersion, Prediction
from jobs.registry import UnknownApp, all_apps, get_app
from jobs.services import (
    dataset_create,
    dataset_delete,
    job_cancel,
    job_retry,
    job_submit,
    model_version_activate,
)

# Room for the JSON envelope or the multipart boundaries and other fields around the data.
UPLOAD_ENVELOPE_BYTES = 64 * 1024


# --- Errors ----------------------------------------------------------------------------------


@contextmanager
def service_errors() -> Iterator[None]:
    """An application the registry does not know, named by a request: 400 on ``app``. (The
    services' own refusals are ``ServiceError``s, which ``api.errors`` maps.)"""
    try:
        yield
    except UnknownApp as error:
        raise ApiError(400, "validation_error", f"Unknown app {error}.",
                       {"app": [_app_choices_message()]}) from error


def _app_choices_message() -> str:
    return "choose one of " + ", ".join(spec.label for spec in all_apps())


def validate_app(value: str) -> None:
    try:
        get_app(value)
    except UnknownApp:
        raise serializers.ValidationError(f"unknown app; {_app_choices_message()}") from None


class FileDownloadMixin:
    # Downloads answer whatever the client accepts (no 406); errors on them are still JSON.

    download_actions: tuple[str, ...] = ()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        force = force or getattr(self, "action", None) in self.download_actions
        return super().perform_content_negotiation(request, force=force)  # type: ignore[misc]


def _file_response(file: Any, filename: str, content_type: str) -> FileResponse:
    try:
        handle = file.open("rb")
    except FileNotFoundError:
        raise ApiError(404, "file_missing", "The stored file is missing.") from None
    return FileResponse(handle, as_attachment=True, filename=filename,
                        content_type=content_type)


# --- Datasets --------------------------------------------------------------------------------


class DatasetRowsParser(parsers.BaseParser):
    """JSON for dataset uploads, read from the stream: ``rows`` may be far larger than
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``; the view bounds the size by ``DATASET_MAX_BYTES``."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        return load_json(stream)


class DatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ("id", "app", "purpose", "name", "format", "size_bytes", "sha256", "row_count",
                  "columns", "label_counts", "created_at")
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    app = serializers.CharField(max_length=40, validators=[validate_app])
    purpose = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class DatasetFileUploadSerializer(DatasetUploadSerializer):
    # Empty files too: the dataset report says so, like any other refusal.
    file = serializers.FileField(allow_empty_file=True,
                                 help_text="CSV or JSON lines, UTF-8 (with or without BOM)")


class DatasetRowsUploadSerializer(DatasetUploadSerializer):
    rows = serializers.ListField(child=serializers.DictField(), allow_empty=True,
                                 help_text="One object per row, keyed by column name")


class DatasetFilterSerializer(serializers.Serializer):
    app = serializers.CharField(required=False, validators=[validate_app])
    purpose = serializers.CharField(required=False, max_length=40)


@extend_schema_view(
    list=extend_schema(summary="List datasets", parameters=[
        OpenApiParameter("app", str), OpenApiParameter("purpose", str)]),
    retrieve=extend_schema(summary="A dataset"),
)
class DatasetViewSet(FileDownloadMixin, TenantScopedViewSetMixin, mixins.ListModelMixin,
                     mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """Uploaded files (CSV or JSON lines), validated against the owning app's schema."""

    serializer_class = DatasetSerializer
    parser_classes = (DatasetRowsParser, parsers.MultiPartParser)
    lookup_value_regex = ID_PATTERN
    download_actions = ("download",)

    def scoped_queryset(self) -> QuerySet[Dataset]:
        return selectors.dataset_list()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "list":
            queryset = queryset.filter(**query_filters(DatasetFilterSerializer, self.request))
        return queryset

    @extend_schema(
        summary="Upload a dataset (a CSV/JSONL file, or rows as JSON)",
        request={"multipart/form-data": DatasetFileUploadSerializer,
                 "application/json": DatasetRowsUploadSerializer},
        responses={201: DatasetSerializer,
                   400: ROWS_INVALID_RESPONSE},
    )
    def create(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATASET_MAX_BYTES + UPLOAD_ENVELOPE_BYTES:
            raise selectors.dataset_too_large(length)
        data = request_data(request)
        payload: serializers.Serializer
        if "file" in request.FILES or request.content_type.startswith("multipart/"):
            payload = DatasetFileUploadSerializer(data=data)
            payload.is_valid(raise_exception=True)
            upload = payload.validated_data["file"]
            if upload.size > settings.DATASET_MAX_BYTES:
                raise selectors.dataset_too_large(upload.size)
            filename, content = upload.name, upload.read()
        else:
            payload = DatasetRowsUploadSerializer(data=data)
            payload.is_valid(raise_exception=True)
            filename = "rows.jsonl"
            content = "".join(
                json.dumps(row, ensure_ascii=False) + "\n"
                for row in payload.validated_data["rows"]
            ).encode()
            if len(content) > settings.DATASET_MAX_BYTES:
                raise selectors.dataset_too_large(len(content))
        fields = payload.validated_data
        with service_errors():  # a refused file raises DatasetInvalid: api.errors answers it
            dataset = dataset_create(app=fields["app"], purpose=fields["purpose"],
                                     name=fields["name"], filename=filename, data=content,
                                     created_by_id=getattr(request.user, "pk", None))
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Delete a dataset that no job uses", responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dataset = self.get_object()
        with service_errors():
            dataset_delete(dataset=dataset)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Download the stored file",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> FileResponse:
        dataset = self.get_object()
        extension = "jsonl" if dataset.format == Dataset.Format.JSONL else "csv"
        stem = os.path.splitext(dataset.name)[0] or f"dataset-{dataset.pk}"
        content_type = "application/x-ndjson" if extension == "jsonl" else "text/csv"
        return _file_response(dataset.file, f"{stem}.{extension}", content_type)


# --- Jobs ------------------------------------------------------------------------------------


class JobProgressSerializer(serializers.Serializer):
    items_done = serializers.IntegerField(help_text="Whole units of the job kind's unit")
    items_total = serializers.IntegerField(allow_null=True)
    unit = serializers.CharField(help_text="What done and total count: rows, epochs, texts "
                                           "(a head-only fine-tune embeds them first), ...")
    phase = serializers.CharField(help_text="embedding, training, or empty")
    done = serializers.FloatField(help_text="Exact, while the job runs (fractional epochs)")
    total = serializers.FloatField(allow_null=True)
    fraction = serializers.FloatField(allow_null=True, help_text="done / total, 0..1")
    rate_per_second = serializers.FloatField(
        allow_null=True, help_text="Units per second, measured by the worker in this attempt")
    eta_seconds = serializers.FloatField(
        allow_null=True, help_text="Seconds left in the current phase at the measured rate "
                                   "(null until measured, and once finished)")

    def to_representation(self, instance: Job) -> dict[str, Any]:
        view = selectors.job_progress_view(job=instance)
        return {"items_done": instance.items_done, "items_total": instance.items_total,
                "unit": view.unit, "phase": view.phase, "done": view.done,
                "total": view.total, "fraction": view.fraction,
                "rate_per_second": None if view.rate is None else round(view.rate, 3),
                "eta_seconds": view.eta_seconds}


class JobTimingsSerializer(serializers.Serializer):
    created_at = serializers.DateTimeField()
    enqueued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.SerializerMethodField()

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_duration_seconds(self, job: Job) -> float | None:
        if job.started_at is None or job.finished_at is None:
            return None
        return round((job.finished_at - job.started_at).total_seconds(), 3)


class JobSerializer(serializers.ModelSerializer):
    progress = JobProgressSerializer(source="*", read_only=True)
    timings = JobTimingsSerializer(source="*", read_only=True)
    is_finished = serializers.BooleanField(read_only=True)

    class Meta:
        model = Job
        fields = ("id", "app", "kind", "status", "is_finished", "params", "dataset",
                  "model_version", "progress", "metrics", "dataset_check", "error", "attempts",
                  "max_attempts", "cancel_requested", "worker", "accelerator_seconds",
                  "idempotency_key", "timings")
        read_only_fields = fields


class JobCreateSerializer(serializers.Serializer):
    app = serializers.CharField(max_length=40, validators=[validate_app])
    kind = serializers.CharField(max_length=40)
    params = serializers.DictField(required=False, default=dict)
    dataset = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                       max_value=MAX_ID)
    model_version = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                             max_value=MAX_ID,
                                             help_text="Default: the app's active version")


def _component_name(*words: str) -> str:
    return "".join(part[:1].upper() + part[1:] for word in words for part in word.split("_"))


class JobCreateSchema(OpenApiSerializerExtension):
    """The job-create body as OpenAPI sees it: a union discriminated by ``app``, each member a
    union discriminated by ``kind`` whose ``params`` are that kind's own parameter schema
    (closed: an undeclared parameter is a 400). Built from the registry when the schema is
    generated, so a kind or a parameter an application registers is typed with no change
    here."""

    target_class = "jobs.api.JobCreateSerializer"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        base = auto_schema._map_basic_serializer(self.target, direction)
        suffix = "Request" if direction == "request" else ""
        apps: dict[str, dict[str, Any]] = {}
        for spec in all_apps():
            kinds: dict[str, dict[str, Any]] = {}
            for kind in spec.job_kinds.values():
                params = auto_schema.resolve_serializer(kind.params, direction)
                params.schema["additionalProperties"] = False
                variant = {
                    **base,
                    "properties": {
                        **base["properties"],
                        # In allOf, so that drf-spectacular leaves these one-value enums
                        # inline rather than naming a component for each.
                        "app": {"allOf": [{"type": "string", "enum": [spec.label]}]},
                        "kind": {"allOf": [{"type": "string", "enum": [kind.name]}],
                                 "description": kind.description},
                        "params": params.ref,
                    },
                }
                kinds[kind.name] = self._register(
                    auto_schema, _component_name(spec.label, kind.name, "JobCreate") + suffix,
                    variant)
            apps[spec.label] = self._register(
                auto_schema, _component_name(spec.label, "JobCreate") + suffix,
                _union("kind", kinds))
        return _union("app", apps)

    @staticmethod
    def _register(auto_schema: Any, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA,
                                      object=name, schema=schema)
        auto_schema.registry.register_on_missing(component)
        return dict(component.ref)


def _union(discriminator: str, members: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"oneOf": list(members.values()),
            "discriminator": {"propertyName": discriminator,
                              "mapping": {value: ref["$ref"] for value, ref in members.items()}}}


class JobFilterSerializer(serializers.Serializer):
    app = serializers.CharField(required=False, validators=[validate_app])
    kind = serializers.CharField(required=False, max_length=40)
    status = serializers.ChoiceField(required=False, choices=Job.Status.choices)


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobEvent
        fields = ("id", "kind", "message", "data", "created_at")
        read_only_fields = fields


class JobEventQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_ID)
    limit = serializers.IntegerField(required=False, default=selectors.EVENTS_PAGE_SIZE,
                                     min_value=1, max_value=1000)


class JobEventPageSerializer(serializers.Serializer):
    results = JobEventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as ?after= on the next poll")
    job_finished = serializers.BooleanField(help_text="No further events will follow")


class PredictionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Prediction
        fields = ("item", "label", "confidence", "probabilities")
        read_only_fields = fields


class PredictionPagination(StrictCursorPagination):
    ordering = ("item",)
    max_page_size = 1000
    page_size = 100


@extend_schema_view(
    list=extend_schema(summary="List jobs", parameters=[
        OpenApiParameter("app", str), OpenApiParameter("kind", str),
        OpenApiParameter("status", str, enum=Job.Status.values)]),
    retrieve=extend_schema(summary="A job with its progress, metrics and timings"),
)
class JobViewSet(FileDownloadMixin, TenantScopedViewSetMixin, mixins.ListModelMixin,
                 mixins.RetrieveModelMixin, GenericViewSet):
    """Fine-tuning and batch-inference jobs, run by GPU workers."""

    serializer_class = JobSerializer
    lookup_value_regex = ID_PATTERN
    download_actions = ("predictions_csv",)

    def scoped_queryset(self) -> QuerySet[Job]:
        return selectors.job_list()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "list":
            queryset = queryset.filter(**query_filters(JobFilterSerializer, self.request))
        return queryset

    @extend_schema(
        summary="Submit a job",
        description=f"With an `{IDEMPOTENCY_HEADER}` header, repeating the same request "
        "returns the first job (200); the same key with a different body is a 409.",
        request={"application/json": JobCreateSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: JobSerializer, 200: JobSerializer},
    )
    def create(self, request: Request) -> Response:
        key = idempotency_key(request)
        payload = JobCreateSerializer(data=request_data(request))
        payload.is_valid(raise_exception=True)
        fields = payload.validated_data
        with service_errors():
            submission = job_submit(
                app=fields["app"], kind=fields["kind"], params=fields["params"],
                dataset_id=fields.get("dataset"), model_version_id=fields.get("model_version"),
                idempotency_key=key, created_by_id=getattr(request.user, "pk", None),
            )
        code = status.HTTP_201_CREATED if submission.created else status.HTTP_200_OK
        return Response(JobSerializer(submission.job).data, status=code)

    @extend_schema(summary="The job's events, oldest first; poll with ?after=<last id>",
                   parameters=[JobEventQuerySerializer], responses=JobEventPageSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def events(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        query = query_params(JobEventQuerySerializer, request)
        after = query["after"]
        events = selectors.job_events_after(job=job, after=after, limit=query["limit"])
        return Response({
            "results": JobEventSerializer(events, many=True).data,
            "next_after": events[-1].pk if events else after,
            # Finished and this page is the last: a poller can stop.
            "job_finished": job.is_finished and len(events) < query["limit"],
        })

    @extend_schema(summary="Cancel a job (queued: at once; running: at the next batch)",
                   request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        with service_errors():
            job = job_cancel(job=self.get_object())
        return Response(JobSerializer(job).data)

    @extend_schema(summary="Retry a failed or cancelled job", request=None,
                   responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        with service_errors():
            job = job_retry(job=self.get_object())
        return Response(JobSerializer(job).data)

    @extend_schema(summary="A batch-inference job's predictions, by input row",
                   responses=PredictionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=PredictionPagination,
            serializer_class=PredictionSerializer)
    def predictions(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        page = self.paginate_queryset(selectors.prediction_list(job=job))
        return self.get_paginated_response(PredictionSerializer(page, many=True).data)

    @extend_schema(summary="The predictions as CSV",
                   responses={(200, "text/csv"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path="predictions.csv")
    def predictions_csv(self, request: Request, pk: str) -> StreamingHttpResponse:
        job = self.get_object()
        response = StreamingHttpResponse(selectors.prediction_csv_chunks(job=job),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-predictions.csv"'
        return response


# --- Model versions --------------------------------------------------------------------------


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ("id", "app", "version", "status", "base_model", "method", "label_map",
                  "metrics", "artifact_bytes", "artifact_sha256", "job", "promotion_note",
                  "created_at", "activated_at")
        read_only_fields = fields


class ModelVersionFilterSerializer(serializers.Serializer):
    app = serializers.CharField(required=False, validators=[validate_app])
    status = serializers.ChoiceField(required=False, choices=ModelVersion.Status.choices)


@extend_schema_view(
    list=extend_schema(summary="List model versions", parameters=[
        OpenApiParameter("app", str),
        OpenApiParameter("status", str, enum=ModelVersion.Status.values)]),
    retrieve=extend_schema(summary="A model version with its validation metrics "
                                   "(accuracy, macro-F1, per class, confusion matrix)"),
)
class ModelVersionViewSet(FileDownloadMixin, TenantScopedViewSetMixin, mixins.ListModelMixin,
                          mixins.RetrieveModelMixin, GenericViewSet):
    """The versions that fine-tunes produced; one per app is active."""

    serializer_class = ModelVersionSerializer
    lookup_value_regex = ID_PATTERN
    download_actions = ("download",)
    required_scope: str | None = None  # set per action (activate needs "admin")

    def scoped_queryset(self) -> QuerySet[ModelVersion]:
        return selectors.model_version_list()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "list":
            filters = query_filters(ModelVersionFilterSerializer, self.request)
            queryset = queryset.filter(**filters)
        return queryset

    @extend_schema(summary="Make this the app's active version (admin scope)", request=None,
                   responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"], required_scope="admin")
    def activate(self, request: Request, pk: str) -> Response:
        version = self.get_object()
        who = getattr(request.user, "email", None) or str(request.user)
        actor_id = request.user.pk if getattr(request.user, "is_authenticated", False) else None
        with service_errors():
            # Audited; also how an admin overrides the gate or rolls back to an older version.
            version = model_version_activate(version=version, actor=who,
                                             actor_id=actor_id if isinstance(actor_id, int)
                                             else None, request=request)
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(summary="Download the artefact (adapter, head and label map)",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> FileResponse:
        version = self.get_object()
        filename = os.path.basename(version.artifact.name) or f"model-{version.pk}"
        return _file_response(version.artifact, filename, "application/octet-stream")

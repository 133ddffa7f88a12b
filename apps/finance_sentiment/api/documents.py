"""``/api/v1/finance/documents``: documents with their tickers and current sentiment, bulk
creation (JSON) and CSV upload, deletion (the rollups follow).

Documents are refused as a whole when any row is invalid, in the API's one error format plus
the problems found, each naming its row (the index in ``documents``, from 0; for CSV uploads
the data row, from 1 after the header) and field, in the platform's one row-problem shape
(``api.problems``; the field is the problem's ``column``)::

    {"error": {"code": "invalid_documents", "message": "...",
               "fields": {"documents[3].published_at": ["..."]},
               "problems": [{"row": 3, "column": "published_at", "message": "..."}],
               "more": 0}}
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.errors import ApiError
from api.fields import BlankAsNullChoiceField, BlankAsNullURLField, ChoiceField
from api.filters import query_filters
from api.lookups import ID_PATTERN
from api.pagination import StrictCursorPagination
from api.parsers import JSONParser
from api.problems import ROWS_INVALID_RESPONSE, problem_fields, rows_invalid_response
from api.viewsets import TenantScopedViewSetMixin
from apps.finance_sentiment import selectors, services
from apps.finance_sentiment.api.common import InstantQueryField, TickerField
from apps.finance_sentiment.models import Document, Label, SentimentScore

# Room for the JSON envelope around the documents' text.
ENVELOPE_BYTES = 1024 * 1024


def _content_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _too_large(limit: int) -> ApiError:
    return ApiError(400, "request_too_large",
                    f"The request is larger than {limit // (1024 * 1024)} MB; send fewer "
                    "documents per request.")


class DocumentScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = SentimentScore
        fields = ("id", "job", "model_version", "label", "probabilities", "score", "created_at")
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    url = BlankAsNullURLField(read_only=True, allow_null=True,
                              help_text="The document's address; null when it has none")

    class Meta:
        model = Document
        fields = ("id", "source", "external_id", "url", "published_at", "title", "language",
                  "tickers", "truncated", "label", "score", "scored_at", "scored_version",
                  "created_at", "duplicate_of", "similar_count", "topic", "topic_probability")
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Added here: "label" is an attribute of every field, serializers included.
        fields["label"] = BlankAsNullChoiceField(
            choices=Label.choices, read_only=True, allow_null=True,
            help_text="The current sentiment; null until scored")
        return fields


class DocumentDetailSerializer(DocumentSerializer):
    scores = serializers.SerializerMethodField(help_text="Every scoring, newest first")

    class Meta(DocumentSerializer.Meta):
        fields = (*DocumentSerializer.Meta.fields, "body", "scores")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]

    @extend_schema_field(DocumentScoreSerializer(many=True))
    def get_scores(self, document: Document) -> Any:
        return DocumentScoreSerializer(selectors.document_scores(document=document),
                                       many=True).data


class DocumentInputSerializer(serializers.Serializer):
    """One document (for the schema; the service validates every row itself, all at once)."""

    external_id = serializers.CharField(
        max_length=300, required=False,
        help_text="Your id; with the source it makes the document idempotent. Default: the "
                  "URL, else a hash of title and body")
    url = serializers.URLField(max_length=1000, required=False)
    published_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 or RFC 2822; naive means UTC; default: now")
    title = serializers.CharField(required=False, help_text="A title or a body is required")
    body = serializers.CharField(required=False,
                                 help_text=f"Over {services.MAX_BODY_CHARS:,} characters it is "
                                           "truncated (and flagged), not refused")
    language = serializers.CharField(max_length=16, required=False)
    tickers = serializers.ListField(child=serializers.CharField(max_length=16), required=False,
                                    help_text="Explicit tickers; more are found in the text")


class DocumentsCreateSerializer(serializers.Serializer):
    documents = DocumentInputSerializer(many=True,
                                        help_text=f"At most {services.MAX_DOCUMENTS_PER_REQUEST}")


class IngestedDocumentSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "duplicate"])
    truncated = serializers.BooleanField()
    duplicate_of = serializers.IntegerField(
        allow_null=True, help_text="A near-duplicate of this story's first document: stored, "
                                   "but not counted in the index again")


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    copies = serializers.IntegerField(help_text="Created documents that are near-duplicates "
                                                "of a story already counted")
    truncated = serializers.BooleanField(help_text="Some bodies or titles were truncated")
    truncated_rows = serializers.ListField(child=serializers.IntegerField())
    documents = IngestedDocumentSerializer(many=True)


def _ingest_response(result: services.IngestResult) -> Response:
    body = {"created": result.created, "duplicates": result.duplicates, "copies": result.copies,
            "truncated": bool(result.truncated_rows), "truncated_rows": result.truncated_rows,
            "documents": [document.__dict__ for document in result.documents]}
    code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return Response(IngestResultSerializer(body).data, status=code)


class DocumentFilterSerializer(serializers.Serializer):
    ticker = TickerField(required=False, allow_blank=True)
    scored = serializers.BooleanField(required=False, allow_null=True, default=None)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Added here: "label" and "source" are attributes of every serializer field.
        fields["label"] = ChoiceField(choices=Label.choices, required=False)
        fields["source"] = serializers.CharField(max_length=64, required=False)
        fields["from"] = InstantQueryField(required=False)
        fields["to"] = InstantQueryField(required=False)
        return fields


class DocumentPagination(StrictCursorPagination):
    ordering = ("-published_at", "-id")


_DOCUMENT_FILTERS = [
    OpenApiParameter("ticker", str), OpenApiParameter("label", str, enum=Label.values),
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="published at or after"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="published before"),
    OpenApiParameter("source", str, description='"api", "csv", "feed:<id>", "dataset:<id>"'),
    OpenApiParameter("scored", bool),
]


@extend_schema_view(
    list=extend_schema(summary="Documents, newest published first (without bodies)",
                       parameters=_DOCUMENT_FILTERS),
    retrieve=extend_schema(summary="A document with its body and every scoring"),
    destroy=extend_schema(summary="Delete a document and its scores (the rollups follow)"),
)
class DocumentViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                      mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """News and posts with their tickers and current sentiment."""

    serializer_class = DocumentSerializer
    lookup_value_regex = ID_PATTERN
    pagination_class = DocumentPagination
    parser_classes = (JSONParser, parsers.MultiPartParser)

    def scoped_queryset(self) -> QuerySet[Document]:
        return Document.objects.all()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "list":
            filters = query_filters(DocumentFilterSerializer, self.request)
            queryset = selectors.document_list(
                queryset=queryset, ticker=filters.get("ticker"), label=filters.get("label"),
                start=filters.get("from"), end=filters.get("to"), source=filters.get("source"),
                scored=filters.get("scored"))
        return queryset

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return DocumentDetailSerializer if self.action == "retrieve" else DocumentSerializer

    @extend_schema(
        summary="Add documents in bulk (all or nothing; idempotent on external_id)",
        description=(
            f"Up to {services.MAX_DOCUMENTS_PER_REQUEST} documents per request. Every row is "
            "validated first; if any is invalid nothing is stored and the error lists each "
            "problem with its row (index in `documents`) and field. A document needs a title "
            "or a body. Bodies longer than "
            f"{services.MAX_BODY_CHARS:,} characters (titles longer than "
            f"{services.MAX_TITLE_CHARS:,}) are truncated, not refused: the response says "
            "`truncated: true` and lists the rows. A document whose `external_id` was already "
            "sent (per source) is reported as a duplicate and left unchanged. New documents "
            "are scored by a background job within moments. 201 when something was created, "
            "200 when everything was a duplicate."),
        request=DocumentsCreateSerializer,
        responses={201: IngestResultSerializer, 200: IngestResultSerializer,
                   400: ROWS_INVALID_RESPONSE},
    )
    def create(self, request: Request) -> Response:
        limit = settings.DATASET_MAX_BYTES + ENVELOPE_BYTES
        if _content_length(request) > limit:
            raise _too_large(limit)
        data = request.data
        rows = data.get("documents") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ApiError(400, "validation_error", "Send {\"documents\": [...]}.",
                           {"documents": ["a list of documents is required"]})
        try:
            result = services.documents_ingest(rows=rows, source="api")
        except services.DocumentsInvalid as error:
            return rows_invalid_response(error, problem_fields(error.problems,
                                                               prefix="documents"))
        return _ingest_response(result)

    @extend_schema(
        summary="Upload documents as CSV (all or nothing; idempotent on external_id)",
        description=(
            "A UTF-8 CSV file with a header naming some of the columns "
            f"{', '.join(services.CSV_COLUMNS)} (a title or a body column is required; "
            "tickers separated by spaces, commas or semicolons). Up to "
            f"{services.MAX_CSV_DOCUMENTS:,} rows; the same validation and truncation as the "
            "bulk create. Problems name the data row (from 1, after the header) and column."),
        request={"multipart/form-data": inline_serializer("DocumentsUpload", {
            "file": serializers.FileField(help_text="CSV, UTF-8")})},
        responses={201: IngestResultSerializer, 200: IngestResultSerializer,
                   400: ROWS_INVALID_RESPONSE},
    )
    @action(detail=False, methods=["post"], url_path="upload",
            parser_classes=[parsers.MultiPartParser])
    def upload(self, request: Request) -> Response:
        limit = settings.DATASET_MAX_BYTES
        if _content_length(request) > limit + ENVELOPE_BYTES:
            raise _too_large(limit)
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError(400, "validation_error", "Attach the CSV as the 'file' field.",
                           {"file": ["is required"]})
        if upload.size is not None and upload.size > limit:
            raise _too_large(limit)
        try:
            result = services.documents_ingest_csv(data=upload.read())
        except services.DocumentsInvalid as error:
            return rows_invalid_response(error, problem_fields(error.problems, prefix="rows"))
        return _ingest_response(result)

    def perform_destroy(self, instance: Document) -> None:
        services.document_delete(document=instance)

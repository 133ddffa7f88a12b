"""``/api/v1/finance/...``: the finance sentiment monitor's REST API. Thin views over
``services`` (writes) and ``selectors`` (reads); every resource is tenant-scoped, and another
tenant's object answers the same 404 as a missing one.

Documents are refused as a whole when any row is invalid, in the API's one error format plus
the problems found, each naming its row (the index in ``documents``, from 0; for CSV uploads
the data row, from 1 after the header) and field::

    {"error": {"code": "invalid_documents", "message": "...",
               "fields": {"documents[3].published_at": ["..."]},
               "problems": [{"row": 3, "field": "published_at", "message": "..."}],
               "more": 0}}
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from api.errors import ApiError, error_body
from api.viewsets import TenantScopedViewSetMixin
from apps.finance_sentiment import selectors, services
from apps.finance_sentiment.models import (
    Alert,
    AlertRule,
    Document,
    Feed,
    Granularity,
    Label,
    SentimentScore,
    WatchlistEntry,
)
from apps.finance_sentiment.params import SELECTIONS, InstantField, parse_instant, validate_range
from apps.finance_sentiment.tickers import normalise_ticker
from jobs.api import IDEMPOTENCY_HEADER, JobSerializer, idempotency_key
from jobs.online import OnlineFailed, OnlineUnavailable, online_classify

ID_PATTERN = r"[0-9]+"
MAX_ID = 2**63 - 1
# Room for the JSON envelope around the documents' text.
ENVELOPE_BYTES = 1024 * 1024


def invalid_documents_response(error: services.DocumentsInvalid, *,
                               prefix: str | None = "documents") -> Response:
    body = error_body(error.code, str(error))
    if prefix is not None:
        fields: dict[str, list[str]] = {}
        for problem in error.problems:
            if problem.row is None:
                continue
            key = f"{prefix}[{problem.row}]" + (f".{problem.field}" if problem.field else "")
            fields.setdefault(key, []).append(problem.message)
        body["error"]["fields"] = fields
    body["error"]["problems"] = [problem.as_dict() for problem in error.problems]
    body["error"]["more"] = error.more
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _who(request: Request) -> tuple[int | None, str]:
    key = getattr(request._request, "api_key", None)
    if key is not None:
        return None, f"API key {key.name} ({key.prefix})"
    return getattr(request.user, "pk", None), getattr(request.user, "email", "") or str(
        request.user)


def _filters(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return {key: value for key, value in query.validated_data.items() if value not in ("", None)}


def _content_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _too_large(limit: int) -> ApiError:
    return ApiError(400, "request_too_large",
                    f"The request is larger than {limit // (1024 * 1024)} MB; send fewer "
                    "documents per request.")


class TickerField(serializers.CharField):
    """A ticker symbol, upper-cased (``aapl`` → ``AAPL``; a leading ``$`` is dropped)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if text == "" and self.allow_blank:
            return text
        ticker = normalise_ticker(text)
        if ticker is None:
            raise serializers.ValidationError(f"'{text}' is not a ticker symbol")
        return ticker


class InstantQueryField(serializers.DateTimeField):
    """An ISO 8601 date or date-time in a query string; naive values are UTC."""

    def to_internal_value(self, value: Any) -> Any:
        try:
            return parse_instant(str(value))
        except ValueError:
            raise serializers.ValidationError(
                f"'{value}' is not a date and time (ISO 8601, e.g. 2024-05-01T14:30:00Z)"
            ) from None


# --- Watchlist -------------------------------------------------------------------------------


class WatchlistEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = WatchlistEntry
        fields = ("id", "ticker", "company_name", "aliases", "created_at")
        read_only_fields = fields


class WatchlistEntryWriteSerializer(serializers.Serializer):
    ticker = serializers.CharField(max_length=40, help_text="Upper-cased; '$' dropped")
    company_name = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                         default="")
    aliases = serializers.ListField(child=serializers.CharField(max_length=200, allow_blank=True),
                                    required=False,
                                    default=list, max_length=50,
                                    help_text="Other names matched in text (any case)")


class OverviewSerializer(serializers.Serializer):
    ticker = serializers.CharField(source="entry.ticker")
    company_name = serializers.CharField(source="entry.company_name")
    index = serializers.FloatField(allow_null=True, help_text="Last 24 hours")
    volume = serializers.IntegerField(help_text="Documents in the last 24 hours")
    sparkline = serializers.ListField(child=serializers.FloatField(allow_null=True),
                                      help_text="Daily index, last 7 days, oldest first")
    open_alerts = serializers.IntegerField()


@extend_schema_view(
    list=extend_schema(summary="The watchlist"),
    retrieve=extend_schema(summary="A watchlist entry"),
    destroy=extend_schema(summary="Remove a ticker (its documents and rollups stay)"),
)
class WatchlistViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                       mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """Tickers to follow. Documents are tagged with a ticker when they mention its cashtag,
    its symbol as a word (case-sensitive up to four letters), its company name or an alias."""

    serializer_class = WatchlistEntrySerializer
    lookup_value_regex = ID_PATTERN
    pagination_class = None  # a watchlist is short

    def scoped_queryset(self) -> QuerySet[WatchlistEntry]:
        return selectors.watchlist_list()

    @extend_schema(summary="Add a ticker", request=WatchlistEntryWriteSerializer,
                   responses={201: WatchlistEntrySerializer})
    def create(self, request: Request) -> Response:
        payload = WatchlistEntryWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        entry = services.watchlist_entry_create(**payload.validated_data)
        return Response(WatchlistEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace a watchlist entry", request=WatchlistEntryWriteSerializer,
                   responses=WatchlistEntrySerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=False)

    @extend_schema(summary="Change a watchlist entry", request=WatchlistEntryWriteSerializer,
                   responses=WatchlistEntrySerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        entry = self.get_object()
        payload = WatchlistEntryWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        entry = services.watchlist_entry_update(entry=entry,
                                                changes=dict(payload.validated_data))
        return Response(WatchlistEntrySerializer(entry).data)

    def perform_destroy(self, instance: WatchlistEntry) -> None:
        services.watchlist_entry_delete(entry=instance)

    @extend_schema(summary="Each ticker's index and volume (24 h), 7-day sparkline and open "
                           "alerts", responses=OverviewSerializer(many=True))
    @action(detail=False, methods=["get"])
    def overview(self, request: Request) -> Response:
        return Response(OverviewSerializer(selectors.watchlist_overview(), many=True).data)


# --- Feeds -----------------------------------------------------------------------------------


class FeedSerializer(serializers.ModelSerializer):
    class Meta:
        model = Feed
        fields = ("id", "url", "name", "is_active", "poll_minutes", "last_polled_at",
                  "last_success_at", "next_poll_at", "last_error", "consecutive_failures",
                  "documents_created", "created_at")
        read_only_fields = fields


class FeedWriteSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=1000, help_text="RSS or Atom; public addresses only")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    poll_minutes = serializers.IntegerField(min_value=5, max_value=1440, required=False,
                                            default=15)
    is_active = serializers.BooleanField(required=False, default=True)


@extend_schema_view(
    list=extend_schema(summary="RSS/Atom feeds"),
    retrieve=extend_schema(summary="A feed with its polling state and last error"),
    destroy=extend_schema(summary="Stop polling a feed (its documents stay)"),
)
class FeedViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  mixins.DestroyModelMixin, GenericViewSet):
    """Feeds polled on a schedule (conditional GET); new entries become documents of source
    ``feed:<id>``. A feed that fails records ``last_error`` and is retried with back-off."""

    serializer_class = FeedSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Feed]:
        return selectors.feed_list()

    @extend_schema(summary="Register a feed (polled within a minute)",
                   request=FeedWriteSerializer, responses={201: FeedSerializer})
    def create(self, request: Request) -> Response:
        payload = FeedWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        feed = services.feed_create(**payload.validated_data)
        return Response(FeedSerializer(feed).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace a feed's settings", request=FeedWriteSerializer,
                   responses=FeedSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=False)

    @extend_schema(summary="Change a feed's settings", request=FeedWriteSerializer,
                   responses=FeedSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        feed = self.get_object()
        payload = FeedWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        feed = services.feed_update(feed=feed, changes=dict(payload.validated_data))
        return Response(FeedSerializer(feed).data)

    def perform_destroy(self, instance: Feed) -> None:
        services.feed_delete(feed=instance)

    @extend_schema(summary="Poll the feed now (queued; see last_polled_at and last_error)",
                   request=None, responses={202: FeedSerializer})
    @action(detail=True, methods=["post"])
    def poll(self, request: Request, pk: str) -> Response:
        feed = self.get_object()
        services.feed_poll_now(feed=feed)
        return Response(FeedSerializer(feed).data, status=status.HTTP_202_ACCEPTED)


# --- Documents -------------------------------------------------------------------------------


class ScoreSerializer(serializers.ModelSerializer):
    document_external_id = serializers.CharField(source="document.external_id", read_only=True)
    document_source = serializers.CharField(source="document.source", read_only=True)

    class Meta:
        model = SentimentScore
        fields = ("id", "document", "document_external_id", "document_source", "job",
                  "model_version", "label", "probabilities", "score", "created_at")
        read_only_fields = fields


class DocumentScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = SentimentScore
        fields = ("id", "job", "model_version", "label", "probabilities", "score", "created_at")
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ("id", "source", "external_id", "url", "published_at", "title", "language",
                  "tickers", "truncated", "label", "score", "scored_at", "scored_version",
                  "created_at")
        read_only_fields = fields


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


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    truncated = serializers.BooleanField(help_text="Some bodies or titles were truncated")
    truncated_rows = serializers.ListField(child=serializers.IntegerField())
    documents = IngestedDocumentSerializer(many=True)


def _ingest_response(result: services.IngestResult) -> Response:
    body = {"created": result.created, "duplicates": result.duplicates,
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
        fields["label"] = serializers.ChoiceField(choices=Label.choices, required=False)
        fields["source"] = serializers.CharField(max_length=64, required=False)
        fields["from"] = InstantQueryField(required=False)
        fields["to"] = InstantQueryField(required=False)
        return fields


class DocumentPagination(CursorPagination):
    ordering = ("-published_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500


_invalid_documents = inline_serializer("InvalidDocumentsError", {
    "error": inline_serializer("InvalidDocumentsErrorBody", {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "fields": serializers.DictField(),
        "problems": inline_serializer("DocumentProblem", {
            "row": serializers.IntegerField(allow_null=True),
            "field": serializers.CharField(allow_null=True),
            "message": serializers.CharField(),
        }, many=True),
        "more": serializers.IntegerField(),
    }),
})

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
    parser_classes = (parsers.JSONParser, parsers.MultiPartParser)

    def scoped_queryset(self) -> QuerySet[Document]:
        return Document.objects.all()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "list":
            filters = _filters(DocumentFilterSerializer, self.request)
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
                   400: OpenApiResponse(_invalid_documents, description="Nothing stored")},
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
            return invalid_documents_response(error)
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
                   400: OpenApiResponse(_invalid_documents, description="Nothing stored")},
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
            return invalid_documents_response(error, prefix="rows")
        return _ingest_response(result)

    def perform_destroy(self, instance: Document) -> None:
        services.document_delete(document=instance)


# --- Scores ----------------------------------------------------------------------------------


class ScoreFilterSerializer(serializers.Serializer):
    document = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    job = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    ticker = TickerField(required=False, allow_blank=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["label"] = serializers.ChoiceField(choices=Label.choices, required=False)
        return fields


@extend_schema_view(
    list=extend_schema(summary="Sentiment scores, newest first", parameters=[
        OpenApiParameter("document", int), OpenApiParameter("job", int),
        OpenApiParameter("label", str, enum=Label.values), OpenApiParameter("ticker", str)]),
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
            filters = _filters(ScoreFilterSerializer, self.request)
            queryset = selectors.score_list(
                queryset=queryset, document_id=filters.get("document"),
                job_id=filters.get("job"), label=filters.get("label"),
                ticker=filters.get("ticker"))
        return queryset


# --- Trends ----------------------------------------------------------------------------------


class TrendQuerySerializer(serializers.Serializer):
    ticker = TickerField()
    granularity = serializers.ChoiceField(choices=Granularity.choices, default=Granularity.DAY)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = InstantQueryField(required=False)
        fields["to"] = InstantQueryField(required=False)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["must be after 'from'"]})
        return attrs


class TrendPointSerializer(serializers.Serializer):
    bucket_start = serializers.DateTimeField()
    positive = serializers.IntegerField()
    neutral = serializers.IntegerField()
    negative = serializers.IntegerField()
    total = serializers.IntegerField()
    index = serializers.FloatField(allow_null=True,
                                   help_text="(positive − negative) / total; null when empty")
    mean_score = serializers.FloatField(allow_null=True)


class TrendSerializer(serializers.Serializer):
    ticker = serializers.CharField()
    granularity = serializers.CharField()
    start = serializers.DateTimeField(source="from")
    end = serializers.DateTimeField(source="to")
    points = TrendPointSerializer(many=True)


class TrendView(APIView):
    @extend_schema(
        summary="A ticker's sentiment index over time",
        description="Per UTC hour or day: counts per label, the index (positive − negative) "
                    "/ total and the mean score, from the rollups. Every bucket whose start is "
                    "in [from, to) is listed, empty ones included. Defaults: the last 7 days by "
                    f"hour, the last 30 days by day; at most {selectors.MAX_TREND_POINTS:,} "
                    "buckets.",
        parameters=[
            OpenApiParameter("ticker", str, required=True),
            OpenApiParameter("granularity", str, enum=Granularity.values),
            OpenApiParameter("from", OpenApiTypes.DATETIME),
            OpenApiParameter("to", OpenApiTypes.DATETIME),
        ],
        responses=TrendSerializer,
    )
    def get(self, request: Request) -> Response:
        query = TrendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fields = query.validated_data
        granularity = fields["granularity"]
        default_start, default_end = selectors.default_trend_range(granularity)
        end = fields.get("to") or default_end
        start = fields.get("from") or min(default_start, end - (default_end - default_start))
        try:
            points = selectors.sentiment_trend(ticker=fields["ticker"], granularity=granularity,
                                               start=start, end=end)
        except selectors.TrendRangeTooLarge as error:
            raise ApiError(400, "validation_error", str(error), {"from": [str(error)]}) from error
        return Response(TrendSerializer({
            "ticker": fields["ticker"], "granularity": granularity, "from": start, "to": end,
            "points": [point.as_dict() for point in points],
        }).data)


# --- Alert rules and alerts ------------------------------------------------------------------


class AlertRuleSerializer(serializers.ModelSerializer):
    """Read and write (one serializer, so that the schema has one enum of rule kinds)."""

    ticker = TickerField(required=False, allow_null=True, allow_blank=True, default=None,
                         help_text="Null: every ticker on the watchlist")
    kind = serializers.ChoiceField(choices=AlertRule.Kind.choices)
    threshold = serializers.FloatField(required=False, allow_null=True, default=None,
                                       help_text="negative_share: fires when the window's share "
                                                 "of negative documents is above it (0..1)")
    k = serializers.FloatField(required=False, allow_null=True, default=None,
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
        fields = ("id", "name", "ticker", "kind", "threshold", "k", "window_hours",
                  "baseline_days", "min_volume", "notify_email", "notify_webhook", "is_active",
                  "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")


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
    deviation floored at 0.05). Both need ``min_volume`` documents in the window. At most one
    alert per rule, ticker and window."""

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
    list=extend_schema(summary="Alerts, newest first", parameters=[
        OpenApiParameter("status", str, enum=Alert.Status.values),
        OpenApiParameter("ticker", str), OpenApiParameter("rule", int)]),
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
            filters = _filters(AlertFilterSerializer, self.request)
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


class ScoreJobView(APIView):
    @extend_schema(
        summary="Score documents now: the unscored ones, a published range, or a dataset",
        description="`unscored` returns the tenant's queued scoring job if there is one (200) "
                    "or submits one (201); 409 `nothing_to_score` when every document is "
                    "scored. `range` rescoring uses the current model for documents published "
                    f"in [from, to). With an `{IDEMPOTENCY_HEADER}` header a repeated request "
                    "returns the first job.",
        request=ScoreRequestSerializer,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER)],
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
    model_version = serializers.JSONField(
        help_text='The version number of the tenant\'s model, or "default" for the platform '
                  "default model")


class ClassifyView(APIView):
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
        responses={200: ClassificationSerializer(many=True),
                   503: OpenApiResponse(description="No inference worker answered")},
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

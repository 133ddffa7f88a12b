"""``/api/v1/bot/...``: the customer-service bot's REST API. Thin views over ``services``
(writes) and ``selectors`` (reads); every resource is tenant-scoped, and another tenant's
object answers the same 404 as a missing one.

Chat: ``POST /conversations`` starts a conversation, ``POST /conversations/{id}/messages``
sends the customer's message and answers with the bot's reply (through the ``online`` queue;
503 ``inference_unavailable`` when no worker answers in time, the message being kept). The
public web widget has its own endpoints in ``widget.py``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.errors import ApiError, error_body
from api.fields import BlankAsNullChoiceField
from api.lookups import ID_PATTERN, MAX_ID
from api.problems import ROWS_INVALID_RESPONSE
from api.schema import INFERENCE_ERRORS
from api.viewsets import TenantScopedAPIView, TenantScopedViewSetMixin
from apps.support_bot import selectors, services
from apps.support_bot.models import (
    MESSAGE_MAX_CHARS,
    UTTERANCE_MAX_CHARS,
    Article,
    BotSettings,
    Conversation,
    Feedback,
    Intent,
    Message,
    Utterance,
)
from jobs.online import OnlineFailed, OnlineUnavailable

IMPORT_MAX_BYTES = services.IMPORT_MAX_BYTES


def _csv_upload(request: Request) -> bytes:
    upload = request.FILES.get("file")
    if upload is None:
        raise ApiError(400, "validation_error", "Attach the CSV as the 'file' field.",
                       {"file": ["is required"]})
    if upload.size is not None and upload.size > IMPORT_MAX_BYTES:
        raise ApiError(400, "request_too_large",
                       f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB.",
                       {"file": ["too large"]})
    return bytes(upload.read())


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Rows already present (or updated)")
    intents_created = serializers.IntegerField()


def _import(request: Request, service: Any) -> Response:
    result = service(data=_csv_upload(request))  # DatasetInvalid: api.errors answers it
    return Response(ImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


_CSV_REQUEST = {"multipart/form-data": inline_serializer("BotCsvUpload", {
    "file": serializers.FileField(help_text="CSV, UTF-8")})}


class _Editable:
    """create / update / partial_update through a write serializer and two services."""

    write_serializer: type[serializers.Serializer]
    read_serializer: type[serializers.Serializer]
    get_object: Any  # GenericViewSet's, later in the MRO

    def _create(self, **data: Any) -> Any:
        raise NotImplementedError

    def _update(self, obj: Any, changes: dict[str, Any]) -> Any:
        raise NotImplementedError

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = self.write_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        obj = self._create(**payload.validated_data)
        return Response(self.read_serializer(obj).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=False)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        obj = self.get_object()
        payload = self.write_serializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        obj = self._update(obj, dict(payload.validated_data))
        return Response(self.read_serializer(obj).data)


class _CrudViewSet(TenantScopedViewSetMixin, _Editable, mixins.ListModelMixin,
                   mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    lookup_value_regex = ID_PATTERN


# --- Intents and utterances -------------------------------------------------------------------


class IntentSerializer(serializers.ModelSerializer):
    utterance_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Intent
        fields = ("id", "name", "description", "answer_template", "handoff", "article",
                  "utterance_count", "created_at", "updated_at")
        read_only_fields = fields


class IntentWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="",
                                        max_length=2000)
    answer_template = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MESSAGE_MAX_CHARS,
        help_text="{name}-style variables are filled from the conversation's context")
    handoff = serializers.BooleanField(required=False, default=False)
    article = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_ID,
        help_text="The article answered with when the intent has no template")


@extend_schema(tags=["bot"])
class IntentViewSet(_CrudViewSet):
    """Intents: what the intent model predicts, and how the bot answers each."""

    serializer_class = IntentSerializer
    read_serializer = IntentSerializer
    write_serializer = IntentWriteSerializer

    def scoped_queryset(self) -> QuerySet[Intent]:
        return selectors.intent_list()

    def _create(self, **data: Any) -> Intent:
        return services.intent_create(**data)

    def _update(self, obj: Intent, changes: dict[str, Any]) -> Intent:
        return services.intent_update(intent=obj, changes=changes)

    def perform_destroy(self, instance: Intent) -> None:
        services.intent_delete(intent=instance)


class UtteranceSerializer(serializers.ModelSerializer):
    intent_name = serializers.CharField(source="intent.name", read_only=True)

    class Meta:
        model = Utterance
        fields = ("id", "intent", "intent_name", "text", "source", "created_at")
        read_only_fields = fields


class UtteranceWriteSerializer(serializers.Serializer):
    intent = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    text = serializers.CharField(max_length=UTTERANCE_MAX_CHARS)


@extend_schema(tags=["bot"])
class UtteranceViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                       mixins.RetrieveModelMixin, mixins.DestroyModelMixin, GenericViewSet):
    """Training utterances of the intents (``?intent=<id>`` filters)."""

    serializer_class = UtteranceSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Utterance]:
        intent = self.request.query_params.get("intent", "")
        if intent and not intent.isdigit():
            raise ApiError(400, "validation_error", "intent must be an id.",
                           {"intent": ["not an id"]})
        return selectors.utterance_list(intent_id=int(intent) if intent else None)

    @extend_schema(request=UtteranceWriteSerializer, responses={201: UtteranceSerializer})
    def create(self, request: Request) -> Response:
        payload = UtteranceWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        intent = Intent.objects.filter(pk=payload.validated_data["intent"]).first()
        if intent is None:
            raise ApiError(400, "validation_error", "Unknown intent.", {"intent": ["not found"]})
        utterance = services.utterance_create(intent=intent,
                                              text=payload.validated_data["text"])
        return Response(UtteranceSerializer(utterance).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Utterance) -> None:
        services.utterance_delete(utterance=instance)

    @extend_schema(summary="Import utterances from a text,intent CSV (all or nothing)",
                   request=_CSV_REQUEST, responses={201: ImportResultSerializer,
                                                    400: ROWS_INVALID_RESPONSE})
    @action(detail=False, methods=["post"], url_path="import",
            parser_classes=[parsers.MultiPartParser])
    def import_csv(self, request: Request) -> Response:
        return _import(request, services.utterances_import_csv)


# --- Knowledge base ---------------------------------------------------------------------------


class ArticleSerializer(serializers.ModelSerializer):
    embedded = serializers.BooleanField(source="is_embedded", read_only=True,
                                        help_text="The embedding matches the current text")
    url = serializers.CharField(read_only=True, help_text="The article's link; empty: none")

    class Meta:
        model = Article
        fields = ("id", "question", "answer", "url", "tags", "embedded", "embedded_at",
                  "created_at", "updated_at")
        read_only_fields = fields


class ArticleWriteSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    answer = serializers.CharField(max_length=20_000)
    url = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                help_text="Where customers read the article (http or https); "
                                          "cited with it")
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False,
                                 default=list, max_length=20)


@extend_schema(tags=["bot"])
class ArticleViewSet(_CrudViewSet):
    """Knowledge-base articles. Each change schedules an ``embed_articles`` job; retrieval
    uses an article once it is embedded."""

    serializer_class = ArticleSerializer
    read_serializer = ArticleSerializer
    write_serializer = ArticleWriteSerializer

    def scoped_queryset(self) -> QuerySet[Article]:
        params = self.request.query_params
        return selectors.article_list(search=params.get("search", "")[:200],
                                      tag=params.get("tag", "")[:50])

    def _create(self, **data: Any) -> Article:
        return services.article_create(**data)

    def _update(self, obj: Article, changes: dict[str, Any]) -> Article:
        return services.article_update(article=obj, changes=changes)

    def perform_destroy(self, instance: Article) -> None:
        services.article_delete(article=instance)

    @extend_schema(summary="Import articles from a question,answer[,tags] CSV (all or nothing)",
                   description="``tags`` is one cell of tags separated by semicolons or commas "
                               "(a cell with commas is quoted, as CSV requires); an existing "
                               "question is updated.",
                   request=_CSV_REQUEST, responses={201: ImportResultSerializer,
                                                    400: ROWS_INVALID_RESPONSE})
    @action(detail=False, methods=["post"], url_path="import",
            parser_classes=[parsers.MultiPartParser])
    def import_csv(self, request: Request) -> Response:
        return _import(request, services.articles_import_csv)


# --- Conversations ----------------------------------------------------------------------------


class CitationSerializer(serializers.Serializer):
    """An article a composed reply quotes."""

    id = serializers.IntegerField()
    title = serializers.CharField(help_text="The article's question")
    url = serializers.CharField(help_text="The article's link; empty when it has none")


class MessageSerializer(serializers.ModelSerializer):
    reply_kind = BlankAsNullChoiceField(choices=Message.ReplyKind.choices, read_only=True,
                                        allow_null=True,
                                        help_text="How the bot replied; null on others' messages")
    citations = CitationSerializer(many=True, read_only=True,
                                   help_text="Composed replies: the articles quoted")

    class Meta:
        model = Message
        fields = ("id", "role", "text", "intent", "confidence", "used_previous_intent",
                  "scope_score", "reply_kind", "choices", "retrieved", "article", "citations",
                  "composer", "latency_ms", "model_version", "model_version_number",
                  "created_at")
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    message_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Conversation
        fields = ("id", "channel", "external_user_id", "status", "context", "last_intent",
                  "message_count", "created_at", "updated_at", "handed_off_at", "resolved_at",
                  "assignee", "owned_at")
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    messages = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = (*ConversationSerializer.Meta.fields, "messages")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]

    def get_messages(self, conversation: Conversation) -> Any:
        return MessageSerializer(selectors.conversation_messages(conversation=conversation),
                                 many=True).data


class ConversationStartSerializer(serializers.Serializer):
    external_user_id = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                             default="")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Added here: "context" is an attribute of every serializer.
        fields["context"] = serializers.DictField(
            required=False, default=dict, child=serializers.CharField(max_length=500),
            help_text="Variables for answer templates, e.g. {\"name\": \"Ann\"}")
        return fields


class ChatRequestSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


class ChatResponseSerializer(serializers.Serializer):
    message = MessageSerializer()
    reply = MessageSerializer(allow_null=True, help_text="null while a person handles it")
    status = serializers.CharField(help_text="The conversation's status after the reply")


class AgentReplySerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MESSAGE_MAX_CHARS)
    save_as = serializers.ChoiceField(choices=["", "utterance", "article"], required=False,
                                      default="")
    intent = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                   default="", help_text="save_as=utterance: the intent")
    question = serializers.CharField(max_length=MESSAGE_MAX_CHARS, required=False,
                                     allow_blank=True, default="",
                                     help_text="save_as=article: default the last question")


class FeedbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = Feedback
        fields = ("id", "conversation", "message", "rating", "comment", "created_at")
        read_only_fields = fields


class FeedbackWriteSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=Feedback.Rating.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="",
                                    max_length=2000)
    message = serializers.IntegerField(required=False, allow_null=True, default=None,
                                       min_value=1, max_value=MAX_ID,
                                       help_text="The bot reply rated (default: the whole "
                                                 "conversation)")


def chat_response(conversation: Conversation, text: str,
                  serializer: type[serializers.Serializer] | None = None) -> Response:
    """Post a customer message and answer with the reply; shared with the widget, which
    passes its own serializer (what a visitor may see: no intent, confidence or articles)."""
    try:
        result = services.chat(conversation=conversation, text=text)
    except (OnlineUnavailable, OnlineFailed) as error:
        unavailable = isinstance(error, OnlineUnavailable)
        kept = Message.objects.filter(conversation=conversation,
                                      role=Message.Role.USER).order_by("-id").first()
        body = error_body("inference_unavailable" if unavailable else "inference_failed",
                          str(error) + " Your message was kept.")
        body["error"]["message_id"] = kept.pk if kept else None
        return Response(body, status=503 if unavailable else 502)
    serializer = serializer or ChatResponseSerializer
    return Response(serializer({"message": result.message, "reply": result.reply,
                                "status": result.status}).data,
                    status=status.HTTP_201_CREATED)


@extend_schema(tags=["bot"])
class ConversationViewSet(TenantScopedViewSetMixin, mixins.ListModelMixin,
                          mixins.RetrieveModelMixin, GenericViewSet):
    """Conversations with their messages; ``?status=handed_off`` is the agents' inbox."""

    serializer_class = ConversationSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Conversation]:
        if self.action not in ("list", "retrieve"):
            # The actions on one conversation (chat, reply, ...) need no message count, and
            # counting is a join over its messages on every chat message.
            return Conversation.objects.all()
        wanted = self.request.query_params.get("status", "")
        if wanted and wanted not in Conversation.Status.values:
            raise ApiError(400, "validation_error", "Unknown status.",
                           {"status": [f"choose one of {', '.join(Conversation.Status.values)}"]})
        return selectors.conversation_list(status=wanted)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(ConversationDetailSerializer(self.get_object()).data)

    @extend_schema(summary="Start a conversation", request=ConversationStartSerializer,
                   responses={201: ConversationSerializer})
    def create(self, request: Request) -> Response:
        payload = ConversationStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        conversation = services.conversation_start(channel=Conversation.Channel.API,
                                                   **payload.validated_data)
        return Response(ConversationSerializer(conversation).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(summary="Send the customer's message; answers with the bot's reply",
                   request=ChatRequestSerializer,
                   responses={201: ChatResponseSerializer, **INFERENCE_ERRORS},
                   description="502 and 503 keep the customer's message (`message_id`).")
    @action(detail=True, methods=["post"])
    def messages(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        payload = ChatRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return chat_response(conversation, payload.validated_data["text"])

    @extend_schema(summary="An agent's reply (optionally saved as an utterance or article)",
                   request=AgentReplySerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        payload = AgentReplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        message = services.agent_reply(
            conversation=conversation, text=data["text"], save_as=data["save_as"],
            intent_name=data["intent"], question=data["question"],
            author_id=request.user.pk if request.user.is_authenticated and not getattr(
                request._request, "api_key", None) else None)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Hand the conversation to a person", request=None,
                   responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def handoff(self, request: Request, pk: str) -> Response:
        conversation = services.conversation_handoff(conversation=self.get_object())
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(summary="Resolve the conversation", request=None,
                   responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        conversation = services.conversation_resolve(conversation=self.get_object())
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(summary="Rate the conversation or one bot reply",
                   request=FeedbackWriteSerializer, responses={201: FeedbackSerializer})
    @action(detail=True, methods=["post"])
    def feedback(self, request: Request, pk: str) -> Response:
        return feedback_response(self.get_object(), request)


def feedback_response(conversation: Conversation, request: Request) -> Response:
    payload = FeedbackWriteSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    feedback = services.feedback_create(conversation=conversation, rating=data["rating"],
                                        comment=data["comment"], message_id=data["message"])
    return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)


# --- Settings and analytics -------------------------------------------------------------------


class BotSettingsSerializer(serializers.ModelSerializer):
    generative_url = serializers.CharField(
        max_length=300, required=False, allow_blank=True,
        help_text="The tenant's OpenAI-compatible base URL, e.g. https://llm.example.com/v1; "
                  "empty: the deployment's")
    generative_api_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500,
        help_text="The generator's API key; stored sealed, never shown (empty: remove it)")
    generative_api_key_set = serializers.SerializerMethodField(
        help_text="Whether the tenant's generator has an API key")

    class Meta:
        model = BotSettings
        fields = ("intent_threshold", "article_threshold", "followup_max_words",
                  "fallback_message", "target_false_handoff", "scope_threshold",
                  "scope_threshold_version", "ambiguity_margin", "widget_key", "widget_origins",
                  "widget_language", "widget_title", "widget_greeting", "widget_colour",
                  "widget_avatar_url", "generative_enabled", "generative_url", "generative_model",
                  "generative_api_key", "generative_api_key_set", "updated_at")
        read_only_fields = ("widget_key", "scope_threshold_version", "updated_at")
        extra_kwargs: Any = {  # noqa: RUF012
            "intent_threshold": {"min_value": 0.0, "max_value": 1.0},
            "scope_threshold": {"min_value": 0.0, "max_value": 1.0},
            "ambiguity_margin": {"min_value": 0.0, "max_value": 1.0},
            "target_false_handoff": {"min_value": 0.001, "max_value": 0.49},
            "article_threshold": {"min_value": 0.0, "max_value": 1.0},
            "followup_max_words": {"min_value": 0, "max_value": 50},
            "widget_origins": {"child": serializers.CharField(max_length=300),
                               "max_length": 50},
        }

    def get_generative_api_key_set(self, config: BotSettings) -> bool:
        return bool(config.generative_api_key)


class BotSettingsView(TenantScopedAPIView):
    """Thresholds, the fallback message, the public widget key and its allowed origins."""

    @property
    def required_scope(self) -> str:
        return "read" if self.request.method in SAFE_METHODS else "admin"

    @extend_schema(tags=["bot"], responses=BotSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(BotSettingsSerializer(services.bot_settings_get()).data)

    @extend_schema(tags=["bot"], request=BotSettingsSerializer, responses=BotSettingsSerializer)
    def patch(self, request: Request) -> Response:
        payload = BotSettingsSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        updated = services.bot_settings_update(changes=dict(payload.validated_data))
        return Response(BotSettingsSerializer(updated).data)


class WidgetKeyRotateView(TenantScopedAPIView):
    required_scope = "admin"

    @extend_schema(tags=["bot"], summary="A new public widget key (the old one stops working)",
                   request=None, responses=BotSettingsSerializer)
    def post(self, request: Request) -> Response:
        return Response(BotSettingsSerializer(services.widget_key_rotate()).data)


class AnalyticsView(TenantScopedAPIView):
    @extend_schema(tags=["bot"], summary="Containment, handoff rate, top intents, "
                   "low-confidence messages, satisfaction, per day (last 30 days)",
                   responses=inline_serializer("BotAnalytics", {
                       "since": serializers.DateTimeField(),
                       "conversations": serializers.IntegerField(),
                       "containment_rate": serializers.FloatField(allow_null=True),
                       "handoff_rate": serializers.FloatField(allow_null=True),
                       "satisfaction": serializers.FloatField(allow_null=True),
                       "top_intents": serializers.ListField(child=serializers.DictField()),
                       "low_confidence": MessageSerializer(many=True),
                       "days": serializers.ListField(child=serializers.DictField()),
                   }))
    def get(self, request: Request) -> Response:
        threshold = services.bot_settings_get().intent_threshold
        stats = selectors.analytics(low_confidence_below=threshold)
        return Response({
            "since": stats.since, "conversations": stats.conversations,
            "handed_off": stats.handed_off, "user_messages": stats.user_messages,
            "bot_replies": stats.bot_replies, "replies_by_kind": stats.replies_by_kind,
            "containment_rate": stats.containment_rate, "handoff_rate": stats.handoff_rate,
            "satisfaction": stats.satisfaction, "thumbs_up": stats.up, "thumbs_down": stats.down,
            "median_latency_ms": stats.median_latency_ms,
            "top_intents": [{"intent": name, "replies": n} for name, n in stats.top_intents],
            "low_confidence": MessageSerializer(stats.low_confidence, many=True).data,
            "days": [{"day": d.day, "conversations": d.conversations,
                      "handed_off": d.handed_off, "containment_rate": d.containment,
                      "messages": d.messages, "thumbs_up": d.up, "thumbs_down": d.down}
                     for d in stats.days],
        })

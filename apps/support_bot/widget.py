"""The embeddable web chat widget: a script served by the platform and the three endpoints it
calls, authenticated by the tenant's public widget key (``X-Widget-Key``).

The key is public (it sits in the tenant's web pages), so it opens only these endpoints:
read how the widget looks, start a conversation, post a message, read the conversation's new
messages (agents' replies), ask for a person, rate a reply. Every other endpoint
authenticates API keys and sessions only, and ignores it. Requests must come from an origin on
the tenant's allow-list (the browser sets ``Origin``; answers carry CORS headers for that
origin only, and a refusal carries them for the refused origin, so that the page can show
why).
A widget conversation is reached with the token returned when it started
(``X-Conversation-Token``): another visitor holding the same public key cannot read or post
to it. Requests are rate-limited per key and visitor address.

The widget's own texts (its button, prompt, notices) come translated inside the script, for
every language of ``settings.LANGUAGES`` at once: the script is public and cached, and it
knows neither the tenant nor the visitor until it runs. It then takes the language from the
snippet's ``data-lang`` (the tenant's bot settings) or else the visitor's ``navigator.language``
(``zh*``: Simplified Chinese; anything else: English). The texts are ASCII-escaped JSON, so the
script reads the same whatever charset the embedding page declares.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import ApiError
from api.schema import INFERENCE_ERRORS
from api.throttling import FixedWindowThrottle
from apps.support_bot import services
from apps.support_bot.api import (
    ChatRequestSerializer,
    FeedbackSerializer,
    FeedbackWriteSerializer,
    chat_response,
    feedback_response,
)
from apps.support_bot.handoff import customer_handoff_request
from apps.support_bot.models import BotSettings, Conversation
from tenancy.context import tenant_context, unscoped

KEY_HEADER = "X-Widget-Key"
TOKEN_HEADER = "X-Conversation-Token"  # noqa: S105  (a header name)
ALLOWED_HEADERS = f"Content-Type, {KEY_HEADER}, {TOKEN_HEADER}"
SCRIPT = Path(__file__).resolve().parent / "static_widget" / "widget.js"
STRINGS_PLACEHOLDER = b"/*!strings*/{}"

# What the widget shows the visitor, by the names ``widget.js`` looks them up with.
WIDGET_TEXTS = {
    "open": _("Chat with us"),
    "dialog": _("Chat"),
    "message": _("Your message"),
    "placeholder": _("Ask a question…"),
    "send": _("Send"),
    "handoff": _("A colleague will answer you here shortly."),
    "failed": _("Sorry, something went wrong:"),
    "human": _("Talk to a person"),
    "sources": _("Sources:"),
    "refused": _("This chat is not available on this website."),
    "typing": _("Typing…"),
}


def widget_strings() -> dict[str, dict[str, str]]:
    """The widget's texts in every language the platform speaks, by language code."""
    strings = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            strings[code] = {name: str(text) for name, text in WIDGET_TEXTS.items()}
    return strings


def _origin(request: Request) -> str:
    return request.headers.get("Origin", "").strip().rstrip("/").lower()


def _cors(response: Response | HttpResponse, origin: str) -> Any:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


class WidgetRateThrottle(FixedWindowThrottle):
    """Per widget key and visitor address: the key is public, so its callers are limited
    (``WIDGET_RATE_LIMIT_PER_MINUTE``)."""

    def bucket(self, request: Request, view: Any) -> tuple[str, int] | None:
        found = getattr(view, "bot_settings", None)
        if found is None or request.method == "OPTIONS":
            return None
        return f"widget:{found.pk}:{self.get_ident(request)}", \
            settings.WIDGET_RATE_LIMIT_PER_MINUTE


class WidgetView(APIView):
    """Base of the widget endpoints: no session, no API key; the widget key and the origin
    decide, and the work runs under the key's tenant."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes: list[Any] = [WidgetRateThrottle]
    bot_settings: BotSettings

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        # A preflight carries no key: it only learns which headers it may send. The real
        # request is checked (key and origin) before anything happens.
        return _cors(Response(status=status.HTTP_204_NO_CONTENT), _origin(request) or "null")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.method == "OPTIONS":
            return super().dispatch(request, *args, **kwargs)
        key = request.headers.get(KEY_HEADER, "").strip()
        with unscoped():  # the key is looked up before the tenant is known
            found = (BotSettings.objects.select_related("tenant").filter(widget_key=key).first()
                     if key else None)
        tenant_id = found.tenant_id if found is not None and found.tenant.is_active else None
        with tenant_context(tenant_id):
            self.bot_settings = found  # type: ignore[assignment]
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method == "OPTIONS":
            return
        found = getattr(self, "bot_settings", None)
        if found is None or not found.tenant.is_active:
            raise ApiError(401, "authentication_failed", f"A valid {KEY_HEADER} is required.")
        origin = _origin(request)
        if not origin or origin not in found.widget_origins:
            raise ApiError(403, "origin_not_allowed",
                           f"The origin {origin or '(none)'} may not use this widget; add it "
                           "to the bot settings' allowed origins.")

    def finalize_response(self, request: Request, response: Any, *args: Any,
                          **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        found = getattr(self, "bot_settings", None)
        origin = _origin(request)
        refused = response.status_code in (401, 403)
        if origin and (refused or (found is not None and origin in found.widget_origins)):
            # A refusal is readable by the refused page too: its reason (a wrong key, an
            # origin off the allow-list) reaches the visitor and the console. It reveals
            # nothing of the tenant, and the page gets no other answer.
            _cors(response, origin)
        return response

    def conversation(self, request: Request, pk: int) -> Conversation:
        """The widget conversation ``pk`` if the caller holds its token; else 404."""
        conversation = Conversation.objects.filter(
            pk=pk, channel=Conversation.Channel.WIDGET).first()
        token = request.headers.get(TOKEN_HEADER, "")
        if conversation is None or not secrets.compare_digest(
                conversation.access_token.encode(), token.encode()):
            raise ApiError(404, "not_found", "Not found.")
        return conversation


class WidgetStartSerializer(serializers.Serializer):
    external_user_id = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                             default="")


class WidgetConversationView(WidgetView):
    @extend_schema(tags=["bot widget"], summary="Start a widget conversation",
                   request=WidgetStartSerializer,
                   responses={201: inline_serializer("WidgetConversation", {
                       "id": serializers.IntegerField(),
                       "token": serializers.CharField(help_text="Send it as "
                                                      f"{TOKEN_HEADER} from now on"),
                       "status": serializers.CharField()})})
    def post(self, request: Request) -> Response:
        payload = WidgetStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        conversation = services.conversation_start(
            channel=Conversation.Channel.WIDGET, **payload.validated_data)
        return Response({"id": conversation.pk, "token": conversation.access_token,
                         "status": conversation.status}, status=status.HTTP_201_CREATED)


class WidgetCitationSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.CharField()


class WidgetMessageSerializer(serializers.Serializer):
    """What the visitor sees of a message (no intents, confidences or similarities; the
    sources a composed reply quotes, by title and link)."""

    id = serializers.IntegerField()
    role = serializers.CharField()
    text = serializers.CharField()
    author = serializers.SerializerMethodField(
        help_text="An agent's first name (never the e-mail); null otherwise")
    citations = WidgetCitationSerializer(many=True, read_only=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_author(self, message: Any) -> str | None:
        author = getattr(message, "author", None)
        if getattr(message, "role", "") != "agent" or author is None:
            return None
        return author.first_name.strip() or None


class WidgetChatResponseSerializer(serializers.Serializer):
    """The widget's answer to a message: the visitor's message and the reply as the visitor
    sees them (``WidgetMessageSerializer``): no intent, confidence, articles, similarity or
    model version, which the API's own chat answer carries for integrations."""

    message = WidgetMessageSerializer()
    reply = WidgetMessageSerializer(allow_null=True, help_text="null while a person handles it")
    status = serializers.CharField(help_text="The conversation's status after the reply")


class WidgetMessageView(WidgetView):
    @extend_schema(tags=["bot widget"], summary="The conversation's messages after ?after=<id> "
                   "(the widget polls for agents' replies)",
                   responses=WidgetMessageSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        conversation = self.conversation(request, pk)
        after = request.query_params.get("after", "0")
        if not after.isdigit() or len(after) > 18:
            raise ApiError(400, "validation_error", "after must be a message id.",
                           {"after": ["not an id"]})
        messages = conversation.messages.filter(pk__gt=int(after)).select_related(
            "author").order_by("id")[:100]
        return Response(WidgetMessageSerializer(messages, many=True).data)

    @extend_schema(tags=["bot widget"], summary="Send a message from the widget",
                   request=ChatRequestSerializer,
                   responses={201: WidgetChatResponseSerializer, **INFERENCE_ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        conversation = self.conversation(request, pk)
        payload = ChatRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return chat_response(conversation, payload.validated_data["text"],
                             WidgetChatResponseSerializer)


class WidgetFeedbackView(WidgetView):
    @extend_schema(tags=["bot widget"], summary="Rate a reply from the widget",
                   request=FeedbackWriteSerializer, responses={201: FeedbackSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return feedback_response(self.conversation(request, pk), request)


class WidgetHandoffResponseSerializer(serializers.Serializer):
    reply = WidgetMessageSerializer(help_text="The bot's word that a person will answer")
    status = serializers.CharField(help_text="handed_off")


class WidgetHandoffView(WidgetView):
    @extend_schema(tags=["bot widget"], summary="The visitor asks for a person (the widget's "
                   "button): the bot stays silent until an agent releases the conversation",
                   request=None, responses={201: WidgetHandoffResponseSerializer})
    def post(self, request: Request, pk: int) -> Response:
        conversation = self.conversation(request, pk)
        reply = customer_handoff_request(conversation=conversation)
        return Response(WidgetHandoffResponseSerializer({
            "reply": reply, "status": conversation.status}).data,
            status=status.HTTP_201_CREATED)


class WidgetConfigSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="The heading: the bot settings' or the tenant's name")
    greeting = serializers.CharField(help_text="The bot's first words; may be empty")
    colour = serializers.CharField(help_text="#rrggbb")
    avatar_url = serializers.CharField(help_text="An https image URL; may be empty")


class WidgetConfigView(WidgetView):
    @extend_schema(tags=["bot widget"], summary="How the widget looks: heading, greeting, "
                   "colour and avatar (the script asks when it loads, so a refused origin "
                   "learns why at once)", responses=WidgetConfigSerializer)
    def get(self, request: Request) -> Response:
        found = self.bot_settings
        return Response(WidgetConfigSerializer({
            "title": found.widget_title or found.tenant.name, "greeting": found.widget_greeting,
            "colour": found.widget_colour, "avatar_url": found.widget_avatar_url}).data)


@require_safe
@cache_control(public=True, max_age=300)
def widget_script(request: HttpRequest) -> HttpResponse:
    """``<script src=".../bot/widget.js" data-key="wk_..." async></script>``"""
    strings = json.dumps(widget_strings(), ensure_ascii=True, sort_keys=True).encode()
    script = SCRIPT.read_bytes().replace(STRINGS_PLACEHOLDER, strings)
    return HttpResponse(script, content_type="application/javascript")

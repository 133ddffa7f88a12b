"""``/api/v1/bot/...``: the agents' side of a conversation (claim, assign, release, internal
notes) and the canned replies. Thin views over ``handoff`` (writes) and ``inbox`` (reads);
another tenant's conversation or canned reply answers the same 404 as a missing one.

Claiming needs a person: with a session the signed-in agent claims; an integration with an
API key assigns a named agent instead (``assign``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from api.errors import ApiError
from api.lookups import ID_PATTERN, MAX_ID
from api.viewsets import TenantScopedViewSetMixin
from apps.support_bot import handoff, inbox
from apps.support_bot.api import ConversationSerializer, _CrudViewSet
from apps.support_bot.models import (
    CANNED_TITLE_MAX_CHARS,
    MESSAGE_MAX_CHARS,
    CannedReply,
    Conversation,
    ConversationNote,
)


def _person_id(request: Request) -> int | None:
    """The signed-in agent (a session), not an API key's creator."""
    if request.user.is_authenticated and not getattr(request._request, "api_key", None):
        return int(request.user.pk)
    return None


class NoteSerializer(serializers.ModelSerializer):
    author_email = serializers.EmailField(source="author.email", read_only=True,
                                          allow_null=True, default=None)

    class Meta:
        model = ConversationNote
        fields = ("id", "conversation", "text", "author", "author_email", "created_at")
        read_only_fields = fields


class NoteWriteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


class AssignSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(min_value=1, max_value=MAX_ID, allow_null=True,
                                        help_text="A member's user id; null: nobody in "
                                                  "particular (it stays handed off)")


@extend_schema(tags=["bot"])
class ConversationAgentViewSet(TenantScopedViewSetMixin, GenericViewSet):
    """What agents do with a conversation: own it (the bot stays silent), give it back to
    the bot, and write internal notes the customer never sees."""

    serializer_class = ConversationSerializer
    lookup_value_regex = ID_PATTERN

    def scoped_queryset(self) -> QuerySet[Conversation]:
        return Conversation.objects.all()

    @extend_schema(summary="Claim the conversation (the bot stays silent)", request=None,
                   responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        person = _person_id(request)
        if person is None:
            raise ApiError(400, "validation_error", "Only a signed-in agent can claim; an API "
                           "key assigns an agent instead.", {"assignee": ["use assign"]})
        conversation = handoff.conversation_claim(conversation=conversation, user_id=person)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(summary="Assign the conversation to an agent", request=AssignSerializer,
                   responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        payload = AssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        conversation = handoff.conversation_assign(
            conversation=conversation, assignee_id=payload.validated_data["assignee"])
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(summary="Release the conversation: the bot answers again", request=None,
                   responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str) -> Response:
        conversation = handoff.conversation_release(conversation=self.get_object())
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(methods=["GET"], summary="The conversation's internal notes",
                   responses=NoteSerializer(many=True))
    @extend_schema(methods=["POST"], summary="Add an internal note (never shown to the "
                   "customer)", request=NoteWriteSerializer, responses={201: NoteSerializer})
    @action(detail=True, methods=["get", "post"])
    def notes(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        if request.method == "GET":
            return Response(NoteSerializer(inbox.conversation_notes(conversation=conversation),
                                           many=True).data)
        payload = NoteWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        note = handoff.note_create(conversation=conversation, author_id=_person_id(request),
                                   text=payload.validated_data["text"])
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class CannedReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = CannedReply
        fields = ("id", "title", "text", "created_at", "updated_at")
        read_only_fields = fields


class CannedReplyWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=CANNED_TITLE_MAX_CHARS)
    text = serializers.CharField(max_length=MESSAGE_MAX_CHARS)


@extend_schema(tags=["bot"])
class CannedReplyViewSet(_CrudViewSet):
    """Saved answers agents insert into their replies."""

    serializer_class = CannedReplySerializer
    read_serializer = CannedReplySerializer
    write_serializer = CannedReplyWriteSerializer

    def scoped_queryset(self) -> QuerySet[CannedReply]:
        return inbox.canned_replies()

    def _create(self, **data: Any) -> CannedReply:
        return handoff.canned_reply_create(**data)

    def _update(self, obj: CannedReply, changes: dict[str, Any]) -> CannedReply:
        return handoff.canned_reply_update(canned=obj, title=changes.get("title", obj.title),
                                           text=changes.get("text", obj.text))

    def perform_destroy(self, instance: CannedReply) -> None:
        handoff.canned_reply_delete(canned=instance)
